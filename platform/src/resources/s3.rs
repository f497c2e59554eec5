//! S3: buckets.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Arn, Name, Tags};
use crate::access;
use crate::model::{outputs, NameStyle, Resource, TypeSchema};

/// Schema of [`Bucket`].
pub const BUCKET: TypeSchema = TypeSchema {
    type_name: "aws.s3.bucket",
    // Bucket names are global: the provider appends the account id and the region to this name,
    // which leaves 34 characters for it.
    name_style: NameStyle::Dashed { max_len: 34, lowercase: true },
    force_new: &["name"],
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
    /// The AWS-managed KMS key for S3 (SSE-KMS).
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
    /// Keep every version of every object.
    pub versioning: bool,
    /// A bucket policy denying requests not made over TLS.
    pub enforce_tls: bool,
    /// What S3 deletes by itself (nothing when not set: with versioning, every overwritten or
    /// deleted object is kept, and paid for, forever).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<ObjectLifecycle>,
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
            versioning: true,
            enforce_tls: true,
            lifecycle: None,
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

impl Resource for Bucket {
    const SCHEMA: &'static TypeSchema = &BUCKET;
    fn validate(&self, problems: &mut Vec<String>) {
        match &self.lifecycle {
            Some(ObjectLifecycle::Expire { noncurrent_days, incomplete_upload_days })
                if *noncurrent_days == 0 || *incomplete_upload_days == 0 =>
            {
                problems.push("lifecycle: noncurrent_days and incomplete_upload_days are at least 1".into());
            }
            Some(ObjectLifecycle::Rules(_)) => {
                problems.push("lifecycle: declare `expire`, not rules read from S3".into());
            }
            _ => {}
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
