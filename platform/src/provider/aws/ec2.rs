//! EC2 networking resources.

use serde::Deserialize;
use serde_json::{json, Map, Value};

use aws_sdk_ec2::types::{
    AttributeBooleanValue, IpPermission, IpRange, Ipv6Range, PrefixListId, ResourceType, Tag, TagSpecification,
    UserIdGroupPair,
};

use super::{api, filter, incomplete, malformed, outputs, props, sync_tags, tag_map, tags_of, AwsProvider};
use crate::provider::{Applied, Desired, Existing, Observed, ProviderError};
use crate::resources::ec2::GRANT_DESCRIPTION_PREFIX;

fn tag_spec(kind: ResourceType, props: &Value) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(kind)
        .set_tags(Some(tags_of(props).into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()))
        .build()
}

fn tags_value(tags: &[Tag]) -> Value {
    tag_map(tags.iter().map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default())))
}

/// Sets and removes tags of an EC2 resource to go from the recorded to the desired props.
pub(super) async fn update_tags(p: &AwsProvider, e: &Existing, desired: &Value) -> Result<(), ProviderError> {
    sync_tags(
        &e.props,
        desired,
        |remove| async move {
            p.ec2
                .delete_tags()
                .resources(&e.physical_id)
                .set_tags(Some(remove.into_iter().map(|k| Tag::builder().key(k).build()).collect()))
                .send()
                .await
                .map_err(api("ec2:DeleteTags"))?;
            Ok(())
        },
        |set| async move {
            p.ec2
                .create_tags()
                .resources(&e.physical_id)
                .set_tags(Some(set.into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()))
                .send()
                .await
                .map_err(api("ec2:CreateTags"))?;
            Ok(())
        },
    )
    .await?;
    Ok(())
}

fn applied(e: &Existing) -> Applied {
    Applied { physical_id: e.physical_id.clone(), outputs: e.outputs.clone() }
}

// ---- VPC ----

#[derive(Deserialize)]
struct VpcProps {
    cidr_block: String,
    enable_dns_support: bool,
    enable_dns_hostnames: bool,
}

async fn set_vpc_dns(
    p: &AwsProvider,
    id: &str,
    support: Option<bool>,
    hostnames: Option<bool>,
) -> Result<(), ProviderError> {
    // AWS takes one attribute per call.
    if let Some(v) = support {
        p.ec2
            .modify_vpc_attribute()
            .vpc_id(id)
            .enable_dns_support(AttributeBooleanValue::builder().value(v).build())
            .send()
            .await
            .map_err(api("ec2:ModifyVpcAttribute"))?;
    }
    if let Some(v) = hostnames {
        p.ec2
            .modify_vpc_attribute()
            .vpc_id(id)
            .enable_dns_hostnames(AttributeBooleanValue::builder().value(v).build())
            .send()
            .await
            .map_err(api("ec2:ModifyVpcAttribute"))?;
    }
    Ok(())
}

pub(super) async fn create_vpc(p: &AwsProvider, d: &Desired) -> Result<Applied, ProviderError> {
    let v: VpcProps = props(&d.address, &d.props)?;
    let out = p
        .ec2_once
        .create_vpc()
        .cidr_block(&v.cidr_block)
        .tag_specifications(tag_spec(ResourceType::Vpc, &d.props))
        .send()
        .await
        .map_err(api("ec2:CreateVpc"))?;
    let id = out.vpc().and_then(|v| v.vpc_id()).unwrap_or_default().to_string();
    let outs = outputs([("id", id.as_str()), ("cidr_block", v.cidr_block.as_str())]);
    // New VPCs have DNS support on and DNS host names off.
    set_vpc_dns(p, &id, (!v.enable_dns_support).then_some(false), v.enable_dns_hostnames.then_some(true))
        .await
        .map_err(incomplete(&id, &outs))?;
    Ok(Applied { physical_id: id, outputs: outs })
}

pub(super) async fn read_vpc(p: &AwsProvider, e: &Existing) -> Result<Option<Observed>, ProviderError> {
    let out = p.ec2.describe_vpcs().vpc_ids(&e.physical_id).send().await.map_err(api("ec2:DescribeVpcs"))?;
    let Some(vpc) = out.vpcs().first() else {
        return Ok(None);
    };
    observe_vpc(p, vpc, &e.physical_id).await.map(Some)
}

/// A VPC as read: the DNS settings take one `DescribeVpcAttribute` each (AWS has no batch form).
async fn observe_vpc(p: &AwsProvider, vpc: &aws_sdk_ec2::types::Vpc, id: &str) -> Result<Observed, ProviderError> {
    let attribute =
        |name: aws_sdk_ec2::types::VpcAttributeName| p.ec2.describe_vpc_attribute().vpc_id(id).attribute(name).send();
    let support = attribute(aws_sdk_ec2::types::VpcAttributeName::EnableDnsSupport)
        .await
        .map_err(api("ec2:DescribeVpcAttribute"))?;
    let hostnames = attribute(aws_sdk_ec2::types::VpcAttributeName::EnableDnsHostnames)
        .await
        .map_err(api("ec2:DescribeVpcAttribute"))?;
    let mut props = Map::new();
    props.insert("cidr_block".into(), json!(vpc.cidr_block()));
    props.insert("enable_dns_support".into(), json!(support.enable_dns_support().and_then(|a| a.value())));
    props.insert("enable_dns_hostnames".into(), json!(hostnames.enable_dns_hostnames().and_then(|a| a.value())));
    props.insert("tags".into(), tags_value(vpc.tags()));
    let outs = outputs([("id", id), ("cidr_block", vpc.cidr_block().unwrap_or_default())]);
    Ok(Observed { props, outputs: outs })
}

