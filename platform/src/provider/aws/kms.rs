//! KMS customer-managed keys. The physical id is the key id; the key is named by its alias
//! (`alias/NAME`), which outlives a deletion while the key waits out its deletion window, so an
//! apply of the same address within the window takes the key back (and what it encrypted stays
//! readable): CancelKeyDeletion leaves a key disabled, and it is enabled again
//! (<https://docs.aws.amazon.com/kms/latest/developerguide/deleting-keys-scheduling-key-deletion.html>).
//!
//! KMS is eventually consistent: "changes to AWS KMS resources might not be immediately visible
//! … typically takes less than a few seconds" and answers `NotFoundException` meanwhile
//! (<https://docs.aws.amazon.com/kms/latest/developerguide/programming-eventual-consistency.html>),
//! which the engine retries for a resource created moments ago.

use async_trait::async_trait;
use aws_sdk_kms::operation::describe_key::DescribeKeyOutput;
use aws_sdk_kms::types::{KeyMetadata, KeyState, Tag};

use super::client::Aws;
use super::resource::{AwsResource, Created, Current, Lookup, New, Read, Recorded};
use super::support::{api, incomplete, malformed, poll_delay, sync_tags, tags};
use crate::provider::ProviderError;
use crate::resources::kms::{Key, KeyOutputs, KeyPolicyContext};
use crate::resources::Tags;

/// `aws.kms.key`.
pub(crate) struct Keys;

/// The only key policy name KMS has (API_PutKeyPolicy.html: "The only valid policy name is
/// default").
const POLICY_NAME: &str = "default";

fn alias_of(name: &str) -> String {
    format!("alias/{name}")
}

