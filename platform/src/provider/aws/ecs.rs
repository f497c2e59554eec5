//! ECS clusters, task definitions and services. Clusters and services are known by their ARN, a
//! task definition revision by its ARN.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, ClusterField, ClusterSetting, ClusterSettingName, Compatibility,
    ContainerDefinition, DeploymentCircuitBreaker, DeploymentConfiguration, HealthCheck, KeyValuePair, LaunchType,
    LoadBalancer, LogConfiguration, LogDriver, NetworkConfiguration, NetworkMode, PortMapping, Secret, ServiceRegistry,
    Tag, TaskDefinitionField, TransportProtocol,
};

use super::client::Aws;
use super::resource::{read_one, AwsResource, Created, Current, Lookup, New, Read, Recorded};
use super::support::{api, missing, refs, sync_tags, tags, texts, wait_for};
use crate::model::Ref;
use crate::provider::ProviderError;
use crate::resources::ecs::{
    Container, ContainerHealthCheck, ContainerInsights, EcsCluster, EcsClusterOutputs, Service, ServiceLoadBalancer,
    ServiceOutputs, TaskDefinition, TaskDefinitionOutputs,
};
use crate::resources::Tags;

/// `aws.ecs.cluster`.
pub(crate) struct Clusters;
/// `aws.ecs.task_definition`.
pub(crate) struct TaskDefinitions;
/// `aws.ecs.service`.
pub(crate) struct Services;

fn ecs_tags(tags: &Tags) -> Vec<Tag> {
    tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()
}

fn tags_of(list: &[Tag]) -> Tags {
    tags(list.iter().map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default())))
}

/// Sets and removes tags of an ECS resource (cluster, task definition, service).
async fn update_tags(aws: &Aws, arn: &str, old: &Tags, new: &Tags) -> Result<(), ProviderError> {
    sync_tags(
        old,
        new,
        |remove| async move {
            aws.ecs
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
            aws.ecs
                .tag_resource()
                .resource_arn(arn)
                .set_tags(Some(tags))
                .send()
                .await
                .map_err(api("ecs:TagResource"))?;
            Ok(())
        },
    )
    .await
}

