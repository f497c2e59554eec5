//! The network itself: VPCs, subnets and internet gateways.

use async_trait::async_trait;
use aws_sdk_ec2::types::{AttributeBooleanValue, ResourceType, VpcAttributeName};

use super::{batched, by_tags, id_filter, network_interfaces, one_of, tag_spec, tags_of, update_tags};
use crate::model::Ref;
use crate::provider::aws::client::{Aws, Zone};
use crate::provider::aws::resource::{read_one, AwsResource, Created, Current, Lookup, New, Read, Recorded};
use crate::provider::aws::retry::retrying;
use crate::provider::aws::support::{api, filter, incomplete, missing};
use crate::provider::ProviderError;
use crate::resources::ec2::{
    AzIndex, InternetGateway, InternetGatewayOutputs, Subnet, SubnetOutputs, Vpc, VpcOutputs, INTERNET_GATEWAY,
};

/// `aws.ec2.vpc`.
pub(crate) struct Vpcs;
/// `aws.ec2.subnet`.
pub(crate) struct Subnets;
/// `aws.ec2.internet_gateway`.
pub(crate) struct InternetGateways;

// ---- VPC ----

async fn set_vpc_dns(aws: &Aws, id: &str, support: Option<bool>, hostnames: Option<bool>) -> Result<(), ProviderError> {
    // AWS takes one attribute per call.
    if let Some(v) = support {
        aws.ec2
            .modify_vpc_attribute()
            .vpc_id(id)
            .enable_dns_support(AttributeBooleanValue::builder().value(v).build())
            .send()
            .await
            .map_err(api("ec2:ModifyVpcAttribute"))?;
    }
    if let Some(v) = hostnames {
        aws.ec2
            .modify_vpc_attribute()
            .vpc_id(id)
            .enable_dns_hostnames(AttributeBooleanValue::builder().value(v).build())
            .send()
            .await
            .map_err(api("ec2:ModifyVpcAttribute"))?;
    }
    Ok(())
}

/// A VPC as read: the DNS settings take one `DescribeVpcAttribute` each (AWS has no batch form).
async fn observe_vpc(
    aws: &Aws,
    vpc: &aws_sdk_ec2::types::Vpc,
    id: &str,
) -> Result<Read<Vpc, VpcOutputs>, ProviderError> {
    let attribute = |name: VpcAttributeName| aws.ec2.describe_vpc_attribute().vpc_id(id).attribute(name).send();
    let support = attribute(VpcAttributeName::EnableDnsSupport).await.map_err(api("ec2:DescribeVpcAttribute"))?;
    let hostnames = attribute(VpcAttributeName::EnableDnsHostnames).await.map_err(api("ec2:DescribeVpcAttribute"))?;
    let cidr_block = vpc.cidr_block().unwrap_or_default().to_string();
    let props = Vpc {
        cidr_block: cidr_block.clone(),
        enable_dns_support: support.enable_dns_support().and_then(|a| a.value()).unwrap_or(false),
        enable_dns_hostnames: hostnames.enable_dns_hostnames().and_then(|a| a.value()).unwrap_or(false),
        tags: tags_of(vpc.tags()),
    };
    Ok(Read::new(props, VpcOutputs { id: id.to_string(), cidr_block }))
}

async fn describe_vpcs(aws: &Aws, ids: Vec<String>) -> Result<Vec<(String, aws_sdk_ec2::types::Vpc)>, ProviderError> {
    let mut out = vec![];
    let mut pages = aws.ec2.describe_vpcs().filters(id_filter("vpc-id", ids)).into_paginator().send();
    while let Some(page) = pages.next().await {
        for v in page.map_err(api("ec2:DescribeVpcs"))?.vpcs() {
            out.push((v.vpc_id().unwrap_or_default().to_string(), v.clone()));
        }
    }
    Ok(out)
}

#[async_trait]
impl AwsResource for Vpcs {
    type Props = Vpc;
    type Outputs = VpcOutputs;

    const BATCHED: bool = true;

