//! The AWS provider: create, read, update and delete through the AWS SDK for Rust.
//!
//! Credentials, region and endpoint come from the standard `aws-config` chain (profiles,
//! environment, SSO, instance roles; `AWS_REGION`, `AWS_ENDPOINT_URL`). Nothing here names a
//! region, an account or a zone: availability zones are discovered from the region.

mod ec2;
mod ecr;
mod ecs;
mod elbv2;
mod find;
mod iam;
mod logs;
mod rds;
mod retry;
mod s3;
mod servicediscovery;

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_smithy_types::error::display::DisplayErrorContext;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use tokio::sync::OnceCell;

use super::{Applied, Desired, Existing, Observed, Provider, ProviderError};
use crate::model::Address;

/// The AWS provider.
#[derive(Debug, Clone)]
pub struct AwsProvider {
    ec2: aws_sdk_ec2::Client,
    /// EC2 without the SDK's retries, for the creates EC2 cannot recognise as repeated (VPCs,
    /// subnets, gateways, addresses, route tables): a retry after a lost answer would make a
    /// second one. `create` looks them up before trying again.
    ec2_once: aws_sdk_ec2::Client,
    ecr: aws_sdk_ecr::Client,
    ecs: aws_sdk_ecs::Client,
    /// ECS without the SDK's retries, for task definition revisions (each call makes one).
    ecs_once: aws_sdk_ecs::Client,
    elb: aws_sdk_elasticloadbalancingv2::Client,
    iam: aws_sdk_iam::Client,
    discovery: aws_sdk_servicediscovery::Client,
    logs: aws_sdk_cloudwatchlogs::Client,
    rds: aws_sdk_rds::Client,
    s3: aws_sdk_s3::Client,
    sts: aws_sdk_sts::Client,
    tagging: aws_sdk_resourcegroupstagging::Client,
    region: Option<String>,
    zones: OnceCell<Vec<String>>,
    account: OnceCell<Account>,
    /// How long asynchronous AWS operations (Cloud Map namespaces) are awaited.
    pub operation_timeout: Duration,
    /// How long a database is awaited after a create, an update or a delete.
    pub database_timeout: Duration,
    /// Operations of one AWS service running at once (see [`ServiceLimits`]).
    limits: std::sync::Arc<BTreeMap<&'static str, std::sync::Arc<tokio::sync::Semaphore>>>,
}

/// How many operations of each AWS service may run at once, on top of the engine's overall
/// parallelism, so that one stack never throttles itself: IAM's and Cloud Map's control planes
/// take a few requests a second, EC2's many more. A service not listed is limited by the engine's
/// parallelism only.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceLimits(pub BTreeMap<&'static str, usize>);

impl Default for ServiceLimits {
    fn default() -> Self {
        Self(BTreeMap::from([
            ("ec2", 20),
            ("ecr", 5),
            ("ecs", 10),
            ("elbv2", 10),
            ("iam", 4),
            ("logs", 10),
            ("rds", 5),
            ("s3", 10),
            ("servicediscovery", 4),
        ]))
    }
}

/// The service of a type (`aws.ec2.vpc` → `ec2`).
fn service_of(type_name: &str) -> &str {
    type_name.strip_prefix("aws.").and_then(|t| t.split('.').next()).unwrap_or(type_name)
}

/// The account the credentials belong to, as STS reports it.
#[derive(Debug, Clone)]
struct Account {
    id: String,
    partition: String,
}

impl AwsProvider {
    /// A provider configured by the standard AWS chain.
    pub async fn from_env() -> Self {
        let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Self::new(&config)
    }

