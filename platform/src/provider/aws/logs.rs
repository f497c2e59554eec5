//! CloudWatch Logs log groups. The physical id is the log group name.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::{api, incomplete, outputs, props, sync_tags, tag_map, AwsProvider};
use crate::provider::{Applied, Desired, Existing, Observed, ProviderError};

#[derive(Deserialize)]
struct LogGroupProps {
    name: String,
    /// None when the group's events never expire (its retention was removed outside platform).
    retention_in_days: Option<i32>,
}

async fn describe(
    p: &AwsProvider,
    name: &str,
) -> Result<Option<aws_sdk_cloudwatchlogs::types::LogGroup>, ProviderError> {
    let mut pages = p.logs.describe_log_groups().log_group_name_prefix(name).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(api("logs:DescribeLogGroups"))?;
        if let Some(g) = page.log_groups().iter().find(|g| g.log_group_name() == Some(name)) {
            return Ok(Some(g.clone()));
        }
    }
    Ok(None)
}

/// The ARN without the `:*` suffix that `arn` carries.
fn arn_of(g: &aws_sdk_cloudwatchlogs::types::LogGroup) -> String {
    g.log_group_arn()
        .map(str::to_string)
        .or_else(|| g.arn().map(|a| a.trim_end_matches(":*").to_string()))
        .unwrap_or_default()
}

pub(super) async fn create(p: &AwsProvider, d: &Desired) -> Result<Applied, ProviderError> {
    let g: LogGroupProps = props(&d.address, &d.props)?;
    let tags: std::collections::HashMap<String, String> = super::tags_of(&d.props).into_iter().collect();
    p.logs
        .create_log_group()
        .log_group_name(&g.name)
        .set_tags(Some(tags))
        .send()
        .await
        .map_err(api("logs:CreateLogGroup"))?;
    let mut outs = outputs([("name", g.name.as_str())]);
    let finish = async {
        p.logs
            .put_retention_policy()
            .log_group_name(&g.name)
            .set_retention_in_days(g.retention_in_days)
            .send()
            .await
            .map_err(api("logs:PutRetentionPolicy"))?;
        describe(p, &g.name).await
    };
    match finish.await {
        Ok(found) => {
            let arn = found.as_ref().map(arn_of).unwrap_or_default();
            outs.insert("arn".into(), Value::String(arn));
            Ok(Applied { physical_id: g.name, outputs: outs })
        }
        Err(err) => Err(incomplete(&g.name, &outs)(err)),
    }
}

pub(super) async fn read(p: &AwsProvider, e: &Existing) -> Result<Option<Observed>, ProviderError> {
    let Some(g) = describe(p, &e.physical_id).await? else {
        return Ok(None);
    };
    let arn = arn_of(&g);
    let tags =
        p.logs.list_tags_for_resource().resource_arn(&arn).send().await.map_err(api("logs:ListTagsForResource"))?;
    let mut props = Map::new();
    props.insert("name".into(), json!(g.log_group_name()));
    props.insert("retention_in_days".into(), json!(g.retention_in_days()));
    let pairs: BTreeMap<&str, &str> =
        tags.tags().map(|t| t.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()).unwrap_or_default();
    props.insert("tags".into(), tag_map(pairs));
    Ok(Some(Observed { props, outputs: outputs([("arn", arn.as_str()), ("name", e.physical_id.as_str())]) }))
}

/// The longest prefix all `names` share.
fn common_prefix<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    let mut names = names.into_iter();
    let Some(first) = names.next() else { return String::new() };
    let mut prefix = first.to_string();
    for name in names {
        let shared = prefix.chars().zip(name.chars()).take_while(|(a, b)| a == b).count();
        prefix = prefix.chars().take(shared).collect();
    }
    prefix
}

/// Reads many log groups at once: `DescribeLogGroups` on the names' common prefix (50 a page),
/// and their tags through the tagging API (`tag:GetResources`, 100 ARNs a call) instead of one
/// `ListTagsForResource` per group.
pub(super) async fn read_many(p: &AwsProvider, existing: &[Existing]) -> Result<Vec<Option<Observed>>, ProviderError> {
    let wanted: std::collections::HashSet<&str> = existing.iter().map(|e| e.physical_id.as_str()).collect();
    let prefix = common_prefix(existing.iter().map(|e| e.physical_id.as_str()));
    let mut groups = std::collections::HashMap::new();
    let mut request = p.logs.describe_log_groups();
    if !prefix.is_empty() {
        request = request.log_group_name_prefix(&prefix);
    }
    let mut pages = request.into_paginator().send();
    while let Some(page) = pages.next().await {
        for g in page.map_err(api("logs:DescribeLogGroups"))?.log_groups() {
            if let Some(name) = g.log_group_name().filter(|n| wanted.contains(n)) {
                groups.insert(name.to_string(), g.clone());
            }
        }
    }
    let arns: Vec<String> = groups.values().map(arn_of).collect();
    let tags = super::tags_by_arn(p, &arns).await?;
    Ok(existing
        .iter()
        .map(|e| {
            let g = groups.get(&e.physical_id)?;
            let arn = arn_of(g);
            let mut props = Map::new();
            props.insert("name".into(), json!(g.log_group_name()));
            props.insert("retention_in_days".into(), json!(g.retention_in_days()));
            let pairs = tags.get(&arn).map(|t| t.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect::<Vec<_>>());
            props.insert("tags".into(), tag_map(pairs.unwrap_or_default()));
            Some(Observed { props, outputs: outputs([("arn", arn.as_str()), ("name", e.physical_id.as_str())]) })
        })
        .collect())
}

pub(super) async fn update(p: &AwsProvider, e: &Existing, desired: &Value) -> Result<Applied, ProviderError> {
    let old: LogGroupProps = props(&e.address, &e.props)?;
    let new: LogGroupProps = props(&e.address, desired)?;
    if old.retention_in_days != new.retention_in_days {
        p.logs
            .put_retention_policy()
            .log_group_name(&e.physical_id)
            .set_retention_in_days(new.retention_in_days)
            .send()
            .await
            .map_err(api("logs:PutRetentionPolicy"))?;
    }
    let arn = e.outputs.get("arn").and_then(Value::as_str).unwrap_or_default();
    sync_tags(
        &e.props,
        desired,
        |remove| async move {
            p.logs
                .untag_resource()
                .resource_arn(arn)
                .set_tag_keys(Some(remove))
                .send()
                .await
                .map_err(api("logs:UntagResource"))?;
            Ok(())
        },
        |set| async move {
            p.logs
                .tag_resource()
                .resource_arn(arn)
                .set_tags(Some(set.into_iter().collect()))
                .send()
                .await
                .map_err(api("logs:TagResource"))?;
            Ok(())
        },
    )
    .await?;
    Ok(Applied { physical_id: e.physical_id.clone(), outputs: e.outputs.clone() })
}

pub(super) async fn delete(p: &AwsProvider, e: &Existing) -> Result<(), ProviderError> {
    p.logs.delete_log_group().log_group_name(&e.physical_id).send().await.map_err(api("logs:DeleteLogGroup"))?;
    Ok(())
}
