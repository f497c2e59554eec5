//! Routing: route tables and their associations with subnets, and the NAT gateways (with their
//! Elastic IPs) that private subnets route through.

use std::collections::HashSet;

use async_trait::async_trait;
use aws_sdk_ec2::types::{DomainType, NatGatewayState, ResourceType};

use super::{batched, by_tags, id_filter, one_of, tag_spec, tags_of, update_tags};
use crate::model::Ref;
use crate::provider::aws::client::Aws;
use crate::provider::aws::resource::{read_one, AwsResource, Created, Current, Lookup, New, Read, Recorded};
use crate::provider::aws::support::{api, incomplete, settled, wait_for};
use crate::provider::ProviderError;
use crate::resources::ec2::{
    ElasticIp, ElasticIpOutputs, NatGateway, NatGatewayOutputs, Route, RouteTable, RouteTableAssociation,
    RouteTableAssociationOutputs, RouteTableOutputs,
};

/// `aws.ec2.route_table`.
pub(crate) struct RouteTables;
/// `aws.ec2.route_table_association`.
pub(crate) struct RouteTableAssociations;
/// `aws.ec2.elastic_ip`.
pub(crate) struct ElasticIps;
/// `aws.ec2.nat_gateway`.
pub(crate) struct NatGateways;

// ---- Route table ----

fn target(r: &Route) -> (Option<String>, Option<String>) {
    (r.gateway_id.as_ref().map(|g| g.as_str().to_string()), r.nat_gateway_id.as_ref().map(|n| n.as_str().to_string()))
}

async fn create_route(aws: &Aws, table: &str, r: &Route) -> Result<(), ProviderError> {
    let (gateway, nat) = target(r);
    aws.ec2
        .create_route()
        .route_table_id(table)
        .destination_cidr_block(&r.destination_cidr_block)
        .set_gateway_id(gateway)
        .set_nat_gateway_id(nat)
        .send()
        .await
        .map(|_| ())
        .map_err(api("ec2:CreateRoute"))
        .or_else(settled("RouteAlreadyExists"))
}

/// Whether the stack owns a route: IPv4 routes made with `CreateRoute`. The others are left
/// alone, neither diffed nor removed: the VPC's `local` route, routes to IPv6 blocks or prefix
/// lists (which cannot be declared), routes a gateway endpoint adds (to its prefix list, through
/// `vpce-…`; they cannot be changed with the route calls), and routes propagated from a virtual
/// private gateway (`Origin` is `CreateRouteTable` for the local route, `CreateRoute` or
/// `EnableVgwRoutePropagation`: <https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_Route.html>).
fn owned(r: &aws_sdk_ec2::types::Route) -> bool {
    use aws_sdk_ec2::types::RouteOrigin;
    r.destination_cidr_block().is_some()
        && r.gateway_id() != Some("local")
        && !r.gateway_id().is_some_and(|g| g.starts_with("vpce-"))
        && !matches!(r.origin(), Some(RouteOrigin::CreateRouteTable | RouteOrigin::EnableVgwRoutePropagation))
}

/// A route table as read: the routes it owns (see [`owned`]).
fn observe_route_table(t: &aws_sdk_ec2::types::RouteTable, id: &str) -> Read<RouteTable, RouteTableOutputs> {
    let routes = t
        .routes()
        .iter()
        .filter(|r| owned(r))
        .filter_map(|r| {
            Some(Route {
                destination_cidr_block: r.destination_cidr_block()?.to_string(),
                gateway_id: r.gateway_id().map(Ref::existing),
                nat_gateway_id: r.nat_gateway_id().map(Ref::existing),
            })
        })
        .collect();
    let props = RouteTable { vpc: Ref::existing(t.vpc_id().unwrap_or_default()), routes, tags: tags_of(t.tags()) };
    Read::new(props, RouteTableOutputs { id: id.to_string() })
}

async fn describe_route_tables(
    aws: &Aws,
    filter_name: &str,
    ids: Vec<String>,
) -> Result<Vec<aws_sdk_ec2::types::RouteTable>, ProviderError> {
    let mut out = vec![];
    let mut pages = aws.ec2.describe_route_tables().filters(id_filter(filter_name, ids)).into_paginator().send();
    while let Some(page) = pages.next().await {
        out.extend(page.map_err(api("ec2:DescribeRouteTables"))?.route_tables().iter().cloned());
    }
    Ok(out)
}

