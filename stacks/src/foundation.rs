//! The foundation stack: the network, the container registry, the cluster, service discovery and
//! the shared log group that every service of an environment builds on.

use std::collections::BTreeMap;

use platform::model::{Handle, Ref, Stack, StackError, StackSpec};
use platform::resources::elbv2::LoadBalancer;
use platform::resources::iam::{Statement, Trust};
use platform::resources::wafv2::{CREDENTIAL_HEADERS, LOG_GROUP_PREFIX};
use platform::resources::{
    AccessLogs, AzIndex, DefaultSecurityGroup, EcrRepository, EcsCluster, ElasticIp, FlowLog, ImageLifecycle,
    InternetGateway, Key, KeyService, KeyUse, LogGroup, NatGateway, PolicyDocument, PrivateDnsNamespace, Role, Route,
    RouteTable, RouteTableAssociation, Subnet, Tags, Vpc, WafLogging, WebAcl, WebAclAssociation,
};

use crate::Environment;

/// The stack's name in the catalog.
pub const NAME: &str = "foundation";

/// What can vary between foundations (the VPC's address block is the environment's
/// `network_cidr`).
#[derive(Debug, Clone)]
pub struct FoundationOptions {
    /// How many availability zones to spread subnets over. A region with fewer zones gets
    /// several subnets of a tier in one zone (positions count round the region's zones).
    pub zones: u8,
    /// One image repository per service.
    pub repositories: Vec<String>,
}

impl Default for FoundationOptions {
    fn default() -> Self {
        Self { zones: 3, repositories: vec!["card-service".into()] }
    }
}

/// The foundation of an environment, and typed handles to what other stacks build on.
#[derive(Debug, Clone)]
pub struct Foundation {
    /// The checked stack.
    pub spec: StackSpec,
    /// The VPC.
    pub vpc: Handle<Vpc>,
    /// One public subnet per zone (load balancers).
    pub public_subnets: Vec<Handle<Subnet>>,
    /// One private subnet per zone (services, databases).
    pub private_subnets: Vec<Handle<Subnet>>,
    /// The ECS cluster.
    pub cluster: Handle<EcsCluster>,
    /// The service discovery namespace.
    pub namespace: Handle<PrivateDnsNamespace>,
    /// Its DNS name: services are found at `<name>.<discovery_domain>`.
    pub discovery_domain: String,
    /// The shared log group.
    pub logs: Handle<LogGroup>,
    /// Image repositories by service.
    pub repositories: BTreeMap<String, Handle<EcrRepository>>,
    /// The environment's pipeline stack (applied by an administrator before the foundation): the
    /// permissions boundary every role of a service carries is its `boundary`.
    pub pipeline: crate::pipeline::Pipeline,
    /// The web ACL in front of every internet-facing load balancer, where the environment has
    /// one (`waf`).
    pub web_acl: Option<Handle<WebAcl>>,
    /// The environment's customer-managed key of its log groups and images, where it has one
    /// (`customer_managed_keys`).
    pub key: Option<Handle<Key>>,
}

/// The private DNS domain of `env`'s service discovery namespace: services find each other as
/// `NAME.{domain}`. The deploy role may write records only under it.
pub fn discovery_domain(env: &str) -> String {
    format!("{env}.platform.internal")
}

/// The foundation of `env` with the default options.
pub fn foundation(env: &Environment) -> Result<Foundation, StackError> {
    foundation_with(env, &FoundationOptions::default())
}

