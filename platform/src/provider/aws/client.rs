//! The AWS SDK clients and what the provider learns about the account once: its id and
//! partition, the region and its zones. Every resource type's implementation reaches AWS through
//! [`Aws`].

use std::time::Duration;

use aws_sdk_ec2::config::SharedInterceptor;
use tokio::sync::OnceCell;

use super::support::{api, filter};
use crate::provider::{Identity, ProviderError};

/// The clients of every AWS service the provider uses, built from one SDK configuration.
#[derive(Debug)]
pub(crate) struct Aws {
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
    pub discovery: aws_sdk_servicediscovery::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub rds: aws_sdk_rds::Client,
    pub s3: aws_sdk_s3::Client,
    pub sts: aws_sdk_sts::Client,
    pub tagging: aws_sdk_resourcegroupstagging::Client,
    region: Option<String>,
    zones: OnceCell<Vec<String>>,
    account: OnceCell<Account>,
    /// How long asynchronous AWS operations (Cloud Map namespaces, NAT gateways) are awaited.
    pub operation_timeout: Duration,
    /// How long a database is awaited after a create, an update or a delete.
    pub database_timeout: Duration,
}

/// The account the credentials belong to, as STS reports it.
#[derive(Debug, Clone)]
pub(crate) struct Account {
    pub id: String,
    pub partition: String,
    pub arn: String,
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
        }
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

    /// The region's available zones, sorted by name (discovered once).
    pub async fn zones(&self) -> Result<&[String], ProviderError> {
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