/// Reads many VPCs with one `DescribeVpcs` per [`BATCH`] (their DNS attributes still take a call
/// each).
pub(super) async fn read_vpcs(p: &AwsProvider, existing: &[Existing]) -> Result<Vec<Option<Observed>>, ProviderError> {
    let mut found = std::collections::HashMap::new();
    for chunk in existing.chunks(BATCH) {
        let ids = chunk.iter().map(|e| e.physical_id.clone()).collect();
        let mut pages = p.ec2.describe_vpcs().filters(id_filter("vpc-id", ids)).into_paginator().send();
        while let Some(page) = pages.next().await {
            for v in page.map_err(api("ec2:DescribeVpcs"))?.vpcs() {
                found.insert(v.vpc_id().unwrap_or_default().to_string(), v.clone());
            }
        }
    }
    let mut out = Vec::with_capacity(existing.len());
    for e in existing {
        out.push(match found.get(&e.physical_id) {
            Some(v) => Some(observe_vpc(p, v, &e.physical_id).await?),
            None => None,
        });
    }
    Ok(out)
}

pub(super) async fn update_vpc(p: &AwsProvider, e: &Existing, desired: &Value) -> Result<Applied, ProviderError> {
    let old: VpcProps = props(&e.address, &e.props)?;
    let new: VpcProps = props(&e.address, desired)?;
    set_vpc_dns(
        p,
        &e.physical_id,
        (old.enable_dns_support != new.enable_dns_support).then_some(new.enable_dns_support),
        (old.enable_dns_hostnames != new.enable_dns_hostnames).then_some(new.enable_dns_hostnames),
    )
    .await?;
    update_tags(p, e, desired).await?;
    Ok(applied(e))
}

pub(super) async fn delete_vpc(p: &AwsProvider, e: &Existing) -> Result<(), ProviderError> {
    p.ec2.delete_vpc().vpc_id(&e.physical_id).send().await.map_err(api("ec2:DeleteVpc"))?;
    Ok(())
}

// ---- Subnet ----

#[derive(Deserialize)]
struct SubnetProps {
    vpc: String,
    cidr_block: String,
    availability_zone: usize,
    map_public_ip_on_launch: bool,
}

async fn set_map_public_ip(p: &AwsProvider, id: &str, value: bool) -> Result<(), ProviderError> {
    p.ec2
        .modify_subnet_attribute()
        .subnet_id(id)
        .map_public_ip_on_launch(AttributeBooleanValue::builder().value(value).build())
        .send()
        .await
        .map_err(api("ec2:ModifySubnetAttribute"))?;
    Ok(())
}

pub(super) async fn create_subnet(p: &AwsProvider, d: &Desired) -> Result<Applied, ProviderError> {
    let s: SubnetProps = props(&d.address, &d.props)?;
    let zones = p.zones().await?;
    let zone = zones.get(s.availability_zone).ok_or_else(|| ProviderError::Malformed {
        address: d.address.clone(),
        message: format!(
            "availability zone #{} was asked for, but the region has {} available zones ({})",
            s.availability_zone,
            zones.len(),
            zones.join(", ")
        ),
    })?;
    let out = p
        .ec2_once
        .create_subnet()
        .vpc_id(&s.vpc)
        .cidr_block(&s.cidr_block)
        .availability_zone(zone)
        .tag_specifications(tag_spec(ResourceType::Subnet, &d.props))
        .send()
        .await
        .map_err(api("ec2:CreateSubnet"))?;
    let id = out.subnet().and_then(|s| s.subnet_id()).unwrap_or_default().to_string();
    let outs = outputs([("id", id.as_str()), ("availability_zone_name", zone.as_str())]);
    if s.map_public_ip_on_launch {
        set_map_public_ip(p, &id, true).await.map_err(incomplete(&id, &outs))?;
    }
    Ok(Applied { physical_id: id, outputs: outs })
}

pub(super) async fn read_subnet(p: &AwsProvider, e: &Existing) -> Result<Option<Observed>, ProviderError> {
    let out = p.ec2.describe_subnets().subnet_ids(&e.physical_id).send().await.map_err(api("ec2:DescribeSubnets"))?;
    let Some(subnet) = out.subnets().first() else {
        return Ok(None);
    };
    let zones = p.zones().await?;
    Ok(Some(observe_subnet(subnet, zones, &e.physical_id)))
}

/// How many ids one describe call filters on (AWS accepts up to 200 filter values).
const BATCH: usize = 200;

/// Reads many resources with one describe call per [`BATCH`] ids: `fetch` describes the ids
/// (filtered, so ids that no longer exist are simply absent; pages followed) and returns what it
/// found by id; `observe` turns one into the observed props, or `None` when it is gone.
async fn batched<T, Fut>(
    existing: &[Existing],
    fetch: impl Fn(Vec<String>) -> Fut,
    observe: impl Fn(&T, &Existing) -> Option<Observed>,
) -> Result<Vec<Option<Observed>>, ProviderError>
where
    Fut: std::future::Future<Output = Result<Vec<(String, T)>, ProviderError>>,
{
    let mut found = std::collections::HashMap::new();
    for chunk in existing.chunks(BATCH) {
        found.extend(fetch(chunk.iter().map(|e| e.physical_id.clone()).collect()).await?);
    }
    Ok(existing.iter().map(|e| found.get(&e.physical_id).and_then(|t| observe(t, e))).collect())
}

fn id_filter(name: &str, ids: Vec<String>) -> aws_sdk_ec2::types::Filter {
    aws_sdk_ec2::types::Filter::builder().name(name).set_values(Some(ids)).build()
}

/// Reads many subnets with one `DescribeSubnets` per [`BATCH`].
pub(super) async fn read_subnets(
    p: &AwsProvider,
    existing: &[Existing],
) -> Result<Vec<Option<Observed>>, ProviderError> {
    let zones = p.zones().await?;
    let fetch = |ids| async move {
        let mut out = vec![];
        let mut pages = p.ec2.describe_subnets().filters(id_filter("subnet-id", ids)).into_paginator().send();
        while let Some(page) = pages.next().await {
            for s in page.map_err(api("ec2:DescribeSubnets"))?.subnets() {
                out.push((s.subnet_id().unwrap_or_default().to_string(), s.clone()));
            }
        }
        Ok(out)
    };
    batched(existing, fetch, |s, e| Some(observe_subnet(s, zones, &e.physical_id))).await
}

