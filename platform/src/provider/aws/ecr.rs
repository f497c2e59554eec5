//! ECR repositories. The physical id is the repository name.

use serde::Deserialize;
use serde_json::{json, Map, Value};

use aws_sdk_ecr::types::{ImageScanningConfiguration, ImageTagMutability, Tag};

use super::{api, malformed, outputs, props, sync_tags, tag_map, tags_of, AwsProvider};
use crate::provider::{Applied, Desired, Existing, Observed, ProviderError};

#[derive(Deserialize)]
struct RepositoryProps {
    name: String,
    scan_on_push: bool,
    image_tag_mutability: String,
    #[serde(default)]
    force_delete: bool,
}

fn repo_outputs(r: &aws_sdk_ecr::types::Repository) -> std::collections::BTreeMap<String, Value> {
    outputs([
        ("arn", r.repository_arn().unwrap_or_default()),
        ("name", r.repository_name().unwrap_or_default()),
        ("repository_uri", r.repository_uri().unwrap_or_default()),
    ])
}

pub(super) async fn create(p: &AwsProvider, d: &Desired) -> Result<Applied, ProviderError> {
    let r: RepositoryProps = props(&d.address, &d.props)?;
    let out = p
        .ecr
        .create_repository()
        .repository_name(&r.name)
        .image_tag_mutability(ImageTagMutability::from(r.image_tag_mutability.as_str()))
        .image_scanning_configuration(ImageScanningConfiguration::builder().scan_on_push(r.scan_on_push).build())
        .set_tags(Some(
            tags_of(&d.props)
                .into_iter()
                .map(|(k, v)| Tag::builder().key(k).value(v).build())
                .collect::<Result<_, _>>()
                .map_err(malformed(&d.address))?,
        ))
        .send()
        .await
        .map_err(api("ecr:CreateRepository"))?;
    let repo = out.repository().ok_or_else(|| ProviderError::OperationFailed {
        what: "ecr:CreateRepository".into(),
        message: "the response holds no repository".into(),
    })?;
    let outs = repo_outputs(repo);
    Ok(Applied { physical_id: r.name, outputs: outs })
}

pub(super) async fn read(p: &AwsProvider, e: &Existing) -> Result<Option<Observed>, ProviderError> {
    let out = p
        .ecr
        .describe_repositories()
        .repository_names(&e.physical_id)
        .send()
        .await
        .map_err(api("ecr:DescribeRepositories"))?;
    let Some(repo) = out.repositories().first() else {
        return Ok(None);
    };
    let tags = p
        .ecr
        .list_tags_for_resource()
        .resource_arn(repo.repository_arn().unwrap_or_default())
        .send()
        .await
        .map_err(api("ecr:ListTagsForResource"))?;
    let mut props = Map::new();
    props.insert("name".into(), json!(repo.repository_name()));
    props.insert(
        "scan_on_push".into(),
        json!(repo.image_scanning_configuration().map(|c| c.scan_on_push()).unwrap_or(false)),
    );
    props.insert("image_tag_mutability".into(), json!(repo.image_tag_mutability().map(|m| m.as_str())));
    props.insert("tags".into(), tag_map(tags.tags().iter().map(|t| (t.key(), t.value()))));
    Ok(Some(Observed { props, outputs: repo_outputs(repo) }))
}

pub(super) async fn update(p: &AwsProvider, e: &Existing, desired: &Value) -> Result<Applied, ProviderError> {
    let old: RepositoryProps = props(&e.address, &e.props)?;
    let new: RepositoryProps = props(&e.address, desired)?;
    if old.scan_on_push != new.scan_on_push {
        p.ecr
            .put_image_scanning_configuration()
            .repository_name(&e.physical_id)
            .image_scanning_configuration(ImageScanningConfiguration::builder().scan_on_push(new.scan_on_push).build())
            .send()
            .await
            .map_err(api("ecr:PutImageScanningConfiguration"))?;
    }
    if old.image_tag_mutability != new.image_tag_mutability {
        p.ecr
            .put_image_tag_mutability()
            .repository_name(&e.physical_id)
            .image_tag_mutability(ImageTagMutability::from(new.image_tag_mutability.as_str()))
            .send()
            .await
            .map_err(api("ecr:PutImageTagMutability"))?;
    }
    let arn = e.outputs.get("arn").and_then(Value::as_str).unwrap_or_default();
    sync_tags(
        &e.props,
        desired,
        |remove| async move {
            p.ecr
                .untag_resource()
                .resource_arn(arn)
                .set_tag_keys(Some(remove))
                .send()
                .await
                .map_err(api("ecr:UntagResource"))?;
            Ok(())
        },
        |set| async move {
            let tags = set
                .into_iter()
                .map(|(k, v)| Tag::builder().key(k).value(v).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(malformed(&e.address))?;
            p.ecr.tag_resource().resource_arn(arn).set_tags(Some(tags)).send().await.map_err(api("ecr:TagResource"))?;
            Ok(())
        },
    )
    .await?;
    Ok(Applied { physical_id: e.physical_id.clone(), outputs: e.outputs.clone() })
}

pub(super) async fn delete(p: &AwsProvider, e: &Existing) -> Result<(), ProviderError> {
    let r: RepositoryProps = props(&e.address, &e.props)?;
    p.ecr
        .delete_repository()
        .repository_name(&e.physical_id)
        .force(r.force_delete)
        .send()
        .await
        .map_err(api("ecr:DeleteRepository"))?;
    Ok(())
}
