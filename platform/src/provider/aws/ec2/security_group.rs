//! The firewall: security groups, whose rules are managed authoritatively, and grants, single
//! ingress rules a stack adds to another stack's group (marked by their description).

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_ec2::types::{IpPermission, IpRange, Ipv6Range, PrefixListId, ResourceType, UserIdGroupPair};

use super::{batched, by_tags, id_filter, network_interfaces, one_of, tag_spec, tags_of, update_tags, BATCH};
use crate::model::{Address, Ref};
use crate::provider::aws::client::Aws;
use crate::provider::aws::resource::{read_one, AwsResource, Created, Current, Lookup, New, Read, Recorded};
use crate::provider::aws::support::{api, filter, incomplete, settled};
use crate::provider::ProviderError;
use crate::resources::ec2::{
    DefaultSecurityGroup, DefaultSecurityGroupOutputs, Peer, Protocol, Rule, SecurityGroup, SecurityGroupGrant,
    SecurityGroupGrantOutputs, SecurityGroupOutputs, GRANT_DESCRIPTION_PREFIX,
};

/// `aws.ec2.security_group`.
pub(crate) struct SecurityGroups;
/// `aws.ec2.security_group_grant`.
pub(crate) struct SecurityGroupGrants;
/// `aws.ec2.default_security_group`.
pub(crate) struct DefaultSecurityGroups;

/// The rules of an AWS permission, one per peer, in the declared form.
fn rules_of(perm: &IpPermission) -> Vec<Rule> {
    let protocol = Protocol::try_from(perm.ip_protocol().unwrap_or("-1").to_string()).unwrap_or(Protocol::All);
    let (from_port, to_port) = match protocol {
        Protocol::All => (-1, -1),
        _ => (perm.from_port().unwrap_or(-1), perm.to_port().unwrap_or(-1)),
    };
    let rule = |peer: Peer, description: Option<&str>| Rule {
        protocol,
        from_port,
        to_port,
        peer,
        description: description.unwrap_or_default().to_string(),
    };
    let mut out = vec![];
    out.extend(
        perm.ip_ranges()
            .iter()
            .map(|r| rule(Peer::CidrIpv4(Ref::existing(r.cidr_ip().unwrap_or_default())), r.description())),
    );
    out.extend(
        perm.ipv6_ranges()
            .iter()
            .map(|r| rule(Peer::CidrIpv6(r.cidr_ipv6().unwrap_or_default().to_string()), r.description())),
    );
    out.extend(
        perm.user_id_group_pairs()
            .iter()
            .map(|g| rule(Peer::SecurityGroup(Ref::existing(g.group_id().unwrap_or_default())), g.description())),
    );
    out.extend(
        perm.prefix_list_ids()
            .iter()
            .map(|p| rule(Peer::PrefixList(p.prefix_list_id().unwrap_or_default().to_string()), p.description())),
    );
    out
}

/// The AWS permission granting exactly one rule.
fn permission(rule: &Rule) -> IpPermission {
    let description = (!rule.description.is_empty()).then(|| rule.description.clone());
    let b = IpPermission::builder()
        .ip_protocol(String::from(rule.protocol))
        .from_port(rule.from_port)
        .to_port(rule.to_port);
    match &rule.peer {
        Peer::CidrIpv4(c) => b.ip_ranges(IpRange::builder().cidr_ip(c.as_str()).set_description(description).build()),
        Peer::CidrIpv6(c) => b.ipv6_ranges(Ipv6Range::builder().cidr_ipv6(c).set_description(description).build()),
        Peer::SecurityGroup(g) => {
            b.user_id_group_pairs(UserIdGroupPair::builder().group_id(g.as_str()).set_description(description).build())
        }
        Peer::PrefixList(p) => {
            b.prefix_list_ids(PrefixListId::builder().prefix_list_id(p).set_description(description).build())
        }
    }
    .build()
}

/// Whether a rule is a grant's (see [`GRANT_DESCRIPTION_PREFIX`]), not its group's own.
fn granted(rule: &Rule) -> bool {
    rule.description.starts_with(GRANT_DESCRIPTION_PREFIX)
}

/// The group's own (ingress, egress) rules, one per peer, read from the group itself: one call per
/// group, and the form AWS documents for both its rules and their descriptions. Rules owned by
/// grant resources are left out.
fn group_rules(g: &aws_sdk_ec2::types::SecurityGroup) -> (Vec<Rule>, Vec<Rule>) {
    let own = |perms: &[IpPermission]| perms.iter().flat_map(rules_of).filter(|r| !granted(r)).collect();
    (own(g.ip_permissions()), own(g.ip_permissions_egress()))
}