/// The foundation of `env`.
pub fn foundation_with(environment: &Environment, options: &FoundationOptions) -> Result<Foundation, StackError> {
    let env = &environment.env;
    let mut s = Stack::new(NAME, env);
    // Subnets are carved from the environment's /16: /20 each, public ones from the start of the
    // block, private ones from its second half.
    let [a, b] = environment.network_prefix();
    let vpc = s.add("vpc", Vpc::new(format!("{a}.{b}.0.0/16")));
    let gateway = s.add("internet-gateway", InternetGateway { vpc: vpc.id(), tags: Tags::new() });
    let public_routes = s.add(
        "public-routes",
        RouteTable { vpc: vpc.id(), routes: vec![Route::to_internet("0.0.0.0/0", gateway.id())], tags: Tags::new() },
    );

    // Public subnets reach the internet directly; private subnets only out, through NAT gateways
    // in the public subnets: one per zone where the environment is highly available, one in all.
    let mut public = vec![];
    let mut private = vec![];
    let mut nats: Vec<Handle<NatGateway>> = vec![];
    for zone in 0..options.zones {
        let letter = char::from(b'a' + zone);
        let mut subnet = Subnet::new(vpc.id(), format!("{a}.{b}.{}.0/20", 16 * u32::from(zone)), AzIndex(zone));
        subnet.tags.insert("tier".into(), "public".into());
        let p = s.add(&format!("public-{letter}"), subnet);
        s.add(
            &format!("public-{letter}-association"),
            RouteTableAssociation { route_table: public_routes.id(), subnet: p.id() },
        );
        if zone == 0 || environment.high_availability {
            let address = s.add(&format!("nat-{letter}-address"), ElasticIp::default());
            let nat = s.add(
                &format!("nat-{letter}"),
                NatGateway { subnet: p.id(), allocation: address.allocation_id(), tags: Tags::new() },
            );
            // A NAT gateway forwards to the internet only through the VPC's internet gateway.
            s.depends_on(&nat, &gateway);
            nats.push(nat);
        }
        let nat = nats.last().expect("zone a has a NAT gateway").id();
        let routes = s.add(
            &format!("private-{letter}-routes"),
            RouteTable { vpc: vpc.id(), routes: vec![Route::to_nat("0.0.0.0/0", nat)], tags: Tags::new() },
        );
        let mut subnet = Subnet::new(vpc.id(), format!("{a}.{b}.{}.0/20", 128 + 16 * u32::from(zone)), AzIndex(zone));
        subnet.tags.insert("tier".into(), "private".into());
        let q = s.add(&format!("private-{letter}"), subnet);
        s.add(
            &format!("private-{letter}-association"),
            RouteTableAssociation { route_table: routes.id(), subnet: q.id() },
        );
        public.push(p);
        private.push(q);
    }

    let key = environment.customer_managed_keys.then(|| foundation_key(&mut s, environment));
    let repositories: Vec<_> = options
        .repositories
        .iter()
        .map(|service| {
            let repository = EcrRepository {
                kms_key: key.as_ref().map(|k| k.arn()),
                lifecycle: Some(ImageLifecycle::Expire {
                    untagged_days: environment.untagged_image_days,
                    keep: environment.images_kept,
                }),
                force_delete: environment.force_destroy_data,
                ..EcrRepository::default()
            };
            (service.clone(), s.add(&format!("{service}-images"), repository))
        })
        .collect();
    let cluster = s.add("cluster", EcsCluster::default());
    let discovery_domain = discovery_domain(env.as_str());
    let namespace = s.add(
        "discovery",
        PrivateDnsNamespace {
            dns_name: discovery_domain.clone(),
            vpc: vpc.id(),
            description: format!("Service discovery of the {env} environment"),
            tags: Tags::new(),
        },
    );
    let logs = s.add("logs", log_group(environment, key.as_ref()));
    let pipeline = crate::pipeline::pipeline(environment)?;
    if environment.flow_logs {
        flow_logs(&mut s, environment, &vpc, &pipeline, key.as_ref());
    }
    if environment.close_default_security_group {
        s.add("default-security-group", DefaultSecurityGroup::closed(vpc.id()));
    }
    let web_acl = environment.waf.then(|| web_acl(&mut s, environment, key.as_ref()));

    s.output("vpc_id", vpc.id());
    s.output("public_subnet_ids", public.iter().map(|h| h.id()).collect::<Vec<_>>());
    s.output("private_subnet_ids", private.iter().map(|h| h.id()).collect::<Vec<_>>());
    s.output("cluster_arn", cluster.arn());
    s.output("cluster_name", cluster.name());
    s.output("namespace_id", namespace.id());
    s.output("namespace_arn", namespace.arn());
    s.output("log_group_name", logs.name());
    if let Some(acl) = &web_acl {
        s.output("web_acl_arn", acl.arn());
    }
    for (service, repo) in &repositories {
        s.output(&format!("{}_repository_uri", service.replace('-', "_")), repo.repository_uri());
    }
    Ok(Foundation {
        pipeline,
        spec: s.build()?,
        vpc,
        public_subnets: public,
        private_subnets: private,
        cluster,
        namespace,
        discovery_domain,
        logs,
        repositories: repositories.into_iter().collect(),
        web_acl,
        key,
    })
}