/// Reads many route tables with one `DescribeRouteTables` per [`BATCH`].
pub(super) async fn read_route_tables(
    p: &AwsProvider,
    existing: &[Existing],
) -> Result<Vec<Option<Observed>>, ProviderError> {
    let fetch = |ids| async move {
        let mut out = vec![];
        let mut pages = p.ec2.describe_route_tables().filters(id_filter("route-table-id", ids)).into_paginator().send();
        while let Some(page) = pages.next().await {
            for t in page.map_err(api("ec2:DescribeRouteTables"))?.route_tables() {
                out.push((t.route_table_id().unwrap_or_default().to_string(), t.clone()));
            }
        }
        Ok(out)
    };
    batched(existing, fetch, |t, e| Some(observe_route_table(t, &e.physical_id))).await
}

/// Reads many route table associations with one `DescribeRouteTables` per [`BATCH`].
pub(super) async fn read_associations(
    p: &AwsProvider,
    existing: &[Existing],
) -> Result<Vec<Option<Observed>>, ProviderError> {
    let fetch = |ids: Vec<String>| async move {
        let wanted: std::collections::HashSet<String> = ids.iter().cloned().collect();
        let filter = id_filter("association.route-table-association-id", ids);
        let mut out = vec![];
        let mut pages = p.ec2.describe_route_tables().filters(filter).into_paginator().send();
        while let Some(page) = pages.next().await {
            for t in page.map_err(api("ec2:DescribeRouteTables"))?.route_tables() {
                for a in t.associations() {
                    let id = a.route_table_association_id().unwrap_or_default().to_string();
                    if wanted.contains(&id) {
                        out.push((id, a.clone()));
                    }
                }
            }
        }
        Ok(out)
    };
    batched(existing, fetch, |a, e| Some(observe_association(a, &e.physical_id))).await
}

/// Reads many Elastic IPs with one `DescribeAddresses` per [`BATCH`].
pub(super) async fn read_elastic_ips(
    p: &AwsProvider,
    existing: &[Existing],
) -> Result<Vec<Option<Observed>>, ProviderError> {
    let fetch = |ids| async move {
        let out = p
            .ec2
            .describe_addresses()
            .filters(id_filter("allocation-id", ids))
            .send()
            .await
            .map_err(api("ec2:DescribeAddresses"))?;
        Ok(out.addresses().iter().map(|a| (a.allocation_id().unwrap_or_default().to_string(), a.clone())).collect())
    };
    batched(existing, fetch, |a, e| Some(observe_elastic_ip(a, &e.physical_id))).await
}

/// Reads many NAT gateways with one `DescribeNatGateways` per [`BATCH`].
pub(super) async fn read_nat_gateways(
    p: &AwsProvider,
    existing: &[Existing],
) -> Result<Vec<Option<Observed>>, ProviderError> {
    let fetch = |ids| async move {
        let mut out = vec![];
        let mut pages = p.ec2.describe_nat_gateways().filter(id_filter("nat-gateway-id", ids)).into_paginator().send();
        while let Some(page) = pages.next().await {
            for n in page.map_err(api("ec2:DescribeNatGateways"))?.nat_gateways() {
                out.push((n.nat_gateway_id().unwrap_or_default().to_string(), n.clone()));
            }
        }
        Ok(out)
    };
    batched(existing, fetch, |n, e| observe_nat_gateway(n, &e.physical_id)).await
}

fn observe_subnet(subnet: &aws_sdk_ec2::types::Subnet, zones: &[String], id: &str) -> Observed {
    let zone = subnet.availability_zone().unwrap_or_default();
    let mut props = Map::new();
    props.insert("vpc".into(), json!(subnet.vpc_id()));
    props.insert("cidr_block".into(), json!(subnet.cidr_block()));
    props.insert(
        "availability_zone".into(),
        zones.iter().position(|z| z == zone).map_or_else(|| json!(zone), |i| json!(i)),
    );
    props.insert("map_public_ip_on_launch".into(), json!(subnet.map_public_ip_on_launch().unwrap_or(false)));
    props.insert("tags".into(), tags_value(subnet.tags()));
    Observed { props, outputs: outputs([("id", id), ("availability_zone_name", zone)]) }
}

pub(super) async fn update_subnet(p: &AwsProvider, e: &Existing, desired: &Value) -> Result<Applied, ProviderError> {
    let old: SubnetProps = props(&e.address, &e.props)?;
    let new: SubnetProps = props(&e.address, desired)?;
    if old.map_public_ip_on_launch != new.map_public_ip_on_launch {
        set_map_public_ip(p, &e.physical_id, new.map_public_ip_on_launch).await?;
    }
    update_tags(p, e, desired).await?;
    Ok(applied(e))
}

pub(super) async fn delete_subnet(p: &AwsProvider, e: &Existing) -> Result<(), ProviderError> {
    p.ec2.delete_subnet().subnet_id(&e.physical_id).send().await.map_err(api("ec2:DeleteSubnet"))?;
    Ok(())
}

// ---- Internet gateway ----

#[derive(Deserialize)]
struct GatewayProps {
    vpc: String,
}

pub(super) async fn create_internet_gateway(p: &AwsProvider, d: &Desired) -> Result<Applied, ProviderError> {
    let g: GatewayProps = props(&d.address, &d.props)?;
    let out = p
        .ec2_once
        .create_internet_gateway()
        .tag_specifications(tag_spec(ResourceType::InternetGateway, &d.props))
        .send()
        .await
        .map_err(api("ec2:CreateInternetGateway"))?;
    let id = out.internet_gateway().and_then(|g| g.internet_gateway_id()).unwrap_or_default().to_string();
    let outs = outputs([("id", &id)]);
    // Attaching twice is refused (Resource.AlreadyAssociated): a retry after a lost answer is done.
    let attach = || async {
        match p.ec2.attach_internet_gateway().internet_gateway_id(&id).vpc_id(&g.vpc).send().await {
            Ok(_) => Ok(()),
            Err(err) => match api("ec2:AttachInternetGateway")(err) {
                e if e.is_already_exists() => Ok(()),
                e => Err(e),
            },
        }
    };
    p.retrying("aws.ec2.internet_gateway", attach).await.map_err(incomplete(&id, &outs))?;
    Ok(Applied { physical_id: id, outputs: outs })
}

