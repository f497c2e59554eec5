//! Cloud Map private DNS namespaces. Creating, updating and deleting them is asynchronous:
//! AWS returns an operation id, which is polled until it succeeds, fails, or the deadline passes.

use serde::Deserialize;
use serde_json::{json, Map, Value};

use aws_sdk_servicediscovery::types::{
    DnsConfig, DnsConfigChange, DnsRecord, HealthCheckCustomConfig, OperationStatus, OperationTargetType,
    PrivateDnsNamespaceChange, RecordType, RoutingPolicy, ServiceChange, Tag,
};

use super::{api, malformed, outputs, props, sync_tags, tag_map, tags_of, wait_for, AwsProvider};
use crate::provider::{Applied, Desired, Existing, Observed, ProviderError};

#[derive(Deserialize)]
struct NamespaceProps {
    dns_name: String,
    vpc: String,
    description: String,
}

/// Waits for an operation; returns the namespace id it targets.
async fn await_operation(p: &AwsProvider, operation_id: &str, what: &str) -> Result<Option<String>, ProviderError> {
    wait_for(format!("Cloud Map operation {operation_id} ({what})"), p.operation_timeout, || async {
        let out = p
            .discovery
            .get_operation()
            .operation_id(operation_id)
            .send()
            .await
            .map_err(api("servicediscovery:GetOperation"))?;
        let Some(op) = out.operation() else {
            return Ok(None);
        };
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

async fn describe(p: &AwsProvider, id: &str) -> Result<aws_sdk_servicediscovery::types::Namespace, ProviderError> {
    let out = p.discovery.get_namespace().id(id).send().await.map_err(api("servicediscovery:GetNamespace"))?;
    out.namespace().cloned().ok_or_else(|| ProviderError::OperationFailed {
        what: "servicediscovery:GetNamespace".into(),
        message: format!("no namespace {id} in the response"),
    })
}

fn namespace_outputs(n: &aws_sdk_servicediscovery::types::Namespace) -> std::collections::BTreeMap<String, Value> {
    let zone = n.properties().and_then(|p| p.dns_properties()).and_then(|d| d.hosted_zone_id()).unwrap_or_default();
    outputs([("id", n.id().unwrap_or_default()), ("arn", n.arn().unwrap_or_default()), ("hosted_zone_id", zone)])
}

pub(super) async fn create(p: &AwsProvider, d: &Desired) -> Result<Applied, ProviderError> {
    let n: NamespaceProps = props(&d.address, &d.props)?;
    let tags = tags_of(&d.props)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect::<Result<Vec<_>, _>>()
        .map_err(malformed(&d.address))?;
    let out = p
        .discovery
        .create_private_dns_namespace()
        .name(&n.dns_name)
        .vpc(&n.vpc)
        .description(&n.description)
        .creator_request_id(super::idempotency_token(d))
        .set_tags(Some(tags))
        .send()
        .await
        .map_err(api("servicediscovery:CreatePrivateDnsNamespace"))?;
    let operation = out.operation_id().unwrap_or_default();
    let id = await_operation(p, operation, &format!("creating namespace {}", n.dns_name)).await?.ok_or_else(|| {
        ProviderError::OperationFailed {
            what: format!("creating namespace {}", n.dns_name),
            message: "the operation names no namespace".into(),
        }
    })?;
    let namespace = describe(p, &id).await?;
    Ok(Applied { physical_id: id, outputs: namespace_outputs(&namespace) })
}

pub(super) async fn read(p: &AwsProvider, e: &Existing) -> Result<Option<Observed>, ProviderError> {
    let n = describe(p, &e.physical_id).await?;
    let tags = p
        .discovery
        .list_tags_for_resource()
        .resource_arn(n.arn().unwrap_or_default())
        .send()
        .await
        .map_err(api("servicediscovery:ListTagsForResource"))?;
    // The VPC is not reported by GetNamespace; it keeps its recorded value.
    let mut props = Map::new();
    props.insert("dns_name".into(), json!(n.name()));
    props.insert("description".into(), json!(n.description().unwrap_or_default()));
    props.insert("tags".into(), tag_map(tags.tags().iter().map(|t| (t.key(), t.value()))));
    Ok(Some(Observed { props, outputs: namespace_outputs(&n) }))
}

pub(super) async fn update(p: &AwsProvider, e: &Existing, desired: &Value) -> Result<Applied, ProviderError> {
    let old: NamespaceProps = props(&e.address, &e.props)?;
    let new: NamespaceProps = props(&e.address, desired)?;
    if old.description != new.description {
        let out = p
            .discovery
            .update_private_dns_namespace()
            .id(&e.physical_id)
            .updater_request_id(uuid::Uuid::new_v4().to_string())
            .namespace(PrivateDnsNamespaceChange::builder().description(&new.description).build())
            .send()
            .await
            .map_err(api("servicediscovery:UpdatePrivateDnsNamespace"))?;
        await_operation(p, out.operation_id().unwrap_or_default(), &format!("updating namespace {}", new.dns_name))
            .await?;
    }
    sync_discovery_tags(p, e, desired).await?;
    Ok(Applied { physical_id: e.physical_id.clone(), outputs: e.outputs.clone() })
}

/// Sets and removes tags of a namespace or a service (by its recorded ARN).
async fn sync_discovery_tags(p: &AwsProvider, e: &Existing, desired: &Value) -> Result<(), ProviderError> {
    let arn = e.outputs.get("arn").and_then(Value::as_str).unwrap_or_default();
    sync_tags(
        &e.props,
        desired,
        |remove| async move {
            p.discovery
                .untag_resource()
                .resource_arn(arn)
                .set_tag_keys(Some(remove))
                .send()
                .await
                .map_err(api("servicediscovery:UntagResource"))?;
            Ok(())
        },
        |set| async move {
            let tags = set
                .into_iter()
                .map(|(k, v)| Tag::builder().key(k).value(v).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(malformed(&e.address))?;
            p.discovery
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

pub(super) async fn delete(p: &AwsProvider, e: &Existing) -> Result<(), ProviderError> {
    let out = p
        .discovery
        .delete_namespace()
        .id(&e.physical_id)
        .send()
        .await
        .map_err(api("servicediscovery:DeleteNamespace"))?;
    await_operation(p, out.operation_id().unwrap_or_default(), &format!("deleting namespace {}", e.physical_id))
        .await?;
    Ok(())
}

// ---- Services ----

#[derive(Deserialize)]
struct ServiceProps {
    dns_name: String,
    namespace: String,
    ttl_seconds: i64,
}

fn a_record(ttl: i64) -> DnsRecord {
    DnsRecord::builder().r#type(RecordType::A).ttl(ttl).build().expect("type and TTL are set")
}

pub(super) async fn create_service(p: &AwsProvider, d: &Desired) -> Result<Applied, ProviderError> {
    let s: ServiceProps = props(&d.address, &d.props)?;
    let tags = tags_of(&d.props)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect::<Result<Vec<_>, _>>()
        .map_err(malformed(&d.address))?;
    let out = p
        .discovery
        .create_service()
        .name(&s.dns_name)
        .namespace_id(&s.namespace)
        .creator_request_id(super::idempotency_token(d))
        .dns_config(
            DnsConfig::builder()
                .routing_policy(RoutingPolicy::Multivalue)
                .dns_records(a_record(s.ttl_seconds))
                .build()
                .map_err(malformed(&d.address))?,
        )
        .health_check_custom_config(HealthCheckCustomConfig::builder().build())
        .set_tags(Some(tags))
        .send()
        .await
        .map_err(api("servicediscovery:CreateService"))?;
    let service = out.service().ok_or_else(|| ProviderError::OperationFailed {
        what: "servicediscovery:CreateService".into(),
        message: "the response holds no service".into(),
    })?;
    let id = service.id().unwrap_or_default().to_string();
    Ok(Applied { outputs: outputs([("id", id.as_str()), ("arn", service.arn().unwrap_or_default())]), physical_id: id })
}

pub(super) async fn read_service(p: &AwsProvider, e: &Existing) -> Result<Option<Observed>, ProviderError> {
    let out = p.discovery.get_service().id(&e.physical_id).send().await.map_err(api("servicediscovery:GetService"))?;
    let Some(s) = out.service() else { return Ok(None) };
    let tags = p
        .discovery
        .list_tags_for_resource()
        .resource_arn(s.arn().unwrap_or_default())
        .send()
        .await
        .map_err(api("servicediscovery:ListTagsForResource"))?;
    let mut props = Map::new();
    props.insert("dns_name".into(), json!(s.name()));
    props.insert("namespace".into(), json!(s.namespace_id()));
    props.insert("ttl_seconds".into(), json!(s.dns_config().and_then(|c| c.dns_records().first()).map(|r| r.ttl())));
    props.insert("tags".into(), tag_map(tags.tags().iter().map(|t| (t.key(), t.value()))));
    Ok(Some(Observed {
        props,
        outputs: outputs([("id", e.physical_id.as_str()), ("arn", s.arn().unwrap_or_default())]),
    }))
}

pub(super) async fn update_service(p: &AwsProvider, e: &Existing, desired: &Value) -> Result<Applied, ProviderError> {
    let old: ServiceProps = props(&e.address, &e.props)?;
    let new: ServiceProps = props(&e.address, desired)?;
    if old.ttl_seconds != new.ttl_seconds {
        let change = ServiceChange::builder()
            .dns_config(
                DnsConfigChange::builder()
                    .dns_records(a_record(new.ttl_seconds))
                    .build()
                    .map_err(malformed(&e.address))?,
            )
            .build();
        let out = p
            .discovery
            .update_service()
            .id(&e.physical_id)
            .service(change)
            .send()
            .await
            .map_err(api("servicediscovery:UpdateService"))?;
        await_operation(p, out.operation_id().unwrap_or_default(), &format!("updating service {}", new.dns_name))
            .await?;
    }
    sync_discovery_tags(p, e, desired).await?;
    Ok(Applied { physical_id: e.physical_id.clone(), outputs: e.outputs.clone() })
}

pub(super) async fn delete_service(p: &AwsProvider, e: &Existing) -> Result<(), ProviderError> {
    p.discovery.delete_service().id(&e.physical_id).send().await.map_err(api("servicediscovery:DeleteService"))?;
    Ok(())
}

/// The id of the namespace called `dns_name`, if there is one.
pub(super) async fn namespace_id_by_name(p: &AwsProvider, dns_name: &str) -> Result<Option<String>, ProviderError> {
    let mut pages = p.discovery.list_namespaces().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(api("servicediscovery:ListNamespaces"))?;
        if let Some(n) = page.namespaces().iter().find(|n| n.name() == Some(dns_name)) {
            return Ok(n.id().map(str::to_string));
        }
    }
    Ok(None)
}

/// The id of the service called `name` in `namespace`, if there is one.
pub(super) async fn service_id_by_name(
    p: &AwsProvider,
    namespace: &str,
    name: &str,
) -> Result<Option<String>, ProviderError> {
    let filter = aws_sdk_servicediscovery::types::ServiceFilter::builder()
        .name(aws_sdk_servicediscovery::types::ServiceFilterName::NamespaceId)
        .values(namespace)
        .build()
        .map_err(|e| ProviderError::OperationFailed {
            what: "servicediscovery:ListServices".into(),
            message: e.to_string(),
        })?;
    let mut pages = p.discovery.list_services().filters(filter).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(api("servicediscovery:ListServices"))?;
        if let Some(s) = page.services().iter().find(|s| s.name() == Some(name)) {
            return Ok(s.id().map(str::to_string));
        }
    }
    Ok(None)
}