    async fn create(&self, aws: &Aws, new: &New<'_, Vpc>) -> Result<Created<VpcOutputs>, ProviderError> {
        let v = &new.props;
        let out = aws
            .ec2_once
            .create_vpc()
            .cidr_block(&v.cidr_block)
            .tag_specifications(tag_spec(ResourceType::Vpc, &v.tags))
            .send()
            .await
            .map_err(api("ec2:CreateVpc"))?;
        let id = out.vpc().and_then(|v| v.vpc_id()).unwrap_or_default().to_string();
        let outputs = VpcOutputs { id: id.clone(), cidr_block: v.cidr_block.clone() };
        // New VPCs have DNS support on and DNS host names off.
        set_vpc_dns(aws, &id, (!v.enable_dns_support).then_some(false), v.enable_dns_hostnames.then_some(true))
            .await
            .map_err(incomplete(&id, &outputs))?;
        Ok(Created { physical_id: id, outputs })
    }

    async fn read(
        &self,
        aws: &Aws,
        recorded: &Recorded<'_, Vpc>,
    ) -> Result<Option<Read<Vpc, VpcOutputs>>, ProviderError> {
        read_one(self, aws, recorded).await
    }

    /// One `DescribeVpcs` per 200 (their DNS attributes still take a call each).
    async fn read_batch(
        &self,
        aws: &Aws,
        recorded: &[Recorded<'_, Vpc>],
    ) -> Result<Vec<Option<Read<Vpc, VpcOutputs>>>, ProviderError> {
        let found = batched(recorded, |ids| describe_vpcs(aws, ids), |v, _| Some(v.clone())).await?;
        let mut out = Vec::with_capacity(recorded.len());
        for (vpc, r) in found.into_iter().zip(recorded) {
            out.push(match vpc {
                Some(vpc) => Some(observe_vpc(aws, &vpc, r.physical_id).await?),
                None => None,
            });
        }
        Ok(out)
    }

    async fn update(&self, aws: &Aws, current: &Current<'_, Vpc, VpcOutputs>, new: &Vpc) -> Result<(), ProviderError> {
        let old = &current.props;
        set_vpc_dns(
            aws,
            current.physical_id,
            (old.enable_dns_support != new.enable_dns_support).then_some(new.enable_dns_support),
            (old.enable_dns_hostnames != new.enable_dns_hostnames).then_some(new.enable_dns_hostnames),
        )
        .await?;
        update_tags(aws, current.physical_id, &old.tags, &new.tags).await
    }

    async fn delete(&self, aws: &Aws, current: &Current<'_, Vpc, VpcOutputs>) -> Result<(), ProviderError> {
        aws.ec2.delete_vpc().vpc_id(current.physical_id).send().await.map_err(api("ec2:DeleteVpc"))?;
        Ok(())
    }

    /// The network interfaces still in the VPC (`DeleteVpc` answers `DependencyViolation` while
    /// anything is in it).
    async fn holders(&self, aws: &Aws, current: &Current<'_, Vpc, VpcOutputs>) -> Result<Vec<String>, ProviderError> {
        network_interfaces(aws, &filter("vpc-id", [current.physical_id])).await
    }

    async fn find(&self, aws: &Aws, lookup: &Lookup<'_, Vpc>) -> Result<Option<String>, ProviderError> {
        let out =
            aws.ec2.describe_vpcs().set_filters(Some(by_tags(lookup))).send().await.map_err(api("ec2:DescribeVpcs"))?;
        Ok(one_of(lookup, out.vpcs().iter().filter_map(|v| v.vpc_id().map(str::to_string)).collect()))
    }
}

// ---- Subnet ----

async fn set_map_public_ip(aws: &Aws, id: &str, value: bool) -> Result<(), ProviderError> {
    aws.ec2
        .modify_subnet_attribute()
        .subnet_id(id)
        .map_public_ip_on_launch(AttributeBooleanValue::builder().value(value).build())
        .send()
        .await
        .map_err(api("ec2:ModifySubnetAttribute"))?;
    Ok(())
}

/// A subnet as read. Its zone is the recorded position when the subnet is in the zone recorded
/// (by id): the zone list may change (a zone impaired, no longer listed) without the subnet
/// moving. Otherwise (an import, a record without the zone's id) it is the zone's position in the
/// region's list, or the recorded position if that is the same zone counted round the list.
fn observe_subnet(
    subnet: &aws_sdk_ec2::types::Subnet,
    zones: &[Zone],
    r: &Recorded<'_, Subnet>,
) -> Read<Subnet, SubnetOutputs> {
    let (name, id) =
        (subnet.availability_zone().unwrap_or_default(), subnet.availability_zone_id().unwrap_or_default());
    let recorded = r.props.as_ref().map(|p| p.availability_zone.0);
    let position = zones.iter().position(|z| z.name == name).and_then(|i| u8::try_from(i).ok());
    let index = match (recorded, position) {
        (Some(recorded), _) if r.output("availability_zone_id") == Some(id) && !id.is_empty() => recorded,
        (Some(recorded), Some(p)) if usize::from(recorded) % zones.len().max(1) == usize::from(p) => recorded,
        (_, Some(p)) => p,
        (recorded, None) => recorded.unwrap_or_default(),
    };
    let props = Subnet {
        vpc: Ref::existing(subnet.vpc_id().unwrap_or_default()),
        cidr_block: subnet.cidr_block().unwrap_or_default().to_string(),
        availability_zone: AzIndex(index),
        map_public_ip_on_launch: subnet.map_public_ip_on_launch().unwrap_or(false),
        tags: tags_of(subnet.tags()),
    };
    let outputs = SubnetOutputs {
        id: r.physical_id.to_string(),
        availability_zone_name: name.to_string(),
        availability_zone_id: id.to_string(),
    };
    Read::new(props, outputs)
}

#[async_trait]
impl AwsResource for Subnets {
    type Props = Subnet;
    type Outputs = SubnetOutputs;

