//! ECS: clusters.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Arn, Name, Tags, Uri};
use crate::access;
use crate::model::{outputs, NameStyle, Ref, Resource, TypeSchema};

/// Schema of [`EcsCluster`].
pub const CLUSTER: TypeSchema = TypeSchema {
    type_name: "aws.ecs.cluster",
    name_style: NameStyle::Dashed { max_len: 255, lowercase: false },
    force_new: &["name"],
    taggable: true,
    outputs: EcsClusterOutputs::NAMES,
    ..TypeSchema::BASE
};

/// The cluster's Container Insights setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContainerInsights {
    /// Metrics per cluster, service and task.
    Enabled,
    /// Metrics down to the container, with more detail.
    Enhanced,
    /// No Container Insights metrics.
    Disabled,
}

/// An ECS cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EcsCluster {
    /// Container Insights.
    pub container_insights: ContainerInsights,
    /// User tags.
    pub tags: Tags,
}

impl Default for EcsCluster {
    /// A cluster with Container Insights on.
    fn default() -> Self {
        Self { container_insights: ContainerInsights::Enabled, tags: Tags::new() }
    }
}

impl Resource for EcsCluster {
    const SCHEMA: &'static TypeSchema = &CLUSTER;
}

outputs! {
    /// What a cluster records.
    EcsCluster => EcsClusterOutputs {
        /// The cluster's ARN.
        arn: String => arn(Arn),
        /// The cluster's name.
        name: String => name(Name),
    }
}

/// Schema of [`TaskDefinition`].
pub const TASK_DEFINITION: TypeSchema = TypeSchema {
    type_name: "aws.ecs.task_definition",
    name_style: NameStyle::Dashed { max_len: 255, lowercase: false },
    // Task definitions are immutable: any change registers a new revision, the service moves to it,
    // and the old revision is deregistered.
    force_new: &["name", "cpu", "memory", "execution_role", "task_role", "containers"],
    documents: &["containers"],
    taggable: true,
    outputs: TaskDefinitionOutputs::NAMES,
    create_before_destroy: true,
    ..TypeSchema::BASE
};

/// A container's health check, run inside the container.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainerHealthCheck {
    /// The command, e.g. `["CMD", "/app", "healthcheck"]`.
    pub command: Vec<String>,
    /// Seconds between checks.
    pub interval_seconds: u32,
    /// Seconds before a check fails.
    pub timeout_seconds: u32,
    /// Failures before the container is unhealthy.
    pub retries: u32,
    /// Seconds of grace after start.
    pub start_period_seconds: u32,
}

/// One container of a task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Container {
    /// Its name.
    pub name: String,
    /// The image, e.g. the repository URI followed by `:tag`.
    pub image: Ref<Uri>,
    /// The command it runs instead of the image's (`CMD`); empty: the image's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// Container ports (TCP).
    pub ports: Vec<u16>,
    /// Plain environment variables (never secrets); values may be references (a database's host).
    pub environment: BTreeMap<String, Ref<super::Text>>,
    /// Variables read from Secrets Manager by ECS at start (`valueFrom`).
    pub secrets: BTreeMap<String, Ref<Arn>>,
    /// The root filesystem is read-only.
    pub readonly_root_filesystem: bool,
    /// The user (uid) it runs as; never root.
    pub user: String,
    /// Privileged mode.
    pub privileged: bool,
    /// Its health check.
    pub health_check: Option<ContainerHealthCheck>,
    /// The log group its output goes to (awslogs, in the region of the deployment).
    pub log_group: Ref<Name>,
    /// The prefix of its log streams.
    pub log_stream_prefix: String,
}

/// A Fargate task definition (awsvpc networking).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskDefinition {
    /// CPU units (256 = a quarter vCPU).
    pub cpu: u32,
    /// Memory in MiB.
    pub memory: u32,
    /// The role ECS uses to pull the image, write logs and read secrets.
    pub execution_role: Ref<Arn>,
    /// The role the application's code uses.
    pub task_role: Ref<Arn>,
    /// The containers.
    pub containers: Vec<Container>,
    /// User tags.
    pub tags: Tags,
}

/// Fargate's valid CPU and memory combinations (MiB ranges per CPU size).
fn fargate_memory(cpu: u32) -> Option<(u32, u32, u32)> {
    match cpu {
        256 => Some((512, 2048, 512)),
        512 => Some((1024, 4096, 1024)),
        1024 => Some((2048, 8192, 1024)),
        2048 => Some((4096, 16384, 1024)),
        4096 => Some((8192, 30720, 1024)),
        _ => None,
    }
}

