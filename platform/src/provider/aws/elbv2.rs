//! Application load balancers, target groups and listeners. Physical ids are ARNs.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, Certificate, LoadBalancer as AwsLoadBalancer, LoadBalancerAttribute,
    LoadBalancerSchemeEnum, LoadBalancerTypeEnum, Matcher, ProtocolEnum, RedirectActionConfig,
    RedirectActionStatusCodeEnum, Tag, TargetGroup as AwsTargetGroup, TargetGroupAttribute, TargetTypeEnum,
};

use super::client::Aws;
use super::ec2::network_interfaces;
use super::resource::{read_one, AwsResource, Created, Current, Lookup, New, Read, Recorded};
use super::support::{api, filter, incomplete, missing, refs, sync_tags, tags, texts, wait_for};
use crate::model::Ref;
use crate::provider::ProviderError;
use crate::resources::elbv2::{
    HealthCheck, Listener, ListenerAction, ListenerOutputs, LoadBalancer, LoadBalancerOutputs, TargetGroup,
    TargetGroupOutputs,
};
use crate::resources::{AccessLogs, Tags};

/// `aws.elbv2.load_balancer`.
pub(crate) struct LoadBalancers;
/// `aws.elbv2.target_group`.
pub(crate) struct TargetGroups;
/// `aws.elbv2.listener`.
pub(crate) struct Listeners;

fn elb_tags(tags: &Tags) -> Vec<Tag> {
    tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()
}

/// The tags of resources, 20 ARNs a `DescribeTags` (the API's limit).
async fn read_tags(aws: &Aws, arns: &[String]) -> Result<HashMap<String, Tags>, ProviderError> {
    let mut found = HashMap::new();
    for chunk in arns.chunks(20) {
        let out = aws
            .elb
            .describe_tags()
            .set_resource_arns(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(api("elasticloadbalancing:DescribeTags"))?;
        for d in out.tag_descriptions() {
            let pairs = d.tags().iter().map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default()));
            found.insert(d.resource_arn().unwrap_or_default().to_string(), tags(pairs));
        }
    }
    Ok(found)
}