async fn describe_group(aws: &Aws, id: &str) -> Result<Option<aws_sdk_ec2::types::SecurityGroup>, ProviderError> {
    let out =
        aws.ec2.describe_security_groups().group_ids(id).send().await.map_err(api("ec2:DescribeSecurityGroups"))?;
    Ok(out.security_groups().first().cloned())
}

async fn describe_groups(
    aws: &Aws,
    ids: Vec<String>,
) -> Result<Vec<(String, aws_sdk_ec2::types::SecurityGroup)>, ProviderError> {
    let mut out = vec![];
    let mut pages = aws.ec2.describe_security_groups().filters(id_filter("group-id", ids)).into_paginator().send();
    while let Some(page) = pages.next().await {
        for g in page.map_err(api("ec2:DescribeSecurityGroups"))?.security_groups() {
            out.push((g.group_id().unwrap_or_default().to_string(), g.clone()));
        }
    }
    Ok(out)
}

/// What makes a rule the rule it is, for AWS: all but its description (two rules differing only
/// in their descriptions are one rule, and authorizing the second is refused as a duplicate).
fn identity(rule: &Rule) -> Rule {
    Rule { description: String::new(), ..rule.clone() }
}

/// Makes the group's rules exactly `ingress` and `egress`: authorizes the missing ones first, then
/// revokes the others, so that a changed rule never leaves a moment with neither; a rule whose
/// description alone changed is redescribed in place
/// (<https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_UpdateSecurityGroupRuleDescriptionsIngress.html>).
async fn sync_rules(aws: &Aws, id: &str, ingress: &[Rule], egress: &[Rule]) -> Result<(), ProviderError> {
    let group = describe_group(aws, id).await?.ok_or_else(|| ProviderError::Api {
        operation: "ec2:DescribeSecurityGroups",
        code: Some("InvalidGroup.NotFound".into()),
        message: format!("security group {id} does not exist"),
    })?;
    let (current_ingress, current_egress) = group_rules(&group);
    for (is_egress, wanted, current) in [(false, ingress, &current_ingress), (true, egress, &current_egress)] {
        let has = |rules: &[Rule], rule: &Rule| rules.iter().any(|r| identity(r) == identity(rule));
        let missing: Vec<IpPermission> = wanted.iter().filter(|w| !has(current, w)).map(permission).collect();
        let stale: Vec<IpPermission> = current.iter().filter(|r| !has(wanted, r)).map(permission).collect();
        let redescribed: Vec<IpPermission> = wanted
            .iter()
            .filter(|w| current.iter().any(|r| identity(r) == identity(w) && r.description != w.description))
            .map(permission)
            .collect();
        if !missing.is_empty() {
            if is_egress {
                aws.ec2
                    .authorize_security_group_egress()
                    .group_id(id)
                    .set_ip_permissions(Some(missing))
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(api("ec2:AuthorizeSecurityGroupEgress"))
                    .or_else(settled("InvalidPermission.Duplicate"))?;
            } else {
                aws.ec2
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
        if !redescribed.is_empty() {
            if is_egress {
                aws.ec2
                    .update_security_group_rule_descriptions_egress()
                    .group_id(id)
                    .set_ip_permissions(Some(redescribed))
                    .send()
                    .await
                    .map_err(api("ec2:UpdateSecurityGroupRuleDescriptionsEgress"))?;
            } else {
                aws.ec2
                    .update_security_group_rule_descriptions_ingress()
                    .group_id(id)
                    .set_ip_permissions(Some(redescribed))
                    .send()
                    .await
                    .map_err(api("ec2:UpdateSecurityGroupRuleDescriptionsIngress"))?;
            }
        }
        if !stale.is_empty() {
            if is_egress {
                aws.ec2
                    .revoke_security_group_egress()
                    .group_id(id)
                    .set_ip_permissions(Some(stale))
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(api("ec2:RevokeSecurityGroupEgress"))
                    .or_else(settled("InvalidPermission.NotFound"))?;
            } else {
                aws.ec2
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
    }
    Ok(())
}

fn observe_security_group(
    g: &aws_sdk_ec2::types::SecurityGroup,
    id: &str,
) -> Read<SecurityGroup, SecurityGroupOutputs> {
    let (ingress, egress) = group_rules(g);
    let props = SecurityGroup {
        vpc: Ref::existing(g.vpc_id().unwrap_or_default()),
        description: g.description().unwrap_or_default().to_string(),
        ingress,
        egress,
        tags: tags_of(g.tags()),
    };
    Read::named(props, g.group_name().unwrap_or_default(), SecurityGroupOutputs { id: id.to_string() })
}

#[async_trait]
impl AwsResource for SecurityGroups {
    type Props = SecurityGroup;
    type Outputs = SecurityGroupOutputs;

    const BATCHED: bool = true;

    async fn create(
        &self,
        aws: &Aws,
        new: &New<'_, SecurityGroup>,
    ) -> Result<Created<SecurityGroupOutputs>, ProviderError> {
        let g = &new.props;
        let out = aws
            .ec2
            .create_security_group()
            .group_name(new.name()?)
            .description(&g.description)
            .vpc_id(g.vpc.as_str())
            .tag_specifications(tag_spec(ResourceType::SecurityGroup, &g.tags))
            .send()
            .await
            .map_err(api("ec2:CreateSecurityGroup"))?;
        let id = out.group_id().unwrap_or_default().to_string();
        let outputs = SecurityGroupOutputs { id: id.clone() };
        sync_rules(aws, &id, &g.ingress, &g.egress).await.map_err(incomplete(&id, &outputs))?;
        Ok(Created { physical_id: id, outputs })
    }

    async fn read(
        &self,
        aws: &Aws,
        recorded: &Recorded<'_, SecurityGroup>,
    ) -> Result<Option<Read<SecurityGroup, SecurityGroupOutputs>>, ProviderError> {
        read_one(self, aws, recorded).await
    }

    /// One `DescribeSecurityGroups` per 200; rules come with the groups.
    async fn read_batch(
        &self,
        aws: &Aws,
        recorded: &[Recorded<'_, SecurityGroup>],
    ) -> Result<Vec<Option<Read<SecurityGroup, SecurityGroupOutputs>>>, ProviderError> {
        batched(recorded, |ids| describe_groups(aws, ids), |g, r| Some(observe_security_group(g, r.physical_id))).await
    }

    async fn update(
        &self,
        aws: &Aws,
        current: &Current<'_, SecurityGroup, SecurityGroupOutputs>,
        new: &SecurityGroup,
    ) -> Result<(), ProviderError> {
        sync_rules(aws, current.physical_id, &new.ingress, &new.egress).await?;
        update_tags(aws, current.physical_id, &current.props.tags, &new.tags).await
    }

    async fn delete(
        &self,
        aws: &Aws,
        current: &Current<'_, SecurityGroup, SecurityGroupOutputs>,
    ) -> Result<(), ProviderError> {
        aws.ec2
            .delete_security_group()
            .group_id(current.physical_id)
            .send()
            .await
            .map_err(api("ec2:DeleteSecurityGroup"))?;
        Ok(())
    }

    /// The network interfaces that still have the group: `DeleteSecurityGroup` answers
    /// `DependencyViolation` while any does
    /// (<https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DeleteSecurityGroup.html>), and
    /// those of deleted tasks and load balancers linger for minutes.
    async fn holders(
        &self,
        aws: &Aws,
        current: &Current<'_, SecurityGroup, SecurityGroupOutputs>,
    ) -> Result<Vec<String>, ProviderError> {
        network_interfaces(aws, &filter("group-id", [current.physical_id])).await
    }

    async fn find(&self, aws: &Aws, lookup: &Lookup<'_, SecurityGroup>) -> Result<Option<String>, ProviderError> {
        let out = aws
            .ec2
            .describe_security_groups()
            .set_filters(Some(by_tags(lookup)))
            .send()
            .await
            .map_err(api("ec2:DescribeSecurityGroups"))?;
        Ok(one_of(lookup, out.security_groups().iter().filter_map(|g| g.group_id().map(str::to_string)).collect()))
    }
}

// ---- A VPC's default group: taken over, its rules made the declared ones ----

/// The id of the default group of `vpc` ("each VPC has a default security group … named
/// default", <https://docs.aws.amazon.com/vpc/latest/userguide/default-security-group.html>).
async fn default_group_of(aws: &Aws, vpc: &str) -> Result<Option<aws_sdk_ec2::types::SecurityGroup>, ProviderError> {
    let out = aws
        .ec2
        .describe_security_groups()
        .filters(filter("vpc-id", [vpc]))
        .filters(filter("group-name", ["default"]))
        .send()
        .await
        .map_err(api("ec2:DescribeSecurityGroups"))?;
    Ok(out.security_groups().first().cloned())
}

fn observe_default_group(
    g: &aws_sdk_ec2::types::SecurityGroup,
    id: &str,
) -> Read<DefaultSecurityGroup, DefaultSecurityGroupOutputs> {
    let (ingress, egress) = group_rules(g);
    let props = DefaultSecurityGroup {
        vpc: Ref::existing(g.vpc_id().unwrap_or_default()),
        ingress,
        egress,
        tags: tags_of(g.tags()),
    };
    Read::new(props, DefaultSecurityGroupOutputs { id: id.to_string() })
}

#[async_trait]
impl AwsResource for DefaultSecurityGroups {
    type Props = DefaultSecurityGroup;
    type Outputs = DefaultSecurityGroupOutputs;

    const BATCHED: bool = true;

    /// Tags the VPC's default group first (AWS creates it untagged; the deploy role acts on the
    /// environment's tagged resources only), then makes its rules the declared ones. A VPC created
    /// moments ago may not show its group yet: looked for until the deadline.
    async fn create(
        &self,
        aws: &Aws,
        new: &New<'_, DefaultSecurityGroup>,
    ) -> Result<Created<DefaultSecurityGroupOutputs>, ProviderError> {
        let g = &new.props;
        let vpc = g.vpc.as_str();
        let found = crate::provider::aws::support::wait_for(
            format!("the default security group of {vpc}"),
            aws.operation_timeout,
            || default_group_of(aws, vpc),
        )
        .await?;
        let id = found.group_id().unwrap_or_default().to_string();
        let outputs = DefaultSecurityGroupOutputs { id: id.clone() };
        update_tags(aws, &id, &tags_of(found.tags()), &g.tags).await?;
        sync_rules(aws, &id, &g.ingress, &g.egress).await.map_err(incomplete(&id, &outputs))?;
        Ok(Created { physical_id: id, outputs })
    }

    async fn read(
        &self,
        aws: &Aws,
        recorded: &Recorded<'_, DefaultSecurityGroup>,
    ) -> Result<Option<Read<DefaultSecurityGroup, DefaultSecurityGroupOutputs>>, ProviderError> {
        read_one(self, aws, recorded).await
    }

    async fn read_batch(
        &self,
        aws: &Aws,
        recorded: &[Recorded<'_, DefaultSecurityGroup>],
    ) -> Result<Vec<Option<Read<DefaultSecurityGroup, DefaultSecurityGroupOutputs>>>, ProviderError> {
        batched(recorded, |ids| describe_groups(aws, ids), |g, r| Some(observe_default_group(g, r.physical_id))).await
    }

    async fn update(
        &self,
        aws: &Aws,
        current: &Current<'_, DefaultSecurityGroup, DefaultSecurityGroupOutputs>,
        new: &DefaultSecurityGroup,
    ) -> Result<(), ProviderError> {
        sync_rules(aws, current.physical_id, &new.ingress, &new.egress).await?;
        update_tags(aws, current.physical_id, &current.props.tags, &new.tags).await
    }

    /// A default group cannot be deleted ("You can't delete a default security group"): it goes
    /// with its VPC. It is left as it is (closed, tagged), no longer managed.
    async fn delete(
        &self,
        _aws: &Aws,
        _current: &Current<'_, DefaultSecurityGroup, DefaultSecurityGroupOutputs>,
    ) -> Result<(), ProviderError> {
        Ok(())
    }

    async fn find(
        &self,
        aws: &Aws,
        lookup: &Lookup<'_, DefaultSecurityGroup>,
    ) -> Result<Option<String>, ProviderError> {
        let Some(vpc) = lookup.props.as_ref().map(|p| p.vpc.as_str().to_string()) else { return Ok(None) };
        let found = default_group_of(aws, &vpc).await?;
        let address = lookup.address.to_string();
        Ok(found
            .filter(|g| tags_of(g.tags()).get(crate::model::TAG_ADDRESS) == Some(&address))
            .and_then(|g| g.group_id().map(str::to_string)))
    }
}

// ---- Grants: single ingress rules added to another stack's group ----

/// The grant's rule, in the rule form the groups use, with its owner's description.
fn grant_rule(address: &Address, g: &SecurityGroupGrant) -> Rule {
    Rule {
        protocol: g.protocol,
        from_port: g.from_port,
        to_port: g.to_port,
        peer: g.peer.clone(),
        description: format!("{GRANT_DESCRIPTION_PREFIX}{address}"),
    }
}

/// The group a grant opens: the first part of its id (`GROUP/ADDRESS`).
fn grant_group<'r>(r: &Recorded<'r, SecurityGroupGrant>) -> &'r str {
    r.physical_id.split_once('/').map_or(r.physical_id, |(group, _)| group)
}

/// A grant as read from its group's rules: the rule carrying the grant's description.
fn observe_grant(
    group: &aws_sdk_ec2::types::SecurityGroup,
    r: &Recorded<'_, SecurityGroupGrant>,
) -> Option<Read<SecurityGroupGrant, SecurityGroupGrantOutputs>> {
    let description = format!("{GRANT_DESCRIPTION_PREFIX}{}", r.address);
    let rule = group.ip_permissions().iter().flat_map(rules_of).find(|rule| rule.description == description)?;
    let props = SecurityGroupGrant {
        group: Ref::existing(group.group_id().unwrap_or_default()),
        protocol: rule.protocol,
        from_port: rule.from_port,
        to_port: rule.to_port,
        peer: rule.peer,
    };
    Some(Read::new(props, SecurityGroupGrantOutputs { id: r.physical_id.to_string() }))
}

#[async_trait]
impl AwsResource for SecurityGroupGrants {
    type Props = SecurityGroupGrant;
    type Outputs = SecurityGroupGrantOutputs;

    const BATCHED: bool = true;

    async fn create(
        &self,
        aws: &Aws,
        new: &New<'_, SecurityGroupGrant>,
    ) -> Result<Created<SecurityGroupGrantOutputs>, ProviderError> {
        let group = new.props.group.as_str();
        aws.ec2
            .authorize_security_group_ingress()
            .group_id(group)
            .ip_permissions(permission(&grant_rule(new.address, &new.props)))
            .send()
            .await
            .map(|_| ())
            .map_err(api("ec2:AuthorizeSecurityGroupIngress"))
            .or_else(settled("InvalidPermission.Duplicate"))?;
        let id = format!("{group}/{}", new.address);
        Ok(Created { physical_id: id.clone(), outputs: SecurityGroupGrantOutputs { id } })
    }

    async fn read(
        &self,
        aws: &Aws,
        recorded: &Recorded<'_, SecurityGroupGrant>,
    ) -> Result<Option<Read<SecurityGroupGrant, SecurityGroupGrantOutputs>>, ProviderError> {
        read_one(self, aws, recorded).await
    }

    /// One `DescribeSecurityGroups` per 200 of the groups they open.
    async fn read_batch(
        &self,
        aws: &Aws,
        recorded: &[Recorded<'_, SecurityGroupGrant>],
    ) -> Result<Vec<Option<Read<SecurityGroupGrant, SecurityGroupGrantOutputs>>>, ProviderError> {
        let mut unique: Vec<String> = recorded.iter().map(|r| grant_group(r).to_string()).collect();
        unique.sort();
        unique.dedup();
        let mut groups = HashMap::new();
        for chunk in unique.chunks(BATCH) {
            groups.extend(describe_groups(aws, chunk.to_vec()).await?);
        }
        Ok(recorded.iter().map(|r| groups.get(grant_group(r)).and_then(|g| observe_grant(g, r))).collect())
    }

    /// Every attribute of a grant forces a replacement: there is nothing to update.
    async fn update(
        &self,
        _aws: &Aws,
        _current: &Current<'_, SecurityGroupGrant, SecurityGroupGrantOutputs>,
        _new: &SecurityGroupGrant,
    ) -> Result<(), ProviderError> {
        Ok(())
    }

    async fn delete(
        &self,
        aws: &Aws,
        current: &Current<'_, SecurityGroupGrant, SecurityGroupGrantOutputs>,
    ) -> Result<(), ProviderError> {
        aws.ec2
            .revoke_security_group_ingress()
            .group_id(current.props.group.as_str())
            .ip_permissions(permission(&grant_rule(current.address, &current.props)))
            .send()
            .await
            .map_err(api("ec2:RevokeSecurityGroupIngress"))?;
        Ok(())
    }

    /// The grant's id is made of its group and its address; its rule carries the address (the
    /// read then tells whether it exists).
    async fn find(&self, _aws: &Aws, lookup: &Lookup<'_, SecurityGroupGrant>) -> Result<Option<String>, ProviderError> {
        Ok(lookup.props.as_ref().map(|g| format!("{}/{}", g.group.as_str(), lookup.address)))
    }
}
