//! AWS WAF (regional scope): web ACLs, their associations with load balancers, their logging.
//!
//! A web ACL is named by its name, scope and id; its ARN (`…:regional/webacl/NAME/ID`) holds all
//! three and is its physical id. Every change needs the lock token of the latest read, and a change
//! made by someone else in between is refused with `WAFOptimisticLockException`: read again and
//! retry (<https://docs.aws.amazon.com/waf/latest/APIReference/API_UpdateWebACL.html>).

use async_trait::async_trait;
use aws_sdk_wafv2::types::{
    AllowAction, BlockAction, CountAction, DefaultAction, FieldToMatch, LoggingConfiguration,
    ManagedRuleGroupStatement, NoneAction, OverrideAction, ResourceType, Rule, Scope, SingleHeader, Statement, Tag,
    VisibilityConfig, WebAcl as AwsWebAcl,
};

use super::client::Aws;
use super::resource::{AwsResource, Created, Current, Lookup, New, Read, Recorded};
use super::support::{api, malformed, sync_tags, tags};
use crate::model::{Address, Ref};
use crate::provider::ProviderError;
use crate::resources::wafv2::{
    ManagedRuleGroup, WafAction, WafLogging, WafLoggingOutputs, WebAcl, WebAclAssociation, WebAclAssociationOutputs,
    WebAclOutputs,
};
use crate::resources::Tags;

/// `aws.wafv2.web_acl`.
pub(crate) struct WebAcls;
/// `aws.wafv2.web_acl_association`.
pub(crate) struct WebAclAssociations;
/// `aws.wafv2.logging_configuration`.
pub(crate) struct Loggings;

/// How many times a change refused for a stale lock token is read and sent again.
const LOCK_ATTEMPTS: usize = 5;

/// The name and id of a regional web ACL's ARN (`arn:PARTITION:wafv2:REGION:ACCOUNT:regional/webacl/NAME/ID`).
fn name_and_id(arn: &str) -> Option<(&str, &str)> {
    let rest = arn.split_once(":regional/webacl/")?.1;
    rest.split_once('/')
}

fn parts<'a>(address: &Address, arn: &'a str) -> Result<(&'a str, &'a str), ProviderError> {
    name_and_id(arn).ok_or_else(|| malformed(address)(format!("`{arn}` is not the ARN of a regional web ACL")))
}

fn built(address: &Address) -> impl FnOnce(aws_smithy_types::error::operation::BuildError) -> ProviderError + '_ {
    malformed(address)
}

/// CloudWatch metrics and sampled requests under `metric` (a web ACL's or a rule's name; the
/// names allowed are the same: 1 to 128 of `[A-Za-z0-9_-]`).
fn visibility(address: &Address, metric: &str) -> Result<VisibilityConfig, ProviderError> {
    VisibilityConfig::builder()
        .sampled_requests_enabled(true)
        .cloud_watch_metrics_enabled(true)
        .metric_name(metric)
        .build()
        .map_err(built(address))
}

fn default_action(action: WafAction) -> DefaultAction {
    match action {
        WafAction::Allow => DefaultAction::builder().allow(AllowAction::builder().build()).build(),
        WafAction::Block => DefaultAction::builder().block(BlockAction::builder().build()).build(),
    }
}

/// The rules of `groups`, each a managed rule group statement whose priority is its position.
fn rules(address: &Address, groups: &[ManagedRuleGroup]) -> Result<Vec<Rule>, ProviderError> {
    groups
        .iter()
        .enumerate()
        .map(|(priority, group)| {
            let statement = ManagedRuleGroupStatement::builder()
                .vendor_name(&group.vendor)
                .name(&group.name)
                .build()
                .map_err(built(address))?;
            let override_action = if group.count_only {
                OverrideAction::builder().count(CountAction::builder().build()).build()
            } else {
                OverrideAction::builder().none(NoneAction::builder().build()).build()
            };
            Rule::builder()
                .name(&group.name)
                .priority(i32::try_from(priority).unwrap_or(i32::MAX))
                .statement(Statement::builder().managed_rule_group_statement(statement).build())
                .override_action(override_action)
                .visibility_config(visibility(address, &group.name)?)
                .build()
                .map_err(built(address))
        })
        .collect()
}

