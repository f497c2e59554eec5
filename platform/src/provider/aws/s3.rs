//! S3 buckets. Bucket names are global, so the physical name is the declared one followed by the
//! account id and the region (both discovered, never configured).

use serde::Deserialize;
use serde_json::{json, Map, Value};

use aws_sdk_s3::types::{
    BucketLocationConstraint, BucketVersioningStatus, CreateBucketConfiguration, Delete, ObjectIdentifier,
    ObjectOwnership, PublicAccessBlockConfiguration, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule, Tag, Tagging, VersioningConfiguration,
};

use super::{api, incomplete, props, tag_map, tags_of, AwsProvider};
use crate::provider::{Applied, Desired, Existing, Observed, ProviderError};

#[derive(Deserialize)]
struct BucketProps {
    name: String,
    block_public_access: bool,
    /// None when the bucket has no default encryption (read back from a bucket whose setup
    /// was interrupted).
    encryption: Option<String>,
    versioning: bool,
    enforce_tls: bool,
    #[serde(default)]
    force_destroy: bool,
}

/// The statement id of the TLS-only statement in the bucket policy.
const TLS_SID: &str = "DenyInsecureTransport";

fn tls_policy(partition: &str, bucket: &str) -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": TLS_SID,
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [format!("arn:{partition}:s3:::{bucket}"), format!("arn:{partition}:s3:::{bucket}/*")],
            "Condition": { "Bool": { "aws:SecureTransport": "false" } },
        }],
    })
    .to_string()
}

/// Whether a policy document holds the TLS-only statement.
fn enforces_tls(policy: &str) -> bool {
    let Ok(doc) = serde_json::from_str::<Value>(policy) else { return false };
    let statements = match &doc["Statement"] {
        Value::Array(items) => items.clone(),
        other => vec![other.clone()],
    };
    statements.iter().any(|s| {
        s["Effect"] == "Deny"
            && s["Condition"]["Bool"]["aws:SecureTransport"].as_str().map(str::to_lowercase).as_deref() == Some("false")
            && (s["Action"] == "s3:*" || s["Action"].as_array().is_some_and(|a| a.iter().any(|x| x == "s3:*")))
    })
}

pub(super) async fn physical_name(p: &AwsProvider, name: &str) -> Result<String, ProviderError> {
    let account = p.account().await?;
    Ok(format!("{name}-{}-{}", account.id, p.region()))
}

fn outputs(partition: &str, region: &str, bucket: &str) -> std::collections::BTreeMap<String, Value> {
    super::outputs([
        ("name", bucket),
        ("arn", &format!("arn:{partition}:s3:::{bucket}")),
        ("regional_domain_name", &format!("{bucket}.s3.{region}.amazonaws.com")),
    ])
}

async fn configure(
    p: &AwsProvider,
    bucket: &str,
    old: Option<&BucketProps>,
    new: &BucketProps,
) -> Result<(), ProviderError> {
    let changed = |f: fn(&BucketProps) -> String| old.is_none_or(|o| f(o) != f(new));
    if changed(|b| b.block_public_access.to_string()) {
        let block = new.block_public_access;
        p.s3.put_public_access_block()
            .bucket(bucket)
            .public_access_block_configuration(
                PublicAccessBlockConfiguration::builder()
                    .block_public_acls(block)
                    .ignore_public_acls(block)
                    .block_public_policy(block)
                    .restrict_public_buckets(block)
                    .build(),
            )
            .send()
            .await
            .map_err(api("s3:PutPublicAccessBlock"))?;
    }
    if changed(|b| b.encryption.clone().unwrap_or_default()) {
        let rule = ServerSideEncryptionRule::builder()
            .apply_server_side_encryption_by_default(
                ServerSideEncryptionByDefault::builder()
                    .sse_algorithm(ServerSideEncryption::from(new.encryption.as_deref().unwrap_or("AES256")))
                    .build()
                    .map_err(|e| ProviderError::OperationFailed {
                        what: "s3 encryption".into(),
                        message: e.to_string(),
                    })?,
            )
            .bucket_key_enabled(new.encryption.as_deref() == Some("aws:kms"))
            .build();
        let config = ServerSideEncryptionConfiguration::builder()
            .rules(rule)
            .build()
            .map_err(|e| ProviderError::OperationFailed { what: "s3 encryption".into(), message: e.to_string() })?;
        p.s3.put_bucket_encryption()
            .bucket(bucket)
            .server_side_encryption_configuration(config)
            .send()
            .await
            .map_err(api("s3:PutBucketEncryption"))?;
    }
    // A new bucket is unversioned: only turning versioning on is a call.
    if changed(|b| b.versioning.to_string()) && (old.is_some() || new.versioning) {
        let status = if new.versioning { BucketVersioningStatus::Enabled } else { BucketVersioningStatus::Suspended };
        p.s3.put_bucket_versioning()
            .bucket(bucket)
            .versioning_configuration(VersioningConfiguration::builder().status(status).build())
            .send()
            .await
            .map_err(api("s3:PutBucketVersioning"))?;
    }
    if changed(|b| b.enforce_tls.to_string()) && (old.is_some() || new.enforce_tls) {
        if new.enforce_tls {
            let partition = p.account().await?.partition.clone();
            p.s3.put_bucket_policy()
                .bucket(bucket)
                .policy(tls_policy(&partition, bucket))
                .send()
                .await
                .map_err(api("s3:PutBucketPolicy"))?;
        } else {
            p.s3.delete_bucket_policy().bucket(bucket).send().await.map_err(api("s3:DeleteBucketPolicy"))?;
        }
    }
    Ok(())
}

