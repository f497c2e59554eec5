//! S3 buckets. Bucket names are global, so the physical name is the declared one followed by the
//! account id and the region (both discovered, never configured).

use async_trait::async_trait;
use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, BucketLocationConstraint, BucketLoggingStatus,
    BucketVersioningStatus, CreateBucketConfiguration, Delete, ExpirationStatus, LifecycleExpiration, LifecycleRule,
    LifecycleRuleFilter, LoggingEnabled, NoncurrentVersionExpiration, ObjectIdentifier, ObjectOwnership,
    PublicAccessBlockConfiguration, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule, Tag, Tagging, VersioningConfiguration,
};
use serde_json::{json, Value};

use super::client::Aws;
use super::resource::{AwsResource, Created, Current, Lookup, New, Read, Recorded};
use super::support::{api, incomplete, malformed, tags, wait_read_back};
use crate::model::{Address, Ref};
use crate::provider::ProviderError;
use crate::resources::s3::{AccessLogs, Bucket, BucketEncryption, BucketOutputs, LogSource, ObjectLifecycle};
use crate::resources::Tags;

/// `aws.s3.bucket`.
pub(crate) struct Buckets;

/// The statement id of the TLS-only statement in the bucket policy.
const TLS_SID: &str = "DenyInsecureTransport";
/// The statement ids of the log sources' statements.
const LOAD_BALANCERS_SID: &str = "LoadBalancerAccessLogs";
const S3_SERVER_ACCESS_SID: &str = "S3ServerAccessLogs";

/// The account Elastic Load Balancing writes access logs from, in each region available before
/// August 2022; newer regions grant the `logdelivery.elasticloadbalancing.amazonaws.com` service
/// principal instead
/// (<https://docs.aws.amazon.com/elasticloadbalancing/latest/application/enable-access-logging.html>,
/// "Step 2: Attach a policy to your S3 bucket").
const ELB_ACCOUNTS: &[(&str, &str)] = &[
    ("us-east-1", "127311923021"),
    ("us-east-2", "033677994240"),
    ("us-west-1", "027434742980"),
    ("us-west-2", "797873946194"),
    ("af-south-1", "098369216593"),
    ("ap-east-1", "754344448648"),
    ("ap-southeast-3", "589379963580"),
    ("ap-south-1", "718504428378"),
    ("ap-northeast-3", "383597477331"),
    ("ap-northeast-2", "600734575887"),
    ("ap-southeast-1", "114774131450"),
    ("ap-southeast-2", "783225319266"),
    ("ap-northeast-1", "582318560864"),
    ("ca-central-1", "985666609251"),
    ("eu-central-1", "054676820928"),
    ("eu-west-1", "156460612806"),
    ("eu-west-2", "652711504416"),
    ("eu-south-1", "635631232127"),
    ("eu-west-3", "009996457667"),
    ("eu-north-1", "897822967062"),
    ("me-south-1", "076674570225"),
    ("sa-east-1", "507241528517"),
    ("us-gov-west-1", "048591011584"),
    ("us-gov-east-1", "190560391635"),
    ("cn-north-1", "638102146993"),
    ("cn-northwest-1", "037604701340"),
];

/// Where a bucket is: what its policy's statements name.
struct PolicyContext<'a> {
    partition: &'a str,
    account: &'a str,
    region: &'a str,
    bucket: &'a str,
}