/// The rule groups of a web ACL as declared: its managed rule group rules in priority order. A
/// rule of another kind (added outside platform) reads as a group named after it with vendor
/// `unsupported`, so that it shows as drift.
fn observed_groups(acl: &AwsWebAcl) -> Vec<ManagedRuleGroup> {
    let mut rules: Vec<&Rule> = acl.rules().iter().collect();
    rules.sort_by_key(|r| r.priority());
    rules
        .into_iter()
        .map(|rule| {
            let count_only = rule.override_action().is_some_and(|o| o.count().is_some());
            match rule.statement().and_then(Statement::managed_rule_group_statement) {
                Some(m) => {
                    ManagedRuleGroup { vendor: m.vendor_name().to_string(), name: m.name().to_string(), count_only }
                }
                None => ManagedRuleGroup { vendor: "unsupported".into(), name: rule.name().to_string(), count_only },
            }
        })
        .collect()
}

fn aws_tags(address: &Address, tags: &Tags) -> Result<Vec<Tag>, ProviderError> {
    tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build().map_err(built(address))).collect()
}

/// The web ACL and the lock token its next change needs; `None` when it is gone.
async fn get(aws: &Aws, address: &Address, arn: &str) -> Result<Option<(AwsWebAcl, String)>, ProviderError> {
    let (name, id) = parts(address, arn)?;
    match aws.wafv2.get_web_acl().name(name).id(id).scope(Scope::Regional).send().await {
        Ok(out) => match (out.web_acl(), out.lock_token()) {
            (Some(acl), Some(token)) => Ok(Some((acl.clone(), token.to_string()))),
            _ => Ok(None),
        },
        Err(err) => unless_gone(Err(api("wafv2:GetWebACL")(err))),
    }
}

async fn tags_of(aws: &Aws, arn: &str) -> Result<Tags, ProviderError> {
    let out =
        aws.wafv2.list_tags_for_resource().resource_arn(arn).send().await.map_err(api("wafv2:ListTagsForResource"))?;
    let list = out.tag_info_for_resource().map(|t| t.tag_list()).unwrap_or_default();
    Ok(tags(list.iter().map(|t| (t.key(), t.value()))))
}

/// How long a call naming a web ACL created moments ago is sent again while AWS WAF does not
/// know it yet: "from a few seconds to a number of minutes"
/// (<https://docs.aws.amazon.com/waf/latest/APIReference/API_AssociateWebACL.html>).
const PROPAGATION: std::time::Duration = std::time::Duration::from_secs(5 * 60);

/// `call`, sent again (every few seconds, for up to [`PROPAGATION`]) while AWS WAF answers that
/// the web ACL it names is not known yet (`WAFUnavailableEntityException`), or that its lock
/// token went stale (a change of its own, such as the log resource policy AWS WAF writes).
async fn propagated<F, Fut>(call: F) -> Result<(), ProviderError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<(), ProviderError>>,
{
    let started = std::time::Instant::now();
    let mut delay = std::time::Duration::from_secs(1);
    loop {
        match call().await {
            Err(err) if (unavailable(&err) || stale_lock(&err)) && started.elapsed() < PROPAGATION => {
                tracing::debug!(error = %err, ?delay, "AWS WAF does not know it yet; again");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(std::time::Duration::from_secs(15));
            }
            other => return other,
        }
    }
}

fn unavailable(err: &ProviderError) -> bool {
    matches!(err, ProviderError::Api { code: Some(code), .. } if code == "WAFUnavailableEntityException")
}

/// A read's result, `None` when AWS WAF answers that what it names does not exist.
fn unless_gone<T>(result: Result<T, ProviderError>) -> Result<Option<T>, ProviderError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(err) if err.is_not_found() => Ok(None),
        Err(err) => Err(err),
    }
}

/// Whether `err` is AWS WAF refusing a change because the lock token is stale.
fn stale_lock(err: &ProviderError) -> bool {
    matches!(err, ProviderError::Api { code: Some(code), .. } if code == "WAFOptimisticLockException")
}

#[async_trait]
impl AwsResource for WebAcls {
    type Props = WebAcl;
    type Outputs = WebAclOutputs;

