//! Cloud Map private DNS namespaces and services. Creating, updating and deleting a namespace is
//! asynchronous: AWS returns an operation id, which is polled until it succeeds, fails, or the
//! deadline passes.

use async_trait::async_trait;
use aws_sdk_servicediscovery::operation::create_private_dns_namespace::CreatePrivateDnsNamespaceError;
use aws_sdk_servicediscovery::operation::create_service::CreateServiceError;
use aws_sdk_servicediscovery::types::{
    DnsConfig, DnsConfigChange, DnsRecord, HealthCheckCustomConfig, Namespace, OperationStatus, OperationTargetType,
    PrivateDnsNamespaceChange, RecordType, RoutingPolicy, ServiceChange, ServiceFilter, ServiceFilterName, Tag,
};

use super::client::Aws;
use super::resource::{AwsResource, Created, Current, Lookup, New, Read, Recorded};
use super::support::{api, malformed, missing, sync_tags, tags, wait_for};
use crate::model::{Address, Ref};
use crate::provider::ProviderError;
use crate::resources::servicediscovery::{
    DiscoveryService, DiscoveryServiceOutputs, PrivateDnsNamespace, PrivateDnsNamespaceOutputs,
};
use crate::resources::Tags;

/// `aws.servicediscovery.private_dns_namespace`.
pub(crate) struct Namespaces;
/// `aws.servicediscovery.service`.
pub(crate) struct DiscoveryServices;

fn discovery_tags(address: &Address, tags: &Tags) -> Result<Vec<Tag>, ProviderError> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect::<Result<_, _>>()
        .map_err(malformed(address))
}

/// Waits for an operation; returns the namespace id it targets.
async fn await_operation(aws: &Aws, operation_id: &str, what: &str) -> Result<Option<String>, ProviderError> {
    wait_for(format!("Cloud Map operation {operation_id} ({what})"), aws.operation_timeout, || async {
        let out = aws
            .discovery
            .get_operation()
            .operation_id(operation_id)
            .send()
            .await
            .map_err(api("servicediscovery:GetOperation"))?;
        let Some(op) = out.operation() else { return Ok(None) };
        match op.status() {
            Some(OperationStatus::Success) => {
                Ok(Some(op.targets().and_then(|t| t.get(&OperationTargetType::Namespace)).cloned()))
            }
            Some(OperationStatus::Fail) => Err(ProviderError::OperationFailed {
                what: what.to_string(),
                message: format!("{}: {}", op.error_code().unwrap_or("error"), op.error_message().unwrap_or_default()),
            }),
            _ => Ok(None),
        }
    })
    .await
}

async fn describe(aws: &Aws, id: &str) -> Result<Namespace, ProviderError> {
    let out = aws.discovery.get_namespace().id(id).send().await.map_err(api("servicediscovery:GetNamespace"))?;
    out.namespace().cloned().ok_or_else(|| missing("servicediscovery:GetNamespace", &format!("no namespace {id}")))
}

fn namespace_outputs(n: &Namespace) -> PrivateDnsNamespaceOutputs {
    let zone = n.properties().and_then(|p| p.dns_properties()).and_then(|d| d.hosted_zone_id()).unwrap_or_default();
    PrivateDnsNamespaceOutputs {
        id: n.id().unwrap_or_default().to_string(),
        arn: n.arn().unwrap_or_default().to_string(),
        hosted_zone_id: zone.to_string(),
    }
}

async fn read_tags(aws: &Aws, arn: &str) -> Result<Tags, ProviderError> {
    let out = aws
        .discovery
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .map_err(api("servicediscovery:ListTagsForResource"))?;
    Ok(tags(out.tags().iter().map(|t| (t.key(), t.value()))))
}

/// Sets and removes tags of a namespace or a service (by its ARN).
async fn sync_discovery_tags(
    aws: &Aws,
    address: &Address,
    arn: &str,
    old: &Tags,
    new: &Tags,
) -> Result<(), ProviderError> {
    sync_tags(
        old,
        new,
        |remove| async move {
            aws.discovery
                .untag_resource()
                .resource_arn(arn)
                .set_tag_keys(Some(remove))
                .send()
                .await
                .map_err(api("servicediscovery:UntagResource"))?;
            Ok(())
        },
        |set| async move {
            let tags = discovery_tags(address, &set.into_iter().collect())?;
            aws.discovery
                .tag_resource()
                .resource_arn(arn)
                .set_tags(Some(tags))
                .send()
                .await
                .map_err(api("servicediscovery:TagResource"))?;
            Ok(())
        },
    )
    .await
}