#[async_trait]
impl AwsResource for RouteTables {
    type Props = RouteTable;
    type Outputs = RouteTableOutputs;

    const BATCHED: bool = true;

    async fn create(&self, aws: &Aws, new: &New<'_, RouteTable>) -> Result<Created<RouteTableOutputs>, ProviderError> {
        let t = &new.props;
        let out = aws
            .ec2_once
            .create_route_table()
            .client_token(&new.token)
            .vpc_id(t.vpc.as_str())
            .tag_specifications(tag_spec(ResourceType::RouteTable, &t.tags))
            .send()
            .await
            .map_err(api("ec2:CreateRouteTable"))?;
        let id = out.route_table().and_then(|t| t.route_table_id()).unwrap_or_default().to_string();
        let outputs = RouteTableOutputs { id: id.clone() };
        for r in &t.routes {
            create_route(aws, &id, r).await.map_err(incomplete(&id, &outputs))?;
        }
        Ok(Created { physical_id: id, outputs })
    }

    async fn read(
        &self,
        aws: &Aws,
        recorded: &Recorded<'_, RouteTable>,
    ) -> Result<Option<Read<RouteTable, RouteTableOutputs>>, ProviderError> {
        read_one(self, aws, recorded).await
    }

    /// One `DescribeRouteTables` per 200.
    async fn read_batch(
        &self,
        aws: &Aws,
        recorded: &[Recorded<'_, RouteTable>],
    ) -> Result<Vec<Option<Read<RouteTable, RouteTableOutputs>>>, ProviderError> {
        let fetch = |ids| async move {
            let tables = describe_route_tables(aws, "route-table-id", ids).await?;
            Ok(tables.into_iter().map(|t| (t.route_table_id().unwrap_or_default().to_string(), t)).collect())
        };
        batched(recorded, fetch, |t, r| Some(observe_route_table(t, r.physical_id))).await
    }

    async fn update(
        &self,
        aws: &Aws,
        current: &Current<'_, RouteTable, RouteTableOutputs>,
        new: &RouteTable,
    ) -> Result<(), ProviderError> {
        let (old, table) = (&current.props, current.physical_id);
        for stale in old
            .routes
            .iter()
            .filter(|o| !new.routes.iter().any(|r| r.destination_cidr_block == o.destination_cidr_block))
        {
            aws.ec2
                .delete_route()
                .route_table_id(table)
                .destination_cidr_block(&stale.destination_cidr_block)
                .send()
                .await
                .map(|_| ())
                .map_err(api("ec2:DeleteRoute"))
                .or_else(settled("InvalidRoute.NotFound"))?;
        }
        for r in &new.routes {
            match old.routes.iter().find(|o| o.destination_cidr_block == r.destination_cidr_block) {
                None => create_route(aws, table, r).await?,
                Some(o) if target(o) != target(r) => {
                    let (gateway, nat) = target(r);
                    aws.ec2
                        .replace_route()
                        .route_table_id(table)
                        .destination_cidr_block(&r.destination_cidr_block)
                        .set_gateway_id(gateway)
                        .set_nat_gateway_id(nat)
                        .send()
                        .await
                        .map_err(api("ec2:ReplaceRoute"))?;
                }
                Some(_) => {}
            }
        }
        update_tags(aws, table, &old.tags, &new.tags).await
    }

    async fn delete(
        &self,
        aws: &Aws,
        current: &Current<'_, RouteTable, RouteTableOutputs>,
    ) -> Result<(), ProviderError> {
        aws.ec2
            .delete_route_table()
            .route_table_id(current.physical_id)
            .send()
            .await
            .map_err(api("ec2:DeleteRouteTable"))?;
        Ok(())
    }

    async fn find(&self, aws: &Aws, lookup: &Lookup<'_, RouteTable>) -> Result<Option<String>, ProviderError> {
        let out = aws
            .ec2
            .describe_route_tables()
            .set_filters(Some(by_tags(lookup)))
            .send()
            .await
            .map_err(api("ec2:DescribeRouteTables"))?;
        Ok(one_of(lookup, out.route_tables().iter().filter_map(|t| t.route_table_id().map(str::to_string)).collect()))
    }
}

// ---- Route table association ----

fn observe_association(
    a: &aws_sdk_ec2::types::RouteTableAssociation,
    id: &str,
) -> Read<RouteTableAssociation, RouteTableAssociationOutputs> {
    let props = RouteTableAssociation {
        route_table: Ref::existing(a.route_table_id().unwrap_or_default()),
        subnet: Ref::existing(a.subnet_id().unwrap_or_default()),
    };
    Read::new(props, RouteTableAssociationOutputs { id: id.to_string() })
}

#[async_trait]
impl AwsResource for RouteTableAssociations {
    type Props = RouteTableAssociation;
    type Outputs = RouteTableAssociationOutputs;

