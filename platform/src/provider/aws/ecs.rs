//! ECS clusters. The physical id is the cluster ARN.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, Compatibility, ContainerDefinition, DeploymentCircuitBreaker,
    DeploymentConfiguration, HealthCheck, KeyValuePair, LaunchType, LoadBalancer, LogConfiguration, LogDriver,
    NetworkConfiguration, NetworkMode, PortMapping, Secret, ServiceRegistry, TaskDefinitionField, TransportProtocol,
};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use aws_sdk_ecs::types::{ClusterField, ClusterSetting, ClusterSettingName, Tag};

use super::{api, outputs, props, sync_tags, tag_map, tags_of, AwsProvider};
use crate::provider::{Applied, Desired, Existing, Observed, ProviderError};

#[derive(Deserialize)]
struct ClusterProps {
    name: String,
    container_insights: String,
}

fn insights(value: &str) -> ClusterSetting {
    ClusterSetting::builder().name(ClusterSettingName::ContainerInsights).value(value).build()
}

pub(super) async fn create(p: &AwsProvider, d: &Desired) -> Result<Applied, ProviderError> {
    let c: ClusterProps = props(&d.address, &d.props)?;
    let out = p
        .ecs
        .create_cluster()
        .cluster_name(&c.name)
        .settings(insights(&c.container_insights))
        .set_tags(Some(tags_of(&d.props).into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()))
        .send()
        .await
        .map_err(api("ecs:CreateCluster"))?;
    let arn = out.cluster().and_then(|c| c.cluster_arn()).unwrap_or_default().to_string();
    Ok(Applied { outputs: outputs([("arn", arn.as_str()), ("name", c.name.as_str())]), physical_id: arn })
}

pub(super) async fn read(p: &AwsProvider, e: &Existing) -> Result<Option<Observed>, ProviderError> {
    let out = p
        .ecs
        .describe_clusters()
        .clusters(&e.physical_id)
        .include(ClusterField::Tags)
        .include(ClusterField::Settings)
        .send()
        .await
        .map_err(api("ecs:DescribeClusters"))?;
    // Deleted clusters stay visible for a while as INACTIVE.
    let Some(c) = out.clusters().iter().find(|c| c.status() != Some("INACTIVE")) else {
        return Ok(None);
    };
    let insights = c
        .settings()
        .iter()
        .find(|s| s.name() == Some(&ClusterSettingName::ContainerInsights))
        .and_then(|s| s.value())
        .unwrap_or("disabled");
    let mut props = Map::new();
    props.insert("name".into(), json!(c.cluster_name()));
    props.insert("container_insights".into(), json!(insights));
    props.insert(
        "tags".into(),
        tag_map(c.tags().iter().map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default()))),
    );
    let name = c.cluster_name().unwrap_or_default();
    Ok(Some(Observed { props, outputs: outputs([("arn", e.physical_id.as_str()), ("name", name)]) }))
}

pub(super) async fn update(p: &AwsProvider, e: &Existing, desired: &Value) -> Result<Applied, ProviderError> {
    let old: ClusterProps = props(&e.address, &e.props)?;
    let new: ClusterProps = props(&e.address, desired)?;
    if old.container_insights != new.container_insights {
        p.ecs
            .update_cluster()
            .cluster(&e.physical_id)
            .settings(insights(&new.container_insights))
            .send()
            .await
            .map_err(api("ecs:UpdateCluster"))?;
    }
    update_tags(p, &e.physical_id, e, desired).await?;
    Ok(Applied { physical_id: e.physical_id.clone(), outputs: e.outputs.clone() })
}

/// Sets and removes tags of an ECS resource (cluster, task definition, service).
async fn update_tags(p: &AwsProvider, arn: &str, e: &Existing, desired: &Value) -> Result<(), ProviderError> {
    sync_tags(
        &e.props,
        desired,
        |remove| async move {
            p.ecs
                .untag_resource()
                .resource_arn(arn)
                .set_tag_keys(Some(remove))
                .send()
                .await
                .map_err(api("ecs:UntagResource"))?;
            Ok(())
        },
        |set| async move {
            let tags = set.into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect();
            p.ecs.tag_resource().resource_arn(arn).set_tags(Some(tags)).send().await.map_err(api("ecs:TagResource"))?;
            Ok(())
        },
    )
    .await
}

pub(super) async fn delete(p: &AwsProvider, e: &Existing) -> Result<(), ProviderError> {
    p.ecs.delete_cluster().cluster(&e.physical_id).send().await.map_err(api("ecs:DeleteCluster"))?;
    Ok(())
}

// ---- Task definition ----