#[async_trait]
impl AwsResource for Namespaces {
    type Props = PrivateDnsNamespace;
    type Outputs = PrivateDnsNamespaceOutputs;

    /// `GetNamespace` does not report the VPC (`ListNamespaces` neither).
    const NOT_REPORTED: &'static [&'static str] = &["vpc"];

    async fn create(
        &self,
        aws: &Aws,
        new: &New<'_, PrivateDnsNamespace>,
    ) -> Result<Created<PrivateDnsNamespaceOutputs>, ProviderError> {
        let n = &new.props;
        let what = format!("creating namespace {}", n.dns_name);
        let sent = aws
            .discovery
            .create_private_dns_namespace()
            .name(&n.dns_name)
            .vpc(n.vpc.as_str())
            .description(&n.description)
            .creator_request_id(&new.token)
            .set_tags(Some(discovery_tags(new.address, &n.tags)?))
            .send()
            .await;
        // The SDK sends a create again when its answer is lost, with the same CreatorRequestId,
        // which "allows failed requests to be retried without the risk of running the operation
        // twice" (https://docs.aws.amazon.com/cloud-map/latest/api/API_CreatePrivateDnsNamespace.html).
        // Besides the first answer, AWS documents two errors that say the create is this one's:
        // DuplicateRequest, naming the operation in progress, and NamespaceAlreadyExists, naming
        // the CreatorRequestId the namespace was made with
        // (https://docs.aws.amazon.com/cloud-map/latest/api/API_CreatePrivateDnsNamespace.html#API_CreatePrivateDnsNamespace_Errors).
        let operation = match sent {
            Ok(out) => out.operation_id().unwrap_or_default().to_string(),
            Err(error) => match error.as_service_error() {
                Some(CreatePrivateDnsNamespaceError::DuplicateRequest(e)) if e.duplicate_operation_id().is_some() => {
                    e.duplicate_operation_id().unwrap_or_default().to_string()
                }
                Some(CreatePrivateDnsNamespaceError::NamespaceAlreadyExists(e))
                    if e.creator_request_id() == Some(new.token.as_str()) && e.namespace_id().is_some() =>
                {
                    let namespace = describe(aws, e.namespace_id().unwrap_or_default()).await?;
                    let id = namespace.id().unwrap_or_default().to_string();
                    return Ok(Created { physical_id: id, outputs: namespace_outputs(&namespace) });
                }
                _ => return Err(api("servicediscovery:CreatePrivateDnsNamespace")(error)),
            },
        };
        let id = await_operation(aws, &operation, &what)
            .await?
            .ok_or_else(|| missing(&what, "the operation names no namespace"))?;
        let namespace = describe(aws, &id).await?;
        Ok(Created { physical_id: id, outputs: namespace_outputs(&namespace) })
    }

    async fn read(
        &self,
        aws: &Aws,
        recorded: &Recorded<'_, PrivateDnsNamespace>,
    ) -> Result<Option<Read<PrivateDnsNamespace, PrivateDnsNamespaceOutputs>>, ProviderError> {
        let n = describe(aws, recorded.physical_id).await?;
        let props = PrivateDnsNamespace {
            dns_name: n.name().unwrap_or_default().to_string(),
            // Not reported (see NOT_REPORTED): the recorded value stands.
            vpc: recorded.props.as_ref().map_or_else(|| Ref::existing(""), |p| p.vpc.clone()),
            description: n.description().unwrap_or_default().to_string(),
            tags: read_tags(aws, n.arn().unwrap_or_default()).await?,
        };
        Ok(Some(Read::new(props, namespace_outputs(&n))))
    }

    async fn update(
        &self,
        aws: &Aws,
        current: &Current<'_, PrivateDnsNamespace, PrivateDnsNamespaceOutputs>,
        new: &PrivateDnsNamespace,
    ) -> Result<(), ProviderError> {
        if current.props.description != new.description {
            let out = aws
                .discovery
                .update_private_dns_namespace()
                .id(current.physical_id)
                .updater_request_id(uuid::Uuid::new_v4().to_string())
                .namespace(PrivateDnsNamespaceChange::builder().description(&new.description).build())
                .send()
                .await
                .map_err(api("servicediscovery:UpdatePrivateDnsNamespace"))?;
            let what = format!("updating namespace {}", new.dns_name);
            await_operation(aws, out.operation_id().unwrap_or_default(), &what).await?;
        }
        sync_discovery_tags(aws, current.address, &current.outputs.arn, &current.props.tags, &new.tags).await
    }

    async fn delete(
        &self,
        aws: &Aws,
        current: &Current<'_, PrivateDnsNamespace, PrivateDnsNamespaceOutputs>,
    ) -> Result<(), ProviderError> {
        let out = aws
            .discovery
            .delete_namespace()
            .id(current.physical_id)
            .send()
            .await
            .map_err(api("servicediscovery:DeleteNamespace"))?;
        let what = format!("deleting namespace {}", current.physical_id);
        await_operation(aws, out.operation_id().unwrap_or_default(), &what).await?;
        Ok(())
    }

    /// A namespace by its DNS name.
    async fn find(&self, aws: &Aws, lookup: &Lookup<'_, PrivateDnsNamespace>) -> Result<Option<String>, ProviderError> {
        let Some(dns_name) = lookup.props.as_ref().map(|p| p.dns_name.as_str()) else { return Ok(None) };
        let mut pages = aws.discovery.list_namespaces().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(api("servicediscovery:ListNamespaces"))?;
            if let Some(n) = page.namespaces().iter().find(|n| n.name() == Some(dns_name)) {
                return Ok(n.id().map(str::to_string));
            }
        }
        Ok(None)
    }
}