    const BATCHED: bool = true;

    async fn create(&self, aws: &Aws, new: &New<'_, Subnet>) -> Result<Created<SubnetOutputs>, ProviderError> {
        let s = &new.props;
        let zones = aws.zones().await?;
        if zones.is_empty() {
            return Err(missing("ec2:DescribeAvailabilityZones", "the region lists no availability zones"));
        }
        // Counted round the region's zones (a region may have two), and named by id.
        let zone = &zones[usize::from(s.availability_zone.0) % zones.len()];
        let out = aws
            .ec2_once
            .create_subnet()
            .vpc_id(s.vpc.as_str())
            .cidr_block(&s.cidr_block)
            .availability_zone_id(&zone.id)
            .tag_specifications(tag_spec(ResourceType::Subnet, &s.tags))
            .send()
            .await
            .map_err(api("ec2:CreateSubnet"))?;
        let id = out.subnet().and_then(|s| s.subnet_id()).unwrap_or_default().to_string();
        let outputs = SubnetOutputs {
            id: id.clone(),
            availability_zone_name: zone.name.clone(),
            availability_zone_id: zone.id.clone(),
        };
        if s.map_public_ip_on_launch {
            set_map_public_ip(aws, &id, true).await.map_err(incomplete(&id, &outputs))?;
        }
        Ok(Created { physical_id: id, outputs })
    }

    async fn read(
        &self,
        aws: &Aws,
        recorded: &Recorded<'_, Subnet>,
    ) -> Result<Option<Read<Subnet, SubnetOutputs>>, ProviderError> {
        read_one(self, aws, recorded).await
    }

