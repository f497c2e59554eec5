//! ECR: container image repositories.

use serde::{Deserialize, Serialize};

use super::{Arn, Name, Tags, Uri};
use crate::model::{outputs, NameStyle, Ref, Resource, TypeSchema};

/// Schema of [`EcrRepository`].
pub const REPOSITORY: TypeSchema = TypeSchema {
    type_name: "aws.ecr.repository",
    name_style: NameStyle::Dashed { max_len: 256, lowercase: true },
    // "You can't change the encryption settings for a repository after it's created"
    // (https://docs.aws.amazon.com/AmazonECR/latest/userguide/encryption-at-rest.html).
    force_new: &["name", "kms_key"],
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
    /// Which images ECR expires by itself (none when not set: every image pushed is kept, and
    /// paid for, forever).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<ImageLifecycle>,
    /// Delete the repository even if it holds images (the images are lost). Not an AWS
    /// attribute: it only changes how `destroy` deletes.
    #[serde(default)]
    pub force_delete: bool,
    /// The customer-managed KMS key images are encrypted with (its ARN), or none: AES-256 with
    /// ECR's own key. Fixed at creation; its key policy must let ECR create grants on it
    /// ([`crate::resources::KeyService::Ecr`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key: Option<Ref<Arn>>,
    /// User tags.
    pub tags: Tags,
}

impl Default for EcrRepository {
    /// Scan on push, immutable tags, and no deletion of a repository that holds images.
    fn default() -> Self {
        Self {
            scan_on_push: true,
            image_tag_mutability: TagMutability::Immutable,
            lifecycle: None,
            force_delete: false,
            kms_key: None,
            tags: Tags::new(),
        }
    }
}

/// A repository's lifecycle policy
/// (<https://docs.aws.amazon.com/AmazonECR/latest/userguide/LifecyclePolicies.html>).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageLifecycle {
    /// Untagged images (layers a build left behind) expire `untagged_days` after they were
    /// pushed; beyond the `keep` most recent images, the oldest expire. ECR applies the policy
    /// within a day of an image qualifying. `keep` should exceed the pushes between a deploy and
    /// its rollback: an expired image cannot start a task.
    Expire {
        /// Days an untagged image is kept.
        untagged_days: u32,
        /// How many images (the most recently pushed) are kept.
        keep: u32,
    },
    /// A lifecycle policy in ECR's JSON form that is not the above: how a policy changed outside
    /// platform reads back (and shows as drift). Stacks declare [`ImageLifecycle::Expire`].
    Document(String),
}

impl ImageLifecycle {
    /// The policy in ECR's JSON form: the untagged rule first (ECR requires a rule selecting
    /// `any` tag status to come last).
    pub fn to_policy_text(&self) -> String {
        match self {
            ImageLifecycle::Expire { untagged_days, keep } => serde_json::json!({"rules": [
                {
                    "rulePriority": 1,
                    "description": format!("untagged images after {untagged_days} days"),
                    "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": untagged_days},
                    "action": {"type": "expire"},
                },
                {
                    "rulePriority": 2,
                    "description": format!("images beyond the {keep} most recent"),
                    "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": keep},
                    "action": {"type": "expire"},
                },
            ]})
            .to_string(),
            ImageLifecycle::Document(text) => text.clone(),
        }
    }

    /// A policy as ECR returns it: [`ImageLifecycle::Expire`] when it is exactly what that writes
    /// (descriptions aside), the text otherwise.
    pub fn from_policy_text(text: &str) -> Self {
        let mut parsed: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
        // ECR may return the rules in another order: by priority is what they mean.
        if let Some(rules) = parsed["rules"].as_array_mut() {
            rules.sort_by_key(|r| r["rulePriority"].as_u64());
        }
        let number =
            |rule: &serde_json::Value| rule["selection"]["countNumber"].as_u64().and_then(|n| u32::try_from(n).ok());
        if let Some([untagged, any]) = parsed["rules"].as_array().map(Vec::as_slice) {
            if let (Some(untagged_days), Some(keep)) = (number(untagged), number(any)) {
                let ours = ImageLifecycle::Expire { untagged_days, keep };
                let mut expected: serde_json::Value = serde_json::from_str(&ours.to_policy_text()).unwrap_or_default();
                let mut got = parsed.clone();
                for doc in [&mut expected, &mut got] {
                    for rule in doc["rules"].as_array_mut().into_iter().flatten() {
                        rule.as_object_mut().map(|r| r.remove("description"));
                    }
                }
                if expected == got {
                    return ours;
                }
            }
        }
        ImageLifecycle::Document(text.to_string())
    }
}

impl Resource for EcrRepository {
    const SCHEMA: &'static TypeSchema = &REPOSITORY;
    fn validate(&self, problems: &mut Vec<String>) {
        match &self.lifecycle {
            Some(ImageLifecycle::Expire { untagged_days, keep }) if *untagged_days == 0 || *keep == 0 => {
                problems.push("lifecycle: untagged_days and keep are at least 1".into());
            }
            Some(ImageLifecycle::Document(_)) => {
                problems.push("lifecycle: declare `expire`, not a policy document".into());
            }
            _ => {}
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lifecycle_reads_back_as_declared_and_anything_else_as_its_text() {
        let ours = ImageLifecycle::Expire { untagged_days: 7, keep: 100 };
        assert_eq!(ImageLifecycle::from_policy_text(&ours.to_policy_text()), ours);
        // As ECR may return it: other rule and key order, spacing, its own descriptions.
        let theirs = r#"{ "rules": [ {"rulePriority": 2, "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 100},
            "action": {"type": "expire"}}, {"action": {"type": "expire"}, "rulePriority": 1, "description": "x",
            "selection": {"countNumber": 7, "countUnit": "days", "countType": "sinceImagePushed", "tagStatus": "untagged"}} ] }"#;
        assert_eq!(ImageLifecycle::from_policy_text(theirs), ours);
        // A rule changed by hand (tagged images only) is not ours.
        let changed = theirs.replace(r#""tagStatus": "any""#, r#""tagStatus": "tagged", "tagPatternList": ["v*"]"#);
        assert_eq!(ImageLifecycle::from_policy_text(&changed), ImageLifecycle::Document(changed.clone()));
    }
}