    /// A provider using `config`.
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self::build(config, None)
    }

    /// This provider with other per-service limits.
    pub fn with_limits(mut self, limits: ServiceLimits) -> Self {
        self.limits = std::sync::Arc::new(
            limits
                .0
                .into_iter()
                .map(|(k, v)| (k, std::sync::Arc::new(tokio::sync::Semaphore::new(v.max(1)))))
                .collect(),
        );
        self
    }

    /// Waits for a slot of the service of `type_name`; held for the whole operation.
    async fn slot(&self, type_name: &str) -> Option<tokio::sync::OwnedSemaphorePermit> {
        let semaphore = self.limits.get(service_of(type_name))?.clone();
        Some(semaphore.acquire_owned().await.expect("limit semaphores are never closed"))
    }

    /// A provider using `config`, with `interceptor` in every client: to record or audit the
    /// calls it makes (the deploy role's permissions are checked against such a record).
    pub fn with_interceptor(
        config: &aws_config::SdkConfig,
        interceptor: aws_sdk_ec2::config::SharedInterceptor,
    ) -> Self {
        Self::build(config, Some(interceptor))
    }

    fn build(config: &aws_config::SdkConfig, interceptor: Option<aws_sdk_ec2::config::SharedInterceptor>) -> Self {
        macro_rules! once {
            ($sdk:ident) => {{
                let mut builder =
                    $sdk::config::Builder::from(config).retry_config(aws_smithy_types::retry::RetryConfig::disabled());
                if let Some(i) = &interceptor {
                    builder.push_interceptor(i.clone());
                }
                $sdk::Client::from_conf(builder.build())
            }};
        }
        macro_rules! client {
            ($sdk:ident) => {{
                // The SDK retries throttling, 5xx and unanswered calls, each call on its own, as
                // configured (AWS_MAX_ATTEMPTS; 3 attempts by default); the `*_once` clients do not
                // (see their fields).
                let mut builder = $sdk::config::Builder::from(config);
                if let Some(i) = &interceptor {
                    builder.push_interceptor(i.clone());
                }
                $sdk::Client::from_conf(builder.build())
            }};
        }
        Self {
            ec2: client!(aws_sdk_ec2),
            ec2_once: once!(aws_sdk_ec2),
            ecr: client!(aws_sdk_ecr),
            ecs: client!(aws_sdk_ecs),
            ecs_once: once!(aws_sdk_ecs),
            elb: client!(aws_sdk_elasticloadbalancingv2),
            iam: client!(aws_sdk_iam),
            discovery: client!(aws_sdk_servicediscovery),
            logs: client!(aws_sdk_cloudwatchlogs),
            rds: client!(aws_sdk_rds),
            s3: client!(aws_sdk_s3),
            sts: client!(aws_sdk_sts),
            tagging: client!(aws_sdk_resourcegroupstagging),
            region: config.region().map(|r| r.to_string()),
            zones: OnceCell::new(),
            account: OnceCell::new(),
            operation_timeout: Duration::from_secs(600),
            database_timeout: Duration::from_secs(90 * 60),
            limits: std::sync::Arc::new(BTreeMap::new()),
        }
        .with_limits(ServiceLimits::default())
    }

    /// The configured region.
    fn region(&self) -> String {
        self.region.clone().unwrap_or_default()
    }

    /// The account id and partition of the credentials in use (asked once).
    async fn account(&self) -> Result<&Account, ProviderError> {
        self.account
            .get_or_try_init(|| async {
                let me = self.sts.get_caller_identity().send().await.map_err(api("sts:GetCallerIdentity"))?;
                let partition = me.arn().and_then(|arn| arn.split(':').nth(1)).unwrap_or("aws").to_string();
                Ok(Account { id: me.account().unwrap_or_default().to_string(), partition })
            })
            .await
    }

    /// The region's available zones, sorted by name (discovered once).
    async fn zones(&self) -> Result<&[String], ProviderError> {
        self.zones
            .get_or_try_init(|| async {
                let out = self
                    .ec2
                    .describe_availability_zones()
                    .filters(filter("state", ["available"]))
                    .send()
                    .await
                    .map_err(api("ec2:DescribeAvailabilityZones"))?;
                let mut zones: Vec<String> = out
                    .availability_zones()
                    .iter()
                    .filter(|z| z.zone_type().is_none_or(|t| t == "availability-zone"))
                    .filter_map(|z| z.zone_name().map(str::to_string))
                    .collect();
                zones.sort();
                Ok(zones)
            })
            .await
            .map(Vec::as_slice)
    }
}