#[derive(Deserialize)]
struct TaskDefinitionProps {
    name: String,
    cpu: u32,
    memory: u32,
    execution_role: String,
    task_role: String,
    containers: Vec<ContainerProps>,
}

#[derive(Deserialize)]
struct ContainerProps {
    name: String,
    image: String,
    ports: Vec<i32>,
    environment: BTreeMap<String, Value>,
    secrets: BTreeMap<String, String>,
    readonly_root_filesystem: bool,
    user: String,
    privileged: bool,
    health_check: Option<HealthCheckProps>,
    log_group: String,
    log_stream_prefix: String,
}

#[derive(Deserialize)]
struct HealthCheckProps {
    command: Vec<String>,
    interval_seconds: i32,
    timeout_seconds: i32,
    retries: i32,
    start_period_seconds: i32,
}

fn container_definition(c: &ContainerProps, region: &str) -> ContainerDefinition {
    let log = LogConfiguration::builder()
        .log_driver(LogDriver::Awslogs)
        .options("awslogs-group", &c.log_group)
        .options("awslogs-region", region)
        .options("awslogs-stream-prefix", &c.log_stream_prefix)
        .build()
        .expect("the log driver is set");
    ContainerDefinition::builder()
        .name(&c.name)
        .image(&c.image)
        .essential(true)
        .set_port_mappings(Some(
            c.ports
                .iter()
                .map(|p| PortMapping::builder().container_port(*p).protocol(TransportProtocol::Tcp).build())
                .collect(),
        ))
        .set_environment(Some(
            c.environment
                .iter()
                .map(|(k, v)| {
                    let text = v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string());
                    KeyValuePair::builder().name(k).value(text).build()
                })
                .collect(),
        ))
        .set_secrets(Some(
            c.secrets
                .iter()
                .map(|(k, v)| Secret::builder().name(k).value_from(v).build().expect("name and value are set"))
                .collect(),
        ))
        .readonly_root_filesystem(c.readonly_root_filesystem)
        .user(&c.user)
        .privileged(c.privileged)
        .set_health_check(c.health_check.as_ref().map(|h| {
            HealthCheck::builder()
                .set_command(Some(h.command.clone()))
                .interval(h.interval_seconds)
                .timeout(h.timeout_seconds)
                .retries(h.retries)
                .start_period(h.start_period_seconds)
                .build()
                .expect("the command is set")
        }))
        .log_configuration(log)
        .build()
}

/// A container definition as AWS reports it, in the declared form (AWS's defaults left out).
fn declared_container(c: &ContainerDefinition) -> Value {
    let options = c.log_configuration().and_then(|l| l.options());
    let option = |k: &str| options.and_then(|o| o.get(k)).cloned();
    json!({
        "name": c.name(),
        "image": c.image(),
        "ports": c.port_mappings().iter().filter_map(|p| p.container_port()).collect::<Vec<_>>(),
        "environment": c.environment().iter().filter_map(|kv| Some((kv.name()?.to_string(), kv.value()?.to_string()))).collect::<BTreeMap<_, _>>(),
        "secrets": c.secrets().iter().map(|s| (s.name().to_string(), s.value_from().to_string())).collect::<BTreeMap<_, _>>(),
        "readonly_root_filesystem": c.readonly_root_filesystem().unwrap_or(false),
        "user": c.user(),
        "privileged": c.privileged().unwrap_or(false),
        "health_check": c.health_check().map(|h| json!({
            "command": h.command(),
            "interval_seconds": h.interval(),
            "timeout_seconds": h.timeout(),
            "retries": h.retries(),
            "start_period_seconds": h.start_period(),
        })),
        "log_group": option("awslogs-group"),
        "log_stream_prefix": option("awslogs-stream-prefix"),
    })
}

