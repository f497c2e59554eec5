//! Application load balancers, target groups and listeners. Physical ids are ARNs.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::{json, Map, Value};

use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, Certificate, LoadBalancerAttribute, LoadBalancerSchemeEnum, LoadBalancerTypeEnum, Matcher,
    ProtocolEnum, RedirectActionConfig, RedirectActionStatusCodeEnum, Tag, TargetGroupAttribute, TargetTypeEnum,
};

use super::{api, incomplete, outputs, props, sync_tags, tag_map, tags_of, AwsProvider};
use crate::provider::{Applied, Desired, Existing, Observed, ProviderError};

fn elb_tags(props: &Value) -> Vec<Tag> {
    tags_of(props).into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()
}

async fn read_tags(p: &AwsProvider, arn: &str) -> Result<Value, ProviderError> {
    let out =
        p.elb.describe_tags().resource_arns(arn).send().await.map_err(api("elasticloadbalancing:DescribeTags"))?;
    let tags = out.tag_descriptions().first().map(|d| d.tags().to_vec()).unwrap_or_default();
    Ok(tag_map(tags.iter().map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default()))))
}

/// The tags of many resources, 20 ARNs a `DescribeTags` (the API's limit).
async fn read_tags_many(p: &AwsProvider, arns: &[String]) -> Result<HashMap<String, Value>, ProviderError> {
    let mut found = HashMap::new();
    for chunk in arns.chunks(20) {
        let out = p
            .elb
            .describe_tags()
            .set_resource_arns(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(api("elasticloadbalancing:DescribeTags"))?;
        for d in out.tag_descriptions() {
            let tags = tag_map(d.tags().iter().map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default())));
            found.insert(d.resource_arn().unwrap_or_default().to_string(), tags);
        }
    }
    Ok(found)
}

fn arns(existing: &[Existing]) -> Vec<String> {
    existing.iter().map(|e| e.physical_id.clone()).collect()
}

async fn update_tags(p: &AwsProvider, e: &Existing, desired: &Value) -> Result<(), ProviderError> {
    let arn = &e.physical_id;
    sync_tags(
        &e.props,
        desired,
        |remove| async move {
            p.elb
                .remove_tags()
                .resource_arns(arn)
                .set_tag_keys(Some(remove))
                .send()
                .await
                .map_err(api("elasticloadbalancing:RemoveTags"))?;
            Ok(())
        },
        |set| async move {
            let tags = set.into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect();
            p.elb
                .add_tags()
                .resource_arns(arn)
                .set_tags(Some(tags))
                .send()
                .await
                .map_err(api("elasticloadbalancing:AddTags"))?;
            Ok(())
        },
    )
    .await
}

fn unchanged(e: &Existing) -> Applied {
    Applied { physical_id: e.physical_id.clone(), outputs: e.outputs.clone() }
}

// ---- Load balancer ----

#[derive(Deserialize)]
struct LoadBalancerProps {
    name: String,
    internal: bool,
    subnets: Vec<String>,
    security_groups: Vec<String>,
    drop_invalid_header_fields: bool,
    deletion_protection: bool,
}

const DROP_INVALID: &str = "routing.http.drop_invalid_header_fields.enabled";
const DELETION_PROTECTION: &str = "deletion_protection.enabled";

async fn set_attributes(p: &AwsProvider, arn: &str, lb: &LoadBalancerProps) -> Result<(), ProviderError> {
    let attribute = |k: &str, v: bool| LoadBalancerAttribute::builder().key(k).value(v.to_string()).build();
    p.elb
        .modify_load_balancer_attributes()
        .load_balancer_arn(arn)
        .attributes(attribute(DROP_INVALID, lb.drop_invalid_header_fields))
        .attributes(attribute(DELETION_PROTECTION, lb.deletion_protection))
        .send()
        .await
        .map_err(api("elasticloadbalancing:ModifyLoadBalancerAttributes"))?;
    Ok(())
}

fn lb_outputs(lb: &aws_sdk_elasticloadbalancingv2::types::LoadBalancer) -> std::collections::BTreeMap<String, Value> {
    outputs([
        ("arn", lb.load_balancer_arn().unwrap_or_default()),
        ("dns_name", lb.dns_name().unwrap_or_default()),
        ("zone_id", lb.canonical_hosted_zone_id().unwrap_or_default()),
    ])
}