    async fn create(&self, aws: &Aws, new: &New<'_, WebAcl>) -> Result<Created<WebAclOutputs>, ProviderError> {
        let name = new.name()?;
        let p = &new.props;
        let out = aws
            .wafv2
            .create_web_acl()
            .name(name)
            .scope(Scope::Regional)
            .description(&p.description)
            .default_action(default_action(p.default_action))
            .set_rules(Some(rules(new.address, &p.rule_groups)?))
            .visibility_config(visibility(new.address, name)?)
            .set_tags(Some(aws_tags(new.address, &p.tags)?).filter(|t| !t.is_empty()))
            .send()
            .await
            .map_err(api("wafv2:CreateWebACL"))?;
        let summary = out.summary().ok_or_else(|| super::support::missing("wafv2:CreateWebACL", "no summary"))?;
        let arn = summary.arn().unwrap_or_default().to_string();
        let id = summary.id().unwrap_or_default().to_string();
        aws.remember_created([arn.as_str(), id.as_str()]);
        Ok(Created { physical_id: arn.clone(), outputs: WebAclOutputs { arn, id } })
    }

    async fn read(
        &self,
        aws: &Aws,
        recorded: &Recorded<'_, WebAcl>,
    ) -> Result<Option<Read<WebAcl, WebAclOutputs>>, ProviderError> {
        let Some((acl, _)) = get(aws, recorded.address, recorded.physical_id).await? else { return Ok(None) };
        let default_action =
            if acl.default_action().is_some_and(|a| a.block().is_some()) { WafAction::Block } else { WafAction::Allow };
        let props = WebAcl {
            description: acl.description().unwrap_or_default().to_string(),
            default_action,
            rule_groups: observed_groups(&acl),
            tags: tags_of(aws, acl.arn()).await?,
        };
        let outputs = WebAclOutputs { arn: acl.arn().to_string(), id: acl.id().to_string() };
        Ok(Some(Read::named(props, acl.name(), outputs)))
    }

    /// UpdateWebACL replaces the whole definition (rules, default action, description,
    /// visibility), with the lock token of a read just before.
    async fn update(
        &self,
        aws: &Aws,
        current: &Current<'_, WebAcl, WebAclOutputs>,
        new: &WebAcl,
    ) -> Result<(), ProviderError> {
        let address = current.address;
        let (name, id) = parts(address, current.physical_id)?;
        let definition_changed = current.props.description != new.description
            || current.props.default_action != new.default_action
            || current.props.rule_groups != new.rule_groups;
        for attempt in 1..=LOCK_ATTEMPTS {
            if !definition_changed {
                break;
            }
            let Some((_, token)) = get(aws, address, current.physical_id).await? else {
                return Err(ProviderError::Api {
                    operation: "wafv2:GetWebACL",
                    code: Some("WAFNonexistentItemException".into()),
                    message: format!("the web ACL {} no longer exists", current.physical_id),
                });
            };
            let sent = aws
                .wafv2
                .update_web_acl()
                .name(name)
                .id(id)
                .scope(Scope::Regional)
                .lock_token(token)
                .description(&new.description)
                .default_action(default_action(new.default_action))
                .set_rules(Some(rules(address, &new.rule_groups)?))
                .visibility_config(visibility(address, name)?)
                .send()
                .await
                .map_err(api("wafv2:UpdateWebACL"));
            match sent {
                // Changed since the read: read again and send the whole definition again.
                Err(err) if stale_lock(&err) && attempt < LOCK_ATTEMPTS => continue,
                Err(err) => return Err(err),
                Ok(_) => break,
            }
        }
        let arn = current.physical_id;
        sync_tags(
            &current.props.tags,
            &new.tags,
            |remove| async move {
                aws.wafv2
                    .untag_resource()
                    .resource_arn(arn)
                    .set_tag_keys(Some(remove))
                    .send()
                    .await
                    .map_err(api("wafv2:UntagResource"))?;
                Ok(())
            },
            |set| async move {
                let set: Tags = set.into_iter().collect();
                aws.wafv2
                    .tag_resource()
                    .resource_arn(arn)
                    .set_tags(Some(aws_tags(address, &set)?))
                    .send()
                    .await
                    .map_err(api("wafv2:TagResource"))?;
                Ok(())
            },
        )
        .await
    }