    /// One `DescribeSubnets` per 200.
    async fn read_batch(
        &self,
        aws: &Aws,
        recorded: &[Recorded<'_, Subnet>],
    ) -> Result<Vec<Option<Read<Subnet, SubnetOutputs>>>, ProviderError> {
        let zones = aws.zones().await?;
        let fetch = |ids| async move {
            let mut out = vec![];
            let mut pages = aws.ec2.describe_subnets().filters(id_filter("subnet-id", ids)).into_paginator().send();
            while let Some(page) = pages.next().await {
                for s in page.map_err(api("ec2:DescribeSubnets"))?.subnets() {
                    out.push((s.subnet_id().unwrap_or_default().to_string(), s.clone()));
                }
            }
            Ok(out)
        };
        batched(recorded, fetch, |s, r| Some(observe_subnet(s, zones, r))).await
    }

    async fn update(
        &self,
        aws: &Aws,
        current: &Current<'_, Subnet, SubnetOutputs>,
        new: &Subnet,
    ) -> Result<(), ProviderError> {
        if current.props.map_public_ip_on_launch != new.map_public_ip_on_launch {
            set_map_public_ip(aws, current.physical_id, new.map_public_ip_on_launch).await?;
        }
        update_tags(aws, current.physical_id, &current.props.tags, &new.tags).await
    }

    async fn delete(&self, aws: &Aws, current: &Current<'_, Subnet, SubnetOutputs>) -> Result<(), ProviderError> {
        aws.ec2.delete_subnet().subnet_id(current.physical_id).send().await.map_err(api("ec2:DeleteSubnet"))?;
        Ok(())
    }

    /// The network interfaces still in the subnet: `DeleteSubnet` answers `DependencyViolation`
    /// while there are any (<https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DeleteSubnet.html>),
    /// and those of deleted tasks, load balancers and NAT gateways linger for minutes.
    async fn holders(
        &self,
        aws: &Aws,
        current: &Current<'_, Subnet, SubnetOutputs>,
    ) -> Result<Vec<String>, ProviderError> {
        network_interfaces(aws, &filter("subnet-id", [current.physical_id])).await
    }

    async fn find(&self, aws: &Aws, lookup: &Lookup<'_, Subnet>) -> Result<Option<String>, ProviderError> {
        let out = aws
            .ec2
            .describe_subnets()
            .set_filters(Some(by_tags(lookup)))
            .send()
            .await
            .map_err(api("ec2:DescribeSubnets"))?;
        Ok(one_of(lookup, out.subnets().iter().filter_map(|v| v.subnet_id().map(str::to_string)).collect()))
    }
}

// ---- Internet gateway ----

fn observe_internet_gateway(
    g: &aws_sdk_ec2::types::InternetGateway,
    id: &str,
) -> Read<InternetGateway, InternetGatewayOutputs> {
    let props = InternetGateway {
        // Empty when it is detached.
        vpc: Ref::existing(g.attachments().first().and_then(|a| a.vpc_id()).unwrap_or_default()),
        tags: tags_of(g.tags()),
    };
    Read::new(props, InternetGatewayOutputs { id: id.to_string() })
}

async fn attach(aws: &Aws, gateway: &str, vpc: &str) -> Result<(), ProviderError> {
    match aws.ec2.attach_internet_gateway().internet_gateway_id(gateway).vpc_id(vpc).send().await {
        Ok(_) => Ok(()),
        Err(err) => match api("ec2:AttachInternetGateway")(err) {
            // Attaching twice is refused (Resource.AlreadyAssociated): a retry after a lost answer
            // is done.
            e if e.is_already_exists() => Ok(()),
            e => Err(e),
        },
    }
}

#[async_trait]
impl AwsResource for InternetGateways {
    type Props = InternetGateway;
    type Outputs = InternetGatewayOutputs;

    const BATCHED: bool = true;

    async fn create(
        &self,
        aws: &Aws,
        new: &New<'_, InternetGateway>,
    ) -> Result<Created<InternetGatewayOutputs>, ProviderError> {
        let out = aws
            .ec2_once
            .create_internet_gateway()
            .tag_specifications(tag_spec(ResourceType::InternetGateway, &new.props.tags))
            .send()
            .await
            .map_err(api("ec2:CreateInternetGateway"))?;
        let id = out.internet_gateway().and_then(|g| g.internet_gateway_id()).unwrap_or_default().to_string();
        let outputs = InternetGatewayOutputs { id: id.clone() };
        let vpc = new.props.vpc.as_str();
        retrying(INTERNET_GATEWAY.type_name, || attach(aws, &id, vpc)).await.map_err(incomplete(&id, &outputs))?;
        Ok(Created { physical_id: id, outputs })
    }

    async fn read(
        &self,
        aws: &Aws,
        recorded: &Recorded<'_, InternetGateway>,
    ) -> Result<Option<Read<InternetGateway, InternetGatewayOutputs>>, ProviderError> {
        read_one(self, aws, recorded).await
    }