/// The environment's web ACL: AWS's baseline managed rule groups (one web ACL for every load
/// balancer of the environment: AWS charges per web ACL and per rule, not per association), and
/// its logging into `aws-waf-logs-ENV-foundation` (the prefix AWS WAF requires), with the headers
/// that carry credentials redacted.
fn web_acl(s: &mut Stack, environment: &Environment, key: Option<&Handle<Key>>) -> Handle<WebAcl> {
    let env = &environment.env;
    let acl = s.add("web-acl", WebAcl::baseline(format!("AWS managed rules in front of the {env} load balancers")));
    let group = s.add_named("waf-logs", &format!("{LOG_GROUP_PREFIX}{env}-{NAME}"), log_group(environment, key));
    s.add(
        "waf-logging",
        WafLogging {
            web_acl: acl.arn(),
            log_group: group.arn(),
            redacted_headers: CREDENTIAL_HEADERS.iter().map(|h| h.to_string()).collect(),
        },
    );
    acl
}

/// The names of every log group of environment `env`, as patterns: the groups platform names
/// (`/platform/ENV/STACK/NAME`), the ones RDS publishes to (`/aws/rds/instance/ID/LOG`, ID
/// starting with the environment) and AWS WAF's (`aws-waf-logs-ENV-…`). The foundation's key
/// lets CloudWatch Logs use it for these only.
pub fn log_group_patterns(env: &str) -> Vec<String> {
    vec![format!("/platform/{env}/*"), format!("/aws/rds/instance/{env}-*"), format!("{LOG_GROUP_PREFIX}{env}-*")]
}

/// The environment's key (alias `ENV-foundation-key`): what CloudWatch Logs encrypts the
/// environment's log groups with, and ECR its images. Protected like data: deleting it would
/// leave what it encrypted unreadable, so it waits 30 days (7 where nothing is protected).
fn foundation_key(s: &mut Stack, environment: &Environment) -> Handle<Key> {
    let env = environment.env.as_str();
    let key = s.add(
        "key",
        Key::new(
            format!("Log groups and images of the {env} environment"),
            vec![
                KeyUse::LogGroups { names: log_group_patterns(env) },
                KeyUse::ThroughService { service: KeyService::Ecr },
            ],
            key_deletion_window(environment),
        ),
    );
    s.protect(&key, environment.protected);
    key
}

/// The days a deleted key of `environment` waits before KMS deletes it: the longest KMS allows
/// where data is protected, the shortest elsewhere.
pub fn key_deletion_window(environment: &Environment) -> u32 {
    if environment.protected {
        30
    } else {
        7
    }
}

/// A log group of `environment`, kept `log_retention_days`, encrypted with `key` where there is one.
fn log_group(environment: &Environment, key: Option<&Handle<Key>>) -> LogGroup {
    LogGroup { kms_key: key.map(|k| k.arn()), ..LogGroup::new(environment.log_retention_days) }
}

