//! KMS: customer-managed keys. A key is named by its alias (`alias/NAME`), rotates its key
//! material, and has a key policy made of typed uses: the account administers it (IAM policies
//! decide who, and none of the administrators may use it), and each AWS service that encrypts
//! with it gets exactly the operations it needs, only on the account's behalf (S3, ECR and RDS
//! through `kms:ViaService`; CloudWatch Logs as its service principal, only for the log groups
//! named). Who may use a key through S3 is then the IAM policies' business (a task role's typed
//! grants), as the account's own key policies delegate
//! (<https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html>).
//!
//! The policy is rendered here (pure), from the account, partition and region the provider
//! knows, and read back statement by statement: a statement that is not one a use renders reads
//! as [`KeyUse::Other`], so a statement added by hand is drift and an apply removes it.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::{Arn, Name, Tags, Text};
use crate::access;
use crate::model::{outputs, NameStyle, Resource, TypeSchema};

/// Schema of [`Key`].
pub const KEY: TypeSchema = TypeSchema {
    type_name: "aws.kms.key",
    // The alias: "alias/" and then "alphanumeric characters, forward slashes (/), underscores
    // (_), and dashes (-)", 256 characters in all; `alias/aws/` is reserved for AWS managed keys
    // (https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateAlias.html).
    name_style: NameStyle::Dashed { max_len: 250, lowercase: false },
    force_new: &["name"],
    sets: &["uses"],
    taggable: true,
    outputs: KeyOutputs::NAMES,
    widening: Some(key_widening),
    ..TypeSchema::BASE
};

/// The rotation periods KMS accepts, in days (`RotationPeriodInDays`: "a value between 90 and
/// 2560", 365 by default; https://docs.aws.amazon.com/kms/latest/APIReference/API_EnableKeyRotation.html).
pub const ROTATION_PERIOD_DAYS: std::ops::RangeInclusive<u32> = 90..=2560;
/// The waiting periods before a key scheduled for deletion is deleted (`PendingWindowInDays`,
/// 7 to 30; https://docs.aws.amazon.com/kms/latest/APIReference/API_ScheduleKeyDeletion.html).
pub const DELETION_WINDOW_DAYS: std::ops::RangeInclusive<u32> = 7..=30;

/// The statement id of [`KeyUse::Administer`].
pub const ADMINISTER_SID: &str = "AccountAdministersTheKey";

/// What AWS lists for key administrators: manage the key, never use it
/// (https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html, "Allows key
/// administrators to administer the KMS key") — but `kms:Create*` narrowed to `kms:CreateAlias`:
/// it also allows `kms:CreateGrant`, with which an administrator could grant itself decryption;
/// grants are for the services that encrypt, through them only ([`KeyService`]).
pub const ADMIN_ACTIONS: &[&str] = &[
    "kms:CreateAlias",
    "kms:Describe*",
    "kms:Enable*",
    "kms:List*",
    "kms:Put*",
    "kms:Update*",
    "kms:Revoke*",
    "kms:Disable*",
    "kms:Get*",
    "kms:Delete*",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
];

/// A customer-managed symmetric encryption key, named by its alias.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Key {
    /// What it encrypts.
    pub description: String,
    /// Whether the key can be used (a disabled key refuses every cryptographic operation: what
    /// it encrypted cannot be read).
    pub enabled: bool,
    /// Days between automatic rotations of the key material (90 to 2560), or none: no rotation.
    pub rotation_period_days: Option<u32>,
    /// Who may do what with it: the key policy's statements.
    pub uses: Vec<KeyUse>,
    /// Days a deleted key waits, disabled, before KMS deletes it (7 to 30). Not an attribute of
    /// the key: it only changes how `destroy` deletes; applying the address again within the
    /// window takes the key back.
    pub deletion_window_days: u32,
    /// User tags.
    pub tags: Tags,
}

impl Key {
    /// An enabled key rotating yearly (KMS's default period), administered by the account and
    /// used as `uses` say.
    pub fn new(description: impl Into<String>, uses: Vec<KeyUse>, deletion_window_days: u32) -> Self {
        let mut all = vec![KeyUse::Administer];
        all.extend(uses);
        Self {
            description: description.into(),
            enabled: true,
            rotation_period_days: Some(365),
            uses: all,
            deletion_window_days,
            tags: Tags::new(),
        }
    }
}

