//! ECS clusters. The physical id is the cluster ARN.

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
    sync_tags(
        &e.props,
        desired,
        |remove| async move {
            p.ecs
                .untag_resource()
                .resource_arn(&e.physical_id)
                .set_tag_keys(Some(remove))
                .send()
                .await
                .map_err(api("ecs:UntagResource"))?;
            Ok(())
        },
        |set| async move {
            p.ecs
                .tag_resource()
                .resource_arn(&e.physical_id)
                .set_tags(Some(set.into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()))
                .send()
                .await
                .map_err(api("ecs:TagResource"))?;
            Ok(())
        },
    )
    .await?;
    Ok(Applied { physical_id: e.physical_id.clone(), outputs: e.outputs.clone() })
}

pub(super) async fn delete(p: &AwsProvider, e: &Existing) -> Result<(), ProviderError> {
    p.ecs.delete_cluster().cluster(&e.physical_id).send().await.map_err(api("ecs:DeleteCluster"))?;
    Ok(())
}