pub(super) async fn create_load_balancer(p: &AwsProvider, d: &Desired) -> Result<Applied, ProviderError> {
    let lb: LoadBalancerProps = props(&d.address, &d.props)?;
    let scheme = if lb.internal { LoadBalancerSchemeEnum::Internal } else { LoadBalancerSchemeEnum::InternetFacing };
    let out = p
        .elb
        .create_load_balancer()
        .name(&lb.name)
        .r#type(LoadBalancerTypeEnum::Application)
        .scheme(scheme)
        .set_subnets(Some(lb.subnets.clone()))
        .set_security_groups(Some(lb.security_groups.clone()))
        .set_tags(Some(elb_tags(&d.props)))
        .send()
        .await
        .map_err(api("elasticloadbalancing:CreateLoadBalancer"))?;
    let created = out.load_balancers().first().ok_or_else(|| ProviderError::OperationFailed {
        what: "elasticloadbalancing:CreateLoadBalancer".into(),
        message: "the response holds no load balancer".into(),
    })?;
    let arn = created.load_balancer_arn().unwrap_or_default().to_string();
    let outs = lb_outputs(created);
    set_attributes(p, &arn, &lb).await.map_err(incomplete(&arn, &outs))?;
    Ok(Applied { physical_id: arn, outputs: outs })
}

pub(super) async fn read_load_balancer(p: &AwsProvider, e: &Existing) -> Result<Option<Observed>, ProviderError> {
    let out = p
        .elb
        .describe_load_balancers()
        .load_balancer_arns(&e.physical_id)
        .send()
        .await
        .map_err(api("elasticloadbalancing:DescribeLoadBalancers"))?;
    let Some(lb) = out.load_balancers().first() else { return Ok(None) };
    let tags = read_tags(p, &e.physical_id).await?;
    observe_load_balancer(p, lb, &e.physical_id, tags).await.map(Some)
}

/// A load balancer as read; its attributes take a call of their own (AWS has no batch form).
async fn observe_load_balancer(
    p: &AwsProvider,
    lb: &aws_sdk_elasticloadbalancingv2::types::LoadBalancer,
    arn: &str,
    tags: Value,
) -> Result<Observed, ProviderError> {
    let attributes = p
        .elb
        .describe_load_balancer_attributes()
        .load_balancer_arn(arn)
        .send()
        .await
        .map_err(api("elasticloadbalancing:DescribeLoadBalancerAttributes"))?;
    let attribute =
        |k: &str| attributes.attributes().iter().find(|a| a.key() == Some(k)).and_then(|a| a.value()) == Some("true");
    let mut props = Map::new();
    props.insert("name".into(), json!(lb.load_balancer_name()));
    props.insert("internal".into(), json!(lb.scheme() == Some(&LoadBalancerSchemeEnum::Internal)));
    props.insert(
        "subnets".into(),
        json!(lb.availability_zones().iter().filter_map(|z| z.subnet_id()).collect::<Vec<_>>()),
    );
    props.insert("security_groups".into(), json!(lb.security_groups()));
    props.insert("drop_invalid_header_fields".into(), json!(attribute(DROP_INVALID)));
    props.insert("deletion_protection".into(), json!(attribute(DELETION_PROTECTION)));
    props.insert("tags".into(), tags);
    Ok(Observed { props, outputs: lb_outputs(lb) })
}

/// Reads many load balancers: 20 ARNs a `DescribeLoadBalancers` and a `DescribeTags`. AWS fails
/// the whole call when one ARN is gone; the engine then reads them one by one.
pub(super) async fn read_load_balancers(
    p: &AwsProvider,
    existing: &[Existing],
) -> Result<Vec<Option<Observed>>, ProviderError> {
    let described = describe_batch(p, existing, |chunk| async move {
        let out = p
            .elb
            .describe_load_balancers()
            .set_load_balancer_arns(Some(chunk))
            .send()
            .await
            .map_err(api("elasticloadbalancing:DescribeLoadBalancers"))?;
        Ok(out
            .load_balancers()
            .iter()
            .map(|lb| (lb.load_balancer_arn().unwrap_or_default().to_string(), lb.clone()))
            .collect())
    })
    .await?;
    observe_each(existing, described, |lb, arn, tags| async move { observe_load_balancer(p, &lb, &arn, tags).await })
        .await
}