/// A statement of a key policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum KeyUse {
    /// The account (its IAM policies) may manage the key — [`ADMIN_ACTIONS`] — but not use it.
    /// Every key has it: without it no one could change the key policy, which KMS refuses as a
    /// lockout.
    Administer,
    /// Principals of this account, as their IAM policies allow, through one AWS service.
    ThroughService {
        /// The service.
        service: KeyService,
    },
    /// CloudWatch Logs of this account and region, for log groups whose names match (`*`
    /// wildcards: `prod-*`).
    LogGroups {
        /// Log group names or patterns.
        names: Vec<String>,
    },
    /// A statement no use renders, as read back from AWS (a hand edit): drift.
    Other {
        /// The statement.
        statement: Value,
    },
}

/// The services that encrypt with a key on a principal's behalf.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyService {
    /// S3 with SSE-KMS and bucket keys: objects written (`kms:GenerateDataKey`) and read
    /// (`kms:Decrypt`) by whoever calls S3; a presigned URL with its signer's permissions
    /// (https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html,
    /// https://docs.aws.amazon.com/AmazonS3/latest/userguide/using-presigned-url.html).
    S3,
    /// ECR: the repository's creator lets ECR create (and, on delete, retire) its grants and
    /// describe the key; pushes and pulls go through those grants
    /// (https://docs.aws.amazon.com/AmazonECR/latest/userguide/encryption-at-rest.html).
    Ecr,
    /// RDS: the instance's creator lets RDS create its grant and describe the key; Performance
    /// Insights' readers decrypt and generate data keys through RDS
    /// (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Overview.Encryption.Keys.html,
    /// https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_PerfInsights.access-control.cmk-policy.html).
    Rds,
}

impl KeyService {
    /// The endpoint name `kms:ViaService` names (`s3.REGION.amazonaws.com`).
    pub fn endpoint(self) -> &'static str {
        match self {
            Self::S3 => "s3",
            Self::Ecr => "ecr",
            Self::Rds => "rds",
        }
    }

    /// The operations the service needs.
    pub fn actions(self) -> &'static [&'static str] {
        match self {
            Self::S3 => &["kms:Decrypt", "kms:GenerateDataKey"],
            Self::Ecr => &["kms:CreateGrant", "kms:DescribeKey", "kms:RetireGrant"],
            Self::Rds => &["kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey"],
        }
    }

    fn sid(self) -> &'static str {
        match self {
            Self::S3 => "UseThroughS3",
            Self::Ecr => "UseThroughEcr",
            Self::Rds => "UseThroughRds",
        }
    }

    const ALL: [KeyService; 3] = [Self::S3, Self::Ecr, Self::Rds];
}

/// The statement id of [`KeyUse::LogGroups`].
pub const LOG_GROUPS_SID: &str = "CloudWatchLogsEncrypts";

/// The account and place a key policy is written for.
#[derive(Debug, Clone, Copy)]
pub struct KeyPolicyContext<'a> {
    /// `aws`, `aws-cn`...
    pub partition: &'a str,
    /// The account id.
    pub account: &'a str,
    /// The region.
    pub region: &'a str,
    /// The partition's DNS suffix (`amazonaws.com`).
    pub dns_suffix: &'a str,
}