    const BATCHED: bool = true;

    async fn create(
        &self,
        aws: &Aws,
        new: &New<'_, RouteTableAssociation>,
    ) -> Result<Created<RouteTableAssociationOutputs>, ProviderError> {
        let out = aws
            .ec2
            .associate_route_table()
            .route_table_id(new.props.route_table.as_str())
            .subnet_id(new.props.subnet.as_str())
            .send()
            .await
            .map_err(api("ec2:AssociateRouteTable"))?;
        let id = out.association_id().unwrap_or_default().to_string();
        Ok(Created { physical_id: id.clone(), outputs: RouteTableAssociationOutputs { id } })
    }

    async fn read(
        &self,
        aws: &Aws,
        recorded: &Recorded<'_, RouteTableAssociation>,
    ) -> Result<Option<Read<RouteTableAssociation, RouteTableAssociationOutputs>>, ProviderError> {
        read_one(self, aws, recorded).await
    }

    /// One `DescribeRouteTables` per 200 associations.
    async fn read_batch(
        &self,
        aws: &Aws,
        recorded: &[Recorded<'_, RouteTableAssociation>],
    ) -> Result<Vec<Option<Read<RouteTableAssociation, RouteTableAssociationOutputs>>>, ProviderError> {
        let fetch = |ids: Vec<String>| async move {
            let wanted: HashSet<String> = ids.iter().cloned().collect();
            let tables = describe_route_tables(aws, "association.route-table-association-id", ids).await?;
            Ok(tables
                .iter()
                .flat_map(|t| t.associations())
                .filter_map(|a| {
                    let id = a.route_table_association_id()?.to_string();
                    wanted.contains(&id).then(|| (id, a.clone()))
                })
                .collect())
        };
        batched(recorded, fetch, |a, r| Some(observe_association(a, r.physical_id))).await
    }

    /// Every attribute of an association forces a replacement: there is nothing to update.
    async fn update(
        &self,
        _aws: &Aws,
        _current: &Current<'_, RouteTableAssociation, RouteTableAssociationOutputs>,
        _new: &RouteTableAssociation,
    ) -> Result<(), ProviderError> {
        Ok(())
    }

    async fn delete(
        &self,
        aws: &Aws,
        current: &Current<'_, RouteTableAssociation, RouteTableAssociationOutputs>,
    ) -> Result<(), ProviderError> {
        aws.ec2
            .disassociate_route_table()
            .association_id(current.physical_id)
            .send()
            .await
            .map_err(api("ec2:DisassociateRouteTable"))?;
        Ok(())
    }

    /// An association by its route table and subnet.
    async fn find(
        &self,
        aws: &Aws,
        lookup: &Lookup<'_, RouteTableAssociation>,
    ) -> Result<Option<String>, ProviderError> {
        let Some(a) = &lookup.props else { return Ok(None) };
        let out = aws
            .ec2
            .describe_route_tables()
            .route_table_ids(a.route_table.as_str())
            .send()
            .await
            .map_err(api("ec2:DescribeRouteTables"))?;
        Ok(out
            .route_tables()
            .iter()
            .flat_map(|t| t.associations())
            .find(|x| x.subnet_id() == Some(a.subnet.as_str()))
            .and_then(|x| x.route_table_association_id().map(str::to_string)))
    }
}

// ---- Elastic IP ----

fn observe_elastic_ip(a: &aws_sdk_ec2::types::Address, id: &str) -> Read<ElasticIp, ElasticIpOutputs> {
    let outputs =
        ElasticIpOutputs { allocation_id: id.to_string(), public_ip: a.public_ip().unwrap_or_default().to_string() };
    Read::new(ElasticIp { tags: tags_of(a.tags()) }, outputs)
}

#[async_trait]
impl AwsResource for ElasticIps {
    type Props = ElasticIp;
    type Outputs = ElasticIpOutputs;

