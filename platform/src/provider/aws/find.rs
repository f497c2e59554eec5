//! Finding a resource whose create was started but never recorded (the run was killed during the
//! call, or its answer was lost), by what it was created with: its deterministic name, its
//! `platform:address` and `platform:env` tags (set in the create call itself wherever the API
//! takes tags), or the parent it belongs to. Found, it is read like any recorded resource.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{api, AwsProvider};
use crate::provider::{Existing, Found, Lookup, ProviderError};

/// The physical id the resource would have, if it exists.
async fn physical_id(p: &AwsProvider, l: &Lookup) -> Result<Option<String>, ProviderError> {
    let name = l.name.clone();
    let prop = |k: &str| l.props.get(k).and_then(Value::as_str).map(str::to_string);
    Ok(match l.type_name.as_str() {
        // The name is the id.
        "aws.iam.role"
        | "aws.logs.log_group"
        | "aws.rds.db_subnet_group"
        | "aws.rds.db_instance"
        | "aws.ecr.repository" => name,
        "aws.s3.bucket" => match name {
            Some(name) => Some(super::s3::physical_name(p, &name).await?),
            None => None,
        },
        // The grant's id is made of its group and its address; its rule carries the address.
        "aws.ec2.security_group_grant" => prop("group").map(|g| format!("{g}/{}", l.address)),
        "aws.ec2.vpc"
        | "aws.ec2.subnet"
        | "aws.ec2.internet_gateway"
        | "aws.ec2.elastic_ip"
        | "aws.ec2.nat_gateway"
        | "aws.ec2.route_table"
        | "aws.ec2.security_group" => ec2_by_tags(p, l).await?,
        "aws.ec2.route_table_association" => association(p, l).await?,
        "aws.ecs.cluster" => match name {
            Some(name) => {
                let out =
                    p.ecs.describe_clusters().clusters(&name).send().await.map_err(api("ecs:DescribeClusters"))?;
                out.clusters()
                    .iter()
                    .find(|c| c.status() == Some("ACTIVE"))
                    .and_then(|c| c.cluster_arn().map(str::to_string))
            }
            None => None,
        },
        "aws.ecs.service" => match (name, prop("cluster")) {
            (Some(name), Some(cluster)) => {
                let out = p
                    .ecs
                    .describe_services()
                    .cluster(cluster)
                    .services(&name)
                    .send()
                    .await
                    .map_err(api("ecs:DescribeServices"))?;
                out.services()
                    .iter()
                    .find(|s| s.status() == Some("ACTIVE"))
                    .and_then(|s| s.service_arn().map(str::to_string))
            }
            _ => None,
        },
        "aws.ecs.task_definition" => match name {
            Some(family) => task_definition(p, l, &family).await?,
            None => None,
        },
        "aws.elbv2.load_balancer" => match name {
            Some(name) => match p.elb.describe_load_balancers().names(&name).send().await {
                Ok(out) => out.load_balancers().first().and_then(|lb| lb.load_balancer_arn().map(str::to_string)),
                Err(err) if err.as_service_error().is_some_and(|e| e.is_load_balancer_not_found_exception()) => None,
                Err(err) => return Err(api("elasticloadbalancing:DescribeLoadBalancers")(err)),
            },
            None => None,
        },
        "aws.elbv2.target_group" => match name {
            Some(name) => match p.elb.describe_target_groups().names(&name).send().await {
                Ok(out) => out.target_groups().first().and_then(|tg| tg.target_group_arn().map(str::to_string)),
                Err(err) if err.as_service_error().is_some_and(|e| e.is_target_group_not_found_exception()) => None,
                Err(err) => return Err(api("elasticloadbalancing:DescribeTargetGroups")(err)),
            },
            None => None,
        },
        "aws.elbv2.listener" => match (prop("load_balancer"), l.props.get("port").and_then(Value::as_i64)) {
            (Some(lb), Some(port)) => {
                let out = p
                    .elb
                    .describe_listeners()
                    .load_balancer_arn(lb)
                    .send()
                    .await
                    .map_err(api("elasticloadbalancing:DescribeListeners"))?;
                out.listeners()
                    .iter()
                    .find(|x| x.port().map(i64::from) == Some(port))
                    .and_then(|x| x.listener_arn().map(str::to_string))
            }
            _ => None,
        },
        "aws.iam.oidc_provider" => match prop("url") {
            Some(url) => {
                let issuer = url.trim_start_matches("https://").to_string();
                let out = p
                    .iam
                    .list_open_id_connect_providers()
                    .send()
                    .await
                    .map_err(api("iam:ListOpenIDConnectProviders"))?;
                out.open_id_connect_provider_list()
                    .iter()
                    .filter_map(|o| o.arn())
                    .find(|arn| arn.ends_with(&format!(":oidc-provider/{issuer}")))
                    .map(str::to_string)
            }
            None => None,
        },
        "aws.servicediscovery.private_dns_namespace" => match prop("dns_name") {
            Some(dns_name) => super::servicediscovery::namespace_id_by_name(p, &dns_name).await?,
            None => None,
        },
        "aws.servicediscovery.service" => match (name, prop("namespace")) {
            (Some(name), Some(namespace)) => super::servicediscovery::service_id_by_name(p, &namespace, &name).await?,
            _ => None,
        },
        other => return Err(ProviderError::UnsupportedType(other.to_string())),
    })
}