async fn put_tags(p: &AwsProvider, bucket: &str, props: &Value) -> Result<(), ProviderError> {
    let tags = tags_of(props)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ProviderError::OperationFailed { what: "s3 tags".into(), message: e.to_string() })?;
    let tagging = Tagging::builder()
        .set_tag_set(Some(tags))
        .build()
        .map_err(|e| ProviderError::OperationFailed { what: "s3 tags".into(), message: e.to_string() })?;
    p.s3.put_bucket_tagging().bucket(bucket).tagging(tagging).send().await.map_err(api("s3:PutBucketTagging"))?;
    Ok(())
}

pub(super) async fn create(p: &AwsProvider, d: &Desired) -> Result<Applied, ProviderError> {
    let b: BucketProps = props(&d.address, &d.props)?;
    let bucket = physical_name(p, &b.name).await?;
    let region = p.region();
    let mut create = p.s3.create_bucket().bucket(&bucket).object_ownership(ObjectOwnership::BucketOwnerEnforced);
    if region != "us-east-1" {
        create = create.create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(region.as_str()))
                .build(),
        );
    }
    create.send().await.map_err(api("s3:CreateBucket"))?;
    let partition = p.account().await?.partition.clone();
    let outs = outputs(&partition, &region, &bucket);
    let finish = async {
        configure(p, &bucket, None, &b).await?;
        put_tags(p, &bucket, &d.props).await
    };
    finish.await.map_err(incomplete(&bucket, &outs))?;
    Ok(Applied { physical_id: bucket, outputs: outs })
}

/// Runs a read that AWS answers with a "not configured" error code when the setting is absent.
fn absent_if<T>(result: Result<T, ProviderError>, codes: &[&str]) -> Result<Option<T>, ProviderError> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(ProviderError::Api { code: Some(code), .. }) if codes.contains(&code.as_str()) => Ok(None),
        Err(e) => Err(e),
    }
}