/// Describes `existing` by ARN, 20 a call (the most the `Describe*` calls take) through
/// `describe`, which answers each item found with its ARN, and their tags with `DescribeTags`: for
/// each resource, its description and tags, or `None` when it is gone.
async fn describe_batch<T, F, Fut>(
    p: &AwsProvider,
    existing: &[Existing],
    describe: F,
) -> Result<Vec<Option<(T, Value)>>, ProviderError>
where
    F: Fn(Vec<String>) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<(String, T)>, ProviderError>>,
{
    let all = arns(existing);
    let mut found = HashMap::new();
    for chunk in all.chunks(20) {
        found.extend(describe(chunk.to_vec()).await?);
    }
    let mut tags = read_tags_many(p, &all).await?;
    Ok(existing
        .iter()
        .map(|e| {
            let item = found.remove(&e.physical_id)?;
            let tags = tags.remove(&e.physical_id).unwrap_or_else(|| tag_map(Vec::<(&str, &str)>::new()));
            Some((item, tags))
        })
        .collect())
}

/// Turns what [`describe_batch`] found into observations, one resource after the other (their
/// attributes take a call each).
async fn observe_each<T, F, Fut>(
    existing: &[Existing],
    described: Vec<Option<(T, Value)>>,
    observe: F,
) -> Result<Vec<Option<Observed>>, ProviderError>
where
    F: Fn(T, String, Value) -> Fut,
    Fut: std::future::Future<Output = Result<Observed, ProviderError>>,
{
    let mut out = Vec::with_capacity(existing.len());
    for (e, described) in existing.iter().zip(described) {
        out.push(match described {
            Some((item, tags)) => Some(observe(item, e.physical_id.clone(), tags).await?),
            None => None,
        });
    }
    Ok(out)
}

pub(super) async fn update_load_balancer(
    p: &AwsProvider,
    e: &Existing,
    desired: &Value,
) -> Result<Applied, ProviderError> {
    let old: LoadBalancerProps = props(&e.address, &e.props)?;
    let new: LoadBalancerProps = props(&e.address, desired)?;
    let sorted = |v: &[String]| {
        let mut v = v.to_vec();
        v.sort();
        v
    };
    if sorted(&old.subnets) != sorted(&new.subnets) {
        p.elb
            .set_subnets()
            .load_balancer_arn(&e.physical_id)
            .set_subnets(Some(new.subnets.clone()))
            .send()
            .await
            .map_err(api("elasticloadbalancing:SetSubnets"))?;
    }
    if sorted(&old.security_groups) != sorted(&new.security_groups) {
        p.elb
            .set_security_groups()
            .load_balancer_arn(&e.physical_id)
            .set_security_groups(Some(new.security_groups.clone()))
            .send()
            .await
            .map_err(api("elasticloadbalancing:SetSecurityGroups"))?;
    }
    if (old.drop_invalid_header_fields, old.deletion_protection)
        != (new.drop_invalid_header_fields, new.deletion_protection)
    {
        set_attributes(p, &e.physical_id, &new).await?;
    }
    update_tags(p, e, desired).await?;
    Ok(unchanged(e))
}

pub(super) async fn delete_load_balancer(p: &AwsProvider, e: &Existing) -> Result<(), ProviderError> {
    let lb: LoadBalancerProps = props(&e.address, &e.props)?;
    if lb.deletion_protection && e.delete_allowed {
        // The user named this address explicitly: lift AWS's own deletion protection first.
        set_attributes(p, &e.physical_id, &LoadBalancerProps { deletion_protection: false, ..lb }).await?;
    }
    p.elb
        .delete_load_balancer()
        .load_balancer_arn(&e.physical_id)
        .send()
        .await
        .map_err(api("elasticloadbalancing:DeleteLoadBalancer"))?;
    Ok(())
}

// ---- Target group ----

#[derive(Deserialize)]
struct TargetGroupProps {
    name: String,
    vpc: String,
    port: i32,
    protocol: String,
    target_type: String,
    health_check: HealthCheckProps,
    deregistration_delay_seconds: u32,
}

#[derive(Deserialize, PartialEq)]
struct HealthCheckProps {
    path: String,
    port: u16,
    interval_seconds: i32,
    timeout_seconds: i32,
    healthy_threshold: i32,
    unhealthy_threshold: i32,
    matcher: String,
}

const DEREGISTRATION_DELAY: &str = "deregistration_delay.timeout_seconds";

