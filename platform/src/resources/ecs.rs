//! ECS: clusters.

use serde::Serialize;

use super::{Arn, Name, Tags};
use crate::model::{Handle, NameStyle, Ref, Resource, TypeSchema};

/// Schema of [`EcsCluster`].
pub const CLUSTER: TypeSchema = TypeSchema {
    type_name: "aws.ecs.cluster",
    name_style: NameStyle::Dashed { max_len: 255, lowercase: false },
    force_new: &["name"],
    sets: &[],
    taggable: true,
    outputs: &["arn", "name"],
    awaits: false,
    create_before_destroy: false,
};

/// The cluster's Container Insights setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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
#[derive(Debug, Clone, Serialize)]
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
    const TYPE: &'static str = CLUSTER.type_name;
}

impl Handle<EcsCluster> {
    /// The cluster's ARN.
    pub fn arn(&self) -> Ref<Arn> {
        self.output("arn")
    }
    /// The cluster's name.
    pub fn name(&self) -> Ref<Name> {
        self.output("name")
    }
}