/// An EC2 resource by its `platform:address` and `platform:env` tags (EC2 creates take tags in the
/// create call, so a resource that exists carries them): the type's describe call, filtered by
/// both tags.
async fn ec2_by_tags(p: &AwsProvider, l: &Lookup) -> Result<Option<String>, ProviderError> {
    let address = l.address.to_string();
    let filters = vec![
        super::filter("tag:platform:address", [address.as_str()]),
        super::filter("tag:platform:env", [l.env.as_str()]),
    ];
    let ids: Vec<String> = match l.type_name.as_str() {
        "aws.ec2.vpc" => {
            let out = p.ec2.describe_vpcs().set_filters(Some(filters)).send().await.map_err(api("ec2:DescribeVpcs"))?;
            out.vpcs().iter().filter_map(|v| v.vpc_id().map(str::to_string)).collect()
        }
        "aws.ec2.subnet" => {
            let out =
                p.ec2.describe_subnets().set_filters(Some(filters)).send().await.map_err(api("ec2:DescribeSubnets"))?;
            out.subnets().iter().filter_map(|v| v.subnet_id().map(str::to_string)).collect()
        }
        "aws.ec2.internet_gateway" => {
            let out = p
                .ec2
                .describe_internet_gateways()
                .set_filters(Some(filters))
                .send()
                .await
                .map_err(api("ec2:DescribeInternetGateways"))?;
            out.internet_gateways().iter().filter_map(|v| v.internet_gateway_id().map(str::to_string)).collect()
        }
        "aws.ec2.elastic_ip" => {
            let out = p
                .ec2
                .describe_addresses()
                .set_filters(Some(filters))
                .send()
                .await
                .map_err(api("ec2:DescribeAddresses"))?;
            out.addresses().iter().filter_map(|v| v.allocation_id().map(str::to_string)).collect()
        }
        "aws.ec2.nat_gateway" => {
            let out = p
                .ec2
                .describe_nat_gateways()
                .set_filter(Some(filters))
                .send()
                .await
                .map_err(api("ec2:DescribeNatGateways"))?;
            // A deleted NAT gateway stays listed for a while.
            out.nat_gateways()
                .iter()
                .filter(|n| {
                    !matches!(
                        n.state(),
                        Some(
                            aws_sdk_ec2::types::NatGatewayState::Deleted
                                | aws_sdk_ec2::types::NatGatewayState::Deleting
                                | aws_sdk_ec2::types::NatGatewayState::Failed
                        )
                    )
                })
                .filter_map(|v| v.nat_gateway_id().map(str::to_string))
                .collect()
        }
        "aws.ec2.route_table" => {
            let out = p
                .ec2
                .describe_route_tables()
                .set_filters(Some(filters))
                .send()
                .await
                .map_err(api("ec2:DescribeRouteTables"))?;
            out.route_tables().iter().filter_map(|v| v.route_table_id().map(str::to_string)).collect()
        }
        _ => {
            let out = p
                .ec2
                .describe_security_groups()
                .set_filters(Some(filters))
                .send()
                .await
                .map_err(api("ec2:DescribeSecurityGroups"))?;
            out.security_groups().iter().filter_map(|v| v.group_id().map(str::to_string)).collect()
        }
    };
    if ids.len() > 1 {
        tracing::warn!(address = %l.address, ?ids, "more than one resource carries this address");
    }
    Ok(ids.into_iter().next())
}

