//! Secrets Manager: secrets whose values the platform never holds. A secret is declared (its name,
//! description, tags and how long a deleted one can be restored); what it holds is written by
//! the code that owns it (a migration task generating and rotating a database user's password),
//! so no value ever passes through a plan, the state or the logs.

use serde::{Deserialize, Serialize};

use super::{Arn, Name, Tags};
use crate::model::{outputs, NameStyle, Resource, TypeSchema};

/// Schema of [`Secret`].
pub const SECRET: TypeSchema = TypeSchema {
    type_name: "aws.secretsmanager.secret",
    // "The secret name can contain ASCII letters, numbers, and the following characters:
    // /_+=.@-", at most 512 characters
    // (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_CreateSecret.html).
    name_style: NameStyle::Dashed { max_len: 512, lowercase: false },
    force_new: &["name"],
    taggable: true,
    outputs: SecretOutputs::NAMES,
    stack_check: Some(check_names),
    ..TypeSchema::BASE
};

/// The days a deleted secret can be restored that Secrets Manager accepts
/// (`RecoveryWindowInDays`: 7 to 30,
/// <https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_DeleteSecret.html>).
pub const RECOVERY_WINDOW_DAYS: std::ops::RangeInclusive<u32> = 7..=30;

/// A secret, without its value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Secret {
    /// What it holds and who writes it.
    pub description: String,
    /// Days a deleted secret can still be restored (7 to 30); 0 deletes it at once, its name free
    /// for a new secret (dev). Not an AWS attribute of the secret: it only changes how `destroy`
    /// deletes. A secret scheduled for deletion keeps its name: creating the same address again
    /// within the window restores it.
    pub recovery_window_days: u32,
    /// User tags.
    pub tags: Tags,
}

impl Resource for Secret {
    const SCHEMA: &'static TypeSchema = &SECRET;
    fn validate(&self, problems: &mut Vec<String>) {
        if self.recovery_window_days != 0 && !RECOVERY_WINDOW_DAYS.contains(&self.recovery_window_days) {
            problems.push(format!(
                "recovery_window_days: {} is not accepted by Secrets Manager; use 7 to 30 (or 0: deleted at once)",
                self.recovery_window_days
            ));
        }
        // "The description of the secret", at most 2048 characters (API_CreateSecret.html).
        if self.description.len() > 2048 {
            problems.push(format!(
                "description: {} characters; Secrets Manager takes at most 2048",
                self.description.len()
            ));
        }
    }
}

/// Whether `name` ends with a hyphen and six characters, which Secrets Manager advises against:
/// "Do not end your secret name with a hyphen followed by six characters. If you do so, you
/// risk confusion and unexpected results when searching for a secret by partial ARN" (the six
/// characters it appends to every secret's ARN,
/// <https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_CreateSecret.html>).
pub fn ends_like_an_arn_suffix(name: &str) -> bool {
    name.len() > 7 && name.as_bytes()[name.len() - 7] == b'-' && !name[name.len() - 6..].contains('-')
}

/// Refuses secret names that end like an ARN suffix ([`ends_like_an_arn_suffix`]).
fn check_names(spec: &crate::model::StackSpec, problems: &mut Vec<String>) {
    for secret in spec.resources.iter().filter(|r| r.type_name == SECRET.type_name) {
        if let Some(name) = secret.props["name"].as_str().filter(|n| ends_like_an_arn_suffix(n)) {
            problems.push(format!(
                "{}: the name `{name}` ends with a hyphen and six characters, which Secrets Manager mistakes for \
                 the suffix of an ARN; choose another logical name",
                secret.address
            ));
        }
    }
}

outputs! {
    /// What a secret records.
    Secret => SecretOutputs {
        /// Its ARN (the name and the six characters Secrets Manager appends).
        arn: String => arn(Arn),
        /// Its name.
        name: String => name(Name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_look_like_an_arn_suffix_are_recognised() {
        assert!(ends_like_an_arn_suffix("dev-deps-secret"));
        assert!(ends_like_an_arn_suffix("dev-deps-a1b2c3"));
        assert!(!ends_like_an_arn_suffix("dev-deps-db-app-credentials"));
        assert!(!ends_like_an_arn_suffix("dev-deps-db-app"));
        assert!(!ends_like_an_arn_suffix("secret"));
    }

    #[test]
    fn recovery_windows_outside_what_aws_takes_are_refused() {
        let secret = |days| Secret { description: "d".into(), recovery_window_days: days, tags: Tags::new() };
        for (days, ok) in [(0, true), (7, true), (30, true), (6, false), (31, false)] {
            let mut problems = vec![];
            secret(days).validate(&mut problems);
            assert_eq!(problems.is_empty(), ok, "{days}: {problems:?}");
        }
    }
}
