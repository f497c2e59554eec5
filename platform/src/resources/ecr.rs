//! ECR: container image repositories.

use serde::{Deserialize, Serialize};

use super::{Arn, Name, Tags, Uri};
use crate::model::{outputs, NameStyle, Resource, TypeSchema};

/// Schema of [`EcrRepository`].
pub const REPOSITORY: TypeSchema = TypeSchema {
    type_name: "aws.ecr.repository",
    name_style: NameStyle::Dashed { max_len: 256, lowercase: true },
    force_new: &["name"],
    taggable: true,
    outputs: EcrRepositoryOutputs::NAMES,
    ..TypeSchema::BASE
};

/// Whether image tags can be overwritten.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TagMutability {
    /// A pushed tag never points at another image.
    Immutable,
    /// Tags can be moved.
    Mutable,
}

/// A private image repository.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EcrRepository {
    /// Scan images for vulnerabilities when they are pushed.
    pub scan_on_push: bool,
    /// Whether tags can be overwritten.
    pub image_tag_mutability: TagMutability,
    /// Delete the repository even if it holds images (the images are lost). Not an AWS
    /// attribute: it only changes how `destroy` deletes.
    #[serde(default)]
    pub force_delete: bool,
    /// User tags.
    pub tags: Tags,
}

impl Default for EcrRepository {
    /// Scan on push, immutable tags, and no deletion of a repository that holds images.
    fn default() -> Self {
        Self {
            scan_on_push: true,
            image_tag_mutability: TagMutability::Immutable,
            force_delete: false,
            tags: Tags::new(),
        }
    }
}

impl Resource for EcrRepository {
    const SCHEMA: &'static TypeSchema = &REPOSITORY;
}

outputs! {
    /// What a repository records.
    EcrRepository => EcrRepositoryOutputs {
        /// The repository's ARN.
        arn: String => arn(Arn),
        /// The repository's name.
        name: String => name(Name),
        /// The URI images are pushed to and pulled from.
        repository_uri: String => repository_uri(Uri),
    }
}