/// One attempt of each operation; [`Provider`]'s methods add the service slots and retries.
impl AwsProvider {
    async fn create_once(&self, d: &Desired) -> Result<Applied, ProviderError> {
        match d.type_name.as_str() {
            "aws.ec2.vpc" => ec2::create_vpc(self, d).await,
            "aws.ec2.subnet" => ec2::create_subnet(self, d).await,
            "aws.ec2.internet_gateway" => ec2::create_internet_gateway(self, d).await,
            "aws.ec2.route_table" => ec2::create_route_table(self, d).await,
            "aws.ec2.route_table_association" => ec2::create_association(self, d).await,
            "aws.ec2.security_group" => ec2::create_security_group(self, d).await,
            "aws.ecr.repository" => ecr::create(self, d).await,
            "aws.ecs.cluster" => ecs::create(self, d).await,
            "aws.ecs.task_definition" => ecs::create_task_definition(self, d).await,
            "aws.ecs.service" => ecs::create_service(self, d).await,
            "aws.ec2.security_group_grant" => ec2::create_grant(self, d).await,
            "aws.ec2.elastic_ip" => ec2::create_elastic_ip(self, d).await,
            "aws.ec2.nat_gateway" => ec2::create_nat_gateway(self, d).await,
            "aws.elbv2.load_balancer" => elbv2::create_load_balancer(self, d).await,
            "aws.elbv2.target_group" => elbv2::create_target_group(self, d).await,
            "aws.elbv2.listener" => elbv2::create_listener(self, d).await,
            "aws.iam.role" => iam::create(self, d).await,
            "aws.iam.oidc_provider" => iam::create_oidc_provider(self, d).await,
            "aws.servicediscovery.service" => servicediscovery::create_service(self, d).await,
            "aws.servicediscovery.private_dns_namespace" => servicediscovery::create(self, d).await,
            "aws.logs.log_group" => logs::create(self, d).await,
            "aws.rds.db_subnet_group" => rds::create_subnet_group(self, d).await,
            "aws.rds.db_instance" => rds::create_instance(self, d).await,
            "aws.s3.bucket" => s3::create(self, d).await,
            other => Err(ProviderError::UnsupportedType(other.to_string())),
        }
    }

    async fn read_batch_once(&self, existing: &[Existing]) -> Result<Vec<Option<Observed>>, ProviderError> {
        match existing.first().map(|e| e.type_name.as_str()) {
            Some("aws.ec2.security_group") => ec2::read_security_groups(self, existing).await,
            Some("aws.ec2.subnet") => ec2::read_subnets(self, existing).await,
            Some("aws.ec2.route_table") => ec2::read_route_tables(self, existing).await,
            Some("aws.ec2.route_table_association") => ec2::read_associations(self, existing).await,
            Some("aws.ec2.elastic_ip") => ec2::read_elastic_ips(self, existing).await,
            Some("aws.ec2.nat_gateway") => ec2::read_nat_gateways(self, existing).await,
            Some("aws.ec2.vpc") => ec2::read_vpcs(self, existing).await,
            Some("aws.ec2.internet_gateway") => ec2::read_internet_gateways(self, existing).await,
            Some("aws.ec2.security_group_grant") => ec2::read_grants(self, existing).await,
            Some("aws.iam.role") => iam::read_roles(self, existing).await,
            Some("aws.ecs.service") => ecs::read_services(self, existing).await,
            Some("aws.elbv2.load_balancer") => elbv2::read_load_balancers(self, existing).await,
            Some("aws.elbv2.target_group") => elbv2::read_target_groups(self, existing).await,
            Some("aws.elbv2.listener") => elbv2::read_listeners(self, existing).await,
            Some("aws.rds.db_instance") => rds::read_instances(self, existing).await,
            Some("aws.logs.log_group") => logs::read_many(self, existing).await,
            _ => {
                let mut out = Vec::with_capacity(existing.len());
                for e in existing {
                    out.push(self.read_one(e).await?);
                }
                Ok(out)
            }
        }
    }

