//! Cloud Map private DNS namespaces. Creating, updating and deleting them is asynchronous:
//! AWS returns an operation id, which is polled until it succeeds, fails, or the deadline passes.

use serde::Deserialize;
use serde_json::{json, Map, Value};

use aws_sdk_servicediscovery::types::{OperationStatus, OperationTargetType, PrivateDnsNamespaceChange, Tag};

use super::{api, outputs, props, sync_tags, tag_map, tags_of, wait_for, AwsProvider};
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
        .map_err(|e| ProviderError::Malformed { address: d.address.clone(), message: e.to_string() })?;
    let out = p
        .discovery
        .create_private_dns_namespace()
        .name(&n.dns_name)
        .vpc(&n.vpc)
        .description(&n.description)
        .creator_request_id(uuid::Uuid::new_v4().to_string())
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
                .map_err(|err| ProviderError::Malformed { address: e.address.clone(), message: err.to_string() })?;
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
    .await?;
    Ok(Applied { physical_id: e.physical_id.clone(), outputs: e.outputs.clone() })
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