async fn update_tags(aws: &Aws, arn: &str, old: &Tags, new: &Tags) -> Result<(), ProviderError> {
    sync_tags(
        old,
        new,
        |remove| async move {
            aws.elb
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
            aws.elb
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

/// Describes resources by ARN, 20 a call (the most the `Describe*` calls take) through
/// `describe`, which answers each item found with its ARN, and their tags with `DescribeTags`:
/// for each resource, its description and tags, or `None` when it is gone. AWS fails the whole
/// call when one ARN is gone; the engine then reads them one by one.
async fn describe_batch<P, T, F, Fut>(
    aws: &Aws,
    recorded: &[Recorded<'_, P>],
    describe: F,
) -> Result<Vec<Option<(T, Tags)>>, ProviderError>
where
    F: Fn(Vec<String>) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<(String, T)>, ProviderError>>,
{
    let arns: Vec<String> = recorded.iter().map(|r| r.physical_id.to_string()).collect();
    let mut found = HashMap::new();
    for chunk in arns.chunks(20) {
        found.extend(describe(chunk.to_vec()).await?);
    }
    let mut tags = read_tags(aws, &arns).await?;
    Ok(recorded
        .iter()
        .map(|r| {
            let item = found.remove(r.physical_id)?;
            Some((item, tags.remove(r.physical_id).unwrap_or_default()))
        })
        .collect())
}

// ---- Load balancer ----

const DROP_INVALID: &str = "routing.http.drop_invalid_header_fields.enabled";
const DELETION_PROTECTION: &str = "deletion_protection.enabled";
const ACCESS_LOGS: &str = "access_logs.s3.enabled";
const ACCESS_LOGS_BUCKET: &str = "access_logs.s3.bucket";
const ACCESS_LOGS_PREFIX: &str = "access_logs.s3.prefix";

/// Sets the attributes of `new` that differ from `old` (all of them for a new load balancer).
/// Access logs are sent only when they change: turning them on makes Elastic Load Balancing
/// validate the bucket and write a test object into it, and it answers
/// `InvalidConfigurationRequest` when the bucket's policy does not let it
/// (<https://docs.aws.amazon.com/elasticloadbalancing/latest/application/enable-access-logging.html>,
/// "Verify bucket permissions"), which must not fail an unrelated change.
async fn set_attributes(
    aws: &Aws,
    arn: &str,
    old: Option<&LoadBalancer>,
    new: &LoadBalancer,
) -> Result<(), ProviderError> {
    let attribute = |k: &str, v: String| LoadBalancerAttribute::builder().key(k).value(v).build();
    let mut attributes = vec![];
    if old.is_none_or(|o| o.drop_invalid_header_fields != new.drop_invalid_header_fields) {
        attributes.push(attribute(DROP_INVALID, new.drop_invalid_header_fields.to_string()));
    }
    if old.is_none_or(|o| o.deletion_protection != new.deletion_protection) {
        attributes.push(attribute(DELETION_PROTECTION, new.deletion_protection.to_string()));
    }
    if old.map_or(new.access_logs.is_some(), |o| o.access_logs != new.access_logs) {
        attributes.push(attribute(ACCESS_LOGS, new.access_logs.is_some().to_string()));
        if let Some(logs) = &new.access_logs {
            attributes.push(attribute(ACCESS_LOGS_BUCKET, logs.bucket.as_str().to_string()));
            attributes.push(attribute(ACCESS_LOGS_PREFIX, logs.prefix.clone()));
        }
    }
    if attributes.is_empty() {
        return Ok(());
    }
    aws.elb
        .modify_load_balancer_attributes()
        .load_balancer_arn(arn)
        .set_attributes(Some(attributes))
        .send()
        .await
        .map_err(api("elasticloadbalancing:ModifyLoadBalancerAttributes"))?;
    Ok(())
}

fn lb_outputs(lb: &AwsLoadBalancer) -> LoadBalancerOutputs {
    LoadBalancerOutputs {
        arn: lb.load_balancer_arn().unwrap_or_default().to_string(),
        dns_name: lb.dns_name().unwrap_or_default().to_string(),
        zone_id: lb.canonical_hosted_zone_id().unwrap_or_default().to_string(),
    }
}

/// A load balancer as read; its attributes take a call of their own (AWS has no batch form).
async fn observe_load_balancer(
    aws: &Aws,
    lb: &AwsLoadBalancer,
    tags: Tags,
) -> Result<Read<LoadBalancer, LoadBalancerOutputs>, ProviderError> {
    let attributes = aws
        .elb
        .describe_load_balancer_attributes()
        .load_balancer_arn(lb.load_balancer_arn().unwrap_or_default())
        .send()
        .await
        .map_err(api("elasticloadbalancing:DescribeLoadBalancerAttributes"))?;
    let value = |k: &str| attributes.attributes().iter().find(|a| a.key() == Some(k)).and_then(|a| a.value());
    let attribute = |k: &str| value(k) == Some("true");
    let access_logs = attribute(ACCESS_LOGS).then(|| AccessLogs {
        bucket: Ref::existing(value(ACCESS_LOGS_BUCKET).unwrap_or_default()),
        prefix: value(ACCESS_LOGS_PREFIX).unwrap_or_default().to_string(),
    });
    let props = LoadBalancer {
        internal: lb.scheme() == Some(&LoadBalancerSchemeEnum::Internal),
        subnets: refs(lb.availability_zones().iter().filter_map(|z| z.subnet_id())),
        security_groups: refs(lb.security_groups()),
        drop_invalid_header_fields: attribute(DROP_INVALID),
        deletion_protection: attribute(DELETION_PROTECTION),
        access_logs,
        tags,
    };
    Ok(Read::named(props, lb.load_balancer_name().unwrap_or_default(), lb_outputs(lb)))
}

async fn describe_load_balancers(
    aws: &Aws,
    arns: Vec<String>,
) -> Result<Vec<(String, AwsLoadBalancer)>, ProviderError> {
    let out = aws
        .elb
        .describe_load_balancers()
        .set_load_balancer_arns(Some(arns))
        .send()
        .await
        .map_err(api("elasticloadbalancing:DescribeLoadBalancers"))?;
    Ok(out
        .load_balancers()
        .iter()
        .map(|lb| (lb.load_balancer_arn().unwrap_or_default().to_string(), lb.clone()))
        .collect())
}

#[async_trait]
impl AwsResource for LoadBalancers {
    type Props = LoadBalancer;
    type Outputs = LoadBalancerOutputs;

    const BATCHED: bool = true;
    const AWAITS: bool = true;

    async fn create(
        &self,
        aws: &Aws,
        new: &New<'_, LoadBalancer>,
    ) -> Result<Created<LoadBalancerOutputs>, ProviderError> {
        let lb = &new.props;
        let scheme =
            if lb.internal { LoadBalancerSchemeEnum::Internal } else { LoadBalancerSchemeEnum::InternetFacing };
        let out = aws
            .elb
            .create_load_balancer()
            .name(new.name()?)
            .r#type(LoadBalancerTypeEnum::Application)
            .scheme(scheme)
            .set_subnets(Some(texts(&lb.subnets)))
            .set_security_groups(Some(texts(&lb.security_groups)))
            .set_tags(Some(elb_tags(&lb.tags)))
            .send()
            .await
            .map_err(api("elasticloadbalancing:CreateLoadBalancer"))?;
        let created = out
            .load_balancers()
            .first()
            .ok_or_else(|| missing("elasticloadbalancing:CreateLoadBalancer", "the response holds no load balancer"))?;
        let arn = created.load_balancer_arn().unwrap_or_default().to_string();
        let outputs = lb_outputs(created);
        set_attributes(aws, &arn, None, lb).await.map_err(incomplete(&arn, &outputs))?;
        Ok(Created { physical_id: arn, outputs })
    }

    async fn read(
        &self,
        aws: &Aws,
        recorded: &Recorded<'_, LoadBalancer>,
    ) -> Result<Option<Read<LoadBalancer, LoadBalancerOutputs>>, ProviderError> {
        read_one(self, aws, recorded).await
    }

    /// 20 ARNs a `DescribeLoadBalancers` and a `DescribeTags`; attributes take a call each.
    async fn read_batch(
        &self,
        aws: &Aws,
        recorded: &[Recorded<'_, LoadBalancer>],
    ) -> Result<Vec<Option<Read<LoadBalancer, LoadBalancerOutputs>>>, ProviderError> {
        let described = describe_batch(aws, recorded, |chunk| describe_load_balancers(aws, chunk)).await?;
        let mut out = Vec::with_capacity(recorded.len());
        for found in described {
            out.push(match found {
                Some((lb, tags)) => Some(observe_load_balancer(aws, &lb, tags).await?),
                None => None,
            });
        }
        Ok(out)
    }

    async fn update(
        &self,
        aws: &Aws,
        current: &Current<'_, LoadBalancer, LoadBalancerOutputs>,
        new: &LoadBalancer,
    ) -> Result<(), ProviderError> {
        let (old, arn) = (&current.props, current.physical_id);
        fn sorted<T>(v: &[Ref<T>]) -> Vec<String> {
            let mut v = texts(v);
            v.sort();
            v
        }
        if sorted(&old.subnets) != sorted(&new.subnets) {
            aws.elb
                .set_subnets()
                .load_balancer_arn(arn)
                .set_subnets(Some(texts(&new.subnets)))
                .send()
                .await
                .map_err(api("elasticloadbalancing:SetSubnets"))?;
        }
        if sorted(&old.security_groups) != sorted(&new.security_groups) {
            aws.elb
                .set_security_groups()
                .load_balancer_arn(arn)
                .set_security_groups(Some(texts(&new.security_groups)))
                .send()
                .await
                .map_err(api("elasticloadbalancing:SetSecurityGroups"))?;
        }
        set_attributes(aws, arn, Some(old), new).await?;
        update_tags(aws, arn, &old.tags, &new.tags).await
    }

    async fn delete(
        &self,
        aws: &Aws,
        current: &Current<'_, LoadBalancer, LoadBalancerOutputs>,
    ) -> Result<(), ProviderError> {
        let (lb, arn) = (&current.props, current.physical_id);
        if lb.deletion_protection && current.delete_allowed {
            // The user named this address explicitly: lift AWS's own deletion protection first.
            set_attributes(aws, arn, Some(lb), &LoadBalancer { deletion_protection: false, ..lb.clone() }).await?;
        }
        aws.elb
            .delete_load_balancer()
            .load_balancer_arn(arn)
            .send()
            .await
            .map_err(api("elasticloadbalancing:DeleteLoadBalancer"))?;
        // Gone from the API first; its network interfaces (in its subnets, with its security
        // groups and, internet-facing, a public address) are released some minutes later, and
        // until then those subnets and groups cannot be deleted nor the internet gateway detached.
        wait_for(format!("load balancer {arn} to be deleted"), aws.operation_timeout, || async {
            match describe_load_balancers(aws, vec![arn.to_string()]).await {
                Ok(found) => Ok(found.is_empty().then_some(())),
                Err(err) if err.is_not_found() => Ok(Some(())),
                Err(err) => Err(err),
            }
        })
        .await?;
        // Its interfaces are described `ELB app/NAME/ID`, from its ARN
        // (`arn:PARTITION:elasticloadbalancing:REGION:ACCOUNT:loadbalancer/app/NAME/ID`).
        let description = format!("ELB {}", arn.split_once(":loadbalancer/").map(|(_, id)| id).unwrap_or(arn));
        let last = std::sync::Mutex::new(0);
        wait_for(format!("the network interfaces of {arn} to be released"), aws.release_timeout, || async {
            let left = network_interfaces(aws, &filter("description", [description.as_str()])).await?;
            let mut last = last.lock().expect("progress lock");
            if !left.is_empty() && *last != left.len() {
                (current.progress)(&format!("deleted; {} network interfaces not released yet", left.len()));
                *last = left.len();
            }
            Ok(left.is_empty().then_some(()))
        })
        .await
    }

    /// Waits until the load balancer is `active` (`provisioning` for minutes after a create:
    /// <https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_LoadBalancerState.html>);
    /// `active_impaired` (active, but it cannot scale) is usable, `failed` fails the wait.
    async fn await_ready(
        &self,
        aws: &Aws,
        current: &Current<'_, LoadBalancer, LoadBalancerOutputs>,
    ) -> Result<LoadBalancerOutputs, ProviderError> {
        use aws_sdk_elasticloadbalancingv2::types::LoadBalancerStateEnum as State;
        let arn = current.physical_id;
        let reported = std::sync::Mutex::new(false);
        wait_for(format!("load balancer {arn} to become active"), aws.operation_timeout, || async {
            let found = describe_load_balancers(aws, vec![arn.to_string()]).await?;
            let Some((_, lb)) = found.first() else {
                return Err(missing("elasticloadbalancing:DescribeLoadBalancers", &format!("{arn} is gone")));
            };
            let state = lb.state();
            match state.and_then(|s| s.code()) {
                Some(State::Active | State::ActiveImpaired) | None => Ok(Some(lb_outputs(lb))),
                Some(State::Failed) => Err(ProviderError::OperationFailed {
                    what: format!("load balancer {arn}"),
                    message: state.and_then(|s| s.reason()).unwrap_or("it failed").to_string(),
                }),
                Some(other) => {
                    let mut reported = reported.lock().expect("progress lock");
                    if !*reported {
                        (current.progress)(other.as_str());
                        *reported = true;
                    }
                    Ok(None)
                }
            }
        })
        .await
    }

    /// A load balancer by its name.
    async fn find(&self, aws: &Aws, lookup: &Lookup<'_, LoadBalancer>) -> Result<Option<String>, ProviderError> {
        let Some(name) = lookup.name else { return Ok(None) };
        match aws.elb.describe_load_balancers().names(name).send().await {
            Ok(out) => Ok(out.load_balancers().first().and_then(|lb| lb.load_balancer_arn().map(str::to_string))),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_load_balancer_not_found_exception()) => Ok(None),
            Err(err) => Err(api("elasticloadbalancing:DescribeLoadBalancers")(err)),
        }
    }
}

// ---- Target group ----

const DEREGISTRATION_DELAY: &str = "deregistration_delay.timeout_seconds";

async fn set_deregistration_delay(aws: &Aws, arn: &str, seconds: u32) -> Result<(), ProviderError> {
    aws.elb
        .modify_target_group_attributes()
        .target_group_arn(arn)
        .attributes(TargetGroupAttribute::builder().key(DEREGISTRATION_DELAY).value(seconds.to_string()).build())
        .send()
        .await
        .map_err(api("elasticloadbalancing:ModifyTargetGroupAttributes"))?;
    Ok(())
}

fn int(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

async fn observe_target_group(
    aws: &Aws,
    tg: &AwsTargetGroup,
    tags: Tags,
    recorded: &Recorded<'_, TargetGroup>,
) -> Result<Read<TargetGroup, TargetGroupOutputs>, ProviderError> {
    let arn = tg.target_group_arn().unwrap_or_default();
    let attributes = aws
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
    let number = |v: Option<i32>| v.and_then(|v| u32::try_from(v).ok()).unwrap_or_default();
    let name = tg.target_group_name().unwrap_or_default();
    let props = TargetGroup {
        vpc: Ref::existing(tg.vpc_id().unwrap_or_default()),
        port: tg.port().and_then(|p| u16::try_from(p).ok()).unwrap_or_default(),
        protocol: tg.protocol().map(|p| p.as_str().to_string()).unwrap_or_default(),
        target_type: tg.target_type().map(|t| t.as_str().to_string()).unwrap_or_default(),
        health_check: HealthCheck {
            path: tg.health_check_path().unwrap_or_default().to_string(),
            port: tg.health_check_port().and_then(|p| p.parse().ok()).unwrap_or_default(),
            interval_seconds: number(tg.health_check_interval_seconds()),
            timeout_seconds: number(tg.health_check_timeout_seconds()),
            healthy_threshold: number(tg.healthy_threshold_count()),
            unhealthy_threshold: number(tg.unhealthy_threshold_count()),
            matcher: tg.matcher().and_then(|m| m.http_code()).unwrap_or_default().to_string(),
        },
        // Not every endpoint reports the attribute; when it does not, the recorded value stands.
        deregistration_delay_seconds: delay.unwrap_or_else(|| recorded.kept(|p| p.deregistration_delay_seconds)),
        tags,
    };
    Ok(Read::named(props, name, TargetGroupOutputs { arn: arn.to_string(), name: name.to_string() }))
}

async fn describe_target_groups(aws: &Aws, arns: Vec<String>) -> Result<Vec<(String, AwsTargetGroup)>, ProviderError> {
    let out = aws
        .elb
        .describe_target_groups()
        .set_target_group_arns(Some(arns))
        .send()
        .await
        .map_err(api("elasticloadbalancing:DescribeTargetGroups"))?;
    Ok(out
        .target_groups()
        .iter()
        .map(|tg| (tg.target_group_arn().unwrap_or_default().to_string(), tg.clone()))
        .collect())
}

#[async_trait]
impl AwsResource for TargetGroups {
    type Props = TargetGroup;
    type Outputs = TargetGroupOutputs;

    const BATCHED: bool = true;

    async fn create(
        &self,
        aws: &Aws,
        new: &New<'_, TargetGroup>,
    ) -> Result<Created<TargetGroupOutputs>, ProviderError> {
        let (tg, name) = (&new.props, new.name()?);
        let hc = &tg.health_check;
        let out = aws
            .elb
            .create_target_group()
            .name(name)
            .vpc_id(tg.vpc.as_str())
            .port(i32::from(tg.port))
            .protocol(ProtocolEnum::from(tg.protocol.as_str()))
            .target_type(TargetTypeEnum::from(tg.target_type.as_str()))
            .health_check_enabled(true)
            .health_check_protocol(ProtocolEnum::Http)
            .health_check_path(&hc.path)
            .health_check_port(hc.port.to_string())
            .health_check_interval_seconds(int(hc.interval_seconds))
            .health_check_timeout_seconds(int(hc.timeout_seconds))
            .healthy_threshold_count(int(hc.healthy_threshold))
            .unhealthy_threshold_count(int(hc.unhealthy_threshold))
            .matcher(Matcher::builder().http_code(&hc.matcher).build())
            .set_tags(Some(elb_tags(&tg.tags)))
            .send()
            .await
            .map_err(api("elasticloadbalancing:CreateTargetGroup"))?;
        let arn = out.target_groups().first().and_then(|t| t.target_group_arn()).unwrap_or_default().to_string();
        let outputs = TargetGroupOutputs { arn: arn.clone(), name: name.to_string() };
        set_deregistration_delay(aws, &arn, tg.deregistration_delay_seconds)
            .await
            .map_err(incomplete(&arn, &outputs))?;
        Ok(Created { physical_id: arn, outputs })
    }

    async fn read(
        &self,
        aws: &Aws,
        recorded: &Recorded<'_, TargetGroup>,
    ) -> Result<Option<Read<TargetGroup, TargetGroupOutputs>>, ProviderError> {
        read_one(self, aws, recorded).await
    }

    /// 20 ARNs a `DescribeTargetGroups` and a `DescribeTags`; attributes take a call each.
    async fn read_batch(
        &self,
        aws: &Aws,
        recorded: &[Recorded<'_, TargetGroup>],
    ) -> Result<Vec<Option<Read<TargetGroup, TargetGroupOutputs>>>, ProviderError> {
        let described = describe_batch(aws, recorded, |chunk| describe_target_groups(aws, chunk)).await?;
        let mut out = Vec::with_capacity(recorded.len());
        for (found, r) in described.into_iter().zip(recorded) {
            out.push(match found {
                Some((tg, tags)) => Some(observe_target_group(aws, &tg, tags, r).await?),
                None => None,
            });
        }
        Ok(out)
    }

    async fn update(
        &self,
        aws: &Aws,
        current: &Current<'_, TargetGroup, TargetGroupOutputs>,
        new: &TargetGroup,
    ) -> Result<(), ProviderError> {
        let (old, arn) = (&current.props, current.physical_id);
        if old.health_check != new.health_check {
            let hc = &new.health_check;
            aws.elb
                .modify_target_group()
                .target_group_arn(arn)
                .health_check_path(&hc.path)
                .health_check_port(hc.port.to_string())
                .health_check_interval_seconds(int(hc.interval_seconds))
                .health_check_timeout_seconds(int(hc.timeout_seconds))
                .healthy_threshold_count(int(hc.healthy_threshold))
                .unhealthy_threshold_count(int(hc.unhealthy_threshold))
                .matcher(Matcher::builder().http_code(&hc.matcher).build())
                .send()
                .await
                .map_err(api("elasticloadbalancing:ModifyTargetGroup"))?;
        }
        if old.deregistration_delay_seconds != new.deregistration_delay_seconds {
            set_deregistration_delay(aws, arn, new.deregistration_delay_seconds).await?;
        }
        update_tags(aws, arn, &old.tags, &new.tags).await
    }

    async fn delete(
        &self,
        aws: &Aws,
        current: &Current<'_, TargetGroup, TargetGroupOutputs>,
    ) -> Result<(), ProviderError> {
        aws.elb
            .delete_target_group()
            .target_group_arn(current.physical_id)
            .send()
            .await
            .map_err(api("elasticloadbalancing:DeleteTargetGroup"))?;
        Ok(())
    }

    /// The load balancers whose listeners or rules still forward to the group (AWS refuses to
    /// delete it until none does: `ResourceInUse`,
    /// <https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_DeleteTargetGroup.html>).
    async fn holders(
        &self,
        aws: &Aws,
        current: &Current<'_, TargetGroup, TargetGroupOutputs>,
    ) -> Result<Vec<String>, ProviderError> {
        let found = describe_target_groups(aws, vec![current.physical_id.to_string()]).await?;
        Ok(found.iter().flat_map(|(_, tg)| tg.load_balancer_arns()).map(|arn| format!("load balancer {arn}")).collect())
    }

    /// A target group by its name.
    async fn find(&self, aws: &Aws, lookup: &Lookup<'_, TargetGroup>) -> Result<Option<String>, ProviderError> {
        let Some(name) = lookup.name else { return Ok(None) };
        match aws.elb.describe_target_groups().names(name).send().await {
            Ok(out) => Ok(out.target_groups().first().and_then(|tg| tg.target_group_arn().map(str::to_string))),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_target_group_not_found_exception()) => Ok(None),
            Err(err) => Err(api("elasticloadbalancing:DescribeTargetGroups")(err)),
        }
    }
}

// ---- Listener ----

fn action(declared: &ListenerAction) -> Action {
    match declared {
        ListenerAction::Forward { target_group } => {
            Action::builder().r#type(ActionTypeEnum::Forward).target_group_arn(target_group.as_str()).build()
        }
        // Refused at build time; a redirect is the harmless stand-in should one slip through.
        ListenerAction::RedirectToHttps | ListenerAction::Unsupported(_) => Action::builder()
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

fn declared_action(a: &Action) -> ListenerAction {
    match a.r#type() {
        Some(ActionTypeEnum::Forward) => {
            ListenerAction::Forward { target_group: Ref::existing(a.target_group_arn().unwrap_or_default()) }
        }
        Some(ActionTypeEnum::Redirect)
            if a.redirect_config().is_some_and(|r| r.protocol() == Some("HTTPS") && r.port() == Some("443")) =>
        {
            ListenerAction::RedirectToHttps
        }
        other => ListenerAction::Unsupported(other.map(|t| t.as_str().to_string()).unwrap_or_default()),
    }
}

fn observe_listener(
    l: &aws_sdk_elasticloadbalancingv2::types::Listener,
    tags: Tags,
) -> Read<Listener, ListenerOutputs> {
    let https = l.protocol() == Some(&ProtocolEnum::Https);
    let props = Listener {
        load_balancer: Ref::existing(l.load_balancer_arn().unwrap_or_default()),
        port: l.port().and_then(|p| u16::try_from(p).ok()).unwrap_or_default(),
        protocol: l.protocol().map(|p| p.as_str().to_string()).unwrap_or_default(),
        // TLS settings only mean something on HTTPS listeners.
        certificate_arn: https
            .then(|| l.certificates().first().and_then(|c| c.certificate_arn()))
            .flatten()
            .map(Ref::existing),
        ssl_policy: https.then(|| l.ssl_policy()).flatten().map(str::to_string),
        action: l.default_actions().first().map(declared_action).unwrap_or(ListenerAction::Unsupported(String::new())),
        tags,
    };
    Read::new(props, ListenerOutputs { arn: l.listener_arn().unwrap_or_default().to_string() })
}

async fn describe_listeners(
    aws: &Aws,
    arns: Vec<String>,
) -> Result<Vec<(String, aws_sdk_elasticloadbalancingv2::types::Listener)>, ProviderError> {
    let out = aws
        .elb
        .describe_listeners()
        .set_listener_arns(Some(arns))
        .send()
        .await
        .map_err(api("elasticloadbalancing:DescribeListeners"))?;
    Ok(out.listeners().iter().map(|l| (l.listener_arn().unwrap_or_default().to_string(), l.clone())).collect())
}

#[async_trait]
impl AwsResource for Listeners {
    type Props = Listener;
    type Outputs = ListenerOutputs;

    const BATCHED: bool = true;

    async fn create(&self, aws: &Aws, new: &New<'_, Listener>) -> Result<Created<ListenerOutputs>, ProviderError> {
        let l = &new.props;
        let out = aws
            .elb
            .create_listener()
            .load_balancer_arn(l.load_balancer.as_str())
            .port(i32::from(l.port))
            .protocol(ProtocolEnum::from(l.protocol.as_str()))
            .set_ssl_policy(l.ssl_policy.clone())
            .set_certificates(
                l.certificate_arn.as_ref().map(|c| vec![Certificate::builder().certificate_arn(c.as_str()).build()]),
            )
            .default_actions(action(&l.action))
            .set_tags(Some(elb_tags(&l.tags)))
            .send()
            .await
            .map_err(api("elasticloadbalancing:CreateListener"))?;
        let arn = out.listeners().first().and_then(|l| l.listener_arn()).unwrap_or_default().to_string();
        Ok(Created { physical_id: arn.clone(), outputs: ListenerOutputs { arn } })
    }

    async fn read(
        &self,
        aws: &Aws,
        recorded: &Recorded<'_, Listener>,
    ) -> Result<Option<Read<Listener, ListenerOutputs>>, ProviderError> {
        read_one(self, aws, recorded).await
    }

    /// 20 ARNs a `DescribeListeners` and a `DescribeTags`.
    async fn read_batch(
        &self,
        aws: &Aws,
        recorded: &[Recorded<'_, Listener>],
    ) -> Result<Vec<Option<Read<Listener, ListenerOutputs>>>, ProviderError> {
        let described = describe_batch(aws, recorded, |chunk| describe_listeners(aws, chunk)).await?;
        Ok(described.into_iter().map(|found| found.map(|(l, tags)| observe_listener(&l, tags))).collect())
    }

    async fn update(
        &self,
        aws: &Aws,
        current: &Current<'_, Listener, ListenerOutputs>,
        new: &Listener,
    ) -> Result<(), ProviderError> {
        let (old, arn) = (&current.props, current.physical_id);
        let changed = old.port != new.port
            || old.protocol != new.protocol
            || old.certificate_arn != new.certificate_arn
            || old.ssl_policy != new.ssl_policy
            || old.action != new.action;
        if changed {
            aws.elb
                .modify_listener()
                .listener_arn(arn)
                .port(i32::from(new.port))
                .protocol(ProtocolEnum::from(new.protocol.as_str()))
                .set_ssl_policy(new.ssl_policy.clone())
                .set_certificates(
                    new.certificate_arn
                        .as_ref()
                        .map(|c| vec![Certificate::builder().certificate_arn(c.as_str()).build()]),
                )
                .default_actions(action(&new.action))
                .send()
                .await
                .map_err(api("elasticloadbalancing:ModifyListener"))?;
        }
        update_tags(aws, arn, &old.tags, &new.tags).await
    }

    async fn delete(&self, aws: &Aws, current: &Current<'_, Listener, ListenerOutputs>) -> Result<(), ProviderError> {
        aws.elb
            .delete_listener()
            .listener_arn(current.physical_id)
            .send()
            .await
            .map_err(api("elasticloadbalancing:DeleteListener"))?;
        Ok(())
    }

    /// A listener by its load balancer and port.
    async fn find(&self, aws: &Aws, lookup: &Lookup<'_, Listener>) -> Result<Option<String>, ProviderError> {
        let Some(l) = &lookup.props else { return Ok(None) };
        let out = aws
            .elb
            .describe_listeners()
            .load_balancer_arn(l.load_balancer.as_str())
            .send()
            .await
            .map_err(api("elasticloadbalancing:DescribeListeners"))?;
        Ok(out
            .listeners()
            .iter()
            .find(|x| x.port() == Some(i32::from(l.port)))
            .and_then(|x| x.listener_arn().map(str::to_string)))
    }
}