impl Resource for TaskDefinition {
    const SCHEMA: &'static TypeSchema = &TASK_DEFINITION;
    fn validate(&self, problems: &mut Vec<String>) {
        match fargate_memory(self.cpu) {
            None => problems.push(format!("cpu: {} is not a Fargate size (256, 512, 1024, 2048, 4096)", self.cpu)),
            Some((min, max, step)) => {
                if self.memory < min || self.memory > max || !self.memory.is_multiple_of(step) {
                    problems.push(format!(
                        "memory: {} MiB does not go with {} CPU units on Fargate ({min} to {max}, in steps of {step})",
                        self.memory, self.cpu
                    ));
                }
            }
        }
        if self.containers.is_empty() {
            problems.push("containers: a task needs a container".into());
        }
        for c in &self.containers {
            if c.user == "0" || c.user == "root" || c.user.is_empty() {
                problems.push(format!("containers.{}: must run as a non-root user", c.name));
            }
            for name in c.environment.keys().filter(|k| c.secrets.contains_key(*k)) {
                problems.push(format!("containers.{}: `{name}` is both a variable and a secret", c.name));
            }
        }
    }
}

/// Marker for references to task definition families.
pub struct Family;

outputs! {
    /// What a task definition revision records.
    TaskDefinition => TaskDefinitionOutputs {
        /// The ARN of the revision.
        arn: String => arn(Arn),
        /// Its family (the task definition's name).
        family: String => family(Family),
        /// Its revision number.
        revision: i32,
    }
}

/// Schema of [`Service`].
pub const SERVICE: TypeSchema = TypeSchema {
    type_name: "aws.ecs.service",
    name_style: NameStyle::Dashed { max_len: 255, lowercase: false },
    // Its load balancers and Cloud Map registries change in place (`UpdateService` takes them and
    // rolls the tasks over): replacing the service would delete it first, and AWS refuses a new
    // service of the same name while the old one drains.
    force_new: &["name", "cluster"],
    sets: &["subnets", "security_groups"],
    taggable: true,
    outputs: ServiceOutputs::NAMES,
    // A create or update is done when its deployment has rolled out (or the circuit breaker
    // rolled it back, which fails the apply).
    awaits: true,
    widening: Some(service_widening),
    ..TypeSchema::BASE
};

/// Where a service's tasks are registered with a load balancer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceLoadBalancer {
    /// The target group.
    pub target_group: Ref<Arn>,
    /// The container receiving the traffic.
    pub container_name: String,
    /// Its port.
    pub container_port: u16,
}

/// A Fargate service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Service {
    /// The cluster.
    pub cluster: Ref<Arn>,
    /// The task definition revision it runs.
    pub task_definition: Ref<Arn>,
    /// Tasks to keep running.
    pub desired_count: u32,
    /// Subnets of its tasks (private ones).
    pub subnets: Vec<Ref<super::SubnetId>>,
    /// Security groups of its tasks.
    pub security_groups: Vec<Ref<super::SecurityGroupId>>,
    /// Give tasks public addresses.
    pub assign_public_ip: bool,
    /// Its load balancer registration.
    pub load_balancer: Option<ServiceLoadBalancer>,
    /// Its Cloud Map service (ARN).
    pub discovery: Option<Ref<Arn>>,
    /// Stop a failing deployment and roll back to the last working one.
    pub circuit_breaker_rollback: bool,
    /// Percent of tasks kept running during a deployment.
    pub minimum_healthy_percent: u32,
    /// Percent of tasks allowed during a deployment.
    pub maximum_percent: u32,
    /// Seconds load balancer health checks are ignored after a task starts.
    pub health_check_grace_period_seconds: u32,
    /// User tags.
    pub tags: Tags,
}

impl Resource for Service {
    const SCHEMA: &'static TypeSchema = &SERVICE;
    fn validate(&self, problems: &mut Vec<String>) {
        if self.maximum_percent < self.minimum_healthy_percent.max(100) {
            problems.push("maximum_percent: must be at least 100 and at least minimum_healthy_percent".into());
        }
        if self.subnets.is_empty() {
            problems.push("subnets: a service needs subnets".into());
        }
    }
}

outputs! {
    /// What a service records.
    Service => ServiceOutputs {
        /// The service's ARN.
        arn: String => arn(Arn),
        /// The service's name.
        name: String => name(Name),
    }
}

fn service_widening(before: Option<&Value>, after: &Value) -> Vec<String> {
    let mut out = vec![];
    if access::became(before, after, "assign_public_ip", Value::Bool(true)) {
        out.push("tasks get public addresses".into());
    }
    out
}