impl KeyPolicyContext<'_> {
    fn root(&self) -> Value {
        json!({ "AWS": format!("arn:{}:iam::{}:root", self.partition, self.account) })
    }

    fn log_group_prefix(&self) -> String {
        format!("arn:{}:logs:{}:{}:log-group:", self.partition, self.region, self.account)
    }

    /// The statement of `used`.
    pub fn statement(&self, used: &KeyUse) -> Value {
        match used {
            KeyUse::Administer => json!({
                "Sid": ADMINISTER_SID,
                "Effect": "Allow",
                "Principal": self.root(),
                "Action": ADMIN_ACTIONS,
                "Resource": "*",
            }),
            KeyUse::ThroughService { service } => json!({
                "Sid": service.sid(),
                "Effect": "Allow",
                "Principal": self.root(),
                "Action": service.actions(),
                "Resource": "*",
                "Condition": { "StringEquals": {
                    "kms:CallerAccount": self.account,
                    "kms:ViaService": format!("{}.{}.{}", service.endpoint(), self.region, self.dns_suffix),
                }},
            }),
            // What CloudWatch Logs documents: its regional service principal, these operations,
            // and the encryption context it always sends, naming the log group
            // (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html).
            KeyUse::LogGroups { names } => {
                let prefix = self.log_group_prefix();
                json!({
                    "Sid": LOG_GROUPS_SID,
                    "Effect": "Allow",
                    "Principal": { "Service": format!("logs.{}.{}", self.region, self.dns_suffix) },
                    "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                    "Resource": "*",
                    "Condition": { "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": names.iter().map(|n| format!("{prefix}{n}")).collect::<Vec<_>>(),
                    }},
                })
            }
            KeyUse::Other { statement } => statement.clone(),
        }
    }

    /// The key policy of `uses`, as KMS takes it.
    pub fn policy(&self, uses: &[KeyUse]) -> String {
        let statements: Vec<Value> = uses.iter().map(|u| self.statement(u)).collect();
        json!({ "Version": "2012-10-17", "Statement": statements }).to_string()
    }

    /// The uses a key policy holds: each statement that is exactly one a use renders (whatever
    /// the order of its lists), the others as [`KeyUse::Other`].
    pub fn read(&self, policy: &str) -> Vec<KeyUse> {
        let Ok(doc) = serde_json::from_str::<Value>(policy) else {
            return vec![KeyUse::Other { statement: Value::String(policy.to_string()) }];
        };
        let statements = match &doc["Statement"] {
            Value::Array(items) => items.clone(),
            other => vec![other.clone()],
        };
        let mut uses: Vec<KeyUse> = statements.into_iter().map(|s| self.use_of(s)).collect();
        uses.sort_by_key(|u| serde_json::to_string(u).unwrap_or_default());
        uses
    }

    fn use_of(&self, statement: Value) -> KeyUse {
        let same = |used: &KeyUse| canonical(&self.statement(used)) == canonical(&statement);
        let mut candidates = vec![KeyUse::Administer];
        candidates.extend(KeyService::ALL.map(|service| KeyUse::ThroughService { service }));
        let arns = &statement["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"];
        let arns: Vec<&str> = match arns {
            Value::String(one) => vec![one.as_str()],
            Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let prefix = self.log_group_prefix();
        if let Some(names) =
            arns.iter().map(|a| a.strip_prefix(&prefix).map(str::to_string)).collect::<Option<Vec<_>>>()
        {
            candidates.push(KeyUse::LogGroups { names });
        }
        candidates.into_iter().find(same).unwrap_or(KeyUse::Other { statement })
    }
}

/// A statement in one form whatever way it was written: one-element lists as their element,
/// lists sorted.
fn canonical(value: &Value) -> Value {
    match value {
        Value::Array(items) if items.len() == 1 => canonical(&items[0]),
        Value::Array(items) => {
            let mut items: Vec<Value> = items.iter().map(canonical).collect();
            items.sort_by_key(|v| v.to_string());
            Value::Array(items)
        }
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), canonical(v))).collect::<Map<_, _>>()),
        other => other.clone(),
    }
}

impl Resource for Key {
    const SCHEMA: &'static TypeSchema = &KEY;
    fn validate(&self, problems: &mut Vec<String>) {
        if !self.uses.contains(&KeyUse::Administer) {
            problems.push(
                "uses: a key needs `administer`: without it no one could change its policy again, which KMS \
                 refuses as a lockout"
                    .into(),
            );
        }
        if let Some(days) = self.rotation_period_days.filter(|d| !ROTATION_PERIOD_DAYS.contains(d)) {
            problems.push(format!("rotation_period_days: {days} is not accepted by KMS; use 90 to 2560"));
        }
        if !DELETION_WINDOW_DAYS.contains(&self.deletion_window_days) {
            problems.push(format!(
                "deletion_window_days: {} is not accepted by KMS; use 7 to 30",
                self.deletion_window_days
            ));
        }
        // "The description can be empty or have up to 8192 characters" (API_CreateKey.html).
        if self.description.len() > 8192 {
            problems.push(format!("description: {} characters; KMS takes at most 8192", self.description.len()));
        }
        for used in &self.uses {
            match used {
                KeyUse::LogGroups { names } if names.is_empty() => {
                    problems.push("uses: log_groups names no log group".into())
                }
                KeyUse::Other { .. } => problems.push(
                    "uses: `other` is how a statement platform does not write reads back; declare a typed use".into(),
                ),
                _ => {}
            }
        }
    }
}

/// A key widens access when it gains a use (the administration every key has aside).
fn key_widening(before: Option<&Value>, after: &Value) -> Vec<String> {
    if before.is_none() {
        return vec![];
    }
    let had = access::list(before, "uses");
    access::list(Some(after), "uses")
        .into_iter()
        .filter(|u| !had.contains(u))
        .map(|u| format!("the key may be used: {}", access::text(&u)))
        .collect()
}