impl Foundation {
    /// A log group of stack `s` (which then uses the foundation where the environment has a key),
    /// kept the environment's `log_retention_days` and encrypted with the environment's key.
    pub fn log_group(&self, s: &mut Stack, environment: &Environment) -> LogGroup {
        if self.key.is_some() {
            s.uses(&self.spec);
        }
        log_group(environment, self.key.as_ref())
    }

    /// Puts the environment's web ACL, where it has one, in front of the internet-facing load
    /// balancer `lb` of stack `s` (which then uses the foundation).
    pub fn filter_requests(&self, s: &mut Stack, logical: &str, lb: &Handle<LoadBalancer>) {
        let Some(acl) = &self.web_acl else { return };
        s.uses(&self.spec);
        s.add(logical, WebAclAssociation { web_acl: acl.arn(), resource: lb.arn() });
    }

    /// Where the load balancer `name` (a service's, say) of stack `s` writes its access logs, if
    /// the environment keeps them: `lb/NAME` of the pipeline stack's access-log bucket (which `s`
    /// then uses).
    pub fn load_balancer_logs(&self, s: &mut Stack, name: &str) -> Option<AccessLogs> {
        let bucket = self.pipeline.access_logs.as_ref()?;
        s.uses(&self.pipeline.spec);
        Some(AccessLogs { bucket: bucket.name(), prefix: format!("{}/{name}", crate::pipeline::LOAD_BALANCER_LOGS) })
    }

    /// Where the bucket `name` (`ENV-STACK-LOGICAL`) of stack `s` has S3 write its server access
    /// logs, if the environment keeps them: `s3/NAME/` of the access-log bucket.
    pub fn bucket_logs(&self, s: &mut Stack, name: &str) -> Option<AccessLogs> {
        let bucket = self.pipeline.access_logs.as_ref()?;
        s.uses(&self.pipeline.spec);
        Some(crate::pipeline::bucket_logs(bucket, name))
    }
}