    async fn update_once(&self, e: &Existing, desired: &Value) -> Result<Applied, ProviderError> {
        match e.type_name.as_str() {
            "aws.ec2.vpc" => ec2::update_vpc(self, e, desired).await,
            "aws.ec2.subnet" => ec2::update_subnet(self, e, desired).await,
            "aws.ec2.internet_gateway" => ec2::update_internet_gateway(self, e, desired).await,
            "aws.ec2.route_table_association" | "aws.ec2.elastic_ip" | "aws.ec2.nat_gateway" => {
                ec2::update_tags(self, e, desired).await?;
                Ok(Applied { physical_id: e.physical_id.clone(), outputs: e.outputs.clone() })
            }
            "aws.ec2.route_table" => ec2::update_route_table(self, e, desired).await,
            "aws.ec2.security_group" => ec2::update_security_group(self, e, desired).await,
            "aws.ecr.repository" => ecr::update(self, e, desired).await,
            "aws.ecs.cluster" => ecs::update(self, e, desired).await,
            "aws.ecs.task_definition" => ecs::update_task_definition(self, e, desired).await,
            "aws.ecs.service" => ecs::update_service(self, e, desired).await,
            // Every attribute of a grant forces a replacement: there is nothing to update.
            "aws.ec2.security_group_grant" => {
                Ok(Applied { physical_id: e.physical_id.clone(), outputs: e.outputs.clone() })
            }
            "aws.elbv2.load_balancer" => elbv2::update_load_balancer(self, e, desired).await,
            "aws.elbv2.target_group" => elbv2::update_target_group(self, e, desired).await,
            "aws.elbv2.listener" => elbv2::update_listener(self, e, desired).await,
            "aws.iam.role" => iam::update(self, e, desired).await,
            "aws.iam.oidc_provider" => iam::update_oidc_provider(self, e, desired).await,
            "aws.servicediscovery.service" => servicediscovery::update_service(self, e, desired).await,
            "aws.servicediscovery.private_dns_namespace" => servicediscovery::update(self, e, desired).await,
            "aws.logs.log_group" => logs::update(self, e, desired).await,
            "aws.rds.db_subnet_group" => rds::update_subnet_group(self, e, desired).await,
            "aws.rds.db_instance" => rds::update_instance(self, e, desired).await,
            "aws.s3.bucket" => s3::update(self, e, desired).await,
            other => Err(ProviderError::UnsupportedType(other.to_string())),
        }
    }

