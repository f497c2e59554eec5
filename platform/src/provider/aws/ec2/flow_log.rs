//! VPC flow logs, delivered to CloudWatch Logs through a role. A flow log cannot be changed, only
//! replaced; its tags can.

use async_trait::async_trait;
use aws_sdk_ec2::types::{FlowLogsResourceType, LogDestinationType, ResourceType, TrafficType};

use super::{batched, by_tags, id_filter, one_of, tag_spec, tags_of, update_tags};
use crate::model::Ref;
use crate::provider::aws::client::Aws;
use crate::provider::aws::resource::{read_one, AwsResource, Created, Current, Lookup, New, Read, Recorded};
use crate::provider::aws::support::api;
use crate::provider::ProviderError;
use crate::resources::ec2::{FlowLog, FlowLogOutputs};

/// `aws.ec2.flow_log`.
pub(crate) struct FlowLogs;

fn observe(f: &aws_sdk_ec2::types::FlowLog) -> Read<FlowLog, FlowLogOutputs> {
    let props = FlowLog {
        vpc: Ref::existing(f.resource_id().unwrap_or_default()),
        traffic_type: f.traffic_type().map(|t| t.as_str().to_string()).unwrap_or_default(),
        log_group: Ref::existing(f.log_group_name().unwrap_or_default()),
        delivery_role: Ref::existing(f.deliver_logs_permission_arn().unwrap_or_default()),
        max_aggregation_interval_seconds: f
            .max_aggregation_interval()
            .and_then(|s| u32::try_from(s).ok())
            .unwrap_or(600),
        tags: tags_of(f.tags()),
    };
    Read::new(props, FlowLogOutputs { id: f.flow_log_id().unwrap_or_default().to_string() })
}

/// A refusal EC2 reports for one resource of the call, in the answer's `Unsuccessful` list rather
/// than as the call's error
/// (<https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateFlowLogs.html>).
fn unsuccessful(operation: &'static str, items: &[aws_sdk_ec2::types::UnsuccessfulItem]) -> Option<ProviderError> {
    let item = items.first()?;
    let error = item.error();
    Some(ProviderError::Api {
        operation,
        code: error.and_then(|e| e.code()).map(str::to_string),
        message: format!(
            "{}: {}",
            item.resource_id().unwrap_or_default(),
            error.and_then(|e| e.message()).unwrap_or("refused")
        ),
    })
}

#[async_trait]
impl AwsResource for FlowLogs {
    type Props = FlowLog;
    type Outputs = FlowLogOutputs;

    const BATCHED: bool = true;

    /// `ClientToken` makes a create sent again after a lost answer the same create.
    async fn create(&self, aws: &Aws, new: &New<'_, FlowLog>) -> Result<Created<FlowLogOutputs>, ProviderError> {
        let f = &new.props;
        let out = aws
            .ec2
            .create_flow_logs()
            .resource_type(FlowLogsResourceType::Vpc)
            .resource_ids(f.vpc.as_str())
            .traffic_type(TrafficType::from(f.traffic_type.as_str()))
            .log_destination_type(LogDestinationType::CloudWatchLogs)
            .log_group_name(f.log_group.as_str())
            .deliver_logs_permission_arn(f.delivery_role.as_str())
            .max_aggregation_interval(i32::try_from(f.max_aggregation_interval_seconds).unwrap_or(600))
            .client_token(&new.token)
            .tag_specifications(tag_spec(ResourceType::VpcFlowLog, &f.tags))
            .send()
            .await
            .map_err(api("ec2:CreateFlowLogs"))?;
        if let Some(err) = unsuccessful("ec2:CreateFlowLogs", out.unsuccessful()) {
            return Err(err);
        }
        let id = out.flow_log_ids().first().cloned().unwrap_or_default();
        Ok(Created { physical_id: id.clone(), outputs: FlowLogOutputs { id } })
    }

    async fn read(
        &self,
        aws: &Aws,
        recorded: &Recorded<'_, FlowLog>,
    ) -> Result<Option<Read<FlowLog, FlowLogOutputs>>, ProviderError> {
        read_one(self, aws, recorded).await
    }

    /// One `DescribeFlowLogs` per 200.
    async fn read_batch(
        &self,
        aws: &Aws,
        recorded: &[Recorded<'_, FlowLog>],
    ) -> Result<Vec<Option<Read<FlowLog, FlowLogOutputs>>>, ProviderError> {
        let fetch = |ids| async move {
            let mut found = vec![];
            let mut pages = aws.ec2.describe_flow_logs().filter(id_filter("flow-log-id", ids)).into_paginator().send();
            while let Some(page) = pages.next().await {
                for f in page.map_err(api("ec2:DescribeFlowLogs"))?.flow_logs() {
                    found.push((f.flow_log_id().unwrap_or_default().to_string(), f.clone()));
                }
            }
            Ok(found)
        };
        batched(recorded, fetch, |f, _| Some(observe(f))).await
    }

    async fn update(
        &self,
        aws: &Aws,
        current: &Current<'_, FlowLog, FlowLogOutputs>,
        new: &FlowLog,
    ) -> Result<(), ProviderError> {
        update_tags(aws, current.physical_id, &current.props.tags, &new.tags).await
    }

    async fn delete(&self, aws: &Aws, current: &Current<'_, FlowLog, FlowLogOutputs>) -> Result<(), ProviderError> {
        let out = aws
            .ec2
            .delete_flow_logs()
            .flow_log_ids(current.physical_id)
            .send()
            .await
            .map_err(api("ec2:DeleteFlowLogs"))?;
        match unsuccessful("ec2:DeleteFlowLogs", out.unsuccessful()) {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }

    async fn find(&self, aws: &Aws, lookup: &Lookup<'_, FlowLog>) -> Result<Option<String>, ProviderError> {
        let out = aws
            .ec2
            .describe_flow_logs()
            .set_filter(Some(by_tags(lookup)))
            .send()
            .await
            .map_err(api("ec2:DescribeFlowLogs"))?;
        Ok(one_of(lookup, out.flow_logs().iter().filter_map(|f| f.flow_log_id().map(str::to_string)).collect()))
    }
}
