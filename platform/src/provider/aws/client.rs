//! The AWS SDK clients and what the provider learns about the account once: its id and
//! partition, the region and its zones. Every resource type's implementation reaches AWS through
//! [`Aws`].

use std::time::Duration;

use aws_sdk_ec2::config::SharedInterceptor;
use tokio::sync::OnceCell;

use super::retry::CONSISTENCY_WINDOW;
use super::support::api;
use crate::provider::{Identity, ProviderError};

/// The clients of every AWS service the provider uses, built from one SDK configuration.
#[derive(Debug)]
pub(crate) struct Aws {
    pub acm: aws_sdk_acm::Client,
    pub ec2: aws_sdk_ec2::Client,
    /// EC2 without the SDK's retries, for the creates EC2 cannot recognise as repeated (VPCs,
    /// subnets, gateways, addresses, route tables): a retry after a lost answer would make a
    /// second one. The provider looks them up before trying again.
    pub ec2_once: aws_sdk_ec2::Client,
    pub ecr: aws_sdk_ecr::Client,
    pub ecs: aws_sdk_ecs::Client,
    /// ECS without the SDK's retries, for task definition revisions (each call makes one).
    pub ecs_once: aws_sdk_ecs::Client,
    pub elb: aws_sdk_elasticloadbalancingv2::Client,
    pub iam: aws_sdk_iam::Client,
    pub kms: aws_sdk_kms::Client,
    pub discovery: aws_sdk_servicediscovery::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub rds: aws_sdk_rds::Client,
    pub route53: aws_sdk_route53::Client,
    pub s3: aws_sdk_s3::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub sts: aws_sdk_sts::Client,
    pub tagging: aws_sdk_resourcegroupstagging::Client,
    pub wafv2: aws_sdk_wafv2::Client,
    region: Option<String>,
    zones: OnceCell<Vec<Zone>>,
    account: OnceCell<Account>,
    /// What this provider created lately (ids, names, ARNs) and when: AWS may not know them
    /// yet in every call for a while (see [`Aws::just_created`]).
    created: std::sync::Mutex<Vec<(String, std::time::Instant)>>,
    /// How long asynchronous AWS operations (Cloud Map namespaces, NAT gateways, load
    /// balancers, ECS rollouts and drains) are awaited.
    pub operation_timeout: Duration,
    /// How long a database is awaited after a create, an update or a delete.
    pub database_timeout: Duration,
    /// How long a delete refused because the resource is still in use is retried.
    pub release_timeout: Duration,
}

/// How long the provider waits for AWS: see the fields. The defaults follow AWS's own waiters
/// and what AWS documents of its lifecycles (a NAT gateway or a load balancer takes minutes; an
/// RDS instance tens of minutes; network interfaces of deleted tasks and load balancers are
/// released within minutes, occasionally more).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    /// Asynchronous operations: Cloud Map namespaces, NAT gateways, load balancers, ECS
    /// rollouts and drains.
    pub operation: Duration,
    /// A database after a create, an update or a delete.
    pub database: Duration,
    /// A delete refused because the resource is still in use.
    pub release: Duration,
}

impl Default for Deadlines {
    fn default() -> Self {
        Self {
            operation: Duration::from_secs(30 * 60),
            database: Duration::from_secs(90 * 60),
            release: Duration::from_secs(30 * 60),
        }
    }
}

/// The account the credentials belong to, as STS reports it.
#[derive(Debug, Clone)]
pub(crate) struct Account {
    pub id: String,
    pub partition: String,
    pub arn: String,
}

impl Account {
    /// The DNS suffix of the partition's endpoints (`amazonaws.com`, `amazonaws.com.cn`...), as
    /// the AWS SDKs' partition table gives it.
    pub fn dns_suffix(&self) -> &'static str {
        match self.partition.as_str() {
            "aws-cn" => "amazonaws.com.cn",
            "aws-iso" => "c2s.ic.gov",
            "aws-iso-b" => "sc2s.sgov.gov",
            "aws-iso-e" => "cloud.adc-e.uk",
            "aws-iso-f" => "csp.hci.ic.gov",
            "aws-eusc" => "amazonaws.eu",
            // `aws` and `aws-us-gov`.
            _ => "amazonaws.com",
        }
    }
}

