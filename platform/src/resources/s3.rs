//! S3: buckets.

use serde::Serialize;

use super::{Arn, Name, Tags};
use crate::model::{Handle, NameStyle, Ref, Resource, TypeSchema};

/// Schema of [`Bucket`].
pub const BUCKET: TypeSchema = TypeSchema {
    type_name: "aws.s3.bucket",
    // Bucket names are global: the provider appends the account id and the region to this name,
    // which leaves 34 characters for it.
    name_style: NameStyle::Dashed { max_len: 34, lowercase: true },
    force_new: &["name"],
    sets: &[],
    taggable: true,
    outputs: &["name", "arn", "regional_domain_name"],
    awaits: false,
    create_before_destroy: false,
};

/// Default encryption of new objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum BucketEncryption {
    /// S3-managed keys (SSE-S3).
    #[serde(rename = "AES256")]
    S3Managed,
    /// The AWS-managed KMS key for S3 (SSE-KMS).
    #[serde(rename = "aws:kms")]
    KmsManaged,
}

/// A private bucket. The defaults are the safe ones: every public access block on, default
/// encryption, versioning, and a policy that denies any request not made over TLS.
#[derive(Debug, Clone, Serialize)]
pub struct Bucket {
    /// All four Block Public Access settings.
    pub block_public_access: bool,
    /// Default encryption.
    pub encryption: BucketEncryption,
    /// Keep every version of every object.
    pub versioning: bool,
    /// A bucket policy denying requests not made over TLS.
    pub enforce_tls: bool,
    /// Delete the bucket with its objects (every version). Not an AWS attribute: it only changes how
    /// the bucket is deleted; without it, deleting a bucket that holds objects fails.
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
            force_destroy: false,
            tags: Tags::new(),
        }
    }
}

impl Resource for Bucket {
    const TYPE: &'static str = BUCKET.type_name;
}

impl Handle<Bucket> {
    /// The bucket's (global) name.
    pub fn name(&self) -> Ref<Name> {
        self.output("name")
    }
    /// The bucket's ARN.
    pub fn arn(&self) -> Ref<Arn> {
        self.output("arn")
    }
}