fn int(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

fn number(v: Option<i32>) -> u32 {
    v.and_then(|v| u32::try_from(v).ok()).unwrap_or_default()
}

// ---- Cluster ----

fn insights_setting(value: ContainerInsights) -> ClusterSetting {
    let value = match value {
        ContainerInsights::Enabled => "enabled",
        ContainerInsights::Enhanced => "enhanced",
        ContainerInsights::Disabled => "disabled",
    };
    ClusterSetting::builder().name(ClusterSettingName::ContainerInsights).value(value).build()
}

#[async_trait]
impl AwsResource for Clusters {
    type Props = EcsCluster;
    type Outputs = EcsClusterOutputs;

    async fn create(&self, aws: &Aws, new: &New<'_, EcsCluster>) -> Result<Created<EcsClusterOutputs>, ProviderError> {
        let name = new.name()?;
        let out = aws
            .ecs
            .create_cluster()
            .cluster_name(name)
            .settings(insights_setting(new.props.container_insights))
            .set_tags(Some(ecs_tags(&new.props.tags)))
            .send()
            .await
            .map_err(api("ecs:CreateCluster"))?;
        let arn = out.cluster().and_then(|c| c.cluster_arn()).unwrap_or_default().to_string();
        Ok(Created { physical_id: arn.clone(), outputs: EcsClusterOutputs { arn, name: name.to_string() } })
    }

    async fn read(
        &self,
        aws: &Aws,
        recorded: &Recorded<'_, EcsCluster>,
    ) -> Result<Option<Read<EcsCluster, EcsClusterOutputs>>, ProviderError> {
        let out = aws
            .ecs
            .describe_clusters()
            .clusters(recorded.physical_id)
            .include(ClusterField::Tags)
            .include(ClusterField::Settings)
            .send()
            .await
            .map_err(api("ecs:DescribeClusters"))?;
        // Deleted clusters stay visible for a while as INACTIVE.
        let Some(c) = out.clusters().iter().find(|c| c.status() != Some("INACTIVE")) else { return Ok(None) };
        let insights = c
            .settings()
            .iter()
            .find(|s| s.name() == Some(&ClusterSettingName::ContainerInsights))
            .and_then(|s| s.value());
        let props = EcsCluster {
            container_insights: match insights {
                Some("enabled") => ContainerInsights::Enabled,
                Some("enhanced") => ContainerInsights::Enhanced,
                _ => ContainerInsights::Disabled,
            },
            tags: tags_of(c.tags()),
        };
        let name = c.cluster_name().unwrap_or_default();
        let outputs = EcsClusterOutputs { arn: recorded.physical_id.to_string(), name: name.to_string() };
        Ok(Some(Read::named(props, name, outputs)))
    }

    async fn update(
        &self,
        aws: &Aws,
        current: &Current<'_, EcsCluster, EcsClusterOutputs>,
        new: &EcsCluster,
    ) -> Result<(), ProviderError> {
        if current.props.container_insights != new.container_insights {
            // UpdateCluster takes the settings too (moto has no UpdateClusterSettings).
            aws.ecs
                .update_cluster()
                .cluster(current.physical_id)
                .settings(insights_setting(new.container_insights))
                .send()
                .await
                .map_err(api("ecs:UpdateCluster"))?;
        }
        update_tags(aws, current.physical_id, &current.props.tags, &new.tags).await
    }

    async fn delete(
        &self,
        aws: &Aws,
        current: &Current<'_, EcsCluster, EcsClusterOutputs>,
    ) -> Result<(), ProviderError> {
        aws.ecs.delete_cluster().cluster(current.physical_id).send().await.map_err(api("ecs:DeleteCluster"))?;
        Ok(())
    }

    /// The services still in the cluster (a cluster with services, or tasks, is not deleted:
    /// <https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DeleteCluster.html>).
    async fn holders(
        &self,
        aws: &Aws,
        current: &Current<'_, EcsCluster, EcsClusterOutputs>,
    ) -> Result<Vec<String>, ProviderError> {
        let out = aws.ecs.list_services().cluster(current.physical_id).send().await.map_err(api("ecs:ListServices"))?;
        Ok(out.service_arns().iter().map(|arn| format!("service {arn}")).collect())
    }

    /// An active cluster by its name.
    async fn find(&self, aws: &Aws, lookup: &Lookup<'_, EcsCluster>) -> Result<Option<String>, ProviderError> {
        let Some(name) = lookup.name else { return Ok(None) };
        let out = aws.ecs.describe_clusters().clusters(name).send().await.map_err(api("ecs:DescribeClusters"))?;
        Ok(out
            .clusters()
            .iter()
            .find(|c| c.status() == Some("ACTIVE"))
            .and_then(|c| c.cluster_arn().map(str::to_string)))
    }
}

// ---- Task definition ----

fn container_definition(c: &Container, region: &str) -> ContainerDefinition {
    let log = LogConfiguration::builder()
        .log_driver(LogDriver::Awslogs)
        .options("awslogs-group", c.log_group.as_str())
        .options("awslogs-region", region)
        .options("awslogs-stream-prefix", &c.log_stream_prefix)
        .build()
        .expect("the log driver is set");
    ContainerDefinition::builder()
        .name(&c.name)
        .image(c.image.as_str())
        .essential(true)
        .set_command((!c.command.is_empty()).then(|| c.command.clone()))
        .set_port_mappings(Some(
            c.ports
                .iter()
                .map(|p| PortMapping::builder().container_port(i32::from(*p)).protocol(TransportProtocol::Tcp).build())
                .collect(),
        ))
        .set_environment(Some(
            c.environment.iter().map(|(k, v)| KeyValuePair::builder().name(k).value(v.as_str()).build()).collect(),
        ))
        .set_secrets(Some(
            c.secrets
                .iter()
                .map(|(k, v)| Secret::builder().name(k).value_from(v.as_str()).build().expect("name and value are set"))
                .collect(),
        ))
        .readonly_root_filesystem(c.readonly_root_filesystem)
        .user(&c.user)
        .privileged(c.privileged)
        .set_health_check(c.health_check.as_ref().map(|h| {
            HealthCheck::builder()
                .set_command(Some(h.command.clone()))
                .interval(int(h.interval_seconds))
                .timeout(int(h.timeout_seconds))
                .retries(int(h.retries))
                .start_period(int(h.start_period_seconds))
                .build()
                .expect("the command is set")
        }))
        .log_configuration(log)
        .build()
}

/// A container definition as AWS reports it, in the declared form (AWS's defaults left out).
fn declared_container(c: &ContainerDefinition) -> Container {
    let options = c.log_configuration().and_then(|l| l.options());
    let option = |k: &str| options.and_then(|o| o.get(k)).cloned().unwrap_or_default();
    Container {
        name: c.name().unwrap_or_default().to_string(),
        image: Ref::existing(c.image().unwrap_or_default()),
        command: c.command().to_vec(),
        ports: c
            .port_mappings()
            .iter()
            .filter_map(|p| p.container_port())
            .filter_map(|p| u16::try_from(p).ok())
            .collect(),
        environment: c
            .environment()
            .iter()
            .filter_map(|kv| Some((kv.name()?.to_string(), Ref::literal(kv.value()?))))
            .collect::<BTreeMap<_, _>>(),
        secrets: c.secrets().iter().map(|s| (s.name().to_string(), Ref::existing(s.value_from()))).collect(),
        readonly_root_filesystem: c.readonly_root_filesystem().unwrap_or(false),
        user: c.user().unwrap_or_default().to_string(),
        privileged: c.privileged().unwrap_or(false),
        health_check: c.health_check().map(|h| ContainerHealthCheck {
            command: h.command().to_vec(),
            interval_seconds: number(h.interval()),
            timeout_seconds: number(h.timeout()),
            retries: number(h.retries()),
            start_period_seconds: number(h.start_period()),
        }),
        log_group: Ref::existing(option("awslogs-group")),
        log_stream_prefix: option("awslogs-stream-prefix"),
    }
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

fn task_outputs(td: &aws_sdk_ecs::types::TaskDefinition) -> TaskDefinitionOutputs {
    TaskDefinitionOutputs {
        arn: td.task_definition_arn().unwrap_or_default().to_string(),
        family: td.family().unwrap_or_default().to_string(),
        revision: td.revision(),
    }
}

#[async_trait]
impl AwsResource for TaskDefinitions {
    type Props = TaskDefinition;
    type Outputs = TaskDefinitionOutputs;

    async fn create(
        &self,
        aws: &Aws,
        new: &New<'_, TaskDefinition>,
    ) -> Result<Created<TaskDefinitionOutputs>, ProviderError> {
        let (t, family) = (&new.props, new.name()?);
        let region = aws.region();
        let out = retrying_new_roles(|| async {
            aws.ecs_once
                .register_task_definition()
                .family(family)
                .network_mode(NetworkMode::Awsvpc)
                .requires_compatibilities(Compatibility::Fargate)
                .cpu(t.cpu.to_string())
                .memory(t.memory.to_string())
                .execution_role_arn(t.execution_role.as_str())
                .task_role_arn(t.task_role.as_str())
                .set_container_definitions(Some(
                    t.containers.iter().map(|c| container_definition(c, &region)).collect(),
                ))
                .set_tags(Some(ecs_tags(&t.tags)))
                .send()
                .await
                .map_err(api("ecs:RegisterTaskDefinition"))
        })
        .await?;
        let td = out
            .task_definition()
            .ok_or_else(|| missing("ecs:RegisterTaskDefinition", "the response holds no task definition"))?;
        Ok(Created { physical_id: td.task_definition_arn().unwrap_or_default().to_string(), outputs: task_outputs(td) })
    }

    async fn read(
        &self,
        aws: &Aws,
        recorded: &Recorded<'_, TaskDefinition>,
    ) -> Result<Option<Read<TaskDefinition, TaskDefinitionOutputs>>, ProviderError> {
        let out = aws
            .ecs
            .describe_task_definition()
            .task_definition(recorded.physical_id)
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
        let props = TaskDefinition {
            cpu: td.cpu().and_then(|c| c.parse().ok()).unwrap_or_default(),
            memory: td.memory().and_then(|m| m.parse().ok()).unwrap_or_default(),
            execution_role: Ref::existing(td.execution_role_arn().unwrap_or_default()),
            task_role: Ref::existing(td.task_role_arn().unwrap_or_default()),
            containers: td.container_definitions().iter().map(declared_container).collect(),
            tags: tags_of(out.tags()),
        };
        Ok(Some(Read::named(props, td.family().unwrap_or_default(), task_outputs(td))))
    }

    /// Everything but tags replaces the revision; tags change in place.
    async fn update(
        &self,
        aws: &Aws,
        current: &Current<'_, TaskDefinition, TaskDefinitionOutputs>,
        new: &TaskDefinition,
    ) -> Result<(), ProviderError> {
        update_tags(aws, current.physical_id, &current.props.tags, &new.tags).await
    }

    async fn delete(
        &self,
        aws: &Aws,
        current: &Current<'_, TaskDefinition, TaskDefinitionOutputs>,
    ) -> Result<(), ProviderError> {
        // Deregistered (INACTIVE: no new task or service may use it; running ones go on), then
        // deleted, so that nothing is left behind: AWS keeps INACTIVE revisions forever otherwise
        // (<https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DeleteTaskDefinitions.html>).
        let arn = current.physical_id;
        aws.ecs
            .deregister_task_definition()
            .task_definition(arn)
            .send()
            .await
            .map_err(api("ecs:DeregisterTaskDefinition"))?;
        let out = aws
            .ecs
            .delete_task_definitions()
            .task_definitions(arn)
            .send()
            .await
            .map_err(api("ecs:DeleteTaskDefinitions"))?;
        match out.failures().first() {
            Some(f) => Err(ProviderError::OperationFailed {
                what: format!("deleting task definition {arn}"),
                message: format!("{}: {}", f.reason().unwrap_or("failed"), f.detail().unwrap_or_default()),
            }),
            None => Ok(()),
        }
    }

    /// The newest active revision of the family tagged with the lookup's address.
    async fn find(&self, aws: &Aws, lookup: &Lookup<'_, TaskDefinition>) -> Result<Option<String>, ProviderError> {
        let Some(family) = lookup.name else { return Ok(None) };
        let out = aws
            .ecs
            .list_task_definitions()
            .family_prefix(family)
            .sort(aws_sdk_ecs::types::SortOrder::Desc)
            .send()
            .await
            .map_err(api("ecs:ListTaskDefinitions"))?;
        let address = lookup.address.to_string();
        for arn in out.task_definition_arns() {
            let td = aws
                .ecs
                .describe_task_definition()
                .task_definition(arn)
                .include(TaskDefinitionField::Tags)
                .send()
                .await
                .map_err(api("ecs:DescribeTaskDefinition"))?;
            let tagged = td
                .tags()
                .iter()
                .any(|t| t.key() == Some(crate::model::TAG_ADDRESS) && t.value() == Some(address.as_str()));
            if tagged && td.task_definition().and_then(|t| t.family()) == Some(family) {
                return Ok(Some(arn.to_string()));
            }
        }
        Ok(None)
    }
}

// ---- Service ----

fn network(s: &Service) -> NetworkConfiguration {
    NetworkConfiguration::builder()
        .awsvpc_configuration(
            AwsVpcConfiguration::builder()
                .set_subnets(Some(texts(&s.subnets)))
                .set_security_groups(Some(texts(&s.security_groups)))
                .assign_public_ip(if s.assign_public_ip { AssignPublicIp::Enabled } else { AssignPublicIp::Disabled })
                .build()
                .expect("subnets are set"),
        )
        .build()
}

fn deployment(s: &Service) -> DeploymentConfiguration {
    DeploymentConfiguration::builder()
        .deployment_circuit_breaker(
            DeploymentCircuitBreaker::builder()
                .enable(s.circuit_breaker_rollback)
                .rollback(s.circuit_breaker_rollback)
                .build(),
        )
        .minimum_healthy_percent(int(s.minimum_healthy_percent))
        .maximum_percent(int(s.maximum_percent))
        .build()
}

/// Services of a cluster by name or ARN, whatever their status (deleted ones stay listed for a
/// while as `DRAINING`, then `INACTIVE`).
async fn describe_any(
    aws: &Aws,
    cluster: &str,
    arns: Vec<String>,
) -> Result<Vec<aws_sdk_ecs::types::Service>, ProviderError> {
    let out = aws
        .ecs
        .describe_services()
        .cluster(cluster)
        .set_services(Some(arns))
        .include(aws_sdk_ecs::types::ServiceField::Tags)
        .send()
        .await
        .map_err(api("ecs:DescribeServices"))?;
    Ok(out.services().to_vec())
}

/// The active services among `arns`.
async fn describe_services(
    aws: &Aws,
    cluster: &str,
    arns: Vec<String>,
) -> Result<Vec<aws_sdk_ecs::types::Service>, ProviderError> {
    Ok(describe_any(aws, cluster, arns).await?.into_iter().filter(|s| s.status() == Some("ACTIVE")).collect())
}

fn load_balancers(s: &Service) -> Vec<LoadBalancer> {
    s.load_balancer
        .iter()
        .map(|lb| {
            LoadBalancer::builder()
                .target_group_arn(lb.target_group.as_str())
                .container_name(&lb.container_name)
                .container_port(i32::from(lb.container_port))
                .build()
        })
        .collect()
}

fn registries(s: &Service) -> Vec<ServiceRegistry> {
    s.discovery.iter().map(|arn| ServiceRegistry::builder().registry_arn(arn.as_str()).build()).collect()
}

/// Where a service's rollout to a task definition stands.
#[derive(Debug, PartialEq)]
enum Rollout {
    /// The deployment of that task definition completed (its tasks run and are healthy).
    Completed,
    /// Still going: what to report.
    InProgress(String),
    /// It failed (and was rolled back, if the circuit breaker rolls back): AWS's reason.
    Failed(String),
}

/// Where the rollout of `expected` (a task definition ARN) stands, from the service's
/// deployments: the `PRIMARY` deployment is the newest, and its `rolloutState` goes
/// `IN_PROGRESS` → `COMPLETED`, or `FAILED` when the deployment circuit breaker stops it; with
/// rollback on, the breaker then starts a new `PRIMARY` deployment of the last completed task
/// definition (<https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Deployment.html>,
/// <https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-circuit-breaker.html>).
fn rollout(service: &aws_sdk_ecs::types::Service, expected: &str) -> Rollout {
    use aws_sdk_ecs::types::DeploymentRolloutState as State;
    let deployments = service.deployments();
    let failed = deployments.iter().find(|d| d.rollout_state() == Some(&State::Failed));
    // Why it failed: the failed deployment's reason, else the newest event saying so.
    let reason = || {
        failed
            .and_then(|d| d.rollout_state_reason())
            .map(str::to_string)
            .or_else(|| {
                service
                    .events()
                    .iter()
                    .filter_map(|e| e.message())
                    .find(|m| m.contains("failed") || m.contains("rolling back"))
                    .map(str::to_string)
            })
            .unwrap_or_else(|| "the deployment failed".to_string())
    };
    let Some(primary) = deployments.iter().find(|d| d.status() == Some("PRIMARY")) else {
        return Rollout::InProgress("no deployment has started yet".into());
    };
    let id = primary.id().unwrap_or("?");
    if primary.task_definition() != Some(expected) {
        // The circuit breaker rolled the deployment of `expected` back to an earlier revision.
        let current = primary.task_definition().unwrap_or("?");
        return Rollout::Failed(format!("{}; the service rolled back to {current}", reason()));
    }
    let tasks = format!("{} of {} tasks running", primary.running_count(), primary.desired_count());
    match primary.rollout_state() {
        Some(State::Completed) => Rollout::Completed,
        Some(State::Failed) => Rollout::Failed(reason()),
        Some(state) => Rollout::InProgress(format!("deployment {id} {}: {tasks}", state.as_str())),
        // No rollout state (only services with the circuit breaker off may lack it): done
        // once the new deployment alone runs all its tasks.
        None if deployments.len() == 1 && primary.running_count() == primary.desired_count() => Rollout::Completed,
        None => Rollout::InProgress(format!("deployment {id}: {tasks}")),
    }
}

/// The cluster of a recorded service: as recorded, or from its ARN
/// (`arn:aws:ecs:REGION:ACCOUNT:service/CLUSTER/NAME`).
fn cluster_of(r: &Recorded<'_, Service>) -> String {
    match &r.props {
        Some(p) => p.cluster.as_str().to_string(),
        None => r.physical_id.split('/').rev().nth(1).unwrap_or_default().to_string(),
    }
}

fn observe_service(s: &aws_sdk_ecs::types::Service, recorded: &Recorded<'_, Service>) -> Read<Service, ServiceOutputs> {
    let vpc = s.network_configuration().and_then(|n| n.awsvpc_configuration());
    // Not every endpoint reports the deployment configuration; when it does not, the recorded
    // one stands.
    let deployment = s.deployment_configuration();
    let breaker = deployment.and_then(|d| d.deployment_circuit_breaker());
    let props = Service {
        cluster: Ref::existing(s.cluster_arn().unwrap_or_default()),
        task_definition: Ref::existing(s.task_definition().unwrap_or_default()),
        desired_count: number(Some(s.desired_count())),
        subnets: refs(vpc.map(|v| v.subnets()).unwrap_or_default()),
        security_groups: refs(vpc.map(|v| v.security_groups()).unwrap_or_default()),
        assign_public_ip: vpc.and_then(|v| v.assign_public_ip()) == Some(&AssignPublicIp::Enabled),
        load_balancer: s.load_balancers().first().map(|lb| ServiceLoadBalancer {
            target_group: Ref::existing(lb.target_group_arn().unwrap_or_default()),
            container_name: lb.container_name().unwrap_or_default().to_string(),
            container_port: lb.container_port().and_then(|p| u16::try_from(p).ok()).unwrap_or_default(),
        }),
        discovery: s.service_registries().first().and_then(|r| r.registry_arn()).map(Ref::existing),
        circuit_breaker_rollback: breaker
            .map_or_else(|| recorded.kept(|p| p.circuit_breaker_rollback), |b| b.enable() && b.rollback()),
        minimum_healthy_percent: deployment
            .and_then(|d| d.minimum_healthy_percent())
            .map_or_else(|| recorded.kept(|p| p.minimum_healthy_percent), |v| number(Some(v))),
        maximum_percent: deployment
            .and_then(|d| d.maximum_percent())
            .map_or_else(|| recorded.kept(|p| p.maximum_percent), |v| number(Some(v))),
        health_check_grace_period_seconds: s
            .health_check_grace_period_seconds()
            .map_or_else(|| recorded.kept(|p| p.health_check_grace_period_seconds), |v| number(Some(v))),
        tags: tags_of(s.tags()),
    };
    let name = s.service_name().unwrap_or_default();
    let outputs = ServiceOutputs { arn: s.service_arn().unwrap_or_default().to_string(), name: name.to_string() };
    Read::named(props, name, outputs)
}

#[async_trait]
impl AwsResource for Services {
    type Props = Service;
    type Outputs = ServiceOutputs;

    const BATCHED: bool = true;
    const AWAITS: bool = true;

    async fn create(&self, aws: &Aws, new: &New<'_, Service>) -> Result<Created<ServiceOutputs>, ProviderError> {
        let (s, name) = (&new.props, new.name()?);
        let out = retrying_new_roles(|| async {
            aws.ecs
                .create_service()
                .client_token(&new.token)
                .cluster(s.cluster.as_str())
                .service_name(name)
                .task_definition(s.task_definition.as_str())
                .desired_count(int(s.desired_count))
                .launch_type(LaunchType::Fargate)
                .network_configuration(network(s))
                .set_load_balancers(Some(load_balancers(s)))
                .set_service_registries(Some(registries(s)))
                .deployment_configuration(deployment(s))
                .set_health_check_grace_period_seconds(
                    s.load_balancer.as_ref().map(|_| int(s.health_check_grace_period_seconds)),
                )
                .propagate_tags(aws_sdk_ecs::types::PropagateTags::Service)
                .enable_ecs_managed_tags(true)
                .set_tags(Some(ecs_tags(&s.tags)))
                .send()
                .await
                .map_err(api("ecs:CreateService"))
        })
        .await?;
        let arn = out.service().and_then(|s| s.service_arn()).unwrap_or_default().to_string();
        Ok(Created { physical_id: arn.clone(), outputs: ServiceOutputs { arn, name: name.to_string() } })
    }

    async fn read(
        &self,
        aws: &Aws,
        recorded: &Recorded<'_, Service>,
    ) -> Result<Option<Read<Service, ServiceOutputs>>, ProviderError> {
        read_one(self, aws, recorded).await
    }

    /// One `DescribeServices` per cluster and 10 services (the API's limit), tags included.
    async fn read_batch(
        &self,
        aws: &Aws,
        recorded: &[Recorded<'_, Service>],
    ) -> Result<Vec<Option<Read<Service, ServiceOutputs>>>, ProviderError> {
        let mut by_cluster: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for r in recorded {
            by_cluster.entry(cluster_of(r)).or_default().push(r.physical_id.to_string());
        }
        let mut found = HashMap::new();
        for (cluster, services) in by_cluster {
            for chunk in services.chunks(10) {
                for s in describe_services(aws, &cluster, chunk.to_vec()).await? {
                    found.insert(s.service_arn().unwrap_or_default().to_string(), s);
                }
            }
        }
        Ok(recorded.iter().map(|r| found.get(r.physical_id).map(|s| observe_service(s, r))).collect())
    }

    /// `UpdateService` changes everything but the name and the cluster in place, load balancers
    /// and Cloud Map registries included (for services of the ECS deployment controller, which
    /// roll their tasks over to them:
    /// <https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_UpdateService.html>);
    /// they are sent only when they change, an empty list removing them.
    async fn update(
        &self,
        aws: &Aws,
        current: &Current<'_, Service, ServiceOutputs>,
        new: &Service,
    ) -> Result<(), ProviderError> {
        let old = &current.props;
        aws.ecs
            .update_service()
            .cluster(new.cluster.as_str())
            .service(current.physical_id)
            .task_definition(new.task_definition.as_str())
            .desired_count(int(new.desired_count))
            .network_configuration(network(new))
            .deployment_configuration(deployment(new))
            .set_load_balancers((old.load_balancer != new.load_balancer).then(|| load_balancers(new)))
            .set_service_registries((old.discovery != new.discovery).then(|| registries(new)))
            .set_health_check_grace_period_seconds(
                new.load_balancer.as_ref().map(|_| int(new.health_check_grace_period_seconds)),
            )
            .send()
            .await
            .map_err(api("ecs:UpdateService"))?;
        update_tags(aws, current.physical_id, &current.props.tags, &new.tags).await
    }

    /// Deletes the service and waits until it is `INACTIVE`: `DeleteService` only starts the
    /// drain (`ACTIVE` → `DRAINING`, tasks stopped, then `INACTIVE`:
    /// <https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DeleteService.html>); until
    /// then its tasks hold their network interfaces, Cloud Map instances and the cluster.
    async fn delete(&self, aws: &Aws, current: &Current<'_, Service, ServiceOutputs>) -> Result<(), ProviderError> {
        let (cluster, arn) = (current.props.cluster.as_str(), current.physical_id);
        let found = describe_any(aws, cluster, vec![arn.to_string()]).await?;
        if found.iter().any(|s| s.status() == Some("ACTIVE")) {
            aws.ecs
                .delete_service()
                .cluster(cluster)
                .service(arn)
                .force(true)
                .send()
                .await
                .map_err(api("ecs:DeleteService"))?;
        }
        let last = std::sync::Mutex::new(String::new());
        wait_for(format!("service {arn} to drain"), aws.operation_timeout, || async {
            let found = describe_any(aws, cluster, vec![arn.to_string()]).await?;
            let Some(service) = found.iter().find(|s| s.status() != Some("INACTIVE")) else { return Ok(Some(())) };
            let status = format!(
                "{}: {} tasks running, {} pending",
                service.status().unwrap_or("?").to_lowercase(),
                service.running_count(),
                service.pending_count()
            );
            let mut last = last.lock().expect("progress lock");
            if *last != status {
                (current.progress)(&status);
                *last = status;
            }
            Ok(None)
        })
        .await
    }

    /// Waits until the deployment of the service's task definition has rolled out; a deployment
    /// the circuit breaker failed (and rolled back) fails the wait with AWS's reason.
    async fn await_ready(
        &self,
        aws: &Aws,
        current: &Current<'_, Service, ServiceOutputs>,
    ) -> Result<ServiceOutputs, ProviderError> {
        let (cluster, arn) = (current.props.cluster.as_str(), current.physical_id);
        let expected = current.props.task_definition.as_str();
        let last = std::sync::Mutex::new(String::new());
        wait_for(format!("service {arn} to roll out {expected}"), aws.operation_timeout, || async {
            let found = describe_services(aws, cluster, vec![arn.to_string()]).await?;
            let Some(service) = found.first() else {
                return Err(missing("ecs:DescribeServices", &format!("service {arn} is not active")));
            };
            match rollout(service, expected) {
                Rollout::Completed => Ok(Some(current.outputs.clone())),
                Rollout::Failed(reason) => Err(ProviderError::OperationFailed {
                    what: format!("the deployment of {expected}"),
                    message: reason,
                }),
                Rollout::InProgress(status) => {
                    let mut last = last.lock().expect("progress lock");
                    if *last != status {
                        (current.progress)(&status);
                        *last = status;
                    }
                    Ok(None)
                }
            }
        })
        .await
    }

    /// An active service of the cluster by its name.
    async fn find(&self, aws: &Aws, lookup: &Lookup<'_, Service>) -> Result<Option<String>, ProviderError> {
        let (Some(name), Some(s)) = (lookup.name, &lookup.props) else { return Ok(None) };
        let found = describe_services(aws, s.cluster.as_str(), vec![name.to_string()]).await?;
        Ok(found.first().and_then(|s| s.service_arn().map(str::to_string)))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use aws_sdk_ecs::types::{Deployment, DeploymentRolloutState, Service as AwsService, ServiceEvent};

    use super::*;

    fn deployment(id: &str, status: &str, td: &str, state: Option<DeploymentRolloutState>) -> Deployment {
        failing(id, status, td, state, None)
    }

    fn failing(
        id: &str,
        status: &str,
        td: &str,
        state: Option<DeploymentRolloutState>,
        why: Option<&str>,
    ) -> Deployment {
        Deployment::builder()
            .id(id)
            .status(status)
            .task_definition(td)
            .set_rollout_state(state)
            .set_rollout_state_reason(why.map(str::to_string))
            .desired_count(2)
            .running_count(1)
            .build()
    }

    #[test]
    fn a_rollout_is_done_when_the_primary_deployment_of_the_new_revision_completed() {
        use DeploymentRolloutState as S;
        let service = |deployments: Vec<Deployment>| AwsService::builder().set_deployments(Some(deployments)).build();
        let going = service(vec![
            deployment("ecs-svc/2", "PRIMARY", "td:2", Some(S::InProgress)),
            deployment("ecs-svc/1", "ACTIVE", "td:1", Some(S::Completed)),
        ]);
        assert_eq!(
            rollout(&going, "td:2"),
            Rollout::InProgress("deployment ecs-svc/2 IN_PROGRESS: 1 of 2 tasks running".into())
        );
        let done = service(vec![deployment("ecs-svc/2", "PRIMARY", "td:2", Some(S::Completed))]);
        assert_eq!(rollout(&done, "td:2"), Rollout::Completed);

        // The circuit breaker failed the deployment and rolled back to the previous revision.
        let why = Some("ECS deployment circuit breaker: task failed to start.");
        let failed = failing("ecs-svc/2", "ACTIVE", "td:2", Some(S::Failed), why);
        let rolled_back = service(vec![deployment("ecs-svc/3", "PRIMARY", "td:1", Some(S::InProgress)), failed]);
        let Rollout::Failed(reason) = rollout(&rolled_back, "td:2") else { panic!("a failed rollout") };
        assert_eq!(reason, "ECS deployment circuit breaker: task failed to start.; the service rolled back to td:1");
        // Once the failed deployment is gone, the service's events still say why.
        let later = AwsService::builder()
            .deployments(deployment("ecs-svc/3", "PRIMARY", "td:1", Some(S::Completed)))
            .events(ServiceEvent::builder().message("(service x) has reached a steady state.").build())
            .events(
                ServiceEvent::builder()
                    .message("(service x) (deployment ecs-svc/2) deployment failed: tasks failed to start.")
                    .build(),
            )
            .build();
        let Rollout::Failed(reason) = rollout(&later, "td:2") else { panic!("a failed rollout") };
        assert!(reason.starts_with("(service x) (deployment ecs-svc/2) deployment failed"), "{reason}");
        // Waiting for the revision it rolled back to is waiting for the rollback.
        assert_eq!(rollout(&later, "td:1"), Rollout::Completed);
        // Without a deployment to return to, the failed one stays primary.
        let stuck = service(vec![deployment("ecs-svc/1", "PRIMARY", "td:1", Some(S::Failed))]);
        assert!(matches!(rollout(&stuck, "td:1"), Rollout::Failed(_)));
    }

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