    async fn delete_once(&self, e: &Existing) -> Result<(), ProviderError> {
        match e.type_name.as_str() {
            "aws.ec2.vpc" => ec2::delete_vpc(self, e).await,
            "aws.ec2.subnet" => ec2::delete_subnet(self, e).await,
            "aws.ec2.internet_gateway" => ec2::delete_internet_gateway(self, e).await,
            "aws.ec2.route_table" => ec2::delete_route_table(self, e).await,
            "aws.ec2.route_table_association" => ec2::delete_association(self, e).await,
            "aws.ec2.security_group" => ec2::delete_security_group(self, e).await,
            "aws.ecr.repository" => ecr::delete(self, e).await,
            "aws.ecs.cluster" => ecs::delete(self, e).await,
            "aws.ecs.task_definition" => ecs::delete_task_definition(self, e).await,
            "aws.ecs.service" => ecs::delete_service(self, e).await,
            "aws.ec2.security_group_grant" => ec2::delete_grant(self, e).await,
            "aws.ec2.elastic_ip" => ec2::delete_elastic_ip(self, e).await,
            "aws.ec2.nat_gateway" => ec2::delete_nat_gateway(self, e).await,
            "aws.elbv2.load_balancer" => elbv2::delete_load_balancer(self, e).await,
            "aws.elbv2.target_group" => elbv2::delete_target_group(self, e).await,
            "aws.elbv2.listener" => elbv2::delete_listener(self, e).await,
            "aws.iam.role" => iam::delete(self, e).await,
            "aws.iam.oidc_provider" => iam::delete_oidc_provider(self, e).await,
            "aws.servicediscovery.service" => servicediscovery::delete_service(self, e).await,
            "aws.servicediscovery.private_dns_namespace" => servicediscovery::delete(self, e).await,
            "aws.logs.log_group" => logs::delete(self, e).await,
            "aws.rds.db_subnet_group" => rds::delete_subnet_group(self, e).await,
            "aws.rds.db_instance" => rds::delete_instance(self, e).await,
            "aws.s3.bucket" => s3::delete(self, e).await,
            other => Err(ProviderError::UnsupportedType(other.to_string())),
        }
    }

    async fn await_ready_once(&self, e: &Existing) -> Result<BTreeMap<String, Value>, ProviderError> {
        match e.type_name.as_str() {
            "aws.rds.db_instance" => rds::await_instance(self, e).await,
            "aws.ec2.nat_gateway" => ec2::await_nat_gateway(self, e).await,
            _ => Ok(e.outputs.clone()),
        }
    }
}

#[async_trait]
impl Provider for AwsProvider {
    /// Creates a resource without ever making it twice: the SDK does not retry (a lost answer
    /// would make a duplicate); when a create fails in a way that leaves its effect unknown, or
    /// says the resource exists, the resource is looked up by its name and tags first, and if it
    /// is there it is brought to the declared props instead of created again.
    async fn create(&self, d: &Desired) -> Result<Applied, ProviderError> {
        let _slot = self.slot(&d.type_name).await;
        let mut backoff = retry::Backoff::new(&d.type_name);
        loop {
            let err = match self.create_once(d).await {
                Ok(applied) => return Ok(applied),
                Err(ProviderError::Incomplete { applied, source }) => {
                    // Created, a later step failed: finish it, or report it incomplete.
                    if source.retry() == retry::Retry::No {
                        return Err(ProviderError::Incomplete { applied, source });
                    }
                    let existing = self.existing_of(d, &applied.physical_id);
                    return match self.converge(&existing, d, &mut backoff).await {
                        Ok(done) => Ok(done),
                        Err(err) => Err(ProviderError::Incomplete { applied, source: Box::new(err) }),
                    };
                }
                Err(err) => err,
            };
            let unknown = err.retry() != retry::Retry::No || err.is_already_exists();
            // Right after a create, what it depends on may not be visible yet: a while longer.
            let not_yet_visible = err.is_not_found() && backoff.eventually_consistent();
            if !unknown && !not_yet_visible {
                return Err(err);
            }
            backoff.wait(err).await?;
            if unknown {
                let lookup = super::Lookup {
                    address: d.address.clone(),
                    env: d.props["tags"]["platform:env"].as_str().unwrap_or_default().to_string(),
                    type_name: d.type_name.clone(),
                    name: d.name.clone(),
                    props: d.props.clone(),
                };
                if let Some(found) = self.retrying(&d.type_name, || find::find(self, &lookup)).await? {
                    tracing::info!(address = %d.address, id = %found.physical_id, "found after an unanswered create");
                    let existing = self.existing_of(d, &found.physical_id);
                    return self.converge(&existing, d, &mut backoff).await;
                }
            }
        }
    }