outputs! {
    /// What a key records.
    Key => KeyOutputs {
        /// The key's ARN.
        arn: String => arn(Arn),
        /// The key id.
        key_id: String => key_id(Text),
        /// Its alias (`alias/NAME`).
        alias: String => alias(Name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONTEXT: KeyPolicyContext<'static> = KeyPolicyContext {
        partition: "aws",
        account: "123456789012",
        region: "eu-west-1",
        dns_suffix: "amazonaws.com",
    };

    fn uses() -> Vec<KeyUse> {
        let mut uses = vec![
            KeyUse::Administer,
            KeyUse::ThroughService { service: KeyService::S3 },
            KeyUse::ThroughService { service: KeyService::Rds },
            KeyUse::LogGroups { names: vec!["prod-*".into(), "/aws/rds/instance/prod-*".into()] },
        ];
        uses.sort_by_key(|u| serde_json::to_string(u).unwrap());
        uses
    }

    #[test]
    fn the_policy_lets_the_account_administer_and_each_service_use_the_key_for_this_account_only() {
        let policy: Value = serde_json::from_str(&CONTEXT.policy(&uses())).unwrap();
        let statements = policy["Statement"].as_array().unwrap();
        let admin = statements.iter().find(|s| s["Sid"] == ADMINISTER_SID).unwrap();
        assert_eq!(admin["Principal"]["AWS"], "arn:aws:iam::123456789012:root");
        let actions: Vec<&str> = admin["Action"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
        assert!(
            !actions.iter().any(|a| a.contains("Decrypt") || a.contains("Encrypt") || *a == "kms:*"),
            "{actions:?}"
        );
        let s3 = statements.iter().find(|s| s["Sid"] == "UseThroughS3").unwrap();
        assert_eq!(s3["Condition"]["StringEquals"]["kms:ViaService"], "s3.eu-west-1.amazonaws.com");
        assert_eq!(s3["Condition"]["StringEquals"]["kms:CallerAccount"], "123456789012");
        let logs = statements.iter().find(|s| s["Sid"] == LOG_GROUPS_SID).unwrap();
        assert_eq!(logs["Principal"]["Service"], "logs.eu-west-1.amazonaws.com");
        assert_eq!(
            logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"][0],
            "arn:aws:logs:eu-west-1:123456789012:log-group:prod-*"
        );
        assert!(!policy.to_string().contains("\"*\"}") && !policy.to_string().contains("\"Principal\":\"*\""));
    }

    #[test]
    fn a_policy_reads_back_as_its_uses_and_a_statement_added_by_hand_as_other() {
        assert_eq!(CONTEXT.read(&CONTEXT.policy(&uses())), uses());
        // Written another way (one-element lists as strings, lists in another order): the same.
        let mut doc: Value = serde_json::from_str(&CONTEXT.policy(&uses())).unwrap();
        for s in doc["Statement"].as_array_mut().unwrap() {
            if let Some(actions) = s["Action"].as_array_mut() {
                actions.reverse();
            }
        }
        assert_eq!(CONTEXT.read(&doc.to_string()), uses());
        // A statement opening the key to another account, and a use widened by hand.
        let foreign = json!({"Sid": "x", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::999999999999:root"},
            "Action": "kms:Decrypt", "Resource": "*"});
        doc["Statement"].as_array_mut().unwrap().push(foreign.clone());
        let s3 = doc["Statement"].as_array_mut().unwrap().iter_mut().find(|s| s["Sid"] == "UseThroughS3").unwrap();
        s3["Condition"]["StringEquals"].as_object_mut().unwrap().remove("kms:CallerAccount");
        let read = CONTEXT.read(&doc.to_string());
        assert!(read.contains(&KeyUse::Other { statement: foreign }));
        assert!(!read.contains(&KeyUse::ThroughService { service: KeyService::S3 }));
        assert_eq!(read.iter().filter(|u| matches!(u, KeyUse::Other { .. })).count(), 2);
    }

    #[test]
    fn keys_are_checked_before_any_call() {
        let problems = |key: &Key| {
            let mut out = vec![];
            key.validate(&mut out);
            out
        };
        let key = Key::new("d", vec![KeyUse::ThroughService { service: KeyService::S3 }], 30);
        assert!(problems(&key).is_empty(), "{:?}", problems(&key));
        let locked = Key { uses: vec![], ..key.clone() };
        assert!(problems(&locked)[0].contains("lockout"));
        let fast = Key { rotation_period_days: Some(30), ..key.clone() };
        assert!(problems(&fast)[0].contains("90 to 2560"));
        let short = Key { deletion_window_days: 3, ..key.clone() };
        assert!(problems(&short)[0].contains("7 to 30"));
    }

    #[test]
    fn a_new_use_widens_access() {
        let before = serde_json::to_value(Key::new("d", vec![], 7)).unwrap();
        let after =
            serde_json::to_value(Key::new("d", vec![KeyUse::ThroughService { service: KeyService::S3 }], 7)).unwrap();
        assert_eq!(key_widening(Some(&before), &after).len(), 1);
        assert!(key_widening(Some(&after), &before).is_empty());
        assert!(key_widening(None, &after).is_empty());
    }
}