/// Runs an ECS call that may be refused for a while because a role it names was just created and
/// IAM has not propagated it yet ("unable to assume role").
async fn retrying_new_roles<T, F, Fut>(mut call: F) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ProviderError>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let mut delay = Duration::from_secs(1);
    loop {
        match call().await {
            Err(ProviderError::Api { message, .. })
                if message.to_lowercase().contains("assume") && tokio::time::Instant::now() + delay < deadline =>
            {
                tracing::debug!(%message, "a new role is not assumable yet; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
            other => return other,
        }
    }
}

fn task_outputs(td: &aws_sdk_ecs::types::TaskDefinition) -> BTreeMap<String, Value> {
    let mut out =
        outputs([("arn", td.task_definition_arn().unwrap_or_default()), ("family", td.family().unwrap_or_default())]);
    out.insert("revision".into(), json!(td.revision()));
    out
}

pub(super) async fn create_task_definition(p: &AwsProvider, d: &Desired) -> Result<Applied, ProviderError> {
    let t: TaskDefinitionProps = props(&d.address, &d.props)?;
    let region = p.region();
    let out = retrying_new_roles(|| async {
        p.ecs_once
            .register_task_definition()
            .family(&t.name)
            .network_mode(NetworkMode::Awsvpc)
            .requires_compatibilities(Compatibility::Fargate)
            .cpu(t.cpu.to_string())
            .memory(t.memory.to_string())
            .execution_role_arn(&t.execution_role)
            .task_role_arn(&t.task_role)
            .set_container_definitions(Some(t.containers.iter().map(|c| container_definition(c, &region)).collect()))
            .set_tags(Some(
                tags_of(&d.props).into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect(),
            ))
            .send()
            .await
            .map_err(api("ecs:RegisterTaskDefinition"))
    })
    .await?;
    let td = out.task_definition().ok_or_else(|| ProviderError::OperationFailed {
        what: "ecs:RegisterTaskDefinition".into(),
        message: "the response holds no task definition".into(),
    })?;
    Ok(Applied { physical_id: td.task_definition_arn().unwrap_or_default().to_string(), outputs: task_outputs(td) })
}

pub(super) async fn read_task_definition(p: &AwsProvider, e: &Existing) -> Result<Option<Observed>, ProviderError> {
    let out = p
        .ecs
        .describe_task_definition()
        .task_definition(&e.physical_id)
        .include(TaskDefinitionField::Tags)
        .send()
        .await
        .map_err(api("ecs:DescribeTaskDefinition"));
    let out = match out {
        Err(ProviderError::Api { code: Some(code), message, .. })
            if code == "ClientException" && message.contains("Unable to describe task definition") =>
        {
            return Ok(None)
        }
        other => other?,
    };
    let Some(td) = out.task_definition() else { return Ok(None) };
    if td.status() == Some(&aws_sdk_ecs::types::TaskDefinitionStatus::Inactive) {
        return Ok(None);
    }
    let mut props = Map::new();
    props.insert("name".into(), json!(td.family()));
    props.insert("cpu".into(), json!(td.cpu().and_then(|c| c.parse::<u32>().ok())));
    props.insert("memory".into(), json!(td.memory().and_then(|m| m.parse::<u32>().ok())));
    props.insert("execution_role".into(), json!(td.execution_role_arn()));
    props.insert("task_role".into(), json!(td.task_role_arn()));
    props
        .insert("containers".into(), Value::Array(td.container_definitions().iter().map(declared_container).collect()));
    props.insert(
        "tags".into(),
        tag_map(out.tags().iter().map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default()))),
    );
    Ok(Some(Observed { props, outputs: task_outputs(td) }))
}

pub(super) async fn update_task_definition(
    p: &AwsProvider,
    e: &Existing,
    desired: &Value,
) -> Result<Applied, ProviderError> {
    // Everything but tags replaces the revision; tags change in place.
    update_tags(p, &e.physical_id, e, desired).await?;
    Ok(Applied { physical_id: e.physical_id.clone(), outputs: e.outputs.clone() })
}

pub(super) async fn delete_task_definition(p: &AwsProvider, e: &Existing) -> Result<(), ProviderError> {
    p.ecs
        .deregister_task_definition()
        .task_definition(&e.physical_id)
        .send()
        .await
        .map_err(api("ecs:DeregisterTaskDefinition"))?;
    Ok(())
}

// ---- Service ----

#[derive(Deserialize)]
struct ServiceProps {
    name: String,
    cluster: String,
    task_definition: String,
    desired_count: i32,
    subnets: Vec<String>,
    security_groups: Vec<String>,
    assign_public_ip: bool,
    load_balancer: Option<ServiceLoadBalancerProps>,
    discovery: Option<String>,
    circuit_breaker_rollback: bool,
    minimum_healthy_percent: i32,
    maximum_percent: i32,
    health_check_grace_period_seconds: i32,
}

#[derive(Deserialize)]
struct ServiceLoadBalancerProps {
    target_group: String,
    container_name: String,
    container_port: i32,
}

fn network(s: &ServiceProps) -> NetworkConfiguration {
    NetworkConfiguration::builder()
        .awsvpc_configuration(
            AwsVpcConfiguration::builder()
                .set_subnets(Some(s.subnets.clone()))
                .set_security_groups(Some(s.security_groups.clone()))
                .assign_public_ip(if s.assign_public_ip { AssignPublicIp::Enabled } else { AssignPublicIp::Disabled })
                .build()
                .expect("subnets are set"),
        )
        .build()
}