/// The key `id` (id, ARN or alias), or `None` when KMS does not know it.
async fn describe(aws: &Aws, id: &str) -> Result<Option<KeyMetadata>, ProviderError> {
    match aws.kms.describe_key().key_id(id).send().await.map_err(api("kms:DescribeKey")) {
        Ok(DescribeKeyOutput { key_metadata, .. }) => Ok(key_metadata),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

fn pending_deletion(key: &KeyMetadata) -> bool {
    matches!(key.key_state(), Some(KeyState::PendingDeletion | KeyState::PendingReplicaDeletion))
}

async fn key_tags(aws: &Aws, key_id: &str) -> Result<Tags, ProviderError> {
    let mut out = Tags::new();
    let mut marker = None;
    loop {
        let page = aws
            .kms
            .list_resource_tags()
            .key_id(key_id)
            .set_marker(marker)
            .send()
            .await
            .map_err(api("kms:ListResourceTags"))?;
        out.extend(tags(page.tags().iter().map(|t| (t.tag_key(), t.tag_value()))));
        match page.next_marker().filter(|_| page.truncated()) {
            Some(next) => marker = Some(next.to_string()),
            None => return Ok(out),
        }
    }
}

async fn context(aws: &Aws) -> Result<(String, String, String, &'static str), ProviderError> {
    let account = aws.account().await?;
    Ok((account.partition.clone(), account.id.clone(), aws.region(), account.dns_suffix()))
}

async fn policy_of(aws: &Aws, key: &Key) -> Result<String, ProviderError> {
    let (partition, account, region, dns_suffix) = context(aws).await?;
    let context = KeyPolicyContext { partition: &partition, account: &account, region: &region, dns_suffix };
    Ok(context.policy(&key.uses))
}

fn outputs(key: &KeyMetadata, alias: String) -> KeyOutputs {
    KeyOutputs { arn: key.arn().unwrap_or_default().to_string(), key_id: key.key_id().to_string(), alias }
}

/// Whether the key carries the address and environment tags of `new`.
fn ours(found: &Tags, wanted: &Tags) -> bool {
    ["platform:address", "platform:env"].iter().all(|k| found.get(*k).is_some() && found.get(*k) == wanted.get(*k))
}

/// Sets the rotation: on with `period` days, or off.
async fn set_rotation(aws: &Aws, key_id: &str, period: Option<u32>) -> Result<(), ProviderError> {
    match period {
        Some(days) => {
            aws.kms
                .enable_key_rotation()
                .key_id(key_id)
                .rotation_period_in_days(days as i32)
                .send()
                .await
                .map_err(api("kms:EnableKeyRotation"))?;
        }
        None => {
            aws.kms.disable_key_rotation().key_id(key_id).send().await.map_err(api("kms:DisableKeyRotation"))?;
        }
    }
    Ok(())
}

/// How long a call naming a key created moments ago is sent again while KMS refuses it as not
/// there or not allowed: the five minutes KMS gives tags and aliases to count for authorization
/// (tag-authorization.html).
const AUTHORIZATION_DELAY: std::time::Duration = std::time::Duration::from_secs(300);

/// Sends `call` until KMS stops refusing it as about a key it does not know yet
/// (`NotFoundException`) or not yet allowed (`AccessDeniedException`), up to
/// [`AUTHORIZATION_DELAY`] (or the operation deadline, if shorter).
async fn settled_after_create<F, Fut>(aws: &Aws, what: String, call: F) -> Result<(), ProviderError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<(), ProviderError>>,
{
    settled_on(aws, what, &["NotFoundException", "AccessDeniedException"], call).await
}

/// Sends `call` until it succeeds or fails with an error other than `codes`, up to
/// [`AUTHORIZATION_DELAY`] (or the operation deadline); then the last refusal is the error (it
/// says what is missing).
async fn settled_on<F, Fut>(aws: &Aws, what: String, codes: &[&str], call: F) -> Result<(), ProviderError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<(), ProviderError>>,
{
    let started = std::time::Instant::now();
    let deadline = AUTHORIZATION_DELAY.min(aws.operation_timeout);
    loop {
        match call().await {
            Ok(()) => return Ok(()),
            Err(ProviderError::Api { code: Some(code), .. })
                if codes.contains(&code.as_str()) && started.elapsed() + poll_delay(started.elapsed()) < deadline =>
            {
                tracing::debug!(%what, %code, "waiting for KMS");
                tokio::time::sleep(poll_delay(started.elapsed())).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Points the alias at the key, unless it already does (an answer lost and the call sent again
/// is refused with `AlreadyExistsException`); an alias naming another key stays refused.
async fn ensure_alias(aws: &Aws, alias: &str, key_id: &str) -> Result<(), ProviderError> {
    match aws.kms.create_alias().alias_name(alias).target_key_id(key_id).send().await.map_err(api("kms:CreateAlias")) {
        Ok(_) => Ok(()),
        Err(e) if matches!(&e, ProviderError::Api { code: Some(c), .. } if c == "AlreadyExistsException") => {
            match describe(aws, alias).await? {
                Some(found) if found.key_id() == key_id => Ok(()),
                _ => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

/// Brings an existing key to `new` from `old` (a key taken back from its deletion, or updated).
async fn converge(aws: &Aws, key_id: &str, old: &Key, new: &Key) -> Result<(), ProviderError> {
    // A disabled key takes no rotation change (API_EnableKeyRotation.html): enabled first,
    // disabled last. A key scheduled for deletion by hand (it reads as disabled) is taken back.
    if new.enabled && !old.enabled {
        if describe(aws, key_id).await?.is_some_and(|k| pending_deletion(&k)) {
            aws.kms.cancel_key_deletion().key_id(key_id).send().await.map_err(api("kms:CancelKeyDeletion"))?;
        }
        // Right after CancelKeyDeletion the key may still answer as being deleted for a moment.
        settled_on(aws, format!("key {key_id} to be enabled"), &["KMSInvalidStateException"], || async {
            aws.kms.enable_key().key_id(key_id).send().await.map_err(api("kms:EnableKey")).map(|_| ())
        })
        .await?;
    }
    if old.description != new.description {
        aws.kms
            .update_key_description()
            .key_id(key_id)
            .description(&new.description)
            .send()
            .await
            .map_err(api("kms:UpdateKeyDescription"))?;
    }
    // The recorded uses are sorted (a set), the declared ones in declaration order.
    let sorted = |uses: &[crate::resources::KeyUse]| {
        let mut texts: Vec<String> = uses.iter().map(|u| serde_json::to_string(u).unwrap_or_default()).collect();
        texts.sort();
        texts
    };
    if sorted(&old.uses) != sorted(&new.uses) {
        aws.kms
            .put_key_policy()
            .key_id(key_id)
            .policy_name(POLICY_NAME)
            .policy(policy_of(aws, new).await?)
            .send()
            .await
            .map_err(api("kms:PutKeyPolicy"))?;
    }
    if old.rotation_period_days != new.rotation_period_days {
        set_rotation(aws, key_id, new.rotation_period_days).await?;
    }
    apply_tags(aws, key_id, &old.tags, &new.tags).await?;
    if !new.enabled && old.enabled {
        aws.kms.disable_key().key_id(key_id).send().await.map_err(api("kms:DisableKey"))?;
    }
    Ok(())
}

/// What KMS has of the key `key`.
async fn observe(aws: &Aws, key: &KeyMetadata, deletion_window_days: u32) -> Result<Key, ProviderError> {
    let id = key.key_id();
    let rotation =
        aws.kms.get_key_rotation_status().key_id(id).send().await.map_err(api("kms:GetKeyRotationStatus"))?;
    let policy =
        aws.kms.get_key_policy().key_id(id).policy_name(POLICY_NAME).send().await.map_err(api("kms:GetKeyPolicy"))?;
    let (partition, account, region, dns_suffix) = context(aws).await?;
    let context = KeyPolicyContext { partition: &partition, account: &account, region: &region, dns_suffix };
    Ok(Key {
        description: key.description().unwrap_or_default().to_string(),
        enabled: key.key_state() == Some(&KeyState::Enabled),
        // "RotationPeriodInDays … Returned only when KeyRotationEnabled is true"
        // (https://docs.aws.amazon.com/kms/latest/APIReference/API_GetKeyRotationStatus.html);
        // 365 when a key was rotated before periods could be chosen.
        rotation_period_days: rotation
            .key_rotation_enabled()
            .then(|| rotation.rotation_period_in_days().map_or(365, |d| d as u32)),
        uses: context.read(policy.policy().unwrap_or_default()),
        deletion_window_days,
        tags: key_tags(aws, id).await?,
    })
}

#[async_trait]
impl AwsResource for Keys {
    type Props = Key;
    type Outputs = KeyOutputs;

    /// How a deleted key waits is not an attribute of the key.
    const NOT_REPORTED: &'static [&'static str] = &["deletion_window_days"];

    /// Creates the key with its policy and tags in one call (KMS checks at once that the policy
    /// lets the caller change it again), then its alias and its rotation. A key of this address
    /// waiting out its deletion window under the alias is taken back instead.
    async fn create(&self, aws: &Aws, new: &New<'_, Key>) -> Result<Created<KeyOutputs>, ProviderError> {
        let alias = alias_of(new.name()?);
        if let Some(found) = describe(aws, &alias).await? {
            let id = found.key_id().to_string();
            let found_tags = key_tags(aws, &id).await?;
            if !ours(&found_tags, &new.props.tags) {
                return Err(ProviderError::OperationFailed {
                    what: format!("creating key {alias}"),
                    message: "the alias names a key this address did not create; delete the alias (aws kms \
                              delete-alias) or choose another name, then apply again"
                        .into(),
                });
            }
            let mut old = observe(aws, &found, new.props.deletion_window_days).await?;
            if pending_deletion(&found) {
                aws.kms.cancel_key_deletion().key_id(&id).send().await.map_err(api("kms:CancelKeyDeletion"))?;
                // A key whose deletion is cancelled is disabled (deleting-keys-scheduling-key-deletion.html).
                old.enabled = false;
            }
            converge(aws, &id, &old, &new.props).await.map_err(incomplete(&id, &outputs(&found, alias.clone())))?;
            return Ok(Created { physical_id: id, outputs: outputs(&found, alias) });
        }
        let key = aws
            .kms
            .create_key()
            .description(&new.props.description)
            .policy(policy_of(aws, &new.props).await?)
            .set_tags(Some(
                new.props
                    .tags
                    .iter()
                    .map(|(k, v)| Tag::builder().tag_key(k).tag_value(v).build())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(malformed(new.address))?,
            ))
            .send()
            .await
            .map_err(api("kms:CreateKey"))?
            .key_metadata
            .ok_or_else(|| ProviderError::OperationFailed {
                what: format!("creating key {alias}"),
                message: "KMS answered without the key".into(),
            })?;
        let id = key.key_id().to_string();
        let made = outputs(&key, alias.clone());
        let finish = async {
            // The new key is authorized through its tags, which "might take up to five minutes"
            // to count (https://docs.aws.amazon.com/kms/latest/developerguide/tag-authorization.html),
            // and may not be visible at once: refusals of either are sent again meanwhile.
            settled_after_create(aws, format!("key {alias} to be usable"), || ensure_alias(aws, &alias, &id)).await?;
            settled_after_create(aws, format!("the rotation of key {alias}"), || {
                set_rotation(aws, &id, new.props.rotation_period_days)
            })
            .await?;
            if !new.props.enabled {
                aws.kms.disable_key().key_id(&id).send().await.map_err(api("kms:DisableKey"))?;
            }
            Ok(())
        };
        finish.await.map_err(incomplete(&id, &made))?;
        Ok(Created { physical_id: id, outputs: made })
    }

    /// A key scheduled for deletion (by hand: platform's own deletes forget the key) reads as
    /// disabled, not gone: what it encrypts keeps its ARN, and the next apply takes it back
    /// (CancelKeyDeletion, EnableKey) instead of replacing everything that names it.
    async fn read(
        &self,
        aws: &Aws,
        recorded: &Recorded<'_, Key>,
    ) -> Result<Option<Read<Key, KeyOutputs>>, ProviderError> {
        let Some(key) = describe(aws, recorded.physical_id).await? else { return Ok(None) };
        let props = observe(aws, &key, recorded.kept(|p| p.deletion_window_days)).await?;
        // The alias it is named by: the recorded one while it still points at this key; a key
        // whose alias is gone keeps its recorded name (the next change points it there again)
        // rather than reading as another key to replace.
        let aliases = aws.kms.list_aliases().key_id(key.key_id()).send().await.map_err(api("kms:ListAliases"))?;
        let recorded_alias = recorded.output("alias").unwrap_or_default().to_string();
        let names: Vec<&str> = aliases.aliases().iter().filter_map(|a| a.alias_name()).collect();
        let alias = names.iter().find(|a| **a == recorded_alias).or(names.first()).map(|a| a.to_string());
        let alias = alias.unwrap_or(recorded_alias);
        let name = alias.strip_prefix("alias/").unwrap_or_default().to_string();
        Ok(Some(Read::named(props, name, outputs(&key, alias))))
    }

    async fn update(&self, aws: &Aws, current: &Current<'_, Key, KeyOutputs>, new: &Key) -> Result<(), ProviderError> {
        converge(aws, current.physical_id, &current.props, new).await?;
        // An alias deleted by hand (the key then reads with its recorded name) is made again.
        if !current.outputs.alias.is_empty() && describe(aws, &current.outputs.alias).await?.is_none() {
            ensure_alias(aws, &current.outputs.alias, current.physical_id).await?;
        }
        Ok(())
    }

    /// Schedules the key's deletion after its window; the alias stays with it, so the address
    /// can take it back until then.
    async fn delete(&self, aws: &Aws, current: &Current<'_, Key, KeyOutputs>) -> Result<(), ProviderError> {
        let sent = aws
            .kms
            .schedule_key_deletion()
            .key_id(current.physical_id)
            .pending_window_in_days(current.props.deletion_window_days as i32)
            .send()
            .await
            .map_err(api("kms:ScheduleKeyDeletion"));
        match sent {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            // Already scheduled (a delete sent again after its answer was lost):
            // `KMSInvalidStateException` (API_ScheduleKeyDeletion.html).
            Err(e @ ProviderError::Api { .. }) if matches!(&e, ProviderError::Api { code: Some(c), .. } if c == "KMSInvalidStateException") => {
                match describe(aws, current.physical_id).await? {
                    Some(key) if !pending_deletion(&key) => Err(e),
                    _ => Ok(()),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// The key of the alias, if this address created it and it is not being deleted; else a key
    /// of this address without its alias yet (a create interrupted between its calls), found by
    /// its tags.
    async fn find(&self, aws: &Aws, lookup: &Lookup<'_, Key>) -> Result<Option<String>, ProviderError> {
        let Some(name) = lookup.name else { return Ok(None) };
        let wanted = Tags::from([
            ("platform:address".to_string(), lookup.address.to_string()),
            ("platform:env".to_string(), lookup.env.to_string()),
        ]);
        if let Some(found) = describe(aws, &alias_of(name)).await? {
            let mine = ours(&key_tags(aws, found.key_id()).await?, &wanted) && !pending_deletion(&found);
            return Ok(mine.then(|| found.key_id().to_string()));
        }
        let tagged = aws
            .tagging
            .get_resources()
            .resource_type_filters("kms:key")
            .tag_filters(
                aws_sdk_resourcegroupstagging::types::TagFilter::builder()
                    .key("platform:address")
                    .values(lookup.address.to_string())
                    .build(),
            )
            .tag_filters(
                aws_sdk_resourcegroupstagging::types::TagFilter::builder()
                    .key("platform:env")
                    .values(lookup.env)
                    .build(),
            )
            .send()
            .await
            .map_err(api("tag:GetResources"))?;
        for arn in tagged.resource_tag_mapping_list().iter().filter_map(|m| m.resource_arn()) {
            if let Some(key) = describe(aws, arn).await?.filter(|k| !pending_deletion(k)) {
                return Ok(Some(key.key_id().to_string()));
            }
        }
        Ok(None)
    }
}

/// Moves the key's tags from `old` to `new`.
async fn apply_tags(aws: &Aws, key_id: &str, old: &Tags, new: &Tags) -> Result<(), ProviderError> {
    sync_tags(
        old,
        new,
        |remove| async move {
            aws.kms
                .untag_resource()
                .key_id(key_id)
                .set_tag_keys(Some(remove))
                .send()
                .await
                .map_err(api("kms:UntagResource"))?;
            Ok(())
        },
        |add| async move {
            let tags = add
                .into_iter()
                .map(|(k, v)| Tag::builder().tag_key(k).tag_value(v).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| ProviderError::OperationFailed { what: "tagging a key".into(), message: e.to_string() })?;
            aws.kms.tag_resource().key_id(key_id).set_tags(Some(tags)).send().await.map_err(api("kms:TagResource"))?;
            Ok(())
        },
    )
    .await
}