fn a_record(ttl: u32) -> Result<DnsRecord, aws_sdk_servicediscovery::error::BuildError> {
    DnsRecord::builder().r#type(RecordType::A).ttl(i64::from(ttl)).build()
}

#[async_trait]
impl AwsResource for DiscoveryServices {
    type Props = DiscoveryService;
    type Outputs = DiscoveryServiceOutputs;

    async fn create(
        &self,
        aws: &Aws,
        new: &New<'_, DiscoveryService>,
    ) -> Result<Created<DiscoveryServiceOutputs>, ProviderError> {
        let s = &new.props;
        let records = a_record(s.ttl_seconds).map_err(malformed(new.address))?;
        let out = aws
            .discovery
            .create_service()
            .name(&s.dns_name)
            .namespace_id(s.namespace.as_str())
            .creator_request_id(&new.token)
            .dns_config(
                DnsConfig::builder()
                    .routing_policy(RoutingPolicy::Multivalue)
                    .dns_records(records)
                    .build()
                    .map_err(malformed(new.address))?,
            )
            .health_check_custom_config(HealthCheckCustomConfig::builder().build())
            .set_tags(Some(discovery_tags(new.address, &s.tags)?))
            .send()
            .await;
        // As for namespaces: a create sent again with its CreatorRequestId may be answered
        // ServiceAlreadyExists, naming the CreatorRequestId the service was made with
        // (https://docs.aws.amazon.com/cloud-map/latest/api/API_CreateService.html#API_CreateService_Errors).
        let out = match out {
            Ok(out) => out,
            Err(error) => match error.as_service_error() {
                Some(CreateServiceError::ServiceAlreadyExists(e))
                    if e.creator_request_id() == Some(new.token.as_str()) && e.service_id().is_some() =>
                {
                    let id = e.service_id().unwrap_or_default();
                    let found =
                        aws.discovery.get_service().id(id).send().await.map_err(api("servicediscovery:GetService"))?;
                    let arn = found.service().and_then(|s| s.arn()).unwrap_or_default().to_string();
                    return Ok(Created {
                        physical_id: id.to_string(),
                        outputs: DiscoveryServiceOutputs { id: id.to_string(), arn },
                    });
                }
                _ => return Err(api("servicediscovery:CreateService")(error)),
            },
        };
        let service =
            out.service().ok_or_else(|| missing("servicediscovery:CreateService", "no service in the answer"))?;
        let id = service.id().unwrap_or_default().to_string();
        let outputs = DiscoveryServiceOutputs { id: id.clone(), arn: service.arn().unwrap_or_default().to_string() };
        Ok(Created { physical_id: id, outputs })
    }

