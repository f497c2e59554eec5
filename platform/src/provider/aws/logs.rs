//! CloudWatch Logs log groups. The physical id is the log group name.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use aws_sdk_cloudwatchlogs::types::LogGroup as AwsLogGroup;

use super::client::Aws;
use super::resource::{AwsResource, Created, Current, Lookup, New, Read, Recorded};
use super::support::{api, incomplete, sync_tags, tags};
use crate::provider::ProviderError;
use crate::resources::logs::{LogGroup, LogGroupOutputs};
use crate::resources::Tags;

/// `aws.logs.log_group`.
pub(crate) struct LogGroups;

async fn describe(aws: &Aws, name: &str) -> Result<Option<AwsLogGroup>, ProviderError> {
    let mut pages = aws.logs.describe_log_groups().log_group_name_prefix(name).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(api("logs:DescribeLogGroups"))?;
        if let Some(g) = page.log_groups().iter().find(|g| g.log_group_name() == Some(name)) {
            return Ok(Some(g.clone()));
        }
    }
    Ok(None)
}

/// The ARN without the `:*` suffix that `arn` carries.
fn arn_of(g: &AwsLogGroup) -> String {
    g.log_group_arn()
        .map(str::to_string)
        .or_else(|| g.arn().map(|a| a.trim_end_matches(":*").to_string()))
        .unwrap_or_default()
}

/// Days events are kept; 0 when they are kept forever (no retention policy).
fn retention(g: &AwsLogGroup) -> u32 {
    g.retention_in_days().and_then(|d| u32::try_from(d).ok()).unwrap_or(0)
}