    fn batch_types(&self) -> &'static [&'static str] {
        &[
            "aws.ec2.security_group",
            "aws.ec2.subnet",
            "aws.ec2.route_table",
            "aws.ec2.route_table_association",
            "aws.ec2.elastic_ip",
            "aws.ec2.nat_gateway",
            "aws.ec2.vpc",
            "aws.ec2.internet_gateway",
            "aws.ec2.security_group_grant",
            "aws.iam.role",
            "aws.logs.log_group",
            "aws.ecs.service",
            "aws.elbv2.load_balancer",
            "aws.elbv2.target_group",
            "aws.elbv2.listener",
            "aws.rds.db_instance",
        ]
    }

    async fn read_batch(&self, existing: &[Existing]) -> Result<Vec<Option<Observed>>, ProviderError> {
        let type_name = existing.first().map(|e| e.type_name.as_str()).unwrap_or_default();
        let _slot = self.slot(type_name).await;
        self.retrying(type_name, || self.read_batch_once(existing)).await
    }

    async fn read(&self, e: &Existing) -> Result<Option<Observed>, ProviderError> {
        let _slot = self.slot(&e.type_name).await;
        self.retrying(&e.type_name, || self.read_one(e)).await
    }

    async fn find(&self, lookup: &super::Lookup) -> Result<Option<super::Found>, ProviderError> {
        let _slot = self.slot(&lookup.type_name).await;
        self.retrying(&lookup.type_name, || find::find(self, lookup)).await
    }

    async fn update(&self, e: &Existing, desired: &Value) -> Result<Applied, ProviderError> {
        let _slot = self.slot(&e.type_name).await;
        self.retrying(&e.type_name, || self.update_once(e, desired)).await
    }

    async fn delete(&self, e: &Existing) -> Result<(), ProviderError> {
        let _slot = self.slot(&e.type_name).await;
        self.retrying(&e.type_name, || async {
            match self.delete_once(e).await {
                Err(err) if err.is_not_found() => Ok(()),
                other => other,
            }
        })
        .await
    }

    async fn await_ready(&self, e: &Existing) -> Result<BTreeMap<String, Value>, ProviderError> {
        self.retrying(&e.type_name, || self.await_ready_once(e)).await
    }
}

impl AwsProvider {
    /// `f`, again after throttling and transient failures (exponential backoff with jitter, within
    /// a deadline); any other failure at once.
    async fn retrying<T, F, Fut>(&self, what: &str, f: F) -> Result<T, ProviderError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, ProviderError>>,
    {
        let mut backoff = retry::Backoff::new(what);
        loop {
            match f().await {
                Err(err) if err.retry() != retry::Retry::No => backoff.wait(err).await?,
                other => return other,
            }
        }
    }

    /// A resource that exists with id `physical_id`, to be brought to `d`'s props.
    fn existing_of(&self, d: &Desired, physical_id: &str) -> Existing {
        Existing {
            address: d.address.clone(),
            type_name: d.type_name.clone(),
            physical_id: physical_id.to_string(),
            name: d.name.clone(),
            props: d.props.clone(),
            outputs: BTreeMap::new(),
            delete_allowed: false,
        }
    }

    /// Reads what exists and updates it to `d`'s props (a create that was found after all, or
    /// whose later steps failed).
    async fn converge(
        &self,
        existing: &Existing,
        d: &Desired,
        backoff: &mut retry::Backoff,
    ) -> Result<Applied, ProviderError> {
        loop {
            let attempt = async {
                let observed = self.read_one(existing).await?.ok_or_else(|| ProviderError::OperationFailed {
                    what: format!("creating {}", d.address),
                    message: format!("{} was created but is gone", existing.physical_id),
                })?;
                let mut props = match &d.props {
                    Value::Object(m) => m.clone(),
                    _ => serde_json::Map::new(),
                };
                // What AWS reports replaces the declared value (missing settings read as null, and
                // the update sets them); what it does not report stays as declared.
                props.extend(observed.props);
                let current =
                    Existing { props: Value::Object(props), outputs: observed.outputs.clone(), ..existing.clone() };
                let mut applied = self.update_once(&current, &d.props).await?;
                let mut outputs = observed.outputs;
                outputs.extend(applied.outputs);
                applied.outputs = outputs;
                Ok::<_, ProviderError>(applied)
            };
            match attempt.await {
                Err(err) if err.retry() != retry::Retry::No => backoff.wait(err).await?,
                other => return other,
            }
        }
    }
}

