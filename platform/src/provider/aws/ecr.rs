//! ECR repositories. The physical id is the repository name.

use async_trait::async_trait;
use aws_sdk_ecr::types::{
    EncryptionConfiguration, EncryptionType, ImageScanningConfiguration, ImageTagMutability, Repository, Tag,
};

use super::client::Aws;
use super::resource::{AwsResource, Created, Current, Lookup, New, Read, Recorded};
use super::support::{api, malformed, missing, sync_tags, tags, wait_read_back};
use crate::model::{Address, Ref};
use crate::provider::ProviderError;
use crate::resources::ecr::{EcrRepository, EcrRepositoryOutputs, ImageLifecycle, TagMutability};
use crate::resources::Tags;

/// `aws.ecr.repository`.
pub(crate) struct Repositories;

/// Sets the repository's lifecycle policy, or deletes it, then waits until ECR reads back what
/// was written (a read right after a put may not see it yet, and would plan the change again).
async fn put_lifecycle(aws: &Aws, name: &str, lifecycle: Option<&ImageLifecycle>) -> Result<(), ProviderError> {
    match lifecycle {
        Some(lifecycle) => {
            aws.ecr
                .put_lifecycle_policy()
                .repository_name(name)
                .lifecycle_policy_text(lifecycle.to_policy_text())
                .send()
                .await
                .map_err(api("ecr:PutLifecyclePolicy"))?;
        }
        None => match aws.ecr.delete_lifecycle_policy().repository_name(name).send().await {
            Ok(_) => {}
            Err(e) if e.as_service_error().is_some_and(|e| e.is_lifecycle_policy_not_found_exception()) => {}
            Err(e) => return Err(api("ecr:DeleteLifecyclePolicy")(e)),
        },
    }
    let wanted = lifecycle.cloned();
    wait_read_back(format!("the lifecycle policy of repository {name}"), aws.operation_timeout, &wanted, || {
        read_lifecycle(aws, name)
    })
    .await
}

/// The repository's lifecycle policy; ECR answers `LifecyclePolicyNotFoundException` for a
/// repository without one
/// (<https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_GetLifecyclePolicy.html>).
async fn read_lifecycle(aws: &Aws, name: &str) -> Result<Option<ImageLifecycle>, ProviderError> {
    match aws.ecr.get_lifecycle_policy().repository_name(name).send().await {
        Ok(out) => Ok(out.lifecycle_policy_text().map(ImageLifecycle::from_policy_text)),
        Err(e) if e.as_service_error().is_some_and(|e| e.is_lifecycle_policy_not_found_exception()) => Ok(None),
        Err(e) => Err(api("ecr:GetLifecyclePolicy")(e)),
    }
}

fn ecr_tags(address: &Address, tags: &Tags) -> Result<Vec<Tag>, ProviderError> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect::<Result<_, _>>()
        .map_err(malformed(address))
}

fn mutability(m: TagMutability) -> ImageTagMutability {
    match m {
        TagMutability::Immutable => ImageTagMutability::Immutable,
        TagMutability::Mutable => ImageTagMutability::Mutable,
    }
}

fn outputs(r: &Repository) -> EcrRepositoryOutputs {
    EcrRepositoryOutputs {
        arn: r.repository_arn().unwrap_or_default().to_string(),
        name: r.repository_name().unwrap_or_default().to_string(),
        repository_uri: r.repository_uri().unwrap_or_default().to_string(),
    }
}

#[async_trait]
impl AwsResource for Repositories {
    type Props = EcrRepository;
    type Outputs = EcrRepositoryOutputs;