fn deployment(s: &ServiceProps) -> DeploymentConfiguration {
    DeploymentConfiguration::builder()
        .deployment_circuit_breaker(
            DeploymentCircuitBreaker::builder()
                .enable(s.circuit_breaker_rollback)
                .rollback(s.circuit_breaker_rollback)
                .build(),
        )
        .minimum_healthy_percent(s.minimum_healthy_percent)
        .maximum_percent(s.maximum_percent)
        .build()
}

pub(super) async fn create_service(p: &AwsProvider, d: &Desired) -> Result<Applied, ProviderError> {
    let s: ServiceProps = props(&d.address, &d.props)?;
    let out = retrying_new_roles(|| async {
        p.ecs
            .create_service()
            .client_token(super::idempotency_token(d))
            .cluster(&s.cluster)
            .service_name(&s.name)
            .task_definition(&s.task_definition)
            .desired_count(s.desired_count)
            .launch_type(LaunchType::Fargate)
            .network_configuration(network(&s))
            .set_load_balancers(s.load_balancer.as_ref().map(|lb| {
                vec![LoadBalancer::builder()
                    .target_group_arn(&lb.target_group)
                    .container_name(&lb.container_name)
                    .container_port(lb.container_port)
                    .build()]
            }))
            .set_service_registries(
                s.discovery.as_ref().map(|arn| vec![ServiceRegistry::builder().registry_arn(arn).build()]),
            )
            .deployment_configuration(deployment(&s))
            .set_health_check_grace_period_seconds(
                s.load_balancer.as_ref().map(|_| s.health_check_grace_period_seconds),
            )
            .propagate_tags(aws_sdk_ecs::types::PropagateTags::Service)
            .enable_ecs_managed_tags(true)
            .set_tags(Some(
                tags_of(&d.props).into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect(),
            ))
            .send()
            .await
            .map_err(api("ecs:CreateService"))
    })
    .await?;
    let arn = out.service().and_then(|s| s.service_arn()).unwrap_or_default().to_string();
    Ok(Applied { outputs: outputs([("arn", arn.as_str()), ("name", s.name.as_str())]), physical_id: arn })
}

async fn describe_service(p: &AwsProvider, e: &Existing) -> Result<Option<aws_sdk_ecs::types::Service>, ProviderError> {
    let cluster = e.props.get("cluster").and_then(Value::as_str).unwrap_or_default();
    let out = p
        .ecs
        .describe_services()
        .cluster(cluster)
        .services(&e.physical_id)
        .include(aws_sdk_ecs::types::ServiceField::Tags)
        .send()
        .await
        .map_err(api("ecs:DescribeServices"))?;
    Ok(out.services().iter().find(|s| s.status() == Some("ACTIVE")).cloned())
}

pub(super) async fn read_service(p: &AwsProvider, e: &Existing) -> Result<Option<Observed>, ProviderError> {
    Ok(describe_service(p, e).await?.map(|s| observe_service(&s, e)))
}

/// Reads many services with one `DescribeServices` per cluster and 10 services (the API's limit),
/// tags included.
pub(super) async fn read_services(
    p: &AwsProvider,
    existing: &[Existing],
) -> Result<Vec<Option<Observed>>, ProviderError> {
    let mut by_cluster: std::collections::BTreeMap<&str, Vec<&str>> = std::collections::BTreeMap::new();
    for e in existing {
        let cluster = e.props.get("cluster").and_then(Value::as_str).unwrap_or_default();
        by_cluster.entry(cluster).or_default().push(&e.physical_id);
    }
    let mut found = std::collections::HashMap::new();
    for (cluster, services) in by_cluster {
        for chunk in services.chunks(10) {
            let out = p
                .ecs
                .describe_services()
                .cluster(cluster)
                .set_services(Some(chunk.iter().map(|s| s.to_string()).collect()))
                .include(aws_sdk_ecs::types::ServiceField::Tags)
                .send()
                .await
                .map_err(api("ecs:DescribeServices"))?;
            for s in out.services().iter().filter(|s| s.status() == Some("ACTIVE")) {
                found.insert(s.service_arn().unwrap_or_default().to_string(), s.clone());
            }
        }
    }
    Ok(existing.iter().map(|e| found.get(&e.physical_id).map(|s| observe_service(s, e))).collect())
}