pub(super) async fn read_internet_gateway(p: &AwsProvider, e: &Existing) -> Result<Option<Observed>, ProviderError> {
    let out = p
        .ec2
        .describe_internet_gateways()
        .internet_gateway_ids(&e.physical_id)
        .send()
        .await
        .map_err(api("ec2:DescribeInternetGateways"))?;
    Ok(out.internet_gateways().first().map(|g| observe_internet_gateway(g, &e.physical_id)))
}

fn observe_internet_gateway(g: &aws_sdk_ec2::types::InternetGateway, id: &str) -> Observed {
    let mut props = Map::new();
    props.insert("vpc".into(), json!(g.attachments().first().and_then(|a| a.vpc_id())));
    props.insert("tags".into(), tags_value(g.tags()));
    Observed { props, outputs: outputs([("id", id)]) }
}

/// Reads many internet gateways with one `DescribeInternetGateways` per [`BATCH`].
pub(super) async fn read_internet_gateways(
    p: &AwsProvider,
    existing: &[Existing],
) -> Result<Vec<Option<Observed>>, ProviderError> {
    let fetch = |ids| async move {
        let mut out = vec![];
        let mut pages =
            p.ec2.describe_internet_gateways().filters(id_filter("internet-gateway-id", ids)).into_paginator().send();
        while let Some(page) = pages.next().await {
            for g in page.map_err(api("ec2:DescribeInternetGateways"))?.internet_gateways() {
                out.push((g.internet_gateway_id().unwrap_or_default().to_string(), g.clone()));
            }
        }
        Ok(out)
    };
    batched(existing, fetch, |g, e| Some(observe_internet_gateway(g, &e.physical_id))).await
}

/// A gateway's VPC forces a replacement; an update only attaches a gateway whose create did not
/// get to attach it (and sets tags).
pub(super) async fn update_internet_gateway(
    p: &AwsProvider,
    e: &Existing,
    desired: &Value,
) -> Result<Applied, ProviderError> {
    let attached = e.props.get("vpc").and_then(Value::as_str);
    if let (None, Some(vpc)) = (attached, desired.get("vpc").and_then(Value::as_str)) {
        p.ec2
            .attach_internet_gateway()
            .internet_gateway_id(&e.physical_id)
            .vpc_id(vpc)
            .send()
            .await
            .map_err(api("ec2:AttachInternetGateway"))?;
    }
    update_tags(p, e, desired).await?;
    Ok(Applied { physical_id: e.physical_id.clone(), outputs: e.outputs.clone() })
}

pub(super) async fn delete_internet_gateway(p: &AwsProvider, e: &Existing) -> Result<(), ProviderError> {
    let vpc = e.props.get("vpc").and_then(Value::as_str).unwrap_or_default();
    if !vpc.is_empty() {
        let detached = p.ec2.detach_internet_gateway().internet_gateway_id(&e.physical_id).vpc_id(vpc).send().await;
        if let Err(err) = detached {
            let err = api("ec2:DetachInternetGateway")(err);
            let not_attached = matches!(&err, ProviderError::Api { code: Some(c), .. } if c == "Gateway.NotAttached");
            if !not_attached && !err.is_not_found() {
                return Err(err);
            }
        }
    }
    p.ec2
        .delete_internet_gateway()
        .internet_gateway_id(&e.physical_id)
        .send()
        .await
        .map_err(api("ec2:DeleteInternetGateway"))?;
    Ok(())
}

// ---- Route table ----

#[derive(Deserialize)]
struct RouteTableProps {
    vpc: String,
    routes: Vec<RouteProps>,
}

#[derive(Deserialize, PartialEq, Eq, Clone)]
struct RouteProps {
    destination_cidr_block: String,
    gateway_id: Option<String>,
    nat_gateway_id: Option<String>,
}

async fn create_route(p: &AwsProvider, table: &str, r: &RouteProps) -> Result<(), ProviderError> {
    p.ec2
        .create_route()
        .route_table_id(table)
        .destination_cidr_block(&r.destination_cidr_block)
        .set_gateway_id(r.gateway_id.clone())
        .set_nat_gateway_id(r.nat_gateway_id.clone())
        .send()
        .await
        .map(|_| ())
        .map_err(api("ec2:CreateRoute"))
        .or_else(settled("RouteAlreadyExists"))?;
    Ok(())
}

pub(super) async fn create_route_table(p: &AwsProvider, d: &Desired) -> Result<Applied, ProviderError> {
    let t: RouteTableProps = props(&d.address, &d.props)?;
    let out = p
        .ec2_once
        .create_route_table()
        .vpc_id(&t.vpc)
        .tag_specifications(tag_spec(ResourceType::RouteTable, &d.props))
        .send()
        .await
        .map_err(api("ec2:CreateRouteTable"))?;
    let id = out.route_table().and_then(|t| t.route_table_id()).unwrap_or_default().to_string();
    let outs = outputs([("id", &id)]);
    for r in &t.routes {
        create_route(p, &id, r).await.map_err(incomplete(&id, &outs))?;
    }
    Ok(Applied { physical_id: id, outputs: outs })
}

pub(super) async fn read_route_table(p: &AwsProvider, e: &Existing) -> Result<Option<Observed>, ProviderError> {
    let out = p
        .ec2
        .describe_route_tables()
        .route_table_ids(&e.physical_id)
        .send()
        .await
        .map_err(api("ec2:DescribeRouteTables"))?;
    let Some(t) = out.route_tables().first() else {
        return Ok(None);
    };
    Ok(Some(observe_route_table(t, &e.physical_id)))
}

fn observe_route_table(t: &aws_sdk_ec2::types::RouteTable, id: &str) -> Observed {
    // The VPC's own `local` route is not managed; every other route is.
    let routes: Vec<Value> = t
        .routes()
        .iter()
        .filter(|r| r.gateway_id() != Some("local"))
        .map(|r| {
            json!({
                "destination_cidr_block": r.destination_cidr_block(),
                "gateway_id": r.gateway_id(),
                "nat_gateway_id": r.nat_gateway_id(),
            })
        })
        .collect();
    let mut props = Map::new();
    props.insert("vpc".into(), json!(t.vpc_id()));
    props.insert("routes".into(), Value::Array(routes));
    props.insert("tags".into(), tags_value(t.tags()));
    Observed { props, outputs: outputs([("id", id)]) }
}

