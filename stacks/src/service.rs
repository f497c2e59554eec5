//! A load-balanced Fargate service: what a service team declares in a few lines becomes the
//! load balancer, chained security groups (load balancer → service → database), least-privilege
//! roles generated from typed grants, the task definition, the ECS service and its Cloud Map name.

use std::collections::BTreeMap;

use platform::model::{Handle, Ref, Stack, StackError, StackSpec};
use platform::resources::iam::{Statement, Trust};
use platform::resources::{
    Arn, Certificate, CertificateValidation, Container, ContainerHealthCheck, DiscoveryService, EcrRepository,
    HealthCheck, Listener, ListenerAction, LoadBalancer, LogGroup, Peer, PolicyDocument, Protocol, Record,
    RecordTarget, Role, Rule, SecurityGroup, SecurityGroupGrant, Service, ServiceLoadBalancer, Tags, TargetGroup,
    TaskDefinition, TLS12_POLICY,
};

use crate::{DataBucket, Dependencies, Environment, Foundation};

/// What the service's code may do, each scoped to one resource.
#[derive(Debug, Clone)]
pub enum Grant {
    /// Read objects of a bucket under a prefix (`s3:GetObject` on `bucket/prefix*`, and
    /// `kms:Decrypt` on the bucket's key through S3 only, where it has one).
    ReadObjects {
        /// The bucket.
        bucket: DataBucket,
        /// The key prefix, e.g. `cards/`.
        prefix: String,
    },
}

/// What a service team writes about its service.
#[derive(Debug, Clone)]
pub struct ServiceOptions {
    /// Its short name, also its discovery name (`card` → `card.<namespace>`).
    pub name: String,
    /// The image repository (in the foundation).
    pub repository: Handle<EcrRepository>,
    /// The image tag to run from it.
    pub image_tag: String,
    /// The port the service listens on.
    pub port: u16,
    /// The port of its health and metrics endpoints.
    pub health_port: u16,
    /// The path the load balancer checks, on the health port: liveness (the process serves), not
    /// readiness of what it depends on (a database failover must not turn into task replacements).
    pub health_path: String,
    /// The command the container's own health check runs.
    pub health_command: Vec<String>,
    /// CPU units and memory (MiB) of a task.
    pub cpu: u32,
    /// Memory of a task in MiB.
    pub memory: u32,
    /// Plain configuration (never secrets); values may be references (a bucket's name).
    pub environment: BTreeMap<String, Ref<platform::resources::Text>>,
    /// Whether it uses the dependencies' database (it then gets network access, the connection
    /// settings, and `DB_SECRET_ARN`, the secret holding the credentials, which its task role may
    /// read: the code reads it at run time and again after a rotation).
    pub database: bool,
    /// What its code may do.
    pub grants: Vec<Grant>,
    /// The command that migrates its database (as the owner) and keeps the application role's
    /// secret, run by the pipeline before each rollout as the stack's `migrate` task.
    pub migration_command: Vec<String>,
}

/// A service stack and handles to what others may use.
#[derive(Debug, Clone)]
pub struct ServiceStack {
    /// The checked stack.
    pub spec: StackSpec,
    /// The service's security group.
    pub security_group: Handle<SecurityGroup>,
}

/// The user the containers run as (not root).
pub const CONTAINER_USER: &str = "10001";

/// The variable that tells a service to serve its API port over TLS with a certificate it makes
/// at start (`self-signed`), where the environment encrypts the load balancer's connections to
/// the tasks (`tls_to_tasks`): what the load balancer's HTTPS target group connects to, checking
/// no certificate (the card service: `card-service/src/tls.rs`).
pub const TLS_VARIABLE: &str = "API_TLS";

