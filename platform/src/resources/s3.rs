//! S3: buckets.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Arn, Name, Tags};
use crate::access;
use crate::model::{outputs, NameStyle, Ref, Resource, TypeSchema};

/// Schema of [`Bucket`].
pub const BUCKET: TypeSchema = TypeSchema {
    type_name: "aws.s3.bucket",
    // Bucket names are global: the provider appends the account id and the region to this name,
    // which leaves 34 characters for it.
    name_style: NameStyle::Dashed { max_len: 34, lowercase: true },
    force_new: &["name"],
    sets: &["log_sources"],
    taggable: true,
    outputs: BucketOutputs::NAMES,
    widening: Some(bucket_widening),
    ..TypeSchema::BASE
};

/// Default encryption of new objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BucketEncryption {
    /// S3-managed keys (SSE-S3).
    #[serde(rename = "AES256")]
    S3Managed,
    /// SSE-KMS: with the bucket's `kms_key`, or else the AWS managed key `aws/s3`.
    #[serde(rename = "aws:kms")]
    KmsManaged,
    /// Dual-layer encryption with KMS keys (DSSE-KMS).
    #[serde(rename = "aws:kms:dsse")]
    KmsDualLayer,
}

/// A private bucket. The defaults are the safe ones: every public access block on, default
/// encryption, versioning, and a policy that denies any request not made over TLS.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    /// All four Block Public Access settings.
    pub block_public_access: bool,
    /// Default encryption.
    pub encryption: BucketEncryption,
    /// The customer-managed KMS key (its ARN) of SSE-KMS, with S3 Bucket Keys (S3 then asks KMS
    /// for a data key per bucket and period, not per object: https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-key.html).
    /// Whoever reads or writes objects then needs `kms:Decrypt` or `kms:GenerateDataKey` on it
    /// (a presigned URL: its signer), and its key policy must allow use through S3
    /// ([`crate::resources::KeyService::S3`]). Changing it applies to objects written afterwards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key: Option<Ref<Arn>>,
    /// Keep every version of every object.
    pub versioning: bool,
    /// A bucket policy denying requests not made over TLS.
    pub enforce_tls: bool,
    /// What S3 deletes by itself (nothing when not set: with versioning, every overwritten or
    /// deleted object is kept, and paid for, forever).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<ObjectLifecycle>,
    /// Server access logging: S3 records every request made to the bucket into another bucket
    /// (which accepts [`LogSource::S3ServerAccess`] under the prefix).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_logs: Option<AccessLogs>,
    /// The AWS services that may write their logs into this bucket, each only under its prefix
    /// (statements of the bucket policy, beside the TLS-only one). A bucket with log sources keeps
    /// S3-managed encryption: neither service writes to another.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub log_sources: Vec<LogSource>,
    /// Delete the bucket with its objects (every version). Not an AWS attribute: it only changes how
    /// the bucket is deleted; without it, deleting a bucket that holds objects fails.
    #[serde(default)]
    pub force_destroy: bool,
    /// User tags.
    pub tags: Tags,
}

impl Default for Bucket {
    fn default() -> Self {
        Self {
            block_public_access: true,
            encryption: BucketEncryption::S3Managed,
            kms_key: None,
            versioning: true,
            enforce_tls: true,
            lifecycle: None,
            access_logs: None,
            log_sources: vec![],
            force_destroy: false,
            tags: Tags::new(),
        }
    }
}

/// A bucket's lifecycle configuration
/// (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lifecycle-mgmt.html>).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectLifecycle {
    /// One rule for every object: a version expires `noncurrent_days` after a newer one replaced
    /// it (or it was deleted), a delete marker left with no version behind it is removed, and
    /// uploads left incomplete are aborted after `incomplete_upload_days` (their parts are billed
    /// until then). Current objects never expire.
    Expire {
        /// Days a current object is kept (none: forever). Only on an unversioned bucket: on a
        /// versioned one an expired object would leave a delete marker behind.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        current_days: Option<u32>,
        /// Days a noncurrent version is kept.
        noncurrent_days: u32,
        /// Days an incomplete multipart upload is kept.
        incomplete_upload_days: u32,
    },
    /// A configuration that is not the above, as read from S3 (its rules in S3's JSON form): how
    /// one changed outside platform reads back (and shows as drift). Stacks declare
    /// [`ObjectLifecycle::Expire`].
    Rules(Value),
}

/// Where a bucket's server access logs (or a load balancer's access logs) go: a bucket of the
/// same account and region, under a prefix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessLogs {
    /// The bucket's (global) name.
    pub bucket: Ref<Name>,
    /// The key prefix the logs are written under (`lb/prod-card-service`, `s3/prod-images/`).
    pub prefix: String,
}

impl AccessLogs {
    fn validate(&self, what: &str, problems: &mut Vec<String>) {
        let p = &self.prefix;
        if p.is_empty() || p.starts_with('/') || p.len() > 200 {
            problems.push(format!("{what}.prefix: `{p}` is 1 to 200 characters and does not start with `/`"));
        }
    }
}

/// An AWS service that writes its logs into a bucket, under a prefix. The bucket policy allows it
/// `s3:PutObject` there and nowhere else, from this account only.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogSource {
    /// Application load balancers' access logs
    /// (<https://docs.aws.amazon.com/elasticloadbalancing/latest/application/enable-access-logging.html>):
    /// written under `PREFIX/ANY/AWSLogs/ACCOUNT/`, for load balancers whose access logs name a
    /// prefix under this one.
    LoadBalancers {
        /// The prefix (`lb`).
        prefix: String,
    },
    /// S3 server access logs
    /// (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/enable-server-access-logging.html>)
    /// of the account's buckets, written under the prefix.
    S3ServerAccess {
        /// The prefix (`s3/`).
        prefix: String,
    },
}