pub(super) async fn read(p: &AwsProvider, e: &Existing) -> Result<Option<Observed>, ProviderError> {
    let bucket = &e.physical_id;
    match p.s3.head_bucket().bucket(bucket).send().await.map_err(api("s3:HeadBucket")) {
        Ok(_) => {}
        Err(err) if err.is_not_found() => return Ok(None),
        Err(err) => return Err(err),
    }
    let block = absent_if(
        p.s3.get_public_access_block().bucket(bucket).send().await.map_err(api("s3:GetPublicAccessBlock")),
        &["NoSuchPublicAccessBlockConfiguration"],
    )?;
    let block = block.and_then(|b| b.public_access_block_configuration().cloned()).is_some_and(|c| {
        c.block_public_acls() == Some(true)
            && c.ignore_public_acls() == Some(true)
            && c.block_public_policy() == Some(true)
            && c.restrict_public_buckets() == Some(true)
    });
    let encryption = absent_if(
        p.s3.get_bucket_encryption().bucket(bucket).send().await.map_err(api("s3:GetBucketEncryption")),
        &["ServerSideEncryptionConfigurationNotFoundError"],
    )?;
    let algorithm = encryption
        .as_ref()
        .and_then(|e| e.server_side_encryption_configuration())
        .and_then(|c| c.rules().first())
        .and_then(|r| r.apply_server_side_encryption_by_default())
        .map(|d| d.sse_algorithm().as_str().to_string());
    let versioning = p.s3.get_bucket_versioning().bucket(bucket).send().await.map_err(api("s3:GetBucketVersioning"))?;
    let policy = absent_if(
        p.s3.get_bucket_policy().bucket(bucket).send().await.map_err(api("s3:GetBucketPolicy")),
        &["NoSuchBucketPolicy"],
    )?;
    let tags = absent_if(
        p.s3.get_bucket_tagging().bucket(bucket).send().await.map_err(api("s3:GetBucketTagging")),
        &["NoSuchTagSet", "NoSuchTagSetError"],
    )?;
    let mut props = Map::new();
    props.insert("block_public_access".into(), json!(block));
    props.insert("encryption".into(), json!(algorithm));
    props.insert("versioning".into(), json!(versioning.status() == Some(&BucketVersioningStatus::Enabled)));
    props.insert("enforce_tls".into(), json!(policy.as_ref().and_then(|p| p.policy()).is_some_and(enforces_tls)));
    props.insert(
        "tags".into(),
        tag_map(tags.as_ref().map(|t| t.tag_set()).unwrap_or_default().iter().map(|t| (t.key(), t.value()))),
    );
    let partition = p.account().await?.partition.clone();
    Ok(Some(Observed { props, outputs: outputs(&partition, &p.region(), bucket) }))
}

pub(super) async fn update(p: &AwsProvider, e: &Existing, desired: &Value) -> Result<Applied, ProviderError> {
    let old: BucketProps = props(&e.address, &e.props)?;
    let new: BucketProps = props(&e.address, desired)?;
    configure(p, &e.physical_id, Some(&old), &new).await?;
    if e.props.get("tags") != desired.get("tags") {
        put_tags(p, &e.physical_id, desired).await?;
    }
    Ok(Applied { physical_id: e.physical_id.clone(), outputs: e.outputs.clone() })
}

/// Deletes every object version and delete marker (for `force_destroy`).
async fn empty(p: &AwsProvider, bucket: &str) -> Result<(), ProviderError> {
    loop {
        let page =
            p.s3.list_object_versions()
                .bucket(bucket)
                .max_keys(1000)
                .send()
                .await
                .map_err(api("s3:ListObjectVersions"))?;
        let objects: Vec<ObjectIdentifier> = page
            .versions()
            .iter()
            .map(|v| (v.key(), v.version_id()))
            .chain(page.delete_markers().iter().map(|m| (m.key(), m.version_id())))
            .filter_map(|(key, version)| {
                ObjectIdentifier::builder().key(key?).set_version_id(version.map(str::to_string)).build().ok()
            })
            .collect();
        if objects.is_empty() {
            return Ok(());
        }
        let delete = Delete::builder()
            .set_objects(Some(objects))
            .quiet(true)
            .build()
            .map_err(|e| ProviderError::OperationFailed { what: "s3 delete".into(), message: e.to_string() })?;
        let out = p.s3.delete_objects().bucket(bucket).delete(delete).send().await.map_err(api("s3:DeleteObjects"))?;
        // Per-object failures come back in the response, not as an error of the call.
        if let Some(failure) = out.errors().first() {
            return Err(ProviderError::Api {
                operation: "s3:DeleteObjects",
                code: failure.code().map(str::to_string),
                message: format!(
                    "could not delete {} objects of {bucket}, e.g. {}: {}",
                    out.errors().len(),
                    failure.key().unwrap_or_default(),
                    failure.message().unwrap_or_default()
                ),
            });
        }
    }
}

pub(super) async fn delete(p: &AwsProvider, e: &Existing) -> Result<(), ProviderError> {
    let b: BucketProps = props(&e.address, &e.props)?;
    if b.force_destroy {
        empty(p, &e.physical_id).await?;
    }
    p.s3.delete_bucket().bucket(&e.physical_id).send().await.map_err(api("s3:DeleteBucket"))?;
    Ok(())
}
