//! Secrets Manager secrets, without their values: the platform creates, describes, tags and
//! deletes them and never reads or writes what they hold. The physical id is the secret's ARN.
//!
//! Reads are `DescribeSecret`, one per secret: `ListSecrets` could read many at once, but "is
//! eventually consistent, however it might not reflect changes from the last five minutes"
//! (<https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_ListSecrets.html>), so a
//! refresh through it would report a change just made as drift.

use async_trait::async_trait;
use aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretOutput;
use aws_sdk_secretsmanager::types::Tag;

use super::client::Aws;
use super::resource::{AwsResource, Created, Current, Lookup, New, Read, Recorded};
use super::support::{api, sync_tags, tags, wait_for};
use crate::provider::ProviderError;
use crate::resources::secretsmanager::{Secret, SecretOutputs};
use crate::resources::Tags;

/// `aws.secretsmanager.secret`.
pub(crate) struct Secrets;

fn secret_tags<'a>(tags: impl IntoIterator<Item = (&'a String, &'a String)>) -> Vec<Tag> {
    tags.into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()
}

/// The secret `id` (ARN or name), or `None` when Secrets Manager does not know it.
async fn describe(aws: &Aws, id: &str) -> Result<Option<DescribeSecretOutput>, ProviderError> {
    match aws.secrets.describe_secret().secret_id(id).send().await.map_err(api("secretsmanager:DescribeSecret")) {
        Ok(out) => Ok(Some(out)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

fn tags_of(out: &DescribeSecretOutput) -> Tags {
    tags(out.tags().iter().map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default())))
}

/// Whether `err` is Secrets Manager refusing a create because a secret of that name is scheduled
/// for deletion: "You can't create this secret because a secret with this name is already
/// scheduled for deletion" (`InvalidRequestException`,
/// <https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_CreateSecret.html>). A
/// secret deleted without a recovery window is also deleted "asynchronously", and its name is
/// refused the same way for a moment
/// (<https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_DeleteSecret.html>).
fn scheduled_for_deletion(err: &ProviderError) -> bool {
    matches!(err, ProviderError::Api { code: Some(code), message, .. }
        if code == "InvalidRequestException" && message.contains("scheduled for deletion"))
}

/// Whether a secret scheduled for deletion is within a recovery window, rather than being deleted
/// at once: its `DeletedDate` is "the date the secret is scheduled for deletion"
/// (API_DescribeSecret.html), at least 7 days ahead for a window, and now for a deletion without
/// recovery, which Secrets Manager finishes "asynchronously" (API_DeleteSecret.html).
fn restorable(out: &DescribeSecretOutput) -> bool {
    let Some(deleted) = out.deleted_date() else { return false };
    let Ok(at) = std::time::SystemTime::try_from(*deleted) else { return false };
    at.duration_since(std::time::SystemTime::now()).is_ok_and(|ahead| ahead > std::time::Duration::from_secs(3600))
}

fn observe(out: &DescribeSecretOutput, recovery_window_days: u32) -> Read<Secret, SecretOutputs> {
    let name = out.name().unwrap_or_default();
    let outputs = SecretOutputs { arn: out.arn().unwrap_or_default().to_string(), name: name.to_string() };
    let props = Secret {
        description: out.description().unwrap_or_default().to_string(),
        recovery_window_days,
        tags: tags_of(out),
    };
    Read::named(props, name, outputs)
}

/// Whether the secret is ours: tagged with the address and the environment creating it.
fn ours(out: &DescribeSecretOutput, address: &str, env: &str) -> bool {
    let tags = tags_of(out);
    tags.get("platform:address").map(String::as_str) == Some(address)
        && tags.get("platform:env").map(String::as_str) == Some(env)
}

#[async_trait]
impl AwsResource for Secrets {
    type Props = Secret;
    type Outputs = SecretOutputs;

    /// How a deleted secret is deleted is not an attribute AWS keeps.
    const NOT_REPORTED: &'static [&'static str] = &["recovery_window_days"];

    /// Creates the secret with no value (no version: "If you don't include [SecretString or
    /// SecretBinary], then Secrets Manager creates a secret with metadata only", API_CreateSecret).
    /// A secret of this address scheduled for deletion (a destroy moments or days ago) is
    /// restored instead, with its versions; one deleted at once is waited for.
    async fn create(&self, aws: &Aws, new: &New<'_, Secret>) -> Result<Created<SecretOutputs>, ProviderError> {
        let name = new.name()?;
        let address = new.address.to_string();
        let env = new.props.tags.get("platform:env").cloned().unwrap_or_default();
        let created: String = wait_for(format!("the name of secret {name} to be free"), aws.operation_timeout, || async {
            let sent = aws
                .secrets
                .create_secret()
                .name(name)
                .description(&new.props.description)
                .set_tags(Some(secret_tags(&new.props.tags)))
                .send()
                .await
                .map_err(api("secretsmanager:CreateSecret"));
            match sent {
                Ok(out) => Ok(Some(out.arn().unwrap_or_default().to_string())),
                Err(err) if scheduled_for_deletion(&err) => match describe(aws, name).await? {
                    // Being deleted at once (its deletion date is now, not days ahead): waited for.
                    Some(found) if !restorable(&found) => Ok(None),
                    // Ours, deleted with a recovery window: restored, as it was.
                    Some(found) if ours(&found, &address, &env) => {
                        let arn = found.arn().unwrap_or_default().to_string();
                        match aws
                            .secrets
                            .restore_secret()
                            .secret_id(&arn)
                            .send()
                            .await
                            .map_err(api("secretsmanager:RestoreSecret"))
                        {
                            Ok(_) => Ok(Some(arn)),
                            // Its deletion came first after all: the name frees up.
                            Err(ProviderError::Api { code: Some(code), .. }) if code == "InvalidRequestException" => {
                                Ok(None)
                            }
                            Err(e) if e.is_not_found() => Ok(None),
                            Err(e) => Err(e),
                        }
                    }
                    Some(_) => Err(ProviderError::OperationFailed {
                        what: format!("creating secret {name}"),
                        message: "a secret of that name that this address did not create is scheduled for \
                                  deletion; restore or delete it (aws secretsmanager restore-secret, or \
                                  delete-secret --force-delete-without-recovery), then apply again"
                            .into(),
                    }),
                    // Deleted at once, and the deletion not finished yet.
                    None => Ok(None),
                },
                // A create sent again after its answer was lost (the SDK retries): the first made
                // it, tagged with this address.
                Err(err) if matches!(&err, ProviderError::Api { code: Some(c), .. } if c == "ResourceExistsException") => {
                    match describe(aws, name).await? {
                        Some(found) if ours(&found, &address, &env) && found.deleted_date().is_none() => {
                            Ok(Some(found.arn().unwrap_or_default().to_string()))
                        }
                        _ => Err(err),
                    }
                }
                Err(err) => Err(err),
            }
        })
        .await?;
        // The tags and description a restored secret had may differ from the declared ones.
        if let Some(found) = describe(aws, &created).await? {
            if found.description().unwrap_or_default() != new.props.description {
                aws.secrets
                    .update_secret()
                    .secret_id(&created)
                    .description(&new.props.description)
                    .send()
                    .await
                    .map_err(api("secretsmanager:UpdateSecret"))?;
            }
            apply_tags(aws, &created, &tags_of(&found), &new.props.tags).await?;
        }
        Ok(Created { physical_id: created.clone(), outputs: SecretOutputs { arn: created, name: name.to_string() } })
    }

    /// A secret scheduled for deletion reads as gone (it cannot be used; creating it again
    /// restores it).
    async fn read(
        &self,
        aws: &Aws,
        recorded: &Recorded<'_, Secret>,
    ) -> Result<Option<Read<Secret, SecretOutputs>>, ProviderError> {
        let Some(out) = describe(aws, recorded.physical_id).await? else { return Ok(None) };
        if out.deleted_date().is_some() {
            return Ok(None);
        }
        Ok(Some(observe(&out, recorded.kept(|p| p.recovery_window_days))))
    }

    async fn update(
        &self,
        aws: &Aws,
        current: &Current<'_, Secret, SecretOutputs>,
        new: &Secret,
    ) -> Result<(), ProviderError> {
        // UpdateSecret with only a description makes no new version (API_UpdateSecret.html).
        if current.props.description != new.description {
            aws.secrets
                .update_secret()
                .secret_id(current.physical_id)
                .description(&new.description)
                .send()
                .await
                .map_err(api("secretsmanager:UpdateSecret"))?;
        }
        apply_tags(aws, current.physical_id, &current.props.tags, &new.tags).await
    }

    /// Deletes with the declared recovery window (restorable until it ends), or at once.
    async fn delete(&self, aws: &Aws, current: &Current<'_, Secret, SecretOutputs>) -> Result<(), ProviderError> {
        let mut request = aws.secrets.delete_secret().secret_id(current.physical_id);
        request = match current.props.recovery_window_days {
            0 => request.force_delete_without_recovery(true),
            days => request.recovery_window_in_days(i64::from(days)),
        };
        match request.send().await.map_err(api("secretsmanager:DeleteSecret")) {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            // A delete sent again after its answer was lost: the secret is already marked for
            // deletion, which Secrets Manager refuses to do twice (`InvalidRequestException`).
            Err(e @ ProviderError::Api { .. }) if matches!(&e, ProviderError::Api { code: Some(c), .. } if c == "InvalidRequestException") => {
                match describe(aws, current.physical_id).await? {
                    None => Ok(()),
                    Some(found) if found.deleted_date().is_some() => Ok(()),
                    Some(_) => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// The secret of the deterministic name, if this address created it and it is not deleted.
    async fn find(&self, aws: &Aws, lookup: &Lookup<'_, Secret>) -> Result<Option<String>, ProviderError> {
        let Some(name) = lookup.name else { return Ok(None) };
        let Some(found) = describe(aws, name).await? else { return Ok(None) };
        let mine = ours(&found, &lookup.address.to_string(), lookup.env) && found.deleted_date().is_none();
        Ok(mine.then(|| found.arn().unwrap_or_default().to_string()))
    }
}

/// Moves the secret's tags from `old` to `new`.
async fn apply_tags(aws: &Aws, arn: &str, old: &Tags, new: &Tags) -> Result<(), ProviderError> {
    sync_tags(
        old,
        new,
        |remove| async move {
            aws.secrets
                .untag_resource()
                .secret_id(arn)
                .set_tag_keys(Some(remove))
                .send()
                .await
                .map_err(api("secretsmanager:UntagResource"))?;
            Ok(())
        },
        |set| async move {
            aws.secrets
                .tag_resource()
                .secret_id(arn)
                .set_tags(Some(secret_tags(set.iter().map(|(k, v)| (k, v)))))
                .send()
                .await
                .map_err(api("secretsmanager:TagResource"))?;
            Ok(())
        },
    )
    .await
}