    /// A web ACL still in front of a resource is refused (`WAFAssociatedItemException`: its
    /// associations are removed first, and AWS takes a moment to see them gone), which the
    /// provider retries as "in use".
    async fn delete(&self, aws: &Aws, current: &Current<'_, WebAcl, WebAclOutputs>) -> Result<(), ProviderError> {
        let (name, id) = parts(current.address, current.physical_id)?;
        for attempt in 1.. {
            let Some((_, token)) = get(aws, current.address, current.physical_id).await? else { return Ok(()) };
            let sent = aws
                .wafv2
                .delete_web_acl()
                .name(name)
                .id(id)
                .scope(Scope::Regional)
                .lock_token(token)
                .send()
                .await
                .map_err(api("wafv2:DeleteWebACL"));
            match sent {
                Err(err) if stale_lock(&err) && attempt < LOCK_ATTEMPTS => continue,
                Err(err) => return Err(err),
                Ok(_) => return Ok(()),
            }
        }
        Ok(())
    }

    /// The load balancers it is still in front of (another stack's association, or one made by
    /// hand), for the error of a delete refused until its deadline.
    async fn holders(
        &self,
        aws: &Aws,
        current: &Current<'_, WebAcl, WebAclOutputs>,
    ) -> Result<Vec<String>, ProviderError> {
        let out = aws
            .wafv2
            .list_resources_for_web_acl()
            .web_acl_arn(current.physical_id)
            .resource_type(ResourceType::ApplicationLoadBalancer)
            .send()
            .await
            .map_err(api("wafv2:ListResourcesForWebACL"))?;
        Ok(out.resource_arns().to_vec())
    }

    /// By name, among the region's web ACLs.
    async fn find(&self, aws: &Aws, lookup: &Lookup<'_, WebAcl>) -> Result<Option<String>, ProviderError> {
        let Some(name) = lookup.name else { return Ok(None) };
        let mut marker: Option<String> = None;
        loop {
            let out = aws
                .wafv2
                .list_web_acls()
                .scope(Scope::Regional)
                .set_next_marker(marker.clone())
                .limit(100)
                .send()
                .await
                .map_err(api("wafv2:ListWebACLs"))?;
            if let Some(found) = out.web_acls().iter().find(|a| a.name() == Some(name)) {
                return Ok(found.arn().map(str::to_string));
            }
            match out.next_marker() {
                Some(next) if !out.web_acls().is_empty() => marker = Some(next.to_string()),
                _ => return Ok(None),
            }
        }
    }
}

/// The ARN of the web ACL in front of `resource`; `None` when there is none (or the resource is
/// gone).
async fn web_acl_for(aws: &Aws, resource: &str) -> Result<Option<String>, ProviderError> {
    match aws.wafv2.get_web_acl_for_resource().resource_arn(resource).send().await {
        Ok(out) => Ok(out.web_acl().map(|a| a.arn().to_string())),
        Err(err) => unless_gone(Err(api("wafv2:GetWebACLForResource")(err))),
    }
}

/// AssociateWebACL: the web ACL in front of `resource`, replacing any other.
async fn associate(aws: &Aws, web_acl: &str, resource: &str) -> Result<(), ProviderError> {
    propagated(|| async {
        aws.wafv2
            .associate_web_acl()
            .web_acl_arn(web_acl)
            .resource_arn(resource)
            .send()
            .await
            .map_err(api("wafv2:AssociateWebACL"))?;
        Ok(())
    })
    .await
}

#[async_trait]
impl AwsResource for WebAclAssociations {
    type Props = WebAclAssociation;
    type Outputs = WebAclAssociationOutputs;

    /// AssociateWebACL; right after the web ACL's create AWS WAF may not know it yet
    /// (`WAFUnavailableEntityException`, "wait a few minutes"): sent again meanwhile.
    async fn create(
        &self,
        aws: &Aws,
        new: &New<'_, WebAclAssociation>,
    ) -> Result<Created<WebAclAssociationOutputs>, ProviderError> {
        let resource = new.props.resource.as_str();
        associate(aws, new.props.web_acl.as_str(), resource).await?;
        Ok(Created {
            physical_id: resource.to_string(),
            outputs: WebAclAssociationOutputs { resource_arn: resource.to_string() },
        })
    }