/// A route table association by its route table and subnet.
async fn association(p: &AwsProvider, l: &Lookup) -> Result<Option<String>, ProviderError> {
    let (Some(table), Some(subnet)) =
        (l.props.get("route_table").and_then(Value::as_str), l.props.get("subnet").and_then(Value::as_str))
    else {
        return Ok(None);
    };
    let out =
        p.ec2.describe_route_tables().route_table_ids(table).send().await.map_err(api("ec2:DescribeRouteTables"))?;
    Ok(out
        .route_tables()
        .iter()
        .flat_map(|t| t.associations())
        .find(|a| a.subnet_id() == Some(subnet))
        .and_then(|a| a.route_table_association_id().map(str::to_string)))
}

/// The newest active revision of `family` tagged with the lookup's address.
async fn task_definition(p: &AwsProvider, l: &Lookup, family: &str) -> Result<Option<String>, ProviderError> {
    let out = p
        .ecs
        .list_task_definitions()
        .family_prefix(family)
        .sort(aws_sdk_ecs::types::SortOrder::Desc)
        .send()
        .await
        .map_err(api("ecs:ListTaskDefinitions"))?;
    for arn in out.task_definition_arns() {
        let td = p
            .ecs
            .describe_task_definition()
            .task_definition(arn)
            .include(aws_sdk_ecs::types::TaskDefinitionField::Tags)
            .send()
            .await
            .map_err(api("ecs:DescribeTaskDefinition"))?;
        let tagged = td
            .tags()
            .iter()
            .any(|t| t.key() == Some("platform:address") && t.value() == Some(l.address.to_string().as_str()));
        if tagged && td.task_definition().and_then(|t| t.family()) == Some(family) {
            return Ok(Some(arn.to_string()));
        }
    }
    Ok(None)
}

/// Finds the resource `l` describes, and reads it.
pub(super) async fn find(p: &AwsProvider, l: &Lookup) -> Result<Option<Found>, ProviderError> {
    let Some(id) = physical_id(p, l).await? else { return Ok(None) };
    let existing = Existing {
        address: l.address.clone(),
        type_name: l.type_name.clone(),
        physical_id: id.clone(),
        name: l.name.clone(),
        props: l.props.clone(),
        outputs: BTreeMap::new(),
        delete_allowed: false,
    };
    let Some(observed) = p.read_one(&existing).await? else { return Ok(None) };
    // Only what platform made for this address is adopted: a resource of the same name that
    // carries another address, or none (made by hand, or by another tool), is not taken over.
    // Buckets are the exception for a missing tag: their name holds the account, and the tags are
    // set in a call after the create.
    let owner = observed.props.get("tags").and_then(|t| t.get("platform:address")).and_then(Value::as_str);
    let taggable = crate::resources::schema(&l.type_name).is_some_and(|s| s.taggable);
    let ours = match owner {
        Some(owner) => owner == l.address.to_string(),
        // Untaggable types are found by their parent (an association by its table and subnet, a
        // grant by its rule's description), which names them.
        None => !taggable || l.type_name == "aws.s3.bucket",
    };
    if !ours {
        tracing::warn!(address = %l.address, id = %id, ?owner, "a resource with this name exists but is not this address's");
        return Ok(None);
    }
    Ok(Some(Found { physical_id: id, observed }))
}