pub(super) async fn update_route_table(
    p: &AwsProvider,
    e: &Existing,
    desired: &Value,
) -> Result<Applied, ProviderError> {
    let old: Vec<Value> = e.props.get("routes").and_then(Value::as_array).cloned().unwrap_or_default();
    let new: RouteTableProps = props(&e.address, desired)?;
    let old_destinations: Vec<String> = old
        .iter()
        .filter_map(|r| r.get("destination_cidr_block").and_then(Value::as_str).map(str::to_string))
        .collect();
    for dest in old_destinations.iter().filter(|d| !new.routes.iter().any(|r| &r.destination_cidr_block == *d)) {
        p.ec2
            .delete_route()
            .route_table_id(&e.physical_id)
            .destination_cidr_block(dest)
            .send()
            .await
            .map(|_| ())
            .map_err(api("ec2:DeleteRoute"))
            .or_else(settled("InvalidRoute.NotFound"))?;
    }
    for r in &new.routes {
        let current = old.iter().find(|o| o["destination_cidr_block"].as_str() == Some(&r.destination_cidr_block));
        let same = |o: &Value| {
            o["gateway_id"].as_str() == r.gateway_id.as_deref()
                && o["nat_gateway_id"].as_str() == r.nat_gateway_id.as_deref()
        };
        match current {
            None => create_route(p, &e.physical_id, r).await?,
            Some(o) if !same(o) => {
                p.ec2
                    .replace_route()
                    .route_table_id(&e.physical_id)
                    .destination_cidr_block(&r.destination_cidr_block)
                    .set_gateway_id(r.gateway_id.clone())
                    .set_nat_gateway_id(r.nat_gateway_id.clone())
                    .send()
                    .await
                    .map_err(api("ec2:ReplaceRoute"))?;
            }
            Some(_) => {}
        }
    }
    update_tags(p, e, desired).await?;
    Ok(applied(e))
}

pub(super) async fn delete_route_table(p: &AwsProvider, e: &Existing) -> Result<(), ProviderError> {
    p.ec2.delete_route_table().route_table_id(&e.physical_id).send().await.map_err(api("ec2:DeleteRouteTable"))?;
    Ok(())
}

// ---- Route table association ----

#[derive(Deserialize)]
struct AssociationProps {
    route_table: String,
    subnet: String,
}

pub(super) async fn create_association(p: &AwsProvider, d: &Desired) -> Result<Applied, ProviderError> {
    let a: AssociationProps = props(&d.address, &d.props)?;
    let out = p
        .ec2
        .associate_route_table()
        .route_table_id(&a.route_table)
        .subnet_id(&a.subnet)
        .send()
        .await
        .map_err(api("ec2:AssociateRouteTable"))?;
    let id = out.association_id().unwrap_or_default().to_string();
    Ok(Applied { outputs: outputs([("id", &id)]), physical_id: id })
}

pub(super) async fn read_association(p: &AwsProvider, e: &Existing) -> Result<Option<Observed>, ProviderError> {
    let out = p
        .ec2
        .describe_route_tables()
        .filters(filter("association.route-table-association-id", [e.physical_id.as_str()]))
        .send()
        .await
        .map_err(api("ec2:DescribeRouteTables"))?;
    let found = out
        .route_tables()
        .iter()
        .flat_map(|t| t.associations())
        .find(|a| a.route_table_association_id() == Some(e.physical_id.as_str()));
    Ok(found.map(|a| observe_association(a, &e.physical_id)))
}

fn observe_association(a: &aws_sdk_ec2::types::RouteTableAssociation, id: &str) -> Observed {
    let mut props = Map::new();
    props.insert("route_table".into(), json!(a.route_table_id()));
    props.insert("subnet".into(), json!(a.subnet_id()));
    Observed { props, outputs: outputs([("id", id)]) }
}

pub(super) async fn delete_association(p: &AwsProvider, e: &Existing) -> Result<(), ProviderError> {
    p.ec2
        .disassociate_route_table()
        .association_id(&e.physical_id)
        .send()
        .await
        .map_err(api("ec2:DisassociateRouteTable"))?;
    Ok(())
}

// ---- Security group ----

#[derive(Deserialize)]
struct GroupProps {
    name: String,
    description: String,
    vpc: String,
    ingress: Vec<Value>,
    egress: Vec<Value>,
}

#[derive(Deserialize)]
struct RuleProps {
    protocol: String,
    from_port: i32,
    to_port: i32,
    peer: Map<String, Value>,
    description: String,
}

/// The rules of an AWS permission, one per peer, in the form the props use.
fn rule_values(perm: &IpPermission) -> Vec<Value> {
    let protocol = match perm.ip_protocol().unwrap_or("-1") {
        "6" => "tcp",
        "17" => "udp",
        "1" => "icmp",
        other => other,
    };
    let (from, to) = match protocol {
        "-1" => (-1, -1),
        _ => (perm.from_port().unwrap_or(-1), perm.to_port().unwrap_or(-1)),
    };
    let rule = |peer: Value, description: Option<&str>| {
        json!({
            "protocol": protocol,
            "from_port": from,
            "to_port": to,
            "peer": peer,
            "description": description.unwrap_or_default(),
        })
    };
    let mut out = vec![];
    out.extend(perm.ip_ranges().iter().map(|r| rule(json!({ "cidr_ipv4": r.cidr_ip() }), r.description())));
    out.extend(perm.ipv6_ranges().iter().map(|r| rule(json!({ "cidr_ipv6": r.cidr_ipv6() }), r.description())));
    out.extend(
        perm.user_id_group_pairs().iter().map(|g| rule(json!({ "security_group": g.group_id() }), g.description())),
    );
    // Prefix lists cannot be declared yet: shown as they are, and removed by the next apply.
    out.extend(
        perm.prefix_list_ids().iter().map(|p| rule(json!({ "prefix_list": p.prefix_list_id() }), p.description())),
    );
    out
}