    async fn read(
        &self,
        aws: &Aws,
        recorded: &Recorded<'_, WebAclAssociation>,
    ) -> Result<Option<Read<WebAclAssociation, WebAclAssociationOutputs>>, ProviderError> {
        let Some(web_acl) = web_acl_for(aws, recorded.physical_id).await? else { return Ok(None) };
        let props =
            WebAclAssociation { web_acl: Ref::existing(web_acl), resource: Ref::existing(recorded.physical_id) };
        Ok(Some(Read::new(props, WebAclAssociationOutputs { resource_arn: recorded.physical_id.to_string() })))
    }

    /// Another web ACL: AssociateWebACL replaces the one in front of the resource, with no moment
    /// without one (a resource has one web ACL:
    /// <https://docs.aws.amazon.com/waf/latest/developerguide/web-acl-associating-aws-resource.html>).
    async fn update(
        &self,
        aws: &Aws,
        current: &Current<'_, WebAclAssociation, WebAclAssociationOutputs>,
        new: &WebAclAssociation,
    ) -> Result<(), ProviderError> {
        if current.props.web_acl.as_str() != new.web_acl.as_str() {
            associate(aws, new.web_acl.as_str(), current.physical_id).await?;
        }
        Ok(())
    }

    async fn delete(
        &self,
        aws: &Aws,
        current: &Current<'_, WebAclAssociation, WebAclAssociationOutputs>,
    ) -> Result<(), ProviderError> {
        aws.wafv2
            .disassociate_web_acl()
            .resource_arn(current.physical_id)
            .send()
            .await
            .map_err(api("wafv2:DisassociateWebACL"))?;
        Ok(())
    }

    /// The resource, when the web ACL it was to get is in front of it.
    async fn find(&self, aws: &Aws, lookup: &Lookup<'_, WebAclAssociation>) -> Result<Option<String>, ProviderError> {
        let Some(p) = &lookup.props else { return Ok(None) };
        let found = web_acl_for(aws, p.resource.as_str()).await?;
        Ok((found.as_deref() == Some(p.web_acl.as_str())).then(|| p.resource.as_str().to_string()))
    }
}

fn logging_configuration(address: &Address, p: &WafLogging) -> Result<LoggingConfiguration, ProviderError> {
    let redacted = p
        .redacted_headers
        .iter()
        .map(|h| {
            let header = SingleHeader::builder().name(h).build().map_err(built(address))?;
            Ok(FieldToMatch::builder().single_header(header).build())
        })
        .collect::<Result<Vec<_>, ProviderError>>()?;
    LoggingConfiguration::builder()
        .resource_arn(p.web_acl.as_str())
        .log_destination_configs(p.log_group.as_str())
        .set_redacted_fields(Some(redacted).filter(|r| !r.is_empty()))
        .build()
        .map_err(built(address))
}

/// PutLoggingConfiguration: creates or replaces the web ACL's logging. With a CloudWatch Logs
/// destination, AWS WAF adds the log group to the account's log resource policy for
/// `delivery.logs.amazonaws.com` with the caller's permissions
/// (<https://docs.aws.amazon.com/waf/latest/developerguide/logging-cw-logs.html>).
async fn put_logging(aws: &Aws, address: &Address, p: &WafLogging) -> Result<(), ProviderError> {
    let configuration = logging_configuration(address, p)?;
    propagated(|| async {
        aws.wafv2
            .put_logging_configuration()
            .logging_configuration(configuration.clone())
            .send()
            .await
            .map_err(api("wafv2:PutLoggingConfiguration"))?;
        Ok(())
    })
    .await
}

/// A log destination as sent: a log group's ARN without the `:*` some APIs add.
fn destination(arn: &str) -> String {
    arn.trim_end_matches(":*").to_string()
}

#[async_trait]
impl AwsResource for Loggings {
    type Props = WafLogging;
    type Outputs = WafLoggingOutputs;

    async fn create(&self, aws: &Aws, new: &New<'_, WafLogging>) -> Result<Created<WafLoggingOutputs>, ProviderError> {
        put_logging(aws, new.address, &new.props).await?;
        let arn = new.props.web_acl.as_str().to_string();
        Ok(Created { physical_id: arn.clone(), outputs: WafLoggingOutputs { web_acl_arn: arn } })
    }

