//! CloudWatch Logs: log groups.

use serde::Serialize;

use super::{Arn, Name, Tags};
use crate::model::{Handle, NameStyle, Ref, Resource, TypeSchema};

/// Schema of [`LogGroup`].
pub const LOG_GROUP: TypeSchema = TypeSchema {
    type_name: "aws.logs.log_group",
    name_style: NameStyle::Path { max_len: 512 },
    force_new: &["name"],
    sets: &[],
    taggable: true,
    outputs: &["arn", "name"],
    awaits: false,
    create_before_destroy: false,
};

/// The retention periods CloudWatch Logs accepts, in days.
pub const RETENTION_DAYS: &[u32] =
    &[1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];

/// A log group with a retention period.
#[derive(Debug, Clone, Serialize)]
pub struct LogGroup {
    /// Days events are kept (one of [`RETENTION_DAYS`]).
    pub retention_in_days: u32,
    /// User tags.
    pub tags: Tags,
}

impl LogGroup {
    /// A log group keeping events for `retention_in_days`.
    pub fn new(retention_in_days: u32) -> Self {
        Self { retention_in_days, tags: Tags::new() }
    }
}

impl Resource for LogGroup {
    const TYPE: &'static str = LOG_GROUP.type_name;
    fn validate(&self, problems: &mut Vec<String>) {
        if !RETENTION_DAYS.contains(&self.retention_in_days) {
            problems.push(format!(
                "retention_in_days: {} is not accepted by CloudWatch Logs; use one of {RETENTION_DAYS:?}",
                self.retention_in_days
            ));
        }
    }
}

impl Handle<LogGroup> {
    /// The log group's ARN (without the `:*` suffix).
    pub fn arn(&self) -> Ref<Arn> {
        self.output("arn")
    }
    /// The log group's name.
    pub fn name(&self) -> Ref<Name> {
        self.output("name")
    }
}