async fn set_deregistration_delay(p: &AwsProvider, arn: &str, seconds: u32) -> Result<(), ProviderError> {
    p.elb
        .modify_target_group_attributes()
        .target_group_arn(arn)
        .attributes(TargetGroupAttribute::builder().key(DEREGISTRATION_DELAY).value(seconds.to_string()).build())
        .send()
        .await
        .map_err(api("elasticloadbalancing:ModifyTargetGroupAttributes"))?;
    Ok(())
}

pub(super) async fn create_target_group(p: &AwsProvider, d: &Desired) -> Result<Applied, ProviderError> {
    let tg: TargetGroupProps = props(&d.address, &d.props)?;
    let hc = &tg.health_check;
    let out = p
        .elb
        .create_target_group()
        .name(&tg.name)
        .vpc_id(&tg.vpc)
        .port(tg.port)
        .protocol(ProtocolEnum::from(tg.protocol.as_str()))
        .target_type(TargetTypeEnum::from(tg.target_type.as_str()))
        .health_check_enabled(true)
        .health_check_protocol(ProtocolEnum::Http)
        .health_check_path(&hc.path)
        .health_check_port(hc.port.to_string())
        .health_check_interval_seconds(hc.interval_seconds)
        .health_check_timeout_seconds(hc.timeout_seconds)
        .healthy_threshold_count(hc.healthy_threshold)
        .unhealthy_threshold_count(hc.unhealthy_threshold)
        .matcher(Matcher::builder().http_code(&hc.matcher).build())
        .set_tags(Some(elb_tags(&d.props)))
        .send()
        .await
        .map_err(api("elasticloadbalancing:CreateTargetGroup"))?;
    let arn = out.target_groups().first().and_then(|t| t.target_group_arn()).unwrap_or_default().to_string();
    let outs = outputs([("arn", arn.as_str()), ("name", tg.name.as_str())]);
    set_deregistration_delay(p, &arn, tg.deregistration_delay_seconds).await.map_err(incomplete(&arn, &outs))?;
    Ok(Applied { physical_id: arn, outputs: outs })
}

pub(super) async fn read_target_group(p: &AwsProvider, e: &Existing) -> Result<Option<Observed>, ProviderError> {
    let out = p
        .elb
        .describe_target_groups()
        .target_group_arns(&e.physical_id)
        .send()
        .await
        .map_err(api("elasticloadbalancing:DescribeTargetGroups"))?;
    let Some(tg) = out.target_groups().first() else { return Ok(None) };
    let tags = read_tags(p, &e.physical_id).await?;
    observe_target_group(p, tg, &e.physical_id, tags).await.map(Some)
}

/// Reads many target groups: 20 ARNs a `DescribeTargetGroups` and a `DescribeTags` (attributes
/// take a call each). AWS fails the whole call when one ARN is gone; the engine then reads them
/// one by one.
pub(super) async fn read_target_groups(
    p: &AwsProvider,
    existing: &[Existing],
) -> Result<Vec<Option<Observed>>, ProviderError> {
    let described = describe_batch(p, existing, |chunk| async move {
        let out = p
            .elb
            .describe_target_groups()
            .set_target_group_arns(Some(chunk))
            .send()
            .await
            .map_err(api("elasticloadbalancing:DescribeTargetGroups"))?;
        Ok(out
            .target_groups()
            .iter()
            .map(|tg| (tg.target_group_arn().unwrap_or_default().to_string(), tg.clone()))
            .collect())
    })
    .await?;
    observe_each(existing, described, |tg, arn, tags| async move { observe_target_group(p, &tg, &arn, tags).await })
        .await
}