    /// One `DescribeInternetGateways` per 200.
    async fn read_batch(
        &self,
        aws: &Aws,
        recorded: &[Recorded<'_, InternetGateway>],
    ) -> Result<Vec<Option<Read<InternetGateway, InternetGatewayOutputs>>>, ProviderError> {
        let fetch = |ids| async move {
            let mut out = vec![];
            let mut pages = aws
                .ec2
                .describe_internet_gateways()
                .filters(id_filter("internet-gateway-id", ids))
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                for g in page.map_err(api("ec2:DescribeInternetGateways"))?.internet_gateways() {
                    out.push((g.internet_gateway_id().unwrap_or_default().to_string(), g.clone()));
                }
            }
            Ok(out)
        };
        batched(recorded, fetch, |g, r| Some(observe_internet_gateway(g, r.physical_id))).await
    }

    /// A gateway's VPC forces a replacement; an update only attaches a gateway whose create did
    /// not get to attach it (and sets tags).
    async fn update(
        &self,
        aws: &Aws,
        current: &Current<'_, InternetGateway, InternetGatewayOutputs>,
        new: &InternetGateway,
    ) -> Result<(), ProviderError> {
        if current.props.vpc.as_str().is_empty() && !new.vpc.as_str().is_empty() {
            attach(aws, current.physical_id, new.vpc.as_str()).await?;
        }
        update_tags(aws, current.physical_id, &current.props.tags, &new.tags).await
    }

    async fn delete(
        &self,
        aws: &Aws,
        current: &Current<'_, InternetGateway, InternetGatewayOutputs>,
    ) -> Result<(), ProviderError> {
        let (id, vpc) = (current.physical_id, current.props.vpc.as_str());
        if !vpc.is_empty() {
            let detached = aws.ec2.detach_internet_gateway().internet_gateway_id(id).vpc_id(vpc).send().await;
            if let Err(err) = detached {
                let err = api("ec2:DetachInternetGateway")(err);
                let not_attached =
                    matches!(&err, ProviderError::Api { code: Some(c), .. } if c == "Gateway.NotAttached");
                if !not_attached && !err.is_not_found() {
                    return Err(err);
                }
            }
        }
        aws.ec2
            .delete_internet_gateway()
            .internet_gateway_id(id)
            .send()
            .await
            .map_err(api("ec2:DeleteInternetGateway"))?;
        Ok(())
    }

    /// The network interfaces with public addresses in its VPC: detaching the gateway answers
    /// `DependencyViolation` while any is mapped
    /// (<https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DetachInternetGateway.html>);
    /// those of deleted load balancers and NAT gateways are released some minutes later.
    async fn holders(
        &self,
        aws: &Aws,
        current: &Current<'_, InternetGateway, InternetGatewayOutputs>,
    ) -> Result<Vec<String>, ProviderError> {
        let vpc = current.props.vpc.as_str();
        if vpc.is_empty() {
            return Ok(vec![]);
        }
        let out = aws
            .ec2
            .describe_network_interfaces()
            .filters(filter("vpc-id", [vpc]))
            .send()
            .await
            .map_err(api("ec2:DescribeNetworkInterfaces"))?;
        Ok(out
            .network_interfaces()
            .iter()
            .filter_map(|eni| {
                let ip = eni.association()?.public_ip()?;
                Some(format!("{} ({ip}, {})", eni.network_interface_id()?, eni.description().unwrap_or_default()))
            })
            .collect())
    }

    async fn find(&self, aws: &Aws, lookup: &Lookup<'_, InternetGateway>) -> Result<Option<String>, ProviderError> {
        let out = aws
            .ec2
            .describe_internet_gateways()
            .set_filters(Some(by_tags(lookup)))
            .send()
            .await
            .map_err(api("ec2:DescribeInternetGateways"))?;
        Ok(one_of(
            lookup,
            out.internet_gateways().iter().filter_map(|g| g.internet_gateway_id().map(str::to_string)).collect(),
        ))
    }
}