    /// Whether a repository holding images may be deleted is how platform deletes, not AWS's.
    const NOT_REPORTED: &'static [&'static str] = &["force_delete"];

    async fn create(
        &self,
        aws: &Aws,
        new: &New<'_, EcrRepository>,
    ) -> Result<Created<EcrRepositoryOutputs>, ProviderError> {
        let r = &new.props;
        let name = new.name()?;
        let out = aws
            .ecr
            .create_repository()
            .repository_name(name)
            .image_tag_mutability(mutability(r.image_tag_mutability))
            .image_scanning_configuration(ImageScanningConfiguration::builder().scan_on_push(r.scan_on_push).build())
            .set_encryption_configuration(
                r.kms_key
                    .as_ref()
                    .map(|key| {
                        EncryptionConfiguration::builder()
                            .encryption_type(EncryptionType::Kms)
                            .kms_key(key.as_str())
                            .build()
                            .map_err(malformed(new.address))
                    })
                    .transpose()?,
            )
            .set_tags(Some(ecr_tags(new.address, &r.tags)?))
            .send()
            .await
            .map_err(api("ecr:CreateRepository"))?;
        let repo =
            out.repository().ok_or_else(|| missing("ecr:CreateRepository", "the response holds no repository"))?;
        if r.lifecycle.is_some() {
            put_lifecycle(aws, name, r.lifecycle.as_ref()).await?;
        }
        Ok(Created { physical_id: name.to_string(), outputs: outputs(repo) })
    }

    async fn read(
        &self,
        aws: &Aws,
        recorded: &Recorded<'_, EcrRepository>,
    ) -> Result<Option<Read<EcrRepository, EcrRepositoryOutputs>>, ProviderError> {
        let out = aws
            .ecr
            .describe_repositories()
            .repository_names(recorded.physical_id)
            .send()
            .await
            .map_err(api("ecr:DescribeRepositories"))?;
        let Some(repo) = out.repositories().first() else { return Ok(None) };
        let listed = aws
            .ecr
            .list_tags_for_resource()
            .resource_arn(repo.repository_arn().unwrap_or_default())
            .send()
            .await
            .map_err(api("ecr:ListTagsForResource"))?;
        let props = EcrRepository {
            scan_on_push: repo.image_scanning_configuration().is_some_and(|c| c.scan_on_push()),
            // Tags that can move (MUTABLE, or mutable with exclusions) are not immutable.
            image_tag_mutability: match repo.image_tag_mutability() {
                Some(ImageTagMutability::Immutable) => TagMutability::Immutable,
                _ => TagMutability::Mutable,
            },
            lifecycle: read_lifecycle(aws, recorded.physical_id).await?,
            force_delete: recorded.kept(|p| p.force_delete),
            kms_key: repo
                .encryption_configuration()
                .filter(|c| c.encryption_type() == &EncryptionType::Kms)
                .and_then(|c| c.kms_key())
                .map(Ref::existing),
            tags: tags(listed.tags().iter().map(|t| (t.key(), t.value()))),
        };
        Ok(Some(Read::named(props, repo.repository_name().unwrap_or_default(), outputs(repo))))
    }

    async fn update(
        &self,
        aws: &Aws,
        current: &Current<'_, EcrRepository, EcrRepositoryOutputs>,
        new: &EcrRepository,
    ) -> Result<(), ProviderError> {
        let (old, name) = (&current.props, current.physical_id);
        if old.scan_on_push != new.scan_on_push {
            aws.ecr
                .put_image_scanning_configuration()
                .repository_name(name)
                .image_scanning_configuration(
                    ImageScanningConfiguration::builder().scan_on_push(new.scan_on_push).build(),
                )
                .send()
                .await
                .map_err(api("ecr:PutImageScanningConfiguration"))?;
        }
        if old.image_tag_mutability != new.image_tag_mutability {
            aws.ecr
                .put_image_tag_mutability()
                .repository_name(name)
                .image_tag_mutability(mutability(new.image_tag_mutability))
                .send()
                .await
                .map_err(api("ecr:PutImageTagMutability"))?;
        }
        if old.lifecycle != new.lifecycle {
            put_lifecycle(aws, name, new.lifecycle.as_ref()).await?;
        }
        let arn = current.outputs.arn.as_str();
        sync_tags(
            &old.tags,
            &new.tags,
            |remove| async move {
                aws.ecr
                    .untag_resource()
                    .resource_arn(arn)
                    .set_tag_keys(Some(remove))
                    .send()
                    .await
                    .map_err(api("ecr:UntagResource"))?;
                Ok(())
            },
            |set| async move {
                let tags = ecr_tags(current.address, &set.into_iter().collect())?;
                aws.ecr
                    .tag_resource()
                    .resource_arn(arn)
                    .set_tags(Some(tags))
                    .send()
                    .await
                    .map_err(api("ecr:TagResource"))?;
                Ok(())
            },
        )
        .await
    }

    async fn delete(
        &self,
        aws: &Aws,
        current: &Current<'_, EcrRepository, EcrRepositoryOutputs>,
    ) -> Result<(), ProviderError> {
        aws.ecr
            .delete_repository()
            .repository_name(current.physical_id)
            .force(current.props.force_delete)
            .send()
            .await
            .map_err(api("ecr:DeleteRepository"))?;
        Ok(())
    }

    /// The name is the id.
    async fn find(&self, _aws: &Aws, lookup: &Lookup<'_, EcrRepository>) -> Result<Option<String>, ProviderError> {
        Ok(lookup.name.map(str::to_string))
    }
}