async fn observe_target_group(
    p: &AwsProvider,
    tg: &aws_sdk_elasticloadbalancingv2::types::TargetGroup,
    arn: &str,
    tags: Value,
) -> Result<Observed, ProviderError> {
    let attributes = p
        .elb
        .describe_target_group_attributes()
        .target_group_arn(arn)
        .send()
        .await
        .map_err(api("elasticloadbalancing:DescribeTargetGroupAttributes"))?;
    let delay = attributes
        .attributes()
        .iter()
        .find(|a| a.key() == Some(DEREGISTRATION_DELAY))
        .and_then(|a| a.value())
        .and_then(|v| v.parse::<u32>().ok());
    let mut props = Map::new();
    props.insert("name".into(), json!(tg.target_group_name()));
    props.insert("vpc".into(), json!(tg.vpc_id()));
    props.insert("port".into(), json!(tg.port()));
    props.insert("protocol".into(), json!(tg.protocol().map(|p| p.as_str())));
    props.insert("target_type".into(), json!(tg.target_type().map(|t| t.as_str())));
    props.insert(
        "health_check".into(),
        json!({
            "path": tg.health_check_path(),
            "port": tg.health_check_port().and_then(|p| p.parse::<u16>().ok()),
            "interval_seconds": tg.health_check_interval_seconds(),
            "timeout_seconds": tg.health_check_timeout_seconds(),
            "healthy_threshold": tg.healthy_threshold_count(),
            "unhealthy_threshold": tg.unhealthy_threshold_count(),
            "matcher": tg.matcher().and_then(|m| m.http_code()),
        }),
    );
    if let Some(delay) = delay {
        props.insert("deregistration_delay_seconds".into(), json!(delay));
    }
    props.insert("tags".into(), tags);
    let name = tg.target_group_name().unwrap_or_default();
    Ok(Observed { props, outputs: outputs([("arn", arn), ("name", name)]) })
}

pub(super) async fn update_target_group(
    p: &AwsProvider,
    e: &Existing,
    desired: &Value,
) -> Result<Applied, ProviderError> {
    let old: TargetGroupProps = props(&e.address, &e.props)?;
    let new: TargetGroupProps = props(&e.address, desired)?;
    if old.health_check != new.health_check {
        let hc = &new.health_check;
        p.elb
            .modify_target_group()
            .target_group_arn(&e.physical_id)
            .health_check_path(&hc.path)
            .health_check_port(hc.port.to_string())
            .health_check_interval_seconds(hc.interval_seconds)
            .health_check_timeout_seconds(hc.timeout_seconds)
            .healthy_threshold_count(hc.healthy_threshold)
            .unhealthy_threshold_count(hc.unhealthy_threshold)
            .matcher(Matcher::builder().http_code(&hc.matcher).build())
            .send()
            .await
            .map_err(api("elasticloadbalancing:ModifyTargetGroup"))?;
    }
    if old.deregistration_delay_seconds != new.deregistration_delay_seconds {
        set_deregistration_delay(p, &e.physical_id, new.deregistration_delay_seconds).await?;
    }
    update_tags(p, e, desired).await?;
    Ok(unchanged(e))
}

pub(super) async fn delete_target_group(p: &AwsProvider, e: &Existing) -> Result<(), ProviderError> {
    p.elb
        .delete_target_group()
        .target_group_arn(&e.physical_id)
        .send()
        .await
        .map_err(api("elasticloadbalancing:DeleteTargetGroup"))?;
    Ok(())
}

// ---- Listener ----

#[derive(Deserialize)]
struct ListenerProps {
    load_balancer: String,
    port: i32,
    protocol: String,
    certificate_arn: Option<String>,
    ssl_policy: Option<String>,
    action: Value,
}

fn action(declared: &Value) -> Action {
    match declared.get("forward").and_then(|f| f.get("target_group")).and_then(Value::as_str) {
        Some(target_group) => Action::builder().r#type(ActionTypeEnum::Forward).target_group_arn(target_group).build(),
        None => Action::builder()
            .r#type(ActionTypeEnum::Redirect)
            .redirect_config(
                RedirectActionConfig::builder()
                    .protocol("HTTPS")
                    .port("443")
                    .status_code(RedirectActionStatusCodeEnum::Http301)
                    .build(),
            )
            .build(),
    }
}

fn declared_action(a: &Action) -> Value {
    match a.r#type() {
        Some(ActionTypeEnum::Forward) => json!({ "forward": { "target_group": a.target_group_arn() } }),
        Some(ActionTypeEnum::Redirect)
            if a.redirect_config().is_some_and(|r| r.protocol() == Some("HTTPS") && r.port() == Some("443")) =>
        {
            json!("redirect_to_https")
        }
        other => json!({ "unsupported": other.map(|t| t.as_str()) }),
    }
}