/// The service stack `stack` of `environment`, on `foundation` and `dependencies`.
pub fn service(
    stack: &str,
    environment: &Environment,
    foundation: &Foundation,
    dependencies: &Dependencies,
    options: &ServiceOptions,
) -> Result<ServiceStack, StackError> {
    let mut s = Stack::new(stack, &environment.env);
    s.uses(&foundation.spec);
    // Its roles carry the environment's permissions boundary, which the pipeline stack owns.
    s.uses(&foundation.pipeline.spec);
    let boundary = foundation.pipeline.boundary.arn();
    s.uses(&dependencies.spec);
    let (port, health) = (options.port, options.health_port);

    // Security groups, chained: the internet reaches the load balancer only, the load balancer
    // reaches the tasks only, the tasks reach the database only. Port 443 is open only where a
    // listener serves it.
    let mut public = vec![Rule::tcp(80, Peer::CidrIpv4("0.0.0.0/0".into()), "HTTP")];
    if environment.https() {
        public.push(Rule::tcp(443, Peer::CidrIpv4("0.0.0.0/0".into()), "HTTPS"));
    }
    let lb_group = s.add(
        "lb-group",
        SecurityGroup {
            vpc: foundation.vpc.id(),
            description: match environment.https() {
                true => format!("Load balancer of {}: HTTP and HTTPS from anywhere", options.name),
                false => format!("Load balancer of {}: HTTP from anywhere", options.name),
            },
            ingress: public,
            egress: vec![
                Rule::tcp(port, Peer::CidrIpv4(foundation.vpc.cidr_block()), "to the tasks"),
                Rule::tcp(health, Peer::CidrIpv4(foundation.vpc.cidr_block()), "health checks of the tasks"),
            ],
            tags: Tags::new(),
        },
    );
    let database = dependencies.database.as_ref().filter(|_| options.database);
    let mut egress = vec![Rule::tcp(443, Peer::CidrIpv4("0.0.0.0/0".into()), "AWS APIs and the image registry")];
    if let Some(db) = database {
        egress.push(Rule::tcp(db.port, Peer::SecurityGroup(db.security_group.id()), "the database"));
    }
    let group = s.add(
        "tasks",
        SecurityGroup {
            vpc: foundation.vpc.id(),
            // What the group lets in is in its description (which AWS cannot change): another
            // port is a new group, created before the old one goes.
            description: format!("Tasks of {}: ports {port} and {health} from its load balancer only", options.name),
            ingress: vec![
                Rule::tcp(port, Peer::SecurityGroup(lb_group.id()), "traffic from the load balancer"),
                Rule::tcp(health, Peer::SecurityGroup(lb_group.id()), "health checks from the load balancer"),
            ],
            egress,
            tags: Tags::new(),
        },
    );
    if let Some(db) = database {
        s.add(
            "db-access",
            SecurityGroupGrant {
                group: db.security_group.id(),
                protocol: Protocol::Tcp,
                from_port: db.port.into(),
                to_port: db.port.into(),
                peer: Peer::SecurityGroup(group.id()),
            },
        );
    }

    // Load balancer, target group, listeners.
    let lb_name = s.name_for::<LoadBalancer>("lb").expect("load balancers have names");
    let access_logs = foundation.load_balancer_logs(&mut s, &lb_name);
    let lb = s.add(
        "lb",
        LoadBalancer {
            internal: false,
            subnets: foundation.public_subnets.iter().map(|h| h.id()).collect(),
            security_groups: vec![lb_group.id()],
            drop_invalid_header_fields: true,
            deletion_protection: environment.protected,
            access_logs,
            tags: Tags::new(),
        },
    );
    // Deleting a protected environment's load balancer (and its public name) must be named.
    s.protect(&lb, environment.protected);
    // The environment's web ACL inspects every request before it reaches the load balancer.
    foundation.filter_requests(&mut s, "lb-web-acl", &lb);
    let targets = s.add(
        "targets",
        TargetGroup {
            vpc: foundation.vpc.id(),
            port,
            // Encrypted to the tasks where the environment asks; the health checks stay HTTP, on
            // the health port.
            protocol: if environment.tls_to_tasks { "HTTPS" } else { "HTTP" }.into(),
            target_type: "ip".into(),
            health_check: HealthCheck {
                path: options.health_path.clone(),
                port: health,
                interval_seconds: 10,
                timeout_seconds: 5,
                healthy_threshold: 2,
                unhealthy_threshold: 3,
                matcher: "200".into(),
            },
            deregistration_delay_seconds: 30,
            tags: Tags::new(),
        },
    );
    // HTTPS: with the environment's own certificate, or with one requested for NAME.DOMAIN and
    // validated in the environment's zone; the listener takes it once ACM has issued it.
    let host = environment.domain.as_ref().map(|domain| format!("{}.{domain}", options.name));
    let certificate: Option<Ref<Arn>> = match (&environment.certificate_arn, &environment.domain, &host) {
        (Some(arn), _, _) => Some(Ref::existing(arn)),
        (None, Some(domain), Some(host)) => {
            let certificate = s.add("certificate", Certificate { domain_name: host.clone(), tags: Tags::new() });
            let record = s.add(
                "certificate-validation-record",
                Record {
                    zone: domain.clone(),
                    name: certificate.validation_record_name(),
                    record_type: "CNAME".into(),
                    target: RecordTarget::Values {
                        ttl_seconds: 300,
                        values: vec![certificate.validation_record_value()],
                    },
                },
            );
            let validation = s.add(
                "certificate-validation",
                CertificateValidation { certificate: certificate.arn(), validation_records: vec![record.fqdn()] },
            );
            Some(validation.certificate_arn())
        }
        _ => None,
    };
    if let (Some(domain), Some(host)) = (&environment.domain, &host) {
        s.add(
            "dns",
            Record {
                zone: domain.clone(),
                name: Ref::existing(host),
                record_type: "A".into(),
                target: RecordTarget::Alias {
                    dns_name: lb.dns_name(),
                    zone_id: lb.zone_id(),
                    evaluate_target_health: false,
                },
            },
        );
    }
    let forward = ListenerAction::Forward { target_group: targets.arn() };
    let listener = |port: u16, protocol: &str, certificate: Option<&Ref<Arn>>, action| Listener {
        load_balancer: lb.arn(),
        port,
        protocol: protocol.into(),
        certificate_arn: certificate.cloned(),
        ssl_policy: certificate.map(|_| TLS12_POLICY.to_string()),
        action,
        tags: Tags::new(),
    };
    let listeners = match &certificate {
        Some(certificate) => vec![
            s.add("https", listener(443, "HTTPS", Some(certificate), forward)),
            s.add("http", listener(80, "HTTP", None, ListenerAction::RedirectToHttps)),
        ],
        None => vec![s.add("http", listener(80, "HTTP", None, forward))],
    };

    // Logs and roles.
    let log_group = foundation.log_group(&mut s, environment);
    let logs = s.add("logs", log_group);
    let repository = &options.repository;
    let execution = vec![
        Statement::allow(
            &["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
            vec![repository.arn()],
        ),
        // GetAuthorizationToken cannot be scoped to a repository.
        Statement::allow(&["ecr:GetAuthorizationToken"], vec!["*".into()]),
        Statement::allow(&["logs:CreateLogStream", "logs:PutLogEvents"], vec![logs.arn().with_suffix(":log-stream:*")]),
    ];
    let execution_role = s.add(
        "execution-role",
        Role {
            trust: Trust::Service("ecs-tasks.amazonaws.com".into()),
            policies: BTreeMap::from([("run".to_string(), PolicyDocument { statements: execution })]),
            managed_policies: vec![],
            permissions_boundary: Some(boundary.clone()),
            max_session_seconds: None,
            tags: Tags::new(),
        },
    );
    let mut grants: Vec<Statement> = options
        .grants
        .iter()
        .flat_map(|grant| match grant {
            Grant::ReadObjects { bucket: DataBucket { bucket, key }, prefix } => {
                let mut statements =
                    vec![Statement::allow(&["s3:GetObject"], vec![bucket.arn().with_suffix(&format!("/{prefix}*"))])];
                // Reading an SSE-KMS object (or signing a URL that does) takes `kms:Decrypt` on
                // its key (https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html);
                // through S3 only, so the role cannot decrypt anything else with it.
                if let Some(key) = key {
                    statements.push(Statement::allow(&["kms:Decrypt"], vec![key.arn()]).when(
                        "StringLike",
                        "kms:ViaService",
                        vec!["s3.*".into()],
                    ));
                }
                statements
            }
        })
        .collect();
    if let Some(db) = database {
        // The code reads the application role's credentials at run time, and again after a
        // rotation, rather than ECS injecting them once at start (they would go stale when the
        // secret rotates). Only that secret: the owner's (the master user's) is the migration
        // task's. The secret is encrypted with `aws/secretsmanager`, so no KMS permission is
        // needed (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html).
        grants.push(Statement::allow(&["secretsmanager:GetSecretValue"], vec![db.app_credentials.arn()]));
    }
    // Tasks of this account only (ECS sends both keys when a task assumes its role,
    // https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-iam-roles.html). The
    // execution role keeps the plain service trust: ECS does not document the keys for the
    // agent's own calls, and a condition it did not meet would stop every task from starting.
    let task_trust = Trust::ServiceFor {
        service: "ecs-tasks.amazonaws.com".into(),
        account: Ref::account(),
        source_arn: Ref::account_arn_in("ecs", "*", "*"),
    };
    let task_role = s.add(
        "task-role",
        Role {
            trust: task_trust,
            policies: if grants.is_empty() {
                BTreeMap::new()
            } else {
                BTreeMap::from([("grants".to_string(), PolicyDocument { statements: grants })])
            },
            managed_policies: vec![],
            permissions_boundary: Some(boundary.clone()),
            max_session_seconds: None,
            tags: Tags::new(),
        },
    );

    // The task and the service.
    let mut environment_variables = options.environment.clone();
    if environment.tls_to_tasks {
        // The service serves its API port over TLS, with a certificate it makes at start.
        environment_variables.insert(TLS_VARIABLE.into(), Ref::literal("self-signed"));
    }
    if let Some(db) = database {
        environment_variables.insert("DB_HOST".into(), db.instance.endpoint().to_text());
        environment_variables.insert("DB_PORT".into(), db.instance.port().to_text());
        environment_variables.insert("DB_SECRET_ARN".into(), db.app_credentials.arn().to_text());
    }
    let task = s.add(
        "task",
        TaskDefinition {
            cpu: options.cpu,
            memory: options.memory,
            execution_role: execution_role.arn(),
            task_role: task_role.arn(),
            containers: vec![Container {
                name: options.name.clone(),
                image: repository.repository_uri().with_suffix(&format!(":{}", options.image_tag)),
                command: vec![],
                ports: vec![port, health],
                environment: environment_variables,
                secrets: BTreeMap::new(),
                readonly_root_filesystem: true,
                user: CONTAINER_USER.into(),
                privileged: false,
                health_check: Some(ContainerHealthCheck {
                    command: options.health_command.clone(),
                    interval_seconds: 10,
                    timeout_seconds: 5,
                    retries: 3,
                    start_period_seconds: 10,
                }),
                log_group: logs.name(),
                log_stream_prefix: options.name.clone(),
            }],
            tags: Tags::new(),
        },
    );
    let migration = database.map(|db| migration_task(&mut s, options, db, &logs, &execution_role, &boundary));
    let discovery = s.add(
        "discovery",
        DiscoveryService {
            dns_name: options.name.clone(),
            namespace: foundation.namespace.id(),
            ttl_seconds: 10,
            tags: Tags::new(),
        },
    );
    let service = s.add(
        "service",
        Service {
            cluster: foundation.cluster.arn(),
            task_definition: task.arn(),
            desired_count: environment.service_desired_count,
            subnets: foundation.private_subnets.iter().map(|h| h.id()).collect(),
            security_groups: vec![group.id()],
            assign_public_ip: false,
            load_balancer: Some(ServiceLoadBalancer {
                target_group: targets.arn(),
                container_name: options.name.clone(),
                container_port: port,
            }),
            discovery: Some(discovery.arn()),
            circuit_breaker_rollback: true,
            minimum_healthy_percent: 100,
            maximum_percent: 200,
            health_check_grace_period_seconds: 60,
            tags: Tags::new(),
        },
    );
    // ECS registers the tasks with the target group only once a listener forwards to it.
    for listener in &listeners {
        s.depends_on(&service, listener);
    }
    s.output("load_balancer_dns", lb.dns_name());
    s.output("service_name", service.name());
    s.output("discovery_name", format!("{}.{}", options.name, foundation.discovery_domain));
    s.output("image_tag", &options.image_tag);
    s.output("https", certificate.is_some());
    if let Some(host) = &host {
        let scheme = if certificate.is_some() { "https" } else { "http" };
        s.output("url", format!("{scheme}://{host}"));
    }
    s.output("task_definition_arn", task.arn());
    if let Some(migration) = &migration {
        s.output("migration_task_definition_arn", migration.arn());
    }
    s.output("tasks_security_group_id", group.id());
    Ok(ServiceStack { spec: s.build()?, security_group: group })
}

/// The task the pipeline runs before each rollout (`scripts/ci/migrate`): the service's image
/// running its migration command as the database's owner (the master user secret), which also
/// fills and rotates the application role's secret. Its role is its own, so the service's role
/// never reads the owner's credentials nor writes a secret; its family ends in `-migrate`, the
/// only families the deploy role may run.
fn migration_task(
    s: &mut Stack,
    options: &ServiceOptions,
    db: &crate::dependencies::Database,
    logs: &Handle<LogGroup>,
    execution_role: &Handle<Role>,
    boundary: &Ref<Arn>,
) -> Handle<TaskDefinition> {
    let statements = vec![
        Statement::allow(&["secretsmanager:GetSecretValue"], vec![db.instance.master_user_secret_arn()]),
        // The four steps of a rotation: read the versions, store the pending one, move the
        // stages (https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotate-secrets_lambda.html).
        Statement::allow(
            &[
                "secretsmanager:GetSecretValue",
                "secretsmanager:PutSecretValue",
                "secretsmanager:UpdateSecretVersionStage",
            ],
            vec![db.app_credentials.arn()],
        ),
    ];
    let role = s.add(
        "migration-role",
        Role {
            trust: Trust::ServiceFor {
                service: "ecs-tasks.amazonaws.com".into(),
                account: Ref::account(),
                source_arn: Ref::account_arn_in("ecs", "*", "*"),
            },
            policies: BTreeMap::from([("migrate".to_string(), PolicyDocument { statements })]),
            managed_policies: vec![],
            permissions_boundary: Some(boundary.clone()),
            max_session_seconds: None,
            tags: Tags::new(),
        },
    );
    let mut environment = options.environment.clone();
    environment.insert("DB_HOST".into(), db.instance.endpoint().to_text());
    environment.insert("DB_PORT".into(), db.instance.port().to_text());
    environment.insert("DB_SECRET_ARN".into(), db.instance.master_user_secret_arn().to_text());
    environment.insert("DB_APP_SECRET_ARN".into(), db.app_credentials.arn().to_text());
    s.add(
        "migrate",
        TaskDefinition {
            cpu: options.cpu,
            memory: options.memory,
            execution_role: execution_role.arn(),
            task_role: role.arn(),
            containers: vec![Container {
                name: format!("{}-migrate", options.name),
                image: options.repository.repository_uri().with_suffix(&format!(":{}", options.image_tag)),
                command: options.migration_command.clone(),
                ports: vec![],
                environment,
                secrets: BTreeMap::new(),
                readonly_root_filesystem: true,
                user: CONTAINER_USER.into(),
                privileged: false,
                health_check: None,
                log_group: logs.name(),
                log_stream_prefix: "migrate".into(),
            }],
            tags: Tags::new(),
        },
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::{dependencies, foundation, DatabaseOptions, DependenciesOptions, Environments};

    fn build(certificate: Option<&str>) -> StackSpec {
        build_in(certificate, None)
    }

    fn build_in(certificate: Option<&str>, domain: Option<&str>) -> StackSpec {
        let mut env = Environments::builtin().get("prod").unwrap().clone();
        env.settings.certificate_arn = certificate.map(str::to_string);
        env.settings.domain = domain.map(str::to_string);
        let foundation = foundation(&env).unwrap();
        let deps = dependencies(
            "deps",
            &env,
            &foundation,
            &DependenciesOptions { database: Some(DatabaseOptions::postgres("app")), bucket: true },
        )
        .unwrap();
        let options = ServiceOptions {
            name: "app".into(),
            repository: foundation.repositories["card-service"].clone(),
            image_tag: "v1".into(),
            port: 8080,
            health_port: 8081,
            health_path: "/ready".into(),
            health_command: vec!["CMD".into(), "/app".into(), "healthcheck".into()],
            cpu: 256,
            memory: 512,
            environment: BTreeMap::new(),
            database: true,
            grants: vec![],
            migration_command: vec!["migrate".into()],
        };
        service("app-service", &env, &foundation, &deps, &options).unwrap().spec
    }

    fn props<'a>(spec: &'a StackSpec, name: &str) -> &'a serde_json::Value {
        &spec.resources.iter().find(|r| r.address.name() == name).unwrap().props
    }

    #[test]
    fn with_a_certificate_https_serves_and_http_redirects() {
        let spec = build(Some("arn:aws:acm:us-east-1:111111111111:certificate/abc"));
        let https = props(&spec, "https");
        assert_eq!(https["protocol"], "HTTPS");
        assert_eq!(https["ssl_policy"], TLS12_POLICY);
        assert_eq!(https["action"]["forward"]["target_group"], json!({"$ref": "app-service.targets", "attr": "arn"}));
        assert_eq!(props(&spec, "http")["action"], "redirect_to_https");
    }

    #[test]
    fn with_a_domain_a_certificate_is_requested_validated_in_its_zone_and_served_at_the_services_name() {
        let spec = build_in(None, Some("prod.example.com"));
        assert_eq!(props(&spec, "certificate")["domain_name"], "app.prod.example.com");
        let record = props(&spec, "certificate-validation-record");
        assert_eq!(record["zone"], "prod.example.com");
        assert_eq!(record["name"], json!({"$ref": "app-service.certificate", "attr": "validation_record_name"}));
        assert_eq!(
            record["target"]["values"]["values"],
            json!([{"$ref": "app-service.certificate", "attr": "validation_record_value"}])
        );
        let validation = props(&spec, "certificate-validation");
        assert_eq!(
            validation["validation_records"],
            json!([{"$ref": "app-service.certificate-validation-record", "attr": "fqdn"}])
        );
        // The listener takes the certificate once it is issued: through the validation.
        let https = props(&spec, "https");
        assert_eq!(
            https["certificate_arn"],
            json!({"$ref": "app-service.certificate-validation", "attr": "certificate_arn"})
        );
        assert_eq!(https["ssl_policy"], TLS12_POLICY);
        assert_eq!(props(&spec, "http")["action"], "redirect_to_https");
        let dns = props(&spec, "dns");
        assert_eq!((dns["name"].as_str(), dns["record_type"].as_str()), (Some("app.prod.example.com"), Some("A")));
        assert_eq!(dns["target"]["alias"]["zone_id"], json!({"$ref": "app-service.lb", "attr": "zone_id"}));
        assert_eq!(spec.outputs["url"], "https://app.prod.example.com");

        // The environment's own certificate is served instead of a requested one.
        let own = build_in(Some("arn:aws:acm:us-east-1:111111111111:certificate/abc"), Some("prod.example.com"));
        assert!(own.resources.iter().all(|r| !r.address.name().starts_with("certificate")));
        assert_eq!(props(&own, "https")["certificate_arn"], "arn:aws:acm:us-east-1:111111111111:certificate/abc");
        assert!(own.resources.iter().any(|r| r.address.name() == "dns"));
    }

    #[test]
    fn without_a_certificate_http_forwards() {
        let spec = build(None);
        assert!(spec.resources.iter().all(|r| r.address.name() != "https"));
        assert_eq!(props(&spec, "http")["action"]["forward"]["target_group"]["$ref"], "app-service.targets");
    }

    #[test]
    fn nothing_but_the_load_balancer_is_open_to_the_internet_and_only_on_its_listeners_ports() {
        for (certificate, ports) in
            [(None, vec![80]), (Some("arn:aws:acm:us-east-1:111111111111:certificate/abc"), vec![80, 443])]
        {
            let spec = build(certificate);
            let mut open = vec![];
            for r in spec.resources.iter().filter(|r| r.type_name == "aws.ec2.security_group") {
                for rule in r.props["ingress"].as_array().unwrap() {
                    if rule["peer"]["cidr_ipv4"].is_string() {
                        assert_eq!(r.address.name(), "lb-group", "{rule}");
                        open.push(rule["from_port"].as_u64().unwrap());
                    }
                }
            }
            let listening: Vec<u64> = spec
                .resources
                .iter()
                .filter(|r| r.type_name == "aws.elbv2.listener")
                .map(|r| r.props["port"].as_u64().unwrap())
                .collect();
            assert_eq!(open, ports);
            assert_eq!(listening.len(), open.len(), "a port is open exactly where a listener serves it");
            assert!(open.iter().all(|p| listening.contains(p)));
        }
    }
}