/// The VPC's flow log: every interface's traffic, accepted and rejected, aggregated over a
/// minute, into a log group of its own through a role only VPC Flow Logs of this account may
/// assume (the confused-deputy conditions AWS documents:
/// <https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-iam-role.html>). The role carries
/// the environment's permissions boundary, so the foundation then uses the pipeline stack.
fn flow_logs(
    s: &mut Stack,
    environment: &Environment,
    vpc: &Handle<Vpc>,
    pipeline: &crate::pipeline::Pipeline,
    key: Option<&Handle<Key>>,
) {
    s.uses(&pipeline.spec);
    let group = s.add("flow-logs", log_group(environment, key));
    // AWS's example grants these on `*`; scoped here to the group and its streams (`NAME:*`: the
    // group's ARN alone does not cover creating its streams).
    let delivery = PolicyDocument {
        statements: vec![
            Statement::allow(
                &["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"],
                vec![group.arn().with_suffix(":*")],
            ),
            Statement::allow(&["logs:DescribeLogGroups"], vec![Ref::account_arn_in("logs", "*", "log-group:*")]),
        ],
    };
    let role = s.add(
        "flow-logs-role",
        Role {
            trust: Trust::ServiceFor {
                service: "vpc-flow-logs.amazonaws.com".into(),
                account: Ref::account(),
                source_arn: Ref::account_arn_in("ec2", "*", "vpc-flow-log/*"),
            },
            policies: BTreeMap::from([("delivery".to_string(), delivery)]),
            managed_policies: vec![],
            permissions_boundary: Some(pipeline.boundary.arn()),
            max_session_seconds: None,
            tags: Tags::new(),
        },
    );
    s.add(
        "flow-log",
        FlowLog {
            vpc: vpc.id(),
            traffic_type: "ALL".into(),
            log_group: group.name(),
            delivery_role: role.arn(),
            max_aggregation_interval_seconds: 60,
            tags: Tags::new(),
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::Environments;

    fn env(name: &str) -> Environment {
        Environments::builtin().get(name).unwrap().clone()
    }

    fn dev() -> Environment {
        env("dev")
    }

    #[test]
    fn builds_three_zones_of_public_and_private_subnets() {
        let spec = foundation(&dev()).unwrap().spec;
        let count = |t: &str| spec.resources.iter().filter(|r| r.type_name == t).count();
        assert_eq!(count("aws.ec2.subnet"), 6);
        assert_eq!(count("aws.ec2.route_table_association"), 6);
        assert_eq!(count("aws.ec2.nat_gateway"), 1, "dev shares one NAT gateway");
        assert_eq!(count("aws.ec2.route_table"), 4);
        let prod = foundation(&env("prod")).unwrap().spec;
        assert_eq!(prod.resources.iter().filter(|r| r.type_name == "aws.ec2.nat_gateway").count(), 3, "one per zone");
        assert_eq!(count("aws.ec2.vpc"), 1);
        assert_eq!(count("aws.ecs.cluster"), 1);
        assert_eq!(count("aws.ecr.repository"), 1);
        assert_eq!(count("aws.servicediscovery.private_dns_namespace"), 1);
        assert_eq!(count("aws.logs.log_group"), 1);
        let zones: Vec<_> = spec
            .resources
            .iter()
            .filter(|r| r.type_name == "aws.ec2.subnet")
            .map(|r| r.props["availability_zone"].as_u64().unwrap())
            .collect();
        assert_eq!(zones, [0, 0, 1, 1, 2, 2]);
    }

    #[test]
    fn names_are_deterministic_and_per_environment() {
        let dev = foundation(&dev()).unwrap().spec;
        let prod = foundation(&env("prod")).unwrap().spec;
        assert_eq!(dev, foundation(&env("dev")).unwrap().spec);
        let cluster =
            |s: &StackSpec| s.resources.iter().find(|r| r.type_name == "aws.ecs.cluster").unwrap().name.clone();
        assert_eq!(cluster(&dev).as_deref(), Some("dev-foundation-cluster"));
        assert_eq!(cluster(&prod).as_deref(), Some("prod-foundation-cluster"));
    }

    #[test]
    fn every_taggable_resource_carries_the_platform_tags() {
        let spec = foundation(&dev()).unwrap().spec;
        for r in spec.resources.iter().filter(|r| r.type_name != "aws.ec2.route_table_association") {
            let tags = &r.props["tags"];
            assert_eq!(tags["platform:stack"], "foundation", "{}", r.address);
            assert_eq!(tags["platform:env"], "dev", "{}", r.address);
            assert_eq!(tags["platform:address"], r.address.to_string());
        }
    }

    #[test]
    fn subnets_outside_the_vpc_or_overlapping_are_refused() {
        use platform::resources::{AzIndex, Subnet, Vpc};
        let mut s = Stack::new("net", &dev().env);
        let vpc = s.add("vpc", Vpc::new("10.0.0.0/16"));
        s.add("a", Subnet::new(vpc.id(), "10.1.0.0/24", AzIndex(0)));
        s.add("b", Subnet::new(vpc.id(), "10.0.0.0/20", AzIndex(0)));
        s.add("c", Subnet::new(vpc.id(), "10.0.1.0/24", AzIndex(1)));
        let err = s.build().unwrap_err().to_string();
        assert!(err.contains("net.a: cidr_block \"10.1.0.0/24\" is not inside the VPC's \"10.0.0.0/16\""), "{err}");
        assert!(err.contains("net.c: cidr_block overlaps net.b's"), "{err}");
    }

    #[test]
    fn bad_options_are_refused_before_any_aws_call() {
        let options = FoundationOptions { zones: 3, repositories: vec!["Card_Service".into()] };
        let err = foundation_with(&dev(), &options).unwrap_err().to_string();
        assert!(err.contains("foundation.Card_Service-images"), "{err}");
    }
}