    async fn read(
        &self,
        aws: &Aws,
        recorded: &Recorded<'_, WafLogging>,
    ) -> Result<Option<Read<WafLogging, WafLoggingOutputs>>, ProviderError> {
        let sent = aws.wafv2.get_logging_configuration().resource_arn(recorded.physical_id).send().await;
        let Some(out) = unless_gone(sent.map_err(api("wafv2:GetLoggingConfiguration")))? else { return Ok(None) };
        let Some(c) = out.logging_configuration() else { return Ok(None) };
        let mut redacted_headers: Vec<String> = c
            .redacted_fields()
            .iter()
            .map(|f| match f.single_header() {
                Some(h) => h.name().to_ascii_lowercase(),
                // A field of another kind (a query argument, the URI...) redacted outside platform.
                None => format!("{f:?}"),
            })
            .collect();
        redacted_headers.sort();
        let props = WafLogging {
            web_acl: Ref::existing(c.resource_arn()),
            log_group: Ref::existing(c.log_destination_configs().first().map(|d| destination(d)).unwrap_or_default()),
            redacted_headers,
        };
        Ok(Some(Read::new(props, WafLoggingOutputs { web_acl_arn: recorded.physical_id.to_string() })))
    }

    async fn update(
        &self,
        aws: &Aws,
        current: &Current<'_, WafLogging, WafLoggingOutputs>,
        new: &WafLogging,
    ) -> Result<(), ProviderError> {
        put_logging(aws, current.address, new).await
    }

    async fn delete(
        &self,
        aws: &Aws,
        current: &Current<'_, WafLogging, WafLoggingOutputs>,
    ) -> Result<(), ProviderError> {
        aws.wafv2
            .delete_logging_configuration()
            .resource_arn(current.physical_id)
            .send()
            .await
            .map_err(api("wafv2:DeleteLoggingConfiguration"))?;
        Ok(())
    }

    /// The web ACL's, when it logs where this one was to.
    async fn find(&self, aws: &Aws, lookup: &Lookup<'_, WafLogging>) -> Result<Option<String>, ProviderError> {
        let Some(p) = &lookup.props else { return Ok(None) };
        match aws.wafv2.get_logging_configuration().resource_arn(p.web_acl.as_str()).send().await {
            Ok(out) => {
                let logs_there = out.logging_configuration().is_some_and(|c| {
                    c.log_destination_configs().iter().any(|d| destination(d) == p.log_group.as_str())
                });
                Ok(logs_there.then(|| p.web_acl.as_str().to_string()))
            }
            Err(err) => unless_gone(Err(api("wafv2:GetLoggingConfiguration")(err))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_web_acls_name_and_id_are_read_from_its_arn() {
        let arn = "arn:aws:wafv2:eu-west-1:123456789012:regional/webacl/prod-foundation-web-acl/a1b2-c3";
        assert_eq!(name_and_id(arn), Some(("prod-foundation-web-acl", "a1b2-c3")));
        assert_eq!(name_and_id("arn:aws:wafv2:us-east-1:1:global/webacl/x/y"), None, "CloudFront's scope");
    }

    #[test]
    fn rule_groups_are_rules_in_order_and_read_back_as_declared() {
        let address = Address::parse("foundation.web-acl").unwrap();
        let mut groups: Vec<ManagedRuleGroup> =
            crate::resources::wafv2::BASELINE_RULE_GROUPS.iter().map(|g| ManagedRuleGroup::aws(g)).collect();
        groups[2].count_only = true;
        let mut sent = rules(&address, &groups).unwrap();
        assert_eq!(sent.iter().map(Rule::priority).collect::<Vec<_>>(), [0, 1, 2]);
        assert!(sent[0].override_action().unwrap().none().is_some());
        assert!(sent[2].override_action().unwrap().count().is_some());
        sent.reverse();
        let acl = AwsWebAcl::builder()
            .name("n")
            .id("i")
            .arn("a")
            .default_action(default_action(WafAction::Allow))
            .set_rules(Some(sent))
            .visibility_config(visibility(&address, "n").unwrap())
            .build()
            .unwrap();
        assert_eq!(observed_groups(&acl), groups, "AWS may list the rules in any order: priorities say which");
    }
}