/// Sets the retention (or removes it: 0 keeps events forever).
async fn put_retention(aws: &Aws, name: &str, days: u32) -> Result<(), ProviderError> {
    if days == 0 {
        aws.logs
            .delete_retention_policy()
            .log_group_name(name)
            .send()
            .await
            .map_err(api("logs:DeleteRetentionPolicy"))?;
    } else {
        aws.logs
            .put_retention_policy()
            .log_group_name(name)
            .retention_in_days(i32::try_from(days).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(api("logs:PutRetentionPolicy"))?;
    }
    Ok(())
}

fn observe(g: &AwsLogGroup, tags: Tags) -> Read<LogGroup, LogGroupOutputs> {
    let name = g.log_group_name().unwrap_or_default();
    let outputs = LogGroupOutputs { arn: arn_of(g), name: name.to_string() };
    let kms_key = g.kms_key_id().map(crate::model::Ref::existing);
    Read::named(LogGroup { retention_in_days: retention(g), kms_key, tags }, name, outputs)
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

/// The tags of many resources of any service, by ARN, through the tagging API (100 ARNs a call).
/// Resources without tags (or unknown to it) are absent.
async fn tags_by_arn(aws: &Aws, arns: &[String]) -> Result<HashMap<String, Tags>, ProviderError> {
    let mut found = HashMap::new();
    for chunk in arns.chunks(100) {
        let mut pages = aws.tagging.get_resources().set_resource_arn_list(Some(chunk.to_vec())).into_paginator().send();
        while let Some(page) = pages.next().await {
            for mapping in page.map_err(api("tag:GetResources"))?.resource_tag_mapping_list() {
                let pairs = mapping.tags().iter().map(|t| (t.key(), t.value()));
                found.insert(mapping.resource_arn().unwrap_or_default().to_string(), tags(pairs));
            }
        }
    }
    Ok(found)
}

#[async_trait]
impl AwsResource for LogGroups {
    type Props = LogGroup;
    type Outputs = LogGroupOutputs;

    const BATCHED: bool = true;

    async fn create(&self, aws: &Aws, new: &New<'_, LogGroup>) -> Result<Created<LogGroupOutputs>, ProviderError> {
        let name = new.name()?;
        aws.logs
            .create_log_group()
            .log_group_name(name)
            .set_kms_key_id(new.props.kms_key.as_ref().map(|k| k.as_str().to_string()))
            .set_tags(Some(new.props.tags.clone().into_iter().collect()))
            .send()
            .await
            .map_err(api("logs:CreateLogGroup"))?;
        // The ARN AWS gives every log group (read back after the retention is set).
        let account = aws.account().await?;
        let arn = format!("arn:{}:logs:{}:{}:log-group:{name}", account.partition, aws.region(), account.id);
        let mut outputs = LogGroupOutputs { arn, name: name.to_string() };
        let finish = async {
            if new.props.retention_in_days != 0 {
                put_retention(aws, name, new.props.retention_in_days).await?;
            }
            describe(aws, name).await
        };
        match finish.await {
            Ok(found) => {
                if let Some(arn) = found.as_ref().map(arn_of).filter(|a| !a.is_empty()) {
                    outputs.arn = arn;
                }
                Ok(Created { physical_id: name.to_string(), outputs })
            }
            Err(err) => Err(incomplete(name, &outputs)(err)),
        }
    }

    async fn read(
        &self,
        aws: &Aws,
        recorded: &Recorded<'_, LogGroup>,
    ) -> Result<Option<Read<LogGroup, LogGroupOutputs>>, ProviderError> {
        let Some(g) = describe(aws, recorded.physical_id).await? else { return Ok(None) };
        let listed = aws
            .logs
            .list_tags_for_resource()
            .resource_arn(arn_of(&g))
            .send()
            .await
            .map_err(api("logs:ListTagsForResource"))?;
        let pairs = listed.tags().into_iter().flatten().map(|(k, v)| (k.as_str(), v.as_str()));
        Ok(Some(observe(&g, tags(pairs))))
    }

    /// `DescribeLogGroups` on the names' common prefix (50 a page), and their tags through the
    /// tagging API (`tag:GetResources`, 100 ARNs a call) instead of one `ListTagsForResource` per
    /// group.
    async fn read_batch(
        &self,
        aws: &Aws,
        recorded: &[Recorded<'_, LogGroup>],
    ) -> Result<Vec<Option<Read<LogGroup, LogGroupOutputs>>>, ProviderError> {
        let wanted: HashSet<&str> = recorded.iter().map(|r| r.physical_id).collect();
        let prefix = common_prefix(recorded.iter().map(|r| r.physical_id));
        let mut groups = HashMap::new();
        let mut request = aws.logs.describe_log_groups();
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
        let mut tagged = tags_by_arn(aws, &arns).await?;
        Ok(recorded
            .iter()
            .map(|r| groups.get(r.physical_id).map(|g| observe(g, tagged.remove(&arn_of(g)).unwrap_or_default())))
            .collect())
    }

    async fn update(
        &self,
        aws: &Aws,
        current: &Current<'_, LogGroup, LogGroupOutputs>,
        new: &LogGroup,
    ) -> Result<(), ProviderError> {
        if current.props.retention_in_days != new.retention_in_days {
            put_retention(aws, current.physical_id, new.retention_in_days).await?;
        }
        if current.props.kms_key != new.kms_key {
            match &new.kms_key {
                Some(key) => {
                    aws.logs
                        .associate_kms_key()
                        .log_group_name(current.physical_id)
                        .kms_key_id(key.as_str())
                        .send()
                        .await
                        .map_err(api("logs:AssociateKmsKey"))?;
                }
                None => {
                    aws.logs
                        .disassociate_kms_key()
                        .log_group_name(current.physical_id)
                        .send()
                        .await
                        .map_err(api("logs:DisassociateKmsKey"))?;
                }
            }
        }
        let arn = current.outputs.arn.as_str();
        sync_tags(
            &current.props.tags,
            &new.tags,
            |remove| async move {
                aws.logs
                    .untag_resource()
                    .resource_arn(arn)
                    .set_tag_keys(Some(remove))
                    .send()
                    .await
                    .map_err(api("logs:UntagResource"))?;
                Ok(())
            },
            |set| async move {
                aws.logs
                    .tag_resource()
                    .resource_arn(arn)
                    .set_tags(Some(set.into_iter().collect()))
                    .send()
                    .await
                    .map_err(api("logs:TagResource"))?;
                Ok(())
            },
        )
        .await
    }

    async fn delete(&self, aws: &Aws, current: &Current<'_, LogGroup, LogGroupOutputs>) -> Result<(), ProviderError> {
        aws.logs
            .delete_log_group()
            .log_group_name(current.physical_id)
            .send()
            .await
            .map_err(api("logs:DeleteLogGroup"))?;
        Ok(())
    }

    /// The name is the id.
    async fn find(&self, _aws: &Aws, lookup: &Lookup<'_, LogGroup>) -> Result<Option<String>, ProviderError> {
        Ok(lookup.name.map(str::to_string))
    }
}