    const BATCHED: bool = true;

    async fn create(&self, aws: &Aws, new: &New<'_, ElasticIp>) -> Result<Created<ElasticIpOutputs>, ProviderError> {
        let out = aws
            .ec2_once
            .allocate_address()
            .domain(DomainType::Vpc)
            .tag_specifications(tag_spec(ResourceType::ElasticIp, &new.props.tags))
            .send()
            .await
            .map_err(api("ec2:AllocateAddress"))?;
        let id = out.allocation_id().unwrap_or_default().to_string();
        let outputs =
            ElasticIpOutputs { allocation_id: id.clone(), public_ip: out.public_ip().unwrap_or_default().to_string() };
        Ok(Created { physical_id: id, outputs })
    }

    async fn read(
        &self,
        aws: &Aws,
        recorded: &Recorded<'_, ElasticIp>,
    ) -> Result<Option<Read<ElasticIp, ElasticIpOutputs>>, ProviderError> {
        read_one(self, aws, recorded).await
    }

    /// One `DescribeAddresses` per 200.
    async fn read_batch(
        &self,
        aws: &Aws,
        recorded: &[Recorded<'_, ElasticIp>],
    ) -> Result<Vec<Option<Read<ElasticIp, ElasticIpOutputs>>>, ProviderError> {
        let fetch = |ids| async move {
            let out = aws
                .ec2
                .describe_addresses()
                .filters(id_filter("allocation-id", ids))
                .send()
                .await
                .map_err(api("ec2:DescribeAddresses"))?;
            Ok(out.addresses().iter().map(|a| (a.allocation_id().unwrap_or_default().to_string(), a.clone())).collect())
        };
        batched(recorded, fetch, |a, r| Some(observe_elastic_ip(a, r.physical_id))).await
    }

    async fn update(
        &self,
        aws: &Aws,
        current: &Current<'_, ElasticIp, ElasticIpOutputs>,
        new: &ElasticIp,
    ) -> Result<(), ProviderError> {
        update_tags(aws, current.physical_id, &current.props.tags, &new.tags).await
    }

    async fn delete(&self, aws: &Aws, current: &Current<'_, ElasticIp, ElasticIpOutputs>) -> Result<(), ProviderError> {
        aws.ec2.release_address().allocation_id(current.physical_id).send().await.map_err(api("ec2:ReleaseAddress"))?;
        Ok(())
    }

    async fn find(&self, aws: &Aws, lookup: &Lookup<'_, ElasticIp>) -> Result<Option<String>, ProviderError> {
        let out = aws
            .ec2
            .describe_addresses()
            .set_filters(Some(by_tags(lookup)))
            .send()
            .await
            .map_err(api("ec2:DescribeAddresses"))?;
        Ok(one_of(lookup, out.addresses().iter().filter_map(|a| a.allocation_id().map(str::to_string)).collect()))
    }
}

// ---- NAT gateway ----

async fn describe_nat(aws: &Aws, id: &str) -> Result<Option<aws_sdk_ec2::types::NatGateway>, ProviderError> {
    let out =
        aws.ec2.describe_nat_gateways().nat_gateway_ids(id).send().await.map_err(api("ec2:DescribeNatGateways"))?;
    Ok(out.nat_gateways().first().cloned())
}

/// Whether a NAT gateway is gone or going (a deleted one stays listed for a while).
fn gone(n: &aws_sdk_ec2::types::NatGateway) -> bool {
    matches!(n.state(), Some(NatGatewayState::Deleted | NatGatewayState::Deleting | NatGatewayState::Failed))
}

/// A NAT gateway's observed props; `None` once it is deleted, being deleted or failed.
fn observe_nat_gateway(n: &aws_sdk_ec2::types::NatGateway, id: &str) -> Option<Read<NatGateway, NatGatewayOutputs>> {
    if gone(n) {
        return None;
    }
    let props = NatGateway {
        subnet: Ref::existing(n.subnet_id().unwrap_or_default()),
        allocation: Ref::existing(
            n.nat_gateway_addresses().first().and_then(|a| a.allocation_id()).unwrap_or_default(),
        ),
        tags: tags_of(n.tags()),
    };
    Some(Read::new(props, NatGatewayOutputs { id: id.to_string() }))
}

#[async_trait]
impl AwsResource for NatGateways {
    type Props = NatGateway;
    type Outputs = NatGatewayOutputs;