pub(super) async fn create_listener(p: &AwsProvider, d: &Desired) -> Result<Applied, ProviderError> {
    let l: ListenerProps = props(&d.address, &d.props)?;
    let out = p
        .elb
        .create_listener()
        .load_balancer_arn(&l.load_balancer)
        .port(l.port)
        .protocol(ProtocolEnum::from(l.protocol.as_str()))
        .set_ssl_policy(l.ssl_policy.clone())
        .set_certificates(l.certificate_arn.as_ref().map(|c| vec![Certificate::builder().certificate_arn(c).build()]))
        .default_actions(action(&l.action))
        .set_tags(Some(elb_tags(&d.props)))
        .send()
        .await
        .map_err(api("elasticloadbalancing:CreateListener"))?;
    let arn = out.listeners().first().and_then(|l| l.listener_arn()).unwrap_or_default().to_string();
    Ok(Applied { outputs: outputs([("arn", arn.as_str())]), physical_id: arn })
}

pub(super) async fn read_listener(p: &AwsProvider, e: &Existing) -> Result<Option<Observed>, ProviderError> {
    let out = p
        .elb
        .describe_listeners()
        .listener_arns(&e.physical_id)
        .send()
        .await
        .map_err(api("elasticloadbalancing:DescribeListeners"))?;
    let Some(l) = out.listeners().first() else { return Ok(None) };
    Ok(Some(observe_listener(l, &e.physical_id, read_tags(p, &e.physical_id).await?)))
}

fn observe_listener(l: &aws_sdk_elasticloadbalancingv2::types::Listener, arn: &str, tags: Value) -> Observed {
    let https = l.protocol() == Some(&ProtocolEnum::Https);
    let mut props = Map::new();
    props.insert("load_balancer".into(), json!(l.load_balancer_arn()));
    props.insert("port".into(), json!(l.port()));
    props.insert("protocol".into(), json!(l.protocol().map(|p| p.as_str())));
    // TLS settings only mean something on HTTPS listeners.
    props.insert(
        "certificate_arn".into(),
        json!(https.then(|| l.certificates().first().and_then(|c| c.certificate_arn())).flatten()),
    );
    props.insert("ssl_policy".into(), json!(https.then(|| l.ssl_policy()).flatten()));
    props.insert("action".into(), l.default_actions().first().map(declared_action).unwrap_or(Value::Null));
    props.insert("tags".into(), tags);
    Observed { props, outputs: outputs([("arn", arn)]) }
}

/// Reads many listeners: 20 ARNs a `DescribeListeners` and a `DescribeTags`. AWS fails the whole
/// call when one ARN is gone; the engine then reads them one by one.
pub(super) async fn read_listeners(
    p: &AwsProvider,
    existing: &[Existing],
) -> Result<Vec<Option<Observed>>, ProviderError> {
    let described = describe_batch(p, existing, |chunk| async move {
        let out = p
            .elb
            .describe_listeners()
            .set_listener_arns(Some(chunk))
            .send()
            .await
            .map_err(api("elasticloadbalancing:DescribeListeners"))?;
        Ok(out.listeners().iter().map(|l| (l.listener_arn().unwrap_or_default().to_string(), l.clone())).collect())
    })
    .await?;
    Ok(existing
        .iter()
        .zip(described)
        .map(|(e, described)| described.map(|(l, tags)| observe_listener(&l, &e.physical_id, tags)))
        .collect())
}

pub(super) async fn update_listener(p: &AwsProvider, e: &Existing, desired: &Value) -> Result<Applied, ProviderError> {
    let old: ListenerProps = props(&e.address, &e.props)?;
    let new: ListenerProps = props(&e.address, desired)?;
    let changed = old.port != new.port
        || old.protocol != new.protocol
        || old.certificate_arn != new.certificate_arn
        || old.ssl_policy != new.ssl_policy
        || old.action != new.action;
    if changed {
        p.elb
            .modify_listener()
            .listener_arn(&e.physical_id)
            .port(new.port)
            .protocol(ProtocolEnum::from(new.protocol.as_str()))
            .set_ssl_policy(new.ssl_policy.clone())
            .set_certificates(
                new.certificate_arn.as_ref().map(|c| vec![Certificate::builder().certificate_arn(c).build()]),
            )
            .default_actions(action(&new.action))
            .send()
            .await
            .map_err(api("elasticloadbalancing:ModifyListener"))?;
    }
    update_tags(p, e, desired).await?;
    Ok(unchanged(e))
}

pub(super) async fn delete_listener(p: &AwsProvider, e: &Existing) -> Result<(), ProviderError> {
    p.elb
        .delete_listener()
        .listener_arn(&e.physical_id)
        .send()
        .await
        .map_err(api("elasticloadbalancing:DeleteListener"))?;
    Ok(())
}