impl LogSource {
    /// The key prefix the source writes under.
    pub fn prefix(&self) -> &str {
        match self {
            LogSource::LoadBalancers { prefix } | LogSource::S3ServerAccess { prefix } => prefix,
        }
    }
}

impl Resource for Bucket {
    const SCHEMA: &'static TypeSchema = &BUCKET;
    fn validate(&self, problems: &mut Vec<String>) {
        match &self.lifecycle {
            Some(ObjectLifecycle::Expire { noncurrent_days, incomplete_upload_days, .. })
                if *noncurrent_days == 0 || *incomplete_upload_days == 0 =>
            {
                problems.push("lifecycle: noncurrent_days and incomplete_upload_days are at least 1".into());
            }
            Some(ObjectLifecycle::Rules(_)) => {
                problems.push("lifecycle: declare `expire`, not rules read from S3".into());
            }
            _ => {}
        }
        if let Some(ObjectLifecycle::Expire { current_days: Some(days), .. }) = &self.lifecycle {
            if *days == 0 {
                problems.push("lifecycle: current_days is at least 1".into());
            }
            if self.versioning {
                problems.push(
                    "lifecycle: current_days needs an unversioned bucket (on a versioned one each expired object \
                     leaves a delete marker)"
                        .into(),
                );
            }
        }
        if let Some(logs) = &self.access_logs {
            logs.validate("access_logs", problems);
        }
        for source in &self.log_sources {
            let p = source.prefix();
            if p.is_empty() || p.starts_with('/') || p.contains('*') || p.contains('?') || p.len() > 100 {
                problems.push(format!(
                    "log_sources: the prefix `{p}` is 1 to 100 characters, without `*` or `?`, not starting with `/`"
                ));
            }
        }
        let mut prefixes: Vec<&str> = self.log_sources.iter().map(LogSource::prefix).collect();
        prefixes.sort_unstable();
        if prefixes.windows(2).any(|w| w[1].starts_with(w[0])) {
            problems.push("log_sources: each source needs a prefix of its own, not inside another's".into());
        }
        // Load balancers: "The only server-side encryption option that's supported is Amazon
        // S3-managed keys (SSE-S3)" (enable-access-logging.html, above); S3 server access logs:
        // "You can use default bucket encryption on the target bucket only if you use SSE-S3"
        // (enable-server-access-logging.html, above).
        if self.kms_key.is_some() && self.encryption == BucketEncryption::S3Managed {
            problems.push("kms_key: a KMS key encrypts only with SSE-KMS (`aws:kms` or `aws:kms:dsse`)".into());
        }
        if !self.log_sources.is_empty() && self.encryption != BucketEncryption::S3Managed {
            problems.push("log_sources: services write logs only to a bucket encrypted with SSE-S3 (`AES256`)".into());
        }
    }
}

/// Marker for references to domain names.
pub struct DomainName;

outputs! {
    /// What a bucket records.
    Bucket => BucketOutputs {
        /// The bucket's (global) name.
        name: String => name(Name),
        /// The bucket's ARN.
        arn: String => arn(Arn),
        /// The bucket's regional domain name (`NAME.s3.REGION.amazonaws.com`).
        regional_domain_name: String => regional_domain_name(DomainName),
    }
}

fn bucket_widening(before: Option<&Value>, after: &Value) -> Vec<String> {
    let mut out = vec![];
    if before.is_some() && access::became(before, after, "block_public_access", Value::Bool(false)) {
        out.push("the bucket's public access blocks are lifted".into());
    }
    if before.is_some() && access::became(before, after, "enforce_tls", Value::Bool(false)) {
        out.push("the bucket accepts requests without TLS".into());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(bucket: &Bucket) -> Vec<String> {
        let mut out = vec![];
        bucket.validate(&mut out);
        out
    }

    #[test]
    fn log_buckets_are_checked_before_any_call() {
        let sources =
            vec![LogSource::LoadBalancers { prefix: "lb".into() }, LogSource::S3ServerAccess { prefix: "s3/".into() }];
        let logs = Bucket {
            versioning: false,
            lifecycle: Some(ObjectLifecycle::Expire {
                current_days: Some(90),
                noncurrent_days: 1,
                incomplete_upload_days: 1,
            }),
            log_sources: sources.clone(),
            ..Bucket::default()
        };
        assert!(problems(&logs).is_empty(), "{:?}", problems(&logs));
        let versioned = Bucket { versioning: true, ..logs.clone() };
        assert!(problems(&versioned)[0].contains("current_days needs an unversioned bucket"));
        let kms = Bucket { encryption: BucketEncryption::KmsManaged, ..logs.clone() };
        assert!(problems(&kms)[0].contains("services write logs only to a bucket encrypted with SSE-S3"));
        let nested = Bucket {
            log_sources: vec![
                LogSource::LoadBalancers { prefix: "logs".into() },
                LogSource::S3ServerAccess { prefix: "logs/s3".into() },
            ],
            ..logs.clone()
        };
        assert!(problems(&nested)[0].contains("a prefix of its own"));
        let wild = Bucket { log_sources: vec![LogSource::S3ServerAccess { prefix: "s3/*".into() }], ..logs };
        assert!(problems(&wild)[0].contains("without `*` or `?`"));
        let source = Bucket {
            access_logs: Some(AccessLogs { bucket: Ref::existing("logs"), prefix: "/s3".into() }),
            ..Bucket::default()
        };
        assert!(problems(&source)[0].contains("access_logs.prefix"));
    }
}