    async fn read(
        &self,
        aws: &Aws,
        recorded: &Recorded<'_, DiscoveryService>,
    ) -> Result<Option<Read<DiscoveryService, DiscoveryServiceOutputs>>, ProviderError> {
        let out = aws
            .discovery
            .get_service()
            .id(recorded.physical_id)
            .send()
            .await
            .map_err(api("servicediscovery:GetService"))?;
        let Some(s) = out.service() else { return Ok(None) };
        let ttl = s.dns_config().and_then(|c| c.dns_records().first()).map(|r| r.ttl());
        let props = DiscoveryService {
            dns_name: s.name().unwrap_or_default().to_string(),
            namespace: Ref::existing(s.namespace_id().unwrap_or_default()),
            ttl_seconds: ttl.and_then(|t| u32::try_from(t).ok()).unwrap_or_default(),
            tags: read_tags(aws, s.arn().unwrap_or_default()).await?,
        };
        let outputs = DiscoveryServiceOutputs {
            id: recorded.physical_id.to_string(),
            arn: s.arn().unwrap_or_default().to_string(),
        };
        Ok(Some(Read::new(props, outputs)))
    }

    async fn update(
        &self,
        aws: &Aws,
        current: &Current<'_, DiscoveryService, DiscoveryServiceOutputs>,
        new: &DiscoveryService,
    ) -> Result<(), ProviderError> {
        if current.props.ttl_seconds != new.ttl_seconds {
            let records = a_record(new.ttl_seconds).map_err(malformed(current.address))?;
            let change = ServiceChange::builder()
                .dns_config(
                    DnsConfigChange::builder().dns_records(records).build().map_err(malformed(current.address))?,
                )
                .build();
            let out = aws
                .discovery
                .update_service()
                .id(current.physical_id)
                .service(change)
                .send()
                .await
                .map_err(api("servicediscovery:UpdateService"))?;
            let what = format!("updating service {}", new.dns_name);
            await_operation(aws, out.operation_id().unwrap_or_default(), &what).await?;
        }
        sync_discovery_tags(aws, current.address, &current.outputs.arn, &current.props.tags, &new.tags).await
    }

    async fn delete(
        &self,
        aws: &Aws,
        current: &Current<'_, DiscoveryService, DiscoveryServiceOutputs>,
    ) -> Result<(), ProviderError> {
        aws.discovery
            .delete_service()
            .id(current.physical_id)
            .send()
            .await
            .map_err(api("servicediscovery:DeleteService"))?;
        Ok(())
    }

    /// The instances still registered (an ECS service's tasks, until they stop): Cloud Map
    /// refuses to delete a service that has any (`ResourceInUse`:
    /// <https://docs.aws.amazon.com/cloud-map/latest/api/API_DeleteService.html>).
    async fn holders(
        &self,
        aws: &Aws,
        current: &Current<'_, DiscoveryService, DiscoveryServiceOutputs>,
    ) -> Result<Vec<String>, ProviderError> {
        let out = aws
            .discovery
            .list_instances()
            .service_id(current.physical_id)
            .send()
            .await
            .map_err(api("servicediscovery:ListInstances"))?;
        Ok(out.instances().iter().map(|i| format!("instance {}", i.id().unwrap_or_default())).collect())
    }

    /// A service by its name in its namespace.
    async fn find(&self, aws: &Aws, lookup: &Lookup<'_, DiscoveryService>) -> Result<Option<String>, ProviderError> {
        let Some(s) = &lookup.props else { return Ok(None) };
        let filter = ServiceFilter::builder()
            .name(ServiceFilterName::NamespaceId)
            .values(s.namespace.as_str())
            .build()
            .map_err(malformed(lookup.address))?;
        let mut pages = aws.discovery.list_services().filters(filter).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(api("servicediscovery:ListServices"))?;
            if let Some(found) = page.services().iter().find(|x| x.name() == Some(s.dns_name.as_str())) {
                return Ok(found.id().map(str::to_string));
            }
        }
        Ok(None)
    }
}