impl AwsProvider {
    /// Reads one resource (the caller holds the service's slot).
    async fn read_one(&self, e: &Existing) -> Result<Option<Observed>, ProviderError> {
        let result = match e.type_name.as_str() {
            "aws.ec2.vpc" => ec2::read_vpc(self, e).await,
            "aws.ec2.subnet" => ec2::read_subnet(self, e).await,
            "aws.ec2.internet_gateway" => ec2::read_internet_gateway(self, e).await,
            "aws.ec2.route_table" => ec2::read_route_table(self, e).await,
            "aws.ec2.route_table_association" => ec2::read_association(self, e).await,
            "aws.ec2.security_group" => ec2::read_security_group(self, e).await,
            "aws.ecr.repository" => ecr::read(self, e).await,
            "aws.ecs.cluster" => ecs::read(self, e).await,
            "aws.ecs.task_definition" => ecs::read_task_definition(self, e).await,
            "aws.ecs.service" => ecs::read_service(self, e).await,
            "aws.ec2.security_group_grant" => ec2::read_grant(self, e).await,
            "aws.ec2.elastic_ip" => ec2::read_elastic_ip(self, e).await,
            "aws.ec2.nat_gateway" => ec2::read_nat_gateway(self, e).await,
            "aws.elbv2.load_balancer" => elbv2::read_load_balancer(self, e).await,
            "aws.elbv2.target_group" => elbv2::read_target_group(self, e).await,
            "aws.elbv2.listener" => elbv2::read_listener(self, e).await,
            "aws.iam.role" => iam::read(self, e).await,
            "aws.iam.oidc_provider" => iam::read_oidc_provider(self, e).await,
            "aws.servicediscovery.service" => servicediscovery::read_service(self, e).await,
            "aws.servicediscovery.private_dns_namespace" => servicediscovery::read(self, e).await,
            "aws.logs.log_group" => logs::read(self, e).await,
            "aws.rds.db_subnet_group" => rds::read_subnet_group(self, e).await,
            "aws.rds.db_instance" => rds::read_instance(self, e).await,
            "aws.s3.bucket" => s3::read(self, e).await,
            other => Err(ProviderError::UnsupportedType(other.to_string())),
        };
        match result {
            Err(err) if err.is_not_found() => Ok(None),
            other => other,
        }
    }
}

/// The tags of many resources of any service, by ARN, through the tagging API (100 ARNs a call).
/// Resources without tags (or unknown to it) are absent.
async fn tags_by_arn(
    p: &AwsProvider,
    arns: &[String],
) -> Result<std::collections::HashMap<String, Vec<(String, String)>>, ProviderError> {
    let mut found = std::collections::HashMap::new();
    for chunk in arns.chunks(100) {
        let mut pages = p.tagging.get_resources().set_resource_arn_list(Some(chunk.to_vec())).into_paginator().send();
        while let Some(page) = pages.next().await {
            for mapping in page.map_err(api("tag:GetResources"))?.resource_tag_mapping_list() {
                let tags = mapping.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect();
                found.insert(mapping.resource_arn().unwrap_or_default().to_string(), tags);
            }
        }
    }
    Ok(found)
}

/// An idempotency token for creating `d`: the same for the same address and props, so a create
/// sent again (after a lost answer) is recognised by the APIs that take one, and new for a
/// changed declaration.
fn idempotency_token(d: &Desired) -> String {
    let text = format!("{}\n{}", d.address, d.props);
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, text.as_bytes()).to_string()
}