/// The AWS permission granting exactly one rule.
fn permission(rule: &Value) -> Result<IpPermission, String> {
    let r: RuleProps = serde_json::from_value(rule.clone()).map_err(|e| e.to_string())?;
    let description = (!r.description.is_empty()).then(|| r.description.clone());
    let mut b = IpPermission::builder().ip_protocol(&r.protocol).from_port(r.from_port).to_port(r.to_port);
    if let Some(c) = r.peer.get("cidr_ipv4").and_then(Value::as_str) {
        b = b.ip_ranges(IpRange::builder().cidr_ip(c).set_description(description).build());
    } else if let Some(c) = r.peer.get("cidr_ipv6").and_then(Value::as_str) {
        b = b.ipv6_ranges(Ipv6Range::builder().cidr_ipv6(c).set_description(description).build());
    } else if let Some(g) = r.peer.get("security_group").and_then(Value::as_str) {
        b = b.user_id_group_pairs(UserIdGroupPair::builder().group_id(g).set_description(description).build());
    } else if let Some(p) = r.peer.get("prefix_list").and_then(Value::as_str) {
        b = b.prefix_list_ids(PrefixListId::builder().prefix_list_id(p).set_description(description).build());
    } else {
        return Err(format!("rule peer {:?} is not supported", r.peer));
    }
    Ok(b.build())
}

/// The group's (ingress, egress) rules, one per peer, read from the group itself: one call per group, and
/// the form AWS documents for both its rules and their descriptions.
/// Rules owned by grant resources (see [`GRANT_DESCRIPTION_PREFIX`]) are left out: they are not
/// the group's own.
fn group_rules(g: &aws_sdk_ec2::types::SecurityGroup) -> (Vec<Value>, Vec<Value>) {
    let own = |r: &Value| !r["description"].as_str().is_some_and(|d| d.starts_with(GRANT_DESCRIPTION_PREFIX));
    (
        g.ip_permissions().iter().flat_map(rule_values).filter(own).collect(),
        g.ip_permissions_egress().iter().flat_map(rule_values).filter(own).collect(),
    )
}

async fn describe_group(p: &AwsProvider, id: &str) -> Result<Option<aws_sdk_ec2::types::SecurityGroup>, ProviderError> {
    let out = p.ec2.describe_security_groups().group_ids(id).send().await.map_err(api("ec2:DescribeSecurityGroups"))?;
    Ok(out.security_groups().first().cloned())
}

/// A rule change whose answer was lost and that the SDK sent again is refused the second time
/// (the rule is already gone, or already there): that refusal means it is done.
fn settled(code: &'static str) -> impl FnOnce(ProviderError) -> Result<(), ProviderError> {
    move |err| match &err {
        ProviderError::Api { code: Some(c), .. } if c == code => Ok(()),
        _ => Err(err),
    }
}

/// Makes the group's rules exactly the declared ones: revokes the others, then authorizes the missing.
async fn sync_rules(
    p: &AwsProvider,
    address: &crate::model::Address,
    id: &str,
    desired: &Value,
) -> Result<(), ProviderError> {
    let g: GroupProps = props(address, desired)?;
    let group = describe_group(p, id).await?.ok_or_else(|| ProviderError::Api {
        operation: "ec2:DescribeSecurityGroups",
        code: Some("InvalidGroup.NotFound".into()),
        message: format!("security group {id} does not exist"),
    })?;
    let (ingress, egress) = group_rules(&group);
    for is_egress in [false, true] {
        let (wanted, current) = if is_egress { (&g.egress, &egress) } else { (&g.ingress, &ingress) };
        let stale: Vec<IpPermission> = current
            .iter()
            .filter(|r| !wanted.contains(r))
            .map(permission)
            .collect::<Result<_, _>>()
            .map_err(malformed(address))?;
        let missing: Vec<IpPermission> = wanted
            .iter()
            .filter(|w| !current.contains(w))
            .map(permission)
            .collect::<Result<_, _>>()
            .map_err(malformed(address))?;
        match (is_egress, stale.is_empty()) {
            (_, true) => {}
            (true, false) => {
                p.ec2
                    .revoke_security_group_egress()
                    .group_id(id)
                    .set_ip_permissions(Some(stale))
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(api("ec2:RevokeSecurityGroupEgress"))
                    .or_else(settled("InvalidPermission.NotFound"))?;
            }
            (false, false) => {
                p.ec2
                    .revoke_security_group_ingress()
                    .group_id(id)
                    .set_ip_permissions(Some(stale))
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(api("ec2:RevokeSecurityGroupIngress"))
                    .or_else(settled("InvalidPermission.NotFound"))?;
            }
        }
        match (is_egress, missing.is_empty()) {
            (_, true) => {}
            (true, false) => {
                p.ec2
                    .authorize_security_group_egress()
                    .group_id(id)
                    .set_ip_permissions(Some(missing))
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(api("ec2:AuthorizeSecurityGroupEgress"))
                    .or_else(settled("InvalidPermission.Duplicate"))?;
            }
            (false, false) => {
                p.ec2
                    .authorize_security_group_ingress()
                    .group_id(id)
                    .set_ip_permissions(Some(missing))
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(api("ec2:AuthorizeSecurityGroupIngress"))
                    .or_else(settled("InvalidPermission.Duplicate"))?;
            }
        }
    }
    Ok(())
}

pub(super) async fn create_security_group(p: &AwsProvider, d: &Desired) -> Result<Applied, ProviderError> {
    let g: GroupProps = props(&d.address, &d.props)?;
    let out = p
        .ec2
        .create_security_group()
        .group_name(&g.name)
        .description(&g.description)
        .vpc_id(&g.vpc)
        .tag_specifications(tag_spec(ResourceType::SecurityGroup, &d.props))
        .send()
        .await
        .map_err(api("ec2:CreateSecurityGroup"))?;
    let id = out.group_id().unwrap_or_default().to_string();
    let outs = outputs([("id", &id)]);
    sync_rules(p, &d.address, &id, &d.props).await.map_err(incomplete(&id, &outs))?;
    Ok(Applied { physical_id: id, outputs: outs })
}