impl Aws {
    /// Clients using `config`, each with `interceptor` when there is one (to record or audit the
    /// calls made).
    pub fn new(config: &aws_config::SdkConfig, interceptor: Option<SharedInterceptor>) -> Self {
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
            acm: client!(aws_sdk_acm),
            ec2: client!(aws_sdk_ec2),
            ec2_once: once!(aws_sdk_ec2),
            ecr: client!(aws_sdk_ecr),
            ecs: client!(aws_sdk_ecs),
            ecs_once: once!(aws_sdk_ecs),
            elb: client!(aws_sdk_elasticloadbalancingv2),
            iam: client!(aws_sdk_iam),
            kms: client!(aws_sdk_kms),
            discovery: client!(aws_sdk_servicediscovery),
            logs: client!(aws_sdk_cloudwatchlogs),
            rds: client!(aws_sdk_rds),
            route53: client!(aws_sdk_route53),
            s3: client!(aws_sdk_s3),
            secrets: client!(aws_sdk_secretsmanager),
            sts: client!(aws_sdk_sts),
            tagging: client!(aws_sdk_resourcegroupstagging),
            wafv2: client!(aws_sdk_wafv2),
            region: config.region().map(|r| r.to_string()),
            zones: OnceCell::new(),
            account: OnceCell::new(),
            created: std::sync::Mutex::new(vec![]),
            operation_timeout: Deadlines::default().operation,
            database_timeout: Deadlines::default().database,
            release_timeout: Deadlines::default().release,
        }
    }

    /// These clients with other deadlines.
    pub fn with_deadlines(mut self, deadlines: Deadlines) -> Self {
        self.operation_timeout = deadlines.operation;
        self.database_timeout = deadlines.database;
        self.release_timeout = deadlines.release;
        self
    }

    /// Remembers what a create made (its id, name and the ids and ARNs among its outputs), for
    /// [`Aws::just_created`].
    pub fn remember_created<'a>(&self, keys: impl IntoIterator<Item = &'a str>) {
        let now = std::time::Instant::now();
        let mut created = self.created.lock().expect("created lock");
        created.retain(|(_, at)| at.elapsed() < CONSISTENCY_WINDOW);
        created.extend(keys.into_iter().filter(|k| k.len() >= 4).map(|k| (k.to_string(), now)));
    }

    /// Whether `err` says that something this provider created moments ago does not exist: EC2
    /// and IAM are eventually consistent, and a call right after a create that names the new
    /// resource may be answered `...NotFound` / `NoSuchEntity` for a while
    /// (<https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html>,
    /// <https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_general.html#troubleshoot_general_eventual-consistency>).
    /// AWS's messages name the resource (`The vpc ID 'vpc-1' does not exist`).
    pub fn just_created(&self, err: &ProviderError) -> bool {
        let ProviderError::Api { message, .. } = err else { return false };
        if !err.is_not_found() {
            return false;
        }
        let created = self.created.lock().expect("created lock");
        created.iter().any(|(key, at)| at.elapsed() < CONSISTENCY_WINDOW && message.contains(key.as_str()))
    }

    /// Whether `id` was created by this provider moments ago (a describe may not list it yet).
    pub fn created_lately(&self, id: &str) -> bool {
        let created = self.created.lock().expect("created lock");
        created.iter().any(|(key, at)| at.elapsed() < CONSISTENCY_WINDOW && key == id)
    }

    /// The configured region.
    pub fn region(&self) -> String {
        self.region.clone().unwrap_or_default()
    }

    /// The account id and partition of the credentials in use (asked once, with
    /// `sts:GetCallerIdentity`, which needs no permission).
    pub async fn account(&self) -> Result<&Account, ProviderError> {
        self.account
            .get_or_try_init(|| async {
                let me = self.sts.get_caller_identity().send().await.map_err(api("sts:GetCallerIdentity"))?;
                let arn = me.arn().unwrap_or_default().to_string();
                let partition = arn.split(':').nth(1).filter(|p| !p.is_empty()).unwrap_or("aws").to_string();
                Ok(Account { id: me.account().unwrap_or_default().to_string(), partition, arn })
            })
            .await
    }

    /// Who the provider acts as, and where.
    pub async fn identity(&self) -> Result<Identity, ProviderError> {
        let account = self.account().await?;
        Ok(Identity {
            account: account.id.clone(),
            partition: account.partition.clone(),
            principal: account.arn.clone(),
            region: self.region(),
        })
    }

    /// The region's availability zones, sorted by name, whatever their state (discovered once):
    /// a zone that is impaired or unavailable for a while keeps its place, so the subnets in the
    /// others keep theirs (<https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_AvailabilityZone.html>).
    /// Local and Wavelength zones are left out.
    pub async fn zones(&self) -> Result<&[Zone], ProviderError> {
        self.zones
            .get_or_try_init(|| async {
                let out = self
                    .ec2
                    .describe_availability_zones()
                    .send()
                    .await
                    .map_err(api("ec2:DescribeAvailabilityZones"))?;
                let mut zones: Vec<Zone> = out
                    .availability_zones()
                    .iter()
                    .filter(|z| z.zone_type().is_none_or(|t| t == "availability-zone"))
                    .filter_map(|z| {
                        Some(Zone {
                            name: z.zone_name()?.to_string(),
                            id: z.zone_id().unwrap_or_default().to_string(),
                            state: z.state().map(|s| s.as_str().to_string()).unwrap_or_default(),
                        })
                    })
                    .collect();
                zones.sort_by(|a, b| a.name.cmp(&b.name));
                Ok(zones)
            })
            .await
            .map(Vec::as_slice)
    }
}

/// An availability zone of the region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Zone {
    /// Its name in this account (`us-east-1a`).
    pub name: String,
    /// Its id, the same in every account (`use1-az4`:
    /// <https://docs.aws.amazon.com/global-infrastructure/latest/regions/az-ids.html>).
    pub id: String,
    /// `available`, `information`, `impaired`, `unavailable` or `constrained`.
    pub state: String,
}
