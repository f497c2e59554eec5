//! EC2 networking, by resource family: the network itself ([`network`]: VPC, subnets, internet
//! gateway), its routing ([`routing`]: route tables and their associations, Elastic IPs, NAT
//! gateways), its firewall ([`security_group`]: groups and grants) and its flow logs
//! ([`flow_log`]). What they share is here:
//! tags in create calls and on updates, batched describes, lookups by tags.

mod flow_log;
mod network;
mod routing;
mod security_group;

use std::collections::HashMap;

use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};

pub(crate) use flow_log::FlowLogs;
pub(crate) use network::{InternetGateways, Subnets, Vpcs};
pub(crate) use routing::{ElasticIps, NatGateways, RouteTableAssociations, RouteTables};
pub(crate) use security_group::{DefaultSecurityGroups, SecurityGroupGrants, SecurityGroups};

use super::client::Aws;
use super::resource::{Lookup, Recorded};
use super::support::{api, filter, sync_tags, tags};
use crate::provider::ProviderError;
use crate::resources::Tags;

/// The tags of an EC2 create call (EC2 creates take them, so a resource that exists carries its
/// `platform:*` tags from the start and can be found by them).
fn tag_spec(kind: ResourceType, tags: &Tags) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(kind)
        .set_tags(Some(tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()))
        .build()
}

/// Tags as EC2 reports them, in the declared form.
fn tags_of(list: &[Tag]) -> Tags {
    tags(list.iter().map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default())))
}

/// Sets and removes tags of an EC2 resource to go from `old` to `new`.
async fn update_tags(aws: &Aws, id: &str, old: &Tags, new: &Tags) -> Result<(), ProviderError> {
    sync_tags(
        old,
        new,
        |remove| async move {
            aws.ec2
                .delete_tags()
                .resources(id)
                .set_tags(Some(remove.into_iter().map(|k| Tag::builder().key(k).build()).collect()))
                .send()
                .await
                .map_err(api("ec2:DeleteTags"))?;
            Ok(())
        },
        |set| async move {
            aws.ec2
                .create_tags()
                .resources(id)
                .set_tags(Some(set.into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()))
                .send()
                .await
                .map_err(api("ec2:CreateTags"))?;
            Ok(())
        },
    )
    .await
}

/// The network interfaces that match `filter`, each as `eni-… (its description)`: what holds a
/// subnet, a security group or a VPC's public addresses (a Fargate task's interface is described
/// `arn:…:ecs:…:attachment/…`, a load balancer's `ELB app/NAME/ID`).
pub(crate) async fn network_interfaces(aws: &Aws, filter: &Filter) -> Result<Vec<String>, ProviderError> {
    let mut out = vec![];
    let mut pages = aws.ec2.describe_network_interfaces().filters(filter.clone()).into_paginator().send();
    while let Some(page) = pages.next().await {
        for eni in page.map_err(api("ec2:DescribeNetworkInterfaces"))?.network_interfaces() {
            let id = eni.network_interface_id().unwrap_or_default();
            out.push(match eni.description().filter(|d| !d.is_empty()) {
                Some(description) => format!("{id} ({description})"),
                None => id.to_string(),
            });
        }
    }
    Ok(out)
}

/// How many ids one describe call filters on (AWS accepts up to 200 filter values).
const BATCH: usize = 200;

fn id_filter(name: &str, ids: Vec<String>) -> Filter {
    Filter::builder().name(name).set_values(Some(ids)).build()
}

/// Reads many resources with one describe call per [`BATCH`] ids: `fetch` describes the ids
/// (filtered, so ids that no longer exist are simply absent; pages followed) and returns what it
/// found by id; `observe` turns one into what a read returns, or `None` when it is gone.
async fn batched<P, T, R, Fut>(
    recorded: &[Recorded<'_, P>],
    fetch: impl Fn(Vec<String>) -> Fut,
    observe: impl Fn(&T, &Recorded<'_, P>) -> Option<R>,
) -> Result<Vec<Option<R>>, ProviderError>
where
    Fut: std::future::Future<Output = Result<Vec<(String, T)>, ProviderError>>,
{
    let mut found = HashMap::new();
    for chunk in recorded.chunks(BATCH) {
        found.extend(fetch(chunk.iter().map(|r| r.physical_id.to_string()).collect()).await?);
    }
    Ok(recorded.iter().map(|r| found.get(r.physical_id).and_then(|t| observe(t, r))).collect())
}

/// The filters that find an EC2 resource by its `platform:address` and `platform:env` tags.
fn by_tags<P>(lookup: &Lookup<'_, P>) -> Vec<Filter> {
    let address = lookup.address.to_string();
    vec![
        filter(&format!("tag:{}", crate::model::TAG_ADDRESS), [address.as_str()]),
        filter(&format!("tag:{}", crate::model::TAG_ENV), [lookup.env]),
    ]
}

/// The one id found by tags (warning when more than one resource carries the address).
fn one_of<P>(lookup: &Lookup<'_, P>, ids: Vec<String>) -> Option<String> {
    if ids.len() > 1 {
        tracing::warn!(address = %lookup.address, ?ids, "more than one resource carries this address");
    }
    ids.into_iter().next()
}