fn observe_service(s: &aws_sdk_ecs::types::Service, e: &Existing) -> Observed {
    let vpc = s.network_configuration().and_then(|n| n.awsvpc_configuration());
    let mut props = Map::new();
    props.insert("name".into(), json!(s.service_name()));
    props.insert("cluster".into(), json!(s.cluster_arn()));
    props.insert("task_definition".into(), json!(s.task_definition()));
    props.insert("desired_count".into(), json!(s.desired_count()));
    props.insert("subnets".into(), json!(vpc.map(|v| v.subnets().to_vec()).unwrap_or_default()));
    props.insert("security_groups".into(), json!(vpc.map(|v| v.security_groups().to_vec()).unwrap_or_default()));
    props.insert(
        "assign_public_ip".into(),
        json!(vpc.and_then(|v| v.assign_public_ip()) == Some(&AssignPublicIp::Enabled)),
    );
    props.insert(
        "load_balancer".into(),
        json!(s.load_balancers().first().map(|lb| json!({
            "target_group": lb.target_group_arn(),
            "container_name": lb.container_name(),
            "container_port": lb.container_port(),
        }))),
    );
    props.insert("discovery".into(), json!(s.service_registries().first().and_then(|r| r.registry_arn())));
    // Not every endpoint reports the deployment configuration; when it does not, the recorded one stands.
    if let Some(d) = s.deployment_configuration() {
        if let Some(cb) = d.deployment_circuit_breaker() {
            props.insert("circuit_breaker_rollback".into(), json!(cb.enable() && cb.rollback()));
        }
        if let Some(v) = d.minimum_healthy_percent() {
            props.insert("minimum_healthy_percent".into(), json!(v));
        }
        if let Some(v) = d.maximum_percent() {
            props.insert("maximum_percent".into(), json!(v));
        }
    }
    if let Some(grace) = s.health_check_grace_period_seconds() {
        props.insert("health_check_grace_period_seconds".into(), json!(grace));
    }
    props.insert(
        "tags".into(),
        tag_map(s.tags().iter().map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default()))),
    );
    let name = s.service_name().unwrap_or_default();
    Observed { props, outputs: outputs([("arn", e.physical_id.as_str()), ("name", name)]) }
}

pub(super) async fn update_service(p: &AwsProvider, e: &Existing, desired: &Value) -> Result<Applied, ProviderError> {
    let s: ServiceProps = props(&e.address, desired)?;
    p.ecs
        .update_service()
        .cluster(&s.cluster)
        .service(&e.physical_id)
        .task_definition(&s.task_definition)
        .desired_count(s.desired_count)
        .network_configuration(network(&s))
        .deployment_configuration(deployment(&s))
        .set_health_check_grace_period_seconds(s.load_balancer.as_ref().map(|_| s.health_check_grace_period_seconds))
        .send()
        .await
        .map_err(api("ecs:UpdateService"))?;
    update_tags(p, &e.physical_id, e, desired).await?;
    Ok(Applied { physical_id: e.physical_id.clone(), outputs: e.outputs.clone() })
}

pub(super) async fn delete_service(p: &AwsProvider, e: &Existing) -> Result<(), ProviderError> {
    let cluster = e.props.get("cluster").and_then(Value::as_str).unwrap_or_default();
    p.ecs
        .delete_service()
        .cluster(cluster)
        .service(&e.physical_id)
        .force(true)
        .send()
        .await
        .map_err(api("ecs:DeleteService"))?;
    super::wait_for(format!("service {} to drain", e.physical_id), p.operation_timeout, || async {
        Ok(describe_service(p, e).await?.is_none().then_some(()))
    })
    .await
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    fn refused(message: &str) -> ProviderError {
        ProviderError::Api {
            operation: "ecs:CreateService",
            code: Some("InvalidParameterException".into()),
            message: message.into(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_role_not_yet_assumable_is_retried_and_other_errors_are_not() {
        let calls = AtomicU32::new(0);
        let result = retrying_new_roles(|| async {
            match calls.fetch_add(1, Ordering::SeqCst) {
                0 | 1 => Err(refused("ECS was unable to assume the role 'arn:aws:iam::1:role/x'")),
                _ => Ok("created"),
            }
        })
        .await;
        assert_eq!(result.unwrap(), "created");
        assert_eq!(calls.load(Ordering::SeqCst), 3);

        let calls = AtomicU32::new(0);
        let result: Result<(), _> = retrying_new_roles(|| async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(refused("Invalid subnet"))
        })
        .await;
        assert!(result.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1, "validation errors fail at once");

        // Past the deadline, the last error is returned.
        let result: Result<(), _> = retrying_new_roles(|| async { Err(refused("unable to assume role")) }).await;
        assert!(result.unwrap_err().to_string().contains("unable to assume role"));
    }
}