    const BATCHED: bool = true;
    const AWAITS: bool = true;

    async fn create(&self, aws: &Aws, new: &New<'_, NatGateway>) -> Result<Created<NatGatewayOutputs>, ProviderError> {
        let n = &new.props;
        let out = aws
            .ec2_once
            .create_nat_gateway()
            .subnet_id(n.subnet.as_str())
            .allocation_id(n.allocation.as_str())
            .client_token(&new.token)
            .tag_specifications(tag_spec(ResourceType::Natgateway, &n.tags))
            .send()
            .await
            .map_err(api("ec2:CreateNatGateway"))?;
        let id = out.nat_gateway().and_then(|n| n.nat_gateway_id()).unwrap_or_default().to_string();
        Ok(Created { physical_id: id.clone(), outputs: NatGatewayOutputs { id } })
    }

    async fn read(
        &self,
        aws: &Aws,
        recorded: &Recorded<'_, NatGateway>,
    ) -> Result<Option<Read<NatGateway, NatGatewayOutputs>>, ProviderError> {
        read_one(self, aws, recorded).await
    }

    /// One `DescribeNatGateways` per 200.
    async fn read_batch(
        &self,
        aws: &Aws,
        recorded: &[Recorded<'_, NatGateway>],
    ) -> Result<Vec<Option<Read<NatGateway, NatGatewayOutputs>>>, ProviderError> {
        let fetch = |ids| async move {
            let mut out = vec![];
            let mut pages =
                aws.ec2.describe_nat_gateways().filter(id_filter("nat-gateway-id", ids)).into_paginator().send();
            while let Some(page) = pages.next().await {
                for n in page.map_err(api("ec2:DescribeNatGateways"))?.nat_gateways() {
                    out.push((n.nat_gateway_id().unwrap_or_default().to_string(), n.clone()));
                }
            }
            Ok(out)
        };
        batched(recorded, fetch, |n, r| observe_nat_gateway(n, r.physical_id)).await
    }

    async fn update(
        &self,
        aws: &Aws,
        current: &Current<'_, NatGateway, NatGatewayOutputs>,
        new: &NatGateway,
    ) -> Result<(), ProviderError> {
        update_tags(aws, current.physical_id, &current.props.tags, &new.tags).await
    }

    async fn delete(
        &self,
        aws: &Aws,
        current: &Current<'_, NatGateway, NatGatewayOutputs>,
    ) -> Result<(), ProviderError> {
        let id = current.physical_id;
        aws.ec2.delete_nat_gateway().nat_gateway_id(id).send().await.map_err(api("ec2:DeleteNatGateway"))?;
        // Its address can only be released once it is gone.
        wait_for(format!("NAT gateway {id} to be deleted"), aws.operation_timeout, || async {
            let state = describe_nat(aws, id).await?.and_then(|n| n.state().cloned());
            Ok(matches!(state, None | Some(NatGatewayState::Deleted)).then_some(()))
        })
        .await
    }

    async fn find(&self, aws: &Aws, lookup: &Lookup<'_, NatGateway>) -> Result<Option<String>, ProviderError> {
        let out = aws
            .ec2
            .describe_nat_gateways()
            .set_filter(Some(by_tags(lookup)))
            .send()
            .await
            .map_err(api("ec2:DescribeNatGateways"))?;
        let ids = out.nat_gateways().iter().filter(|n| !gone(n)).filter_map(|n| n.nat_gateway_id().map(str::to_string));
        Ok(one_of(lookup, ids.collect()))
    }

    /// A new NAT gateway takes minutes on AWS to become available.
    async fn await_ready(
        &self,
        aws: &Aws,
        current: &Current<'_, NatGateway, NatGatewayOutputs>,
    ) -> Result<NatGatewayOutputs, ProviderError> {
        let id = current.physical_id;
        wait_for(format!("NAT gateway {id} to become available"), aws.operation_timeout, || async {
            let nat = describe_nat(aws, id).await?;
            match nat.as_ref().and_then(|n| n.state()) {
                Some(NatGatewayState::Available) => Ok(Some(NatGatewayOutputs { id: id.to_string() })),
                Some(NatGatewayState::Failed | NatGatewayState::Deleted | NatGatewayState::Deleting) | None => {
                    Err(ProviderError::OperationFailed {
                        what: format!("NAT gateway {id}"),
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
}