pub(super) async fn read_security_group(p: &AwsProvider, e: &Existing) -> Result<Option<Observed>, ProviderError> {
    let Some(g) = describe_group(p, &e.physical_id).await? else {
        return Ok(None);
    };
    Ok(Some(observe_security_group(&g, &e.physical_id)))
}

/// Reads many security groups with one `DescribeSecurityGroups` per [`BATCH`]; rules come with
/// the groups.
pub(super) async fn read_security_groups(
    p: &AwsProvider,
    existing: &[Existing],
) -> Result<Vec<Option<Observed>>, ProviderError> {
    let fetch = |ids| async move {
        let mut out = vec![];
        let mut pages = p.ec2.describe_security_groups().filters(id_filter("group-id", ids)).into_paginator().send();
        while let Some(page) = pages.next().await {
            for g in page.map_err(api("ec2:DescribeSecurityGroups"))?.security_groups() {
                out.push((g.group_id().unwrap_or_default().to_string(), g.clone()));
            }
        }
        Ok(out)
    };
    batched(existing, fetch, |g, e| Some(observe_security_group(g, &e.physical_id))).await
}

fn observe_security_group(g: &aws_sdk_ec2::types::SecurityGroup, id: &str) -> Observed {
    let (ingress, egress) = group_rules(g);
    let mut props = Map::new();
    props.insert("name".into(), json!(g.group_name()));
    props.insert("description".into(), json!(g.description()));
    props.insert("vpc".into(), json!(g.vpc_id()));
    props.insert("ingress".into(), Value::Array(ingress));
    props.insert("egress".into(), Value::Array(egress));
    props.insert("tags".into(), tags_value(g.tags()));
    Observed { props, outputs: outputs([("id", id)]) }
}

pub(super) async fn update_security_group(
    p: &AwsProvider,
    e: &Existing,
    desired: &Value,
) -> Result<Applied, ProviderError> {
    sync_rules(p, &e.address, &e.physical_id, desired).await?;
    update_tags(p, e, desired).await?;
    Ok(applied(e))
}

pub(super) async fn delete_security_group(p: &AwsProvider, e: &Existing) -> Result<(), ProviderError> {
    p.ec2.delete_security_group().group_id(&e.physical_id).send().await.map_err(api("ec2:DeleteSecurityGroup"))?;
    Ok(())
}

// ---- Grants: single ingress rules added to another stack's group ----

#[derive(Deserialize)]
struct GrantProps {
    group: String,
}

/// The grant's rule, in the rule form the groups use, with its owner's description.
fn grant_rule(address: &crate::model::Address, props: &Value) -> Value {
    json!({
        "protocol": props["protocol"],
        "from_port": props["from_port"],
        "to_port": props["to_port"],
        "peer": props["peer"],
        "description": format!("{GRANT_DESCRIPTION_PREFIX}{address}"),
    })
}

pub(super) async fn create_grant(p: &AwsProvider, d: &Desired) -> Result<Applied, ProviderError> {
    let g: GrantProps = props(&d.address, &d.props)?;
    let permission = permission(&grant_rule(&d.address, &d.props)).map_err(malformed(&d.address))?;
    p.ec2
        .authorize_security_group_ingress()
        .group_id(&g.group)
        .ip_permissions(permission)
        .send()
        .await
        .map(|_| ())
        .map_err(api("ec2:AuthorizeSecurityGroupIngress"))
        .or_else(settled("InvalidPermission.Duplicate"))?;
    let id = format!("{}/{}", g.group, d.address);
    Ok(Applied { outputs: outputs([("id", id.as_str())]), physical_id: id })
}

pub(super) async fn read_grant(p: &AwsProvider, e: &Existing) -> Result<Option<Observed>, ProviderError> {
    let g: GrantProps = props(&e.address, &e.props)?;
    let Some(group) = describe_group(p, &g.group).await? else { return Ok(None) };
    Ok(observe_grant(&group, e, &g.group))
}

/// A grant as read from its group's rules: the rule carrying the grant's description.
fn observe_grant(group: &aws_sdk_ec2::types::SecurityGroup, e: &Existing, group_id: &str) -> Option<Observed> {
    let description = format!("{GRANT_DESCRIPTION_PREFIX}{}", e.address);
    let found = group.ip_permissions().iter().flat_map(rule_values).find(|r| r["description"] == description.as_str());
    found.map(|r| {
        let mut props = Map::new();
        props.insert("group".into(), json!(group_id));
        for key in ["protocol", "from_port", "to_port", "peer"] {
            props.insert(key.into(), r[key].clone());
        }
        Observed { props, outputs: outputs([("id", e.physical_id.as_str())]) }
    })
}

/// Reads many grants with one `DescribeSecurityGroups` per [`BATCH`] of the groups they open.
pub(super) async fn read_grants(
    p: &AwsProvider,
    existing: &[Existing],
) -> Result<Vec<Option<Observed>>, ProviderError> {
    let targets: Vec<String> = existing
        .iter()
        .map(|e| props::<GrantProps>(&e.address, &e.props).map(|g| g.group))
        .collect::<Result<_, _>>()?;
    let mut unique: Vec<String> = targets.clone();
    unique.sort();
    unique.dedup();
    let mut groups = std::collections::HashMap::new();
    for chunk in unique.chunks(BATCH) {
        let mut pages =
            p.ec2.describe_security_groups().filters(id_filter("group-id", chunk.to_vec())).into_paginator().send();
        while let Some(page) = pages.next().await {
            for g in page.map_err(api("ec2:DescribeSecurityGroups"))?.security_groups() {
                groups.insert(g.group_id().unwrap_or_default().to_string(), g.clone());
            }
        }
    }
    Ok(existing
        .iter()
        .zip(&targets)
        .map(|(e, group)| groups.get(group).and_then(|g| observe_grant(g, e, group)))
        .collect())
}

pub(super) async fn delete_grant(p: &AwsProvider, e: &Existing) -> Result<(), ProviderError> {
    let g: GrantProps = props(&e.address, &e.props)?;
    let permission = permission(&grant_rule(&e.address, &e.props)).map_err(malformed(&e.address))?;
    p.ec2
        .revoke_security_group_ingress()
        .group_id(&g.group)
        .ip_permissions(permission)
        .send()
        .await
        .map_err(api("ec2:RevokeSecurityGroupIngress"))?;
    Ok(())
}

