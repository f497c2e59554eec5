//! CloudWatch Logs: log groups.

use serde::{Deserialize, Serialize};

use super::{Arn, Name, Tags};
use crate::model::{outputs, NameStyle, Ref, Resource, TypeSchema};

/// Schema of [`LogGroup`].
pub const LOG_GROUP: TypeSchema = TypeSchema {
    type_name: "aws.logs.log_group",
    name_style: NameStyle::Path { max_len: 512 },
    force_new: &["name"],
    taggable: true,
    outputs: LogGroupOutputs::NAMES,
    ..TypeSchema::BASE
};

/// The retention periods CloudWatch Logs accepts, in days.
pub const RETENTION_DAYS: &[u32] =
    &[1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];

/// A log group with a retention period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogGroup {
    /// Days events are kept (one of [`RETENTION_DAYS`]), or 0: kept forever (no retention
    /// policy, which is also how a group whose retention was removed reads back).
    pub retention_in_days: u32,
    /// The customer-managed KMS key its events are encrypted with (its ARN), or none: CloudWatch
    /// Logs' own key. The key's policy must let CloudWatch Logs use it for this group
    /// ([`crate::resources::KeyUse::LogGroups`]); changed in place (AssociateKmsKey, which "can
    /// take up to five minutes" to apply to new events; events already stored stay under the key
    /// they were written with: https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key: Option<Ref<Arn>>,
    /// User tags.
    pub tags: Tags,
}

impl LogGroup {
    /// A log group keeping events for `retention_in_days`.
    pub fn new(retention_in_days: u32) -> Self {
        Self { retention_in_days, kms_key: None, tags: Tags::new() }
    }
}

impl Resource for LogGroup {
    const SCHEMA: &'static TypeSchema = &LOG_GROUP;
    fn validate(&self, problems: &mut Vec<String>) {
        if self.retention_in_days != 0 && !RETENTION_DAYS.contains(&self.retention_in_days) {
            problems.push(format!(
                "retention_in_days: {} is not accepted by CloudWatch Logs; use one of {RETENTION_DAYS:?} (or 0: forever)",
                self.retention_in_days
            ));
        }
    }
}

outputs! {
    /// What a log group records.
    LogGroup => LogGroupOutputs {
        /// The group's ARN (without the `:*` suffix some APIs add).
        arn: String => arn(Arn),
        /// The group's name.
        name: String => name(Name),
    }
}