impl PolicyContext<'_> {
    fn tls(&self) -> Value {
        let (partition, bucket) = (self.partition, self.bucket);
        json!({
            "Sid": TLS_SID,
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [format!("arn:{partition}:s3:::{bucket}"), format!("arn:{partition}:s3:::{bucket}/*")],
            "Condition": { "Bool": { "aws:SecureTransport": "false" } },
        })
    }

    /// The statement letting `source` write its logs under its prefix, and nowhere else.
    fn log_source(&self, source: &LogSource) -> Value {
        let (partition, bucket, account) = (self.partition, self.bucket, self.account);
        match source {
            LogSource::LoadBalancers { prefix } => {
                let principal = match ELB_ACCOUNTS.iter().find(|(region, _)| *region == self.region) {
                    Some((_, elb)) => json!({ "AWS": format!("arn:{partition}:iam::{elb}:root") }),
                    None => json!({ "Service": "logdelivery.elasticloadbalancing.amazonaws.com" }),
                };
                // A load balancer writes under `PREFIX/AWSLogs/ACCOUNT/`, PREFIX being its own
                // (inside this one).
                json!({
                    "Sid": LOAD_BALANCERS_SID,
                    "Effect": "Allow",
                    "Principal": principal,
                    "Action": "s3:PutObject",
                    "Resource": format!("arn:{partition}:s3:::{bucket}/{prefix}/*/AWSLogs/{account}/*"),
                })
            }
            // The confused-deputy condition AWS documents: only this account's buckets' logs
            // (https://docs.aws.amazon.com/AmazonS3/latest/userguide/enable-server-access-logging.html).
            LogSource::S3ServerAccess { prefix } => json!({
                "Sid": S3_SERVER_ACCESS_SID,
                "Effect": "Allow",
                "Principal": { "Service": "logging.s3.amazonaws.com" },
                "Action": "s3:PutObject",
                "Resource": format!("arn:{partition}:s3:::{bucket}/{prefix}*"),
                "Condition": { "StringEquals": { "aws:SourceAccount": account } },
            }),
        }
    }

    /// The bucket policy: the log sources' grants and the TLS-only statement (which denies only
    /// requests without TLS: log deliveries use TLS), or none.
    fn policy(&self, enforce_tls: bool, sources: &[LogSource]) -> Option<String> {
        let mut statements: Vec<Value> = sources.iter().map(|s| self.log_source(s)).collect();
        if enforce_tls {
            statements.push(self.tls());
        }
        (!statements.is_empty()).then(|| json!({ "Version": "2012-10-17", "Statement": statements }).to_string())
    }

    /// What a policy document declares: whether it holds the TLS-only statement, and the log
    /// sources whose statements are exactly the ones platform writes (any other form of them
    /// reads as no source, and shows as drift).
    fn read(&self, policy: &str) -> (bool, Vec<LogSource>) {
        let Ok(doc) = serde_json::from_str::<Value>(policy) else { return (false, vec![]) };
        let statements = match &doc["Statement"] {
            Value::Array(items) => items.clone(),
            other => vec![other.clone()],
        };
        let enforce_tls = statements.iter().any(|s| {
            s["Effect"] == "Deny"
                && s["Condition"]["Bool"]["aws:SecureTransport"].as_str().map(str::to_lowercase).as_deref()
                    == Some("false")
                && (s["Action"] == "s3:*" || s["Action"].as_array().is_some_and(|a| a.iter().any(|x| x == "s3:*")))
        });
        let object_prefix = format!("arn:{}:s3:::{}/", self.partition, self.bucket);
        let mut sources: Vec<LogSource> = statements
            .iter()
            .filter_map(|s| {
                let key = s["Resource"].as_str()?.strip_prefix(&object_prefix)?;
                let source = match s["Sid"].as_str()? {
                    LOAD_BALANCERS_SID => LogSource::LoadBalancers {
                        prefix: key.strip_suffix(&format!("/*/AWSLogs/{}/*", self.account))?.to_string(),
                    },
                    S3_SERVER_ACCESS_SID => LogSource::S3ServerAccess { prefix: key.strip_suffix('*')?.to_string() },
                    _ => return None,
                };
                (self.log_source(&source) == *s).then_some(source)
            })
            .collect();
        sources.sort();
        (enforce_tls, sources)
    }
}

/// The bucket's global name: the declared name, the account id and the region.
async fn physical_name(aws: &Aws, name: &str) -> Result<String, ProviderError> {
    let account = aws.account().await?;
    Ok(format!("{name}-{}-{}", account.id, aws.region()))
}

async fn outputs(aws: &Aws, bucket: &str) -> Result<BucketOutputs, ProviderError> {
    let account = aws.account().await?;
    let (partition, suffix, region) = (&account.partition, account.dns_suffix(), aws.region());
    Ok(BucketOutputs {
        name: bucket.to_string(),
        arn: format!("arn:{partition}:s3:::{bucket}"),
        regional_domain_name: format!("{bucket}.s3.{region}.{suffix}"),
    })
}

fn algorithm(encryption: BucketEncryption) -> ServerSideEncryption {
    match encryption {
        BucketEncryption::S3Managed => ServerSideEncryption::Aes256,
        BucketEncryption::KmsManaged => ServerSideEncryption::AwsKms,
        BucketEncryption::KmsDualLayer => ServerSideEncryption::AwsKmsDsse,
    }
}