// ---- Elastic IPs and NAT gateways ----

pub(super) async fn create_elastic_ip(p: &AwsProvider, d: &Desired) -> Result<Applied, ProviderError> {
    let out = p
        .ec2_once
        .allocate_address()
        .domain(aws_sdk_ec2::types::DomainType::Vpc)
        .tag_specifications(tag_spec(ResourceType::ElasticIp, &d.props))
        .send()
        .await
        .map_err(api("ec2:AllocateAddress"))?;
    let id = out.allocation_id().unwrap_or_default().to_string();
    let outs = outputs([("allocation_id", id.as_str()), ("public_ip", out.public_ip().unwrap_or_default())]);
    Ok(Applied { physical_id: id, outputs: outs })
}

pub(super) async fn read_elastic_ip(p: &AwsProvider, e: &Existing) -> Result<Option<Observed>, ProviderError> {
    let out =
        p.ec2.describe_addresses().allocation_ids(&e.physical_id).send().await.map_err(api("ec2:DescribeAddresses"))?;
    let Some(a) = out.addresses().first() else { return Ok(None) };
    Ok(Some(observe_elastic_ip(a, &e.physical_id)))
}

fn observe_elastic_ip(a: &aws_sdk_ec2::types::Address, id: &str) -> Observed {
    let mut props = Map::new();
    props.insert("tags".into(), tags_value(a.tags()));
    let outs = outputs([("allocation_id", id), ("public_ip", a.public_ip().unwrap_or_default())]);
    Observed { props, outputs: outs }
}

pub(super) async fn delete_elastic_ip(p: &AwsProvider, e: &Existing) -> Result<(), ProviderError> {
    p.ec2.release_address().allocation_id(&e.physical_id).send().await.map_err(api("ec2:ReleaseAddress"))?;
    Ok(())
}

#[derive(Deserialize)]
struct NatProps {
    subnet: String,
    allocation: String,
}

async fn describe_nat(p: &AwsProvider, id: &str) -> Result<Option<aws_sdk_ec2::types::NatGateway>, ProviderError> {
    let out = p.ec2.describe_nat_gateways().nat_gateway_ids(id).send().await.map_err(api("ec2:DescribeNatGateways"))?;
    Ok(out.nat_gateways().first().cloned())
}

pub(super) async fn create_nat_gateway(p: &AwsProvider, d: &Desired) -> Result<Applied, ProviderError> {
    let n: NatProps = props(&d.address, &d.props)?;
    let out = p
        .ec2_once
        .create_nat_gateway()
        .subnet_id(&n.subnet)
        .allocation_id(&n.allocation)
        .client_token(uuid::Uuid::new_v4().to_string())
        .tag_specifications(tag_spec(ResourceType::Natgateway, &d.props))
        .send()
        .await
        .map_err(api("ec2:CreateNatGateway"))?;
    let id = out.nat_gateway().and_then(|n| n.nat_gateway_id()).unwrap_or_default().to_string();
    Ok(Applied { outputs: outputs([("id", id.as_str())]), physical_id: id })
}

/// Waits until a new NAT gateway is available (it takes minutes on AWS).
pub(super) async fn await_nat_gateway(
    p: &AwsProvider,
    e: &Existing,
) -> Result<std::collections::BTreeMap<String, Value>, ProviderError> {
    use aws_sdk_ec2::types::NatGatewayState;
    super::wait_for(format!("NAT gateway {} to become available", e.physical_id), p.operation_timeout, || async {
        let nat = describe_nat(p, &e.physical_id).await?;
        match nat.as_ref().and_then(|n| n.state()) {
            Some(NatGatewayState::Available) => Ok(Some(outputs([("id", e.physical_id.as_str())]))),
            Some(NatGatewayState::Failed | NatGatewayState::Deleted | NatGatewayState::Deleting) | None => {
                Err(ProviderError::OperationFailed {
                    what: format!("NAT gateway {}", e.physical_id),
                    message: nat
                        .and_then(|n| n.failure_message().map(str::to_string))
                        .unwrap_or_else(|| "it failed".into()),
                })
            }
            _ => Ok(None),
        }
    })
    .await
}

pub(super) async fn read_nat_gateway(p: &AwsProvider, e: &Existing) -> Result<Option<Observed>, ProviderError> {
    let Some(n) = describe_nat(p, &e.physical_id).await? else { return Ok(None) };
    Ok(observe_nat_gateway(&n, &e.physical_id))
}

/// A NAT gateway's observed props; `None` once it is deleted, being deleted or failed.
fn observe_nat_gateway(n: &aws_sdk_ec2::types::NatGateway, id: &str) -> Option<Observed> {
    use aws_sdk_ec2::types::NatGatewayState;
    if matches!(n.state(), Some(NatGatewayState::Deleted | NatGatewayState::Deleting | NatGatewayState::Failed)) {
        return None;
    }
    let mut props = Map::new();
    props.insert("subnet".into(), json!(n.subnet_id()));
    props.insert("allocation".into(), json!(n.nat_gateway_addresses().first().and_then(|a| a.allocation_id())));
    props.insert("tags".into(), tags_value(n.tags()));
    Some(Observed { props, outputs: outputs([("id", id)]) })
}

pub(super) async fn delete_nat_gateway(p: &AwsProvider, e: &Existing) -> Result<(), ProviderError> {
    use aws_sdk_ec2::types::NatGatewayState;
    p.ec2.delete_nat_gateway().nat_gateway_id(&e.physical_id).send().await.map_err(api("ec2:DeleteNatGateway"))?;
    // Its address can only be released once it is gone.
    super::wait_for(format!("NAT gateway {} to be deleted", e.physical_id), p.operation_timeout, || async {
        let state = describe_nat(p, &e.physical_id).await?.and_then(|n| n.state().cloned());
        Ok(matches!(state, None | Some(NatGatewayState::Deleted)).then_some(()))
    })
    .await
}