/// Turns an SDK error into a [`ProviderError`] holding its code and whole cause chain.
fn api<E>(operation: &'static str) -> impl FnOnce(E) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    move |err| ProviderError::Api {
        operation,
        code: err.code().map(str::to_string),
        message: DisplayErrorContext(&err).to_string(),
    }
}

/// Reports a value of `address` that cannot be turned into an AWS request.
fn malformed<E: std::fmt::Display>(address: &Address) -> impl FnOnce(E) -> ProviderError + '_ {
    move |e| ProviderError::Malformed { address: address.clone(), message: e.to_string() }
}

/// Parses resolved props into the provider's view of them.
fn props<T: DeserializeOwned>(address: &Address, props: &Value) -> Result<T, ProviderError> {
    serde_json::from_value(props.clone()).map_err(malformed(address))
}

/// Wraps the failure of a step after the resource was created.
fn incomplete(physical_id: &str, outputs: &BTreeMap<String, Value>) -> impl FnOnce(ProviderError) -> ProviderError {
    let applied = Applied { physical_id: physical_id.to_string(), outputs: outputs.clone() };
    move |source| ProviderError::Incomplete { applied, source: Box::new(source) }
}

fn filter<const N: usize>(name: &str, values: [&str; N]) -> aws_sdk_ec2::types::Filter {
    aws_sdk_ec2::types::Filter::builder().name(name).set_values(Some(values.map(str::to_string).to_vec())).build()
}

fn outputs<const N: usize>(pairs: [(&str, &str); N]) -> BTreeMap<String, Value> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), Value::String(v.to_string()))).collect()
}

/// Tags as a JSON object.
fn tag_map<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Value {
    Value::Object(
        pairs
            .into_iter()
            .filter(|(k, _)| !k.starts_with("aws:"))
            .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
            .collect::<Map<_, _>>(),
    )
}

/// The tags to set and the keys to remove to go from `old` to `new`.
fn tag_changes(old: &Value, new: &Value) -> (Vec<(String, String)>, Vec<String>) {
    let empty = Map::new();
    let old = old.get("tags").and_then(Value::as_object).unwrap_or(&empty);
    let new = new.get("tags").and_then(Value::as_object).unwrap_or(&empty);
    let set = new
        .iter()
        .filter(|(k, v)| old.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
        .collect();
    let remove = old.keys().filter(|k| !new.contains_key(*k)).cloned().collect();
    (set, remove)
}

/// Removes and sets tags with a service's own calls (each skipped when there is nothing to do) to go
/// from the tags of `old` props to those of `new`.
async fn sync_tags<U, UF, T, TF>(old: &Value, new: &Value, untag: U, tag: T) -> Result<(), ProviderError>
where
    U: FnOnce(Vec<String>) -> UF,
    UF: std::future::Future<Output = Result<(), ProviderError>>,
    T: FnOnce(Vec<(String, String)>) -> TF,
    TF: std::future::Future<Output = Result<(), ProviderError>>,
{
    let (set, remove) = tag_changes(old, new);
    if !remove.is_empty() {
        untag(remove).await?;
    }
    if !set.is_empty() {
        tag(set).await?;
    }
    Ok(())
}

/// The user and platform tags of resolved props, as pairs.
fn tags_of(props: &Value) -> Vec<(String, String)> {
    props
        .get("tags")
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect())
        .unwrap_or_default()
}

/// Polls `check` until it returns `Some`, sleeping between polls, up to `deadline`.
async fn wait_for<T, F, Fut>(what: String, deadline: Duration, mut check: F) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>, ProviderError>>,
{
    let started = tokio::time::Instant::now();
    let mut delay = Duration::from_millis(200);
    loop {
        if let Some(done) = check().await? {
            return Ok(done);
        }
        if started.elapsed() + delay > deadline {
            return Err(ProviderError::Timeout { waiting_for: what, after: deadline });
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}