/// Sets what differs between `old` (none for a new bucket) and `new`.
async fn configure(aws: &Aws, bucket: &str, old: Option<&Bucket>, new: &Bucket) -> Result<(), ProviderError> {
    let failed = |what: &str| {
        let what = what.to_string();
        move |e: aws_sdk_s3::error::BuildError| ProviderError::OperationFailed { what, message: e.to_string() }
    };
    if old.is_none_or(|o| o.block_public_access != new.block_public_access) {
        let block = new.block_public_access;
        aws.s3
            .put_public_access_block()
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
    if old.is_none_or(|o| (o.encryption, &o.kms_key) != (new.encryption, &new.kms_key)) {
        // S3 takes the key as given and does not check it here ("Amazon S3 does not validate
        // the KMS key ID provided", API_PutBucketEncryption.html): a wrong key fails the first
        // write.
        let rule = ServerSideEncryptionRule::builder()
            .apply_server_side_encryption_by_default(
                ServerSideEncryptionByDefault::builder()
                    .sse_algorithm(algorithm(new.encryption))
                    .set_kms_master_key_id(new.kms_key.as_ref().map(|k| k.as_str().to_string()))
                    .build()
                    .map_err(failed("s3 encryption"))?,
            )
            .bucket_key_enabled(new.encryption != BucketEncryption::S3Managed)
            .build();
        let config =
            ServerSideEncryptionConfiguration::builder().rules(rule).build().map_err(failed("s3 encryption"))?;
        aws.s3
            .put_bucket_encryption()
            .bucket(bucket)
            .server_side_encryption_configuration(config)
            .send()
            .await
            .map_err(api("s3:PutBucketEncryption"))?;
    }
    // A new bucket is unversioned: only turning versioning on is a call.
    if old.map_or(new.versioning, |o| o.versioning != new.versioning) {
        let status = if new.versioning { BucketVersioningStatus::Enabled } else { BucketVersioningStatus::Suspended };
        aws.s3
            .put_bucket_versioning()
            .bucket(bucket)
            .versioning_configuration(VersioningConfiguration::builder().status(status).build())
            .send()
            .await
            .map_err(api("s3:PutBucketVersioning"))?;
    }
    if old.map_or(new.lifecycle.is_some(), |o| o.lifecycle != new.lifecycle) {
        put_lifecycle(aws, bucket, new.lifecycle.as_ref()).await?;
    }
    let policy_of = |b: &Bucket| (b.enforce_tls, b.log_sources.clone());
    if old.map_or(new.enforce_tls || !new.log_sources.is_empty(), |o| policy_of(o) != policy_of(new)) {
        let account = aws.account().await?;
        let region = aws.region();
        let context = PolicyContext { partition: &account.partition, account: &account.id, region: &region, bucket };
        match context.policy(new.enforce_tls, &new.log_sources) {
            Some(policy) => {
                aws.s3
                    .put_bucket_policy()
                    .bucket(bucket)
                    .policy(policy)
                    .send()
                    .await
                    .map_err(api("s3:PutBucketPolicy"))?;
            }
            None => {
                aws.s3.delete_bucket_policy().bucket(bucket).send().await.map_err(api("s3:DeleteBucketPolicy"))?;
            }
        }
    }
    if old.map_or(new.access_logs.is_some(), |o| o.access_logs != new.access_logs) {
        put_logging(aws, bucket, new.access_logs.as_ref()).await?;
    }
    Ok(())
}

/// Turns the bucket's server access logging on (into `logs`) or off. S3 writes the logs with its
/// own service principal, which the target bucket's policy must allow; S3 checks the target
/// exists and is in the same region and account
/// (<https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutBucketLogging.html>).
async fn put_logging(aws: &Aws, bucket: &str, logs: Option<&AccessLogs>) -> Result<(), ProviderError> {
    let mut status = BucketLoggingStatus::builder();
    if let Some(logs) = logs {
        let enabled = LoggingEnabled::builder()
            .target_bucket(logs.bucket.as_str())
            .target_prefix(&logs.prefix)
            .build()
            .map_err(|e| ProviderError::OperationFailed { what: "s3 logging".into(), message: e.to_string() })?;
        status = status.logging_enabled(enabled);
    }
    aws.s3
        .put_bucket_logging()
        .bucket(bucket)
        .bucket_logging_status(status.build())
        .send()
        .await
        .map_err(api("s3:PutBucketLogging"))?;
    Ok(())
}

/// Where the bucket's server access logs go, if anywhere.
async fn read_logging(aws: &Aws, bucket: &str) -> Result<Option<AccessLogs>, ProviderError> {
    let out = aws.s3.get_bucket_logging().bucket(bucket).send().await.map_err(api("s3:GetBucketLogging"))?;
    Ok(out
        .logging_enabled()
        .map(|l| AccessLogs { bucket: Ref::existing(l.target_bucket()), prefix: l.target_prefix().to_string() }))
}

/// The prefix of a rule written with S3's first lifecycle API (a top-level `Prefix` rather than a
/// `Filter`): such rules still exist, and one limits the rule to part of the bucket.
#[allow(deprecated)]
fn legacy_prefix(rule: &LifecycleRule) -> Option<&str> {
    rule.prefix()
}

/// The id of the one lifecycle rule platform writes.
const LIFECYCLE_RULE: &str = "platform-expire";

/// A lifecycle configuration's rules in the declared form: [`ObjectLifecycle::Expire`] when they
/// are exactly the one rule platform writes, their S3 JSON form otherwise.
fn declared_lifecycle(rules: &[LifecycleRule]) -> Option<ObjectLifecycle> {
    if rules.is_empty() {
        return None;
    }
    if let [rule] = rules {
        let whole_bucket = rule.filter().is_none_or(|f| {
            f.prefix().is_none_or(str::is_empty)
                && f.tag().is_none()
                && f.and().is_none()
                && f.object_size_greater_than().is_none()
                && f.object_size_less_than().is_none()
        }) && legacy_prefix(rule).is_none_or(str::is_empty);
        let noncurrent = rule.noncurrent_version_expiration();
        let days = |d: Option<i32>| d.and_then(|d| u32::try_from(d).ok());
        let ours = rule.id() == Some(LIFECYCLE_RULE)
            && rule.status() == &ExpirationStatus::Enabled
            && whole_bucket
            && rule.expiration().is_some_and(|e| {
                e.date().is_none()
                    && match e.days() {
                        // Current objects expire: ExpiredObjectDeleteMarker cannot be in the same
                        // Expiration (https://docs.aws.amazon.com/AmazonS3/latest/API/API_LifecycleExpiration.html).
                        Some(d) => d > 0 && e.expired_object_delete_marker() != Some(true),
                        None => e.expired_object_delete_marker() == Some(true),
                    }
            })
            && rule.transitions().is_empty()
            && rule.noncurrent_version_transitions().is_empty()
            && noncurrent.is_some_and(|n| n.newer_noncurrent_versions().is_none());
        let noncurrent_days = days(noncurrent.and_then(|n| n.noncurrent_days()));
        let incomplete = days(rule.abort_incomplete_multipart_upload().and_then(|a| a.days_after_initiation()));
        if let (true, Some(noncurrent_days), Some(incomplete_upload_days)) = (ours, noncurrent_days, incomplete) {
            let current_days = days(rule.expiration().and_then(|e| e.days()));
            return Some(ObjectLifecycle::Expire { current_days, noncurrent_days, incomplete_upload_days });
        }
    }
    // Anything else: enough of each rule to show what it does.
    let shown = rules
        .iter()
        .map(|r| {
            json!({
                "ID": r.id(),
                "Status": r.status().as_str(),
                "Filter": format!("{:?}", r.filter()),
                "Expiration": format!("{:?}", r.expiration()),
                "Transitions": format!("{:?}", r.transitions()),
                "NoncurrentVersionExpiration": format!("{:?}", r.noncurrent_version_expiration()),
                "AbortIncompleteMultipartUpload": format!("{:?}", r.abort_incomplete_multipart_upload()),
            })
        })
        .collect();
    Some(ObjectLifecycle::Rules(Value::Array(shown)))
}

/// The bucket's lifecycle rules; S3 answers `NoSuchLifecycleConfiguration` for a bucket without
/// them (<https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetBucketLifecycleConfiguration.html>).
async fn read_lifecycle(aws: &Aws, bucket: &str) -> Result<Option<ObjectLifecycle>, ProviderError> {
    let got = absent_if(
        aws.s3
            .get_bucket_lifecycle_configuration()
            .bucket(bucket)
            .send()
            .await
            .map_err(api("s3:GetBucketLifecycleConfiguration")),
        &["NoSuchLifecycleConfiguration"],
    )?;
    Ok(got.and_then(|g| declared_lifecycle(g.rules())))
}

/// Sets the bucket's lifecycle configuration (or deletes it), then waits until S3 reads it back:
/// a new configuration takes a while to propagate
/// (a delay of a few minutes, also for a deletion:
/// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/how-to-set-lifecycle-configuration-intro.html>),
/// and a read that still saw the old one would plan the change again.
async fn put_lifecycle(aws: &Aws, bucket: &str, lifecycle: Option<&ObjectLifecycle>) -> Result<(), ProviderError> {
    let failed = |e: aws_sdk_s3::error::BuildError| ProviderError::OperationFailed {
        what: "s3 lifecycle configuration".into(),
        message: e.to_string(),
    };
    match lifecycle {
        Some(ObjectLifecycle::Expire { current_days, noncurrent_days, incomplete_upload_days }) => {
            let days = |d: u32| i32::try_from(d).unwrap_or(i32::MAX);
            let expiration = match current_days {
                // An unversioned bucket (the model checks it): objects are deleted, no marker.
                Some(d) => LifecycleExpiration::builder().days(days(*d)).build(),
                // A delete marker left alone once its object's last version expired is removed
                // too (https://docs.aws.amazon.com/AmazonS3/latest/userguide/ManagingDelMarkers.html).
                None => LifecycleExpiration::builder().expired_object_delete_marker(true).build(),
            };
            let rule = LifecycleRule::builder()
                .id(LIFECYCLE_RULE)
                .status(ExpirationStatus::Enabled)
                .filter(LifecycleRuleFilter::builder().prefix("").build())
                .expiration(expiration)
                .noncurrent_version_expiration(
                    NoncurrentVersionExpiration::builder().noncurrent_days(days(*noncurrent_days)).build(),
                )
                .abort_incomplete_multipart_upload(
                    AbortIncompleteMultipartUpload::builder()
                        .days_after_initiation(days(*incomplete_upload_days))
                        .build(),
                )
                .build()
                .map_err(failed)?;
            let config = BucketLifecycleConfiguration::builder().rules(rule).build().map_err(failed)?;
            aws.s3
                .put_bucket_lifecycle_configuration()
                .bucket(bucket)
                .lifecycle_configuration(config)
                .send()
                .await
                .map_err(api("s3:PutBucketLifecycleConfiguration"))?;
        }
        Some(ObjectLifecycle::Rules(_)) => {
            return Err(ProviderError::OperationFailed {
                what: "s3 lifecycle configuration".into(),
                message: "rules read from S3 cannot be declared".into(),
            })
        }
        None => {
            aws.s3.delete_bucket_lifecycle().bucket(bucket).send().await.map_err(api("s3:DeleteBucketLifecycle"))?;
        }
    }
    let wanted = lifecycle.cloned();
    wait_read_back(format!("the lifecycle configuration of bucket {bucket}"), aws.operation_timeout, &wanted, || {
        read_lifecycle(aws, bucket)
    })
    .await
}

async fn put_tags(aws: &Aws, address: &Address, bucket: &str, tags: &Tags) -> Result<(), ProviderError> {
    let tags = tags
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect::<Result<Vec<_>, _>>()
        .map_err(malformed(address))?;
    let tagging = Tagging::builder().set_tag_set(Some(tags)).build().map_err(malformed(address))?;
    aws.s3.put_bucket_tagging().bucket(bucket).tagging(tagging).send().await.map_err(api("s3:PutBucketTagging"))?;
    Ok(())
}

/// Runs a read that AWS answers with a "not configured" error code when the setting is absent.
fn absent_if<T>(result: Result<T, ProviderError>, codes: &[&str]) -> Result<Option<T>, ProviderError> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(ProviderError::Api { code: Some(code), .. }) if codes.contains(&code.as_str()) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Deletes every object version and delete marker (for `force_destroy`).
async fn empty(aws: &Aws, bucket: &str) -> Result<(), ProviderError> {
    loop {
        let page = aws
            .s3
            .list_object_versions()
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
        let out =
            aws.s3.delete_objects().bucket(bucket).delete(delete).send().await.map_err(api("s3:DeleteObjects"))?;
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

#[async_trait]
impl AwsResource for Buckets {
    type Props = Bucket;
    type Outputs = BucketOutputs;

    /// Whether a bucket holding objects may be deleted is how platform deletes, not AWS's.
    const NOT_REPORTED: &'static [&'static str] = &["force_destroy"];

    async fn create(&self, aws: &Aws, new: &New<'_, Bucket>) -> Result<Created<BucketOutputs>, ProviderError> {
        let bucket = physical_name(aws, new.name()?).await?;
        let region = aws.region();
        let mut create = aws.s3.create_bucket().bucket(&bucket).object_ownership(ObjectOwnership::BucketOwnerEnforced);
        if region != "us-east-1" {
            create = create.create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(region.as_str()))
                    .build(),
            );
        }
        create.send().await.map_err(api("s3:CreateBucket"))?;
        let outputs = outputs(aws, &bucket).await?;
        let finish = async {
            configure(aws, &bucket, None, &new.props).await?;
            put_tags(aws, new.address, &bucket, &new.props.tags).await
        };
        finish.await.map_err(incomplete(&bucket, &outputs))?;
        Ok(Created { physical_id: bucket, outputs })
    }

    async fn read(
        &self,
        aws: &Aws,
        recorded: &Recorded<'_, Bucket>,
    ) -> Result<Option<Read<Bucket, BucketOutputs>>, ProviderError> {
        let bucket = recorded.physical_id;
        match aws.s3.head_bucket().bucket(bucket).send().await.map_err(api("s3:HeadBucket")) {
            Ok(_) => {}
            Err(err) if err.is_not_found() => return Ok(None),
            Err(err) => return Err(err),
        }
        let block = absent_if(
            aws.s3.get_public_access_block().bucket(bucket).send().await.map_err(api("s3:GetPublicAccessBlock")),
            &["NoSuchPublicAccessBlockConfiguration"],
        )?;
        let block_public_access = block.and_then(|b| b.public_access_block_configuration().cloned()).is_some_and(|c| {
            c.block_public_acls() == Some(true)
                && c.ignore_public_acls() == Some(true)
                && c.block_public_policy() == Some(true)
                && c.restrict_public_buckets() == Some(true)
        });
        let encryption = absent_if(
            aws.s3.get_bucket_encryption().bucket(bucket).send().await.map_err(api("s3:GetBucketEncryption")),
            &["ServerSideEncryptionConfigurationNotFoundError"],
        )?;
        let default = encryption
            .as_ref()
            .and_then(|e| e.server_side_encryption_configuration())
            .and_then(|c| c.rules().first())
            .and_then(|r| r.apply_server_side_encryption_by_default());
        let algorithm = default.map(|d| d.sse_algorithm().clone());
        let kms_key = default.and_then(|d| d.kms_master_key_id()).map(crate::model::Ref::existing);
        let versioning =
            aws.s3.get_bucket_versioning().bucket(bucket).send().await.map_err(api("s3:GetBucketVersioning"))?;
        let policy = absent_if(
            aws.s3.get_bucket_policy().bucket(bucket).send().await.map_err(api("s3:GetBucketPolicy")),
            &["NoSuchBucketPolicy"],
        )?;
        let tagging = absent_if(
            aws.s3.get_bucket_tagging().bucket(bucket).send().await.map_err(api("s3:GetBucketTagging")),
            &["NoSuchTagSet", "NoSuchTagSetError"],
        )?;
        let account = aws.account().await?;
        let region = aws.region();
        let context = PolicyContext { partition: &account.partition, account: &account.id, region: &region, bucket };
        let (enforce_tls, log_sources) =
            policy.as_ref().and_then(|p| p.policy()).map(|p| context.read(p)).unwrap_or_default();
        let props = Bucket {
            block_public_access,
            // Every bucket without a configuration of its own is encrypted with S3-managed keys
            // (https://docs.aws.amazon.com/AmazonS3/latest/userguide/default-encryption-faq.html).
            encryption: match algorithm {
                Some(ServerSideEncryption::AwsKms) => BucketEncryption::KmsManaged,
                Some(ServerSideEncryption::AwsKmsDsse) => BucketEncryption::KmsDualLayer,
                _ => BucketEncryption::S3Managed,
            },
            kms_key,
            versioning: versioning.status() == Some(&BucketVersioningStatus::Enabled),
            enforce_tls,
            lifecycle: read_lifecycle(aws, bucket).await?,
            access_logs: read_logging(aws, bucket).await?,
            log_sources,
            force_destroy: recorded.kept(|p| p.force_destroy),
            tags: tags(tagging.as_ref().map(|t| t.tag_set()).unwrap_or_default().iter().map(|t| (t.key(), t.value()))),
        };
        Ok(Some(Read::new(props, outputs(aws, bucket).await?)))
    }

    async fn update(
        &self,
        aws: &Aws,
        current: &Current<'_, Bucket, BucketOutputs>,
        new: &Bucket,
    ) -> Result<(), ProviderError> {
        configure(aws, current.physical_id, Some(&current.props), new).await?;
        if current.props.tags != new.tags {
            put_tags(aws, current.address, current.physical_id, &new.tags).await?;
        }
        Ok(())
    }

    async fn delete(&self, aws: &Aws, current: &Current<'_, Bucket, BucketOutputs>) -> Result<(), ProviderError> {
        if current.props.force_destroy {
            empty(aws, current.physical_id).await?;
        }
        aws.s3.delete_bucket().bucket(current.physical_id).send().await.map_err(api("s3:DeleteBucket"))?;
        Ok(())
    }

    /// The name holds the account and region.
    async fn find(&self, aws: &Aws, lookup: &Lookup<'_, Bucket>) -> Result<Option<String>, ProviderError> {
        match lookup.name {
            Some(name) => Ok(Some(physical_name(aws, name).await?)),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(region: &str) -> PolicyContext<'_> {
        PolicyContext { partition: "aws", account: "123456789012", region, bucket: "prod-logs-123456789012-us-east-1" }
    }

    fn sources() -> Vec<LogSource> {
        vec![LogSource::LoadBalancers { prefix: "lb".into() }, LogSource::S3ServerAccess { prefix: "s3/".into() }]
    }

    #[test]
    fn the_policy_grants_each_log_source_its_prefix_then_denies_plain_http() {
        let policy: Value = serde_json::from_str(&context("us-east-1").policy(true, &sources()).unwrap()).unwrap();
        let statements = policy["Statement"].as_array().unwrap();
        assert_eq!(statements.len(), 3);
        assert_eq!(statements[0]["Principal"], json!({"AWS": "arn:aws:iam::127311923021:root"}));
        assert_eq!(
            statements[0]["Resource"],
            "arn:aws:s3:::prod-logs-123456789012-us-east-1/lb/*/AWSLogs/123456789012/*"
        );
        assert_eq!(statements[1]["Principal"], json!({"Service": "logging.s3.amazonaws.com"}));
        assert_eq!(statements[1]["Resource"], "arn:aws:s3:::prod-logs-123456789012-us-east-1/s3/*");
        assert_eq!(statements[1]["Condition"], json!({"StringEquals": {"aws:SourceAccount": "123456789012"}}));
        assert_eq!(statements[2]["Sid"], TLS_SID, "the deny comes last");
        // A region opened after August 2022 grants the service principal.
        let newer: Value = serde_json::from_str(&context("ap-southeast-4").policy(false, &sources()).unwrap()).unwrap();
        assert_eq!(
            newer["Statement"][0]["Principal"],
            json!({"Service": "logdelivery.elasticloadbalancing.amazonaws.com"})
        );
        assert_eq!(newer["Statement"].as_array().unwrap().len(), 2);
        assert_eq!(context("us-east-1").policy(false, &[]), None, "nothing to say: no policy");
    }

    #[test]
    fn a_policy_reads_back_as_declared_and_a_changed_grant_as_none() {
        let c = context("us-east-1");
        for (tls, sources) in [(true, sources()), (false, sources()), (true, vec![]), (true, sources()[1..].to_vec())] {
            assert_eq!(c.read(&c.policy(tls, &sources).unwrap()), (tls, sources.clone()));
        }
        // A grant widened by hand (any account's S3 logs) is not the declared one: drift.
        let mut widened: Value = serde_json::from_str(&c.policy(true, &sources()).unwrap()).unwrap();
        widened["Statement"][1].as_object_mut().unwrap().remove("Condition");
        assert_eq!(c.read(&widened.to_string()), (true, sources()[..1].to_vec()));
        // So is one naming another prefix than its resource says.
        let mut moved: Value = serde_json::from_str(&c.policy(true, &sources()).unwrap()).unwrap();
        moved["Statement"][0]["Resource"] = json!("arn:aws:s3:::prod-logs-123456789012-us-east-1/*");
        assert_eq!(c.read(&moved.to_string()), (true, sources()[1..].to_vec()));
    }
}
