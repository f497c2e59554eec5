//! RDS: DB subnet groups, DB parameter groups and database instances.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Arn, Name, SecurityGroupId, SubnetId, Tags};
use crate::access;
use crate::model::validate;
use crate::model::{outputs, NameStyle, Ref, Resource, TypeSchema, UpdateCheck};

/// Marker for references to DB subnet group names.
pub struct DbSubnetGroupName;
/// Marker for references to host names.
pub struct HostName;
/// Marker for references to ports.
pub struct Port;

/// Schema of [`DbSubnetGroup`].
pub const DB_SUBNET_GROUP: TypeSchema = TypeSchema {
    type_name: "aws.rds.db_subnet_group",
    name_style: NameStyle::Dashed { max_len: 255, lowercase: true },
    force_new: &["name"],
    sets: &["subnets"],
    taggable: true,
    outputs: DbSubnetGroupOutputs::NAMES,
    ..TypeSchema::BASE
};

/// The subnets a database may be placed in (at least two zones).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DbSubnetGroup {
    /// What it is for.
    pub description: String,
    /// The subnets.
    pub subnets: Vec<Ref<SubnetId>>,
    /// User tags.
    pub tags: Tags,
}

impl Resource for DbSubnetGroup {
    const SCHEMA: &'static TypeSchema = &DB_SUBNET_GROUP;
    fn validate(&self, problems: &mut Vec<String>) {
        validate::length("description", &self.description, 255, problems);
        if self.subnets.len() < 2 {
            problems.push("subnets: RDS needs subnets in at least two availability zones".into());
        }
    }
}

outputs! {
    /// What a DB subnet group records.
    DbSubnetGroup => DbSubnetGroupOutputs {
        /// The group's name.
        name: String => name(DbSubnetGroupName),
        /// The group's ARN.
        arn: String => arn(Arn),
    }
}

/// Marker for references to DB parameter group names.
pub struct DbParameterGroupName;

/// Schema of [`DbParameterGroup`].
pub const DB_PARAMETER_GROUP: TypeSchema = TypeSchema {
    type_name: "aws.rds.db_parameter_group",
    name_style: NameStyle::Dashed { max_len: 255, lowercase: true },
    // RDS cannot change a group's family or description.
    force_new: &["name", "family", "description"],
    taggable: true,
    outputs: DbParameterGroupOutputs::NAMES,
    ..TypeSchema::BASE
};

/// Database engine settings of the instances that use the group, e.g. `log_min_duration_statement`
/// or `rds.force_ssl` for PostgreSQL. Only the declared parameters are managed; the others keep the
/// engine's defaults. A dynamic parameter changes at once, a static one at the instances' next
/// reboot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DbParameterGroup {
    /// The engine family the group is for, e.g. `postgres17`.
    pub family: String,
    /// What the group is for (RDS cannot change it later).
    pub description: String,
    /// Parameter values by name.
    pub parameters: BTreeMap<String, String>,
    /// User tags.
    pub tags: Tags,
}

impl DbParameterGroup {
    /// A group for `family` setting `parameters`.
    pub fn new(family: &str, description: &str, parameters: BTreeMap<String, String>) -> Self {
        Self { family: family.into(), description: description.into(), parameters, tags: Tags::new() }
    }
}

impl Resource for DbParameterGroup {
    const SCHEMA: &'static TypeSchema = &DB_PARAMETER_GROUP;
    fn validate(&self, problems: &mut Vec<String>) {
        let family_ok = self.family.starts_with(|c: char| c.is_ascii_lowercase())
            && self.family.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-.".contains(c));
        if !family_ok {
            problems.push(format!("family: `{}` is not a parameter group family such as `postgres17`", self.family));
        }
        if self.description.is_empty() {
            problems.push("description: RDS needs one".into());
        }
        validate::length("description", &self.description, 255, problems);
        for (name, value) in &self.parameters {
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)) {
                problems.push(format!("parameters: `{name}` is not a parameter name"));
            }
            if value.is_empty() {
                problems.push(format!("parameters.{name}: needs a value (leave the parameter out for its default)"));
            }
        }
    }
}

outputs! {
    /// What a DB parameter group records.
    DbParameterGroup => DbParameterGroupOutputs {
        /// The group's name (what an instance names it by).
        name: String => name(DbParameterGroupName),
        /// The group's ARN.
        arn: String => arn(Arn),
    }
}

/// Schema of [`DbInstance`].
pub const DB_INSTANCE: TypeSchema = TypeSchema {
    type_name: "aws.rds.db_instance",
    name_style: NameStyle::Dashed { max_len: 63, lowercase: true },
    // What AWS cannot change on an existing instance. Everything else is modified in place.
    // The storage key too: "You can't change the KMS key … after you have created an encrypted DB
    // instance" (a snapshot copied with another key and restored: a new instance;
    // https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Overview.Encryption.html).
    force_new: &["name", "engine", "storage_encrypted", "kms_key", "master_username", "db_name", "subnet_group"],
    sets: &["security_groups", "log_exports"],
    taggable: true,
    outputs: DbInstanceOutputs::NAMES,
    awaits: true,
    update_check: Some(instance_update_check),
    widening: Some(instance_widening),
    ..TypeSchema::BASE
};

/// What a change of an instance cannot be, and what the plan should say of the others: storage
/// only grows, by at least 10% (<https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_PIOPS.ModifyingExisting.html>);
/// changes that reboot the instance or fail it over wait for the maintenance window unless it
/// applies changes immediately (<https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_ModifyInstance.Settings.html>).
fn instance_update_check(before: &Value, after: &Value) -> UpdateCheck {
    let mut check = UpdateCheck::default();
    let storage = |v: &Value| v.get("allocated_storage_gb").and_then(Value::as_u64);
    if let (Some(old), Some(new)) = (storage(before), storage(after)) {
        if new < old {
            check.refused.push(format!(
                "allocated_storage_gb: RDS storage cannot shrink ({old} GiB to {new} GiB); keep {old} GiB or more \
                 (a smaller database means a new instance restored from a snapshot)"
            ));
        } else if new > old && new * 10 < old * 11 {
            check.refused.push(format!(
                "allocated_storage_gb: RDS storage grows by at least 10% ({old} GiB to at least {} GiB, not {new} GiB)",
                (old * 11).div_ceil(10)
            ));
        }
    }
    let insights = |v: &Value| v.get("performance_insights").and_then(Value::as_bool).unwrap_or(false);
    if insights(before) && before.get("performance_insights_kms_key") != after.get("performance_insights_kms_key") {
        check.refused.push(
            "performance_insights_kms_key: Performance Insights keeps the key it was turned on with (AWS cannot \
             change it); keep the key, or move the data to a new instance"
                .into(),
        );
    }
    if before.get("parameter_group") != after.get("parameter_group") {
        // https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_WorkingWithParamGroups.Associating.html
        check.notes.push(
            "parameter_group: the instance uses the new group's parameters after its next reboot (platform does not \
             reboot it; RDS reports the group `pending-reboot` until then)"
                .into(),
        );
    }
    let deferred: Vec<&str> = DISRUPTIVE.iter().copied().filter(|a| before.get(*a) != after.get(*a)).collect();
    if !deferred.is_empty() {
        let immediately = after.get("apply_immediately").and_then(Value::as_bool).unwrap_or(true);
        let window = after.get("maintenance_window").and_then(Value::as_str).unwrap_or("its maintenance window");
        check.notes.push(if immediately {
            format!("{}: applied now; the instance reboots or fails over", deferred.join(", "))
        } else {
            format!(
                "{}: applied in the maintenance window ({window}), as the instance would reboot or fail over; \
                 `--apply-immediately` applies them now",
                deferred.join(", ")
            )
        });
    }
    check
}

/// The attributes whose change reboots an instance or fails it over: deferred to the maintenance
/// window unless applied immediately.
pub const DISRUPTIVE: &[&str] = &["instance_class", "engine_version", "multi_az", "storage_type", "port"];

/// The database engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DbEngine {
    /// PostgreSQL.
    Postgres,
    /// MySQL.
    Mysql,
}

/// A database instance. Its master password is generated and kept by RDS in Secrets Manager
/// (`ManageMasterUserPassword`): no password is ever declared, planned, logged or recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DbInstance {
    /// The engine.
    pub engine: DbEngine,
    /// The major version (e.g. `"17"`); minor versions are upgraded by AWS when
    /// `auto_minor_version_upgrade` is on, and are not a change.
    pub engine_version: String,
    /// The instance class, e.g. `db.t4g.micro`.
    pub instance_class: String,
    /// Storage in GiB (it can grow in place, never shrink).
    pub allocated_storage_gb: u32,
    /// Storage type (`gp3`).
    pub storage_type: String,
    /// Storage encryption; it cannot be changed later, so the default is on.
    pub storage_encrypted: bool,
    /// A standby in another zone with automatic failover.
    pub multi_az: bool,
    /// Days of automated backups (0 to 35).
    pub backup_retention_days: u32,
    /// AWS refuses to delete the instance while this is on.
    pub deletion_protection: bool,
    /// Whether it gets a public address.
    pub publicly_accessible: bool,
    /// The master user's name.
    pub master_username: String,
    /// The master password is managed by RDS in Secrets Manager.
    pub manage_master_user_password: bool,
    /// The database created with the instance.
    pub db_name: String,
    /// The port it listens on.
    pub port: u16,
    /// Where it is placed.
    pub subnet_group: Ref<DbSubnetGroupName>,
    /// Its security groups.
    pub security_groups: Vec<Ref<SecurityGroupId>>,
    /// Copy the instance's tags to its snapshots.
    pub copy_tags_to_snapshot: bool,
    /// Let AWS apply minor version upgrades in the maintenance window.
    pub auto_minor_version_upgrade: bool,
    /// Performance Insights.
    pub performance_insights: bool,
    /// The customer-managed KMS key of the storage (its ARN; with `storage_encrypted`), or none:
    /// the AWS managed key `aws/rds`. Fixed at creation; its key policy must allow use through
    /// RDS ([`crate::resources::KeyService::Rds`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key: Option<Ref<Arn>>,
    /// The customer-managed KMS key of Performance Insights' data (its ARN), or none: `aws/rds`.
    /// Set when Performance Insights is turned on, and never changed after: "After the KMS key is
    /// set, you can't change it" (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_PerfInsights.Enabling.html).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub performance_insights_kms_key: Option<Ref<Arn>>,
    /// The DB parameter group of the instance's engine settings; `None`: the engine's default
    /// group (`default.postgres17`), which cannot be changed. A new instance takes the group at
    /// once; for an existing one, a change of group takes effect at its next reboot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameter_group: Option<Ref<DbParameterGroupName>>,
    /// The engine logs RDS publishes to CloudWatch Logs, into `/aws/rds/instance/ID/TYPE`
    /// (PostgreSQL: `postgresql`, `upgrade`; MySQL: `error`, `general`, `slowquery`):
    /// <https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_LogAccess.Concepts.PostgreSQL.html>.
    /// RDS creates a missing group with no retention: declare the group first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub log_exports: Vec<String>,
    /// Enhanced Monitoring: seconds between the operating system metrics RDS sends to CloudWatch
    /// Logs (1, 5, 10, 15, 30 or 60), or 0: off. Needs `monitoring_role`.
    #[serde(default)]
    pub monitoring_interval_seconds: u32,
    /// The role RDS sends Enhanced Monitoring metrics with (trusting `monitoring.rds.amazonaws.com`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitoring_role: Option<Ref<Arn>>,
    /// Take a final snapshot when the instance is deleted. Not an AWS attribute: it only changes how
    /// the instance is deleted. (Automated backups are always kept when an instance is deleted.)
    #[serde(default)]
    pub final_snapshot: bool,
    /// Storage autoscaling: the most storage RDS may grow the instance to, in GiB (at least 10%
    /// more than `allocated_storage_gb`); `None`: off.
    #[serde(default)]
    pub max_allocated_storage_gb: Option<u32>,
    /// When RDS may make changes that reboot the instance, and apply its own maintenance:
    /// `ddd:hh24:mi-ddd:hh24:mi` in UTC, at least 30 minutes (`sun:05:00-sun:06:00`). `None`:
    /// one RDS picks.
    #[serde(default)]
    pub maintenance_window: Option<String>,
    /// When RDS takes the daily automated backup: `hh24:mi-hh24:mi` in UTC, at least 30 minutes,
    /// not overlapping the maintenance window (`03:00-04:00`). `None`: one RDS picks.
    #[serde(default)]
    pub backup_window: Option<String>,
    /// Whether changes that reboot the instance or fail it over (see [`DISRUPTIVE`]) are made at
    /// once; otherwise in the next maintenance window. Not an AWS attribute: it changes how
    /// changes are applied.
    #[serde(default = "yes")]
    pub apply_immediately: bool,
    /// User tags.
    pub tags: Tags,
}

impl DbInstance {
    /// A PostgreSQL instance with the safe settings that cannot be changed later (encrypted storage,
    /// a managed master password, no public address); the availability and protection settings are
    /// the caller's (usually from the environment).
    pub fn postgres(
        engine_version: &str,
        db_name: &str,
        subnet_group: Ref<DbSubnetGroupName>,
        security_groups: Vec<Ref<SecurityGroupId>>,
    ) -> Self {
        Self::new(DbEngine::Postgres, engine_version, db_name, subnet_group, security_groups)
    }

    /// An instance of `engine` with the same safe settings as [`DbInstance::postgres`].
    pub fn new(
        engine: DbEngine,
        engine_version: &str,
        db_name: &str,
        subnet_group: Ref<DbSubnetGroupName>,
        security_groups: Vec<Ref<SecurityGroupId>>,
    ) -> Self {
        Self {
            engine,
            engine_version: engine_version.to_string(),
            instance_class: "db.t4g.micro".into(),
            allocated_storage_gb: 20,
            storage_type: "gp3".into(),
            storage_encrypted: true,
            multi_az: false,
            backup_retention_days: 7,
            deletion_protection: false,
            publicly_accessible: false,
            master_username: format!("{db_name}_admin"),
            manage_master_user_password: true,
            db_name: db_name.to_string(),
            port: match engine {
                DbEngine::Postgres => 5432,
                DbEngine::Mysql => 3306,
            },
            subnet_group,
            security_groups,
            copy_tags_to_snapshot: true,
            auto_minor_version_upgrade: true,
            performance_insights: false,
            parameter_group: None,
            log_exports: vec![],
            monitoring_interval_seconds: 0,
            monitoring_role: None,
            kms_key: None,
            performance_insights_kms_key: None,
            final_snapshot: true,
            max_allocated_storage_gb: None,
            maintenance_window: None,
            backup_window: None,
            apply_immediately: true,
            tags: Tags::new(),
        }
    }
}

impl DbInstance {
    /// The parameter group family of the instance's engine and version (`postgres17`,
    /// `mysql8.0`): a group of another family is refused
    /// (<https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/parameter-groups-overview.html>).
    pub fn parameter_group_family(&self) -> String {
        let mut parts = self.engine_version.split('.');
        match self.engine {
            DbEngine::Postgres => format!("postgres{}", parts.next().unwrap_or_default()),
            DbEngine::Mysql => {
                format!("mysql{}.{}", parts.next().unwrap_or_default(), parts.next().unwrap_or("0"))
            }
        }
    }
}

fn yes() -> bool {
    true
}

/// Minutes since Monday 00:00 of `ddd:hh24:mi` (with `day`) or `hh24:mi`.
fn minutes(text: &str, day: bool) -> Option<u32> {
    let (d, rest) = if day {
        let (d, rest) = text.split_once(':')?;
        let i = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"].iter().position(|x| *x == d.to_ascii_lowercase())?;
        (u32::try_from(i).ok()?, rest)
    } else {
        (0, text)
    };
    let (h, m) = rest.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(d * 24 * 60 + h * 60 + m)
}

/// A window `start-end` as minutes (start, length), or a problem. Weekly windows wrap round
/// the week, daily ones round the day.
fn window(attribute: &str, text: &str, weekly: bool, problems: &mut Vec<String>) -> Option<(u32, u32)> {
    let form = if weekly {
        "ddd:hh24:mi-ddd:hh24:mi (UTC), e.g. sun:05:00-sun:06:00"
    } else {
        "hh24:mi-hh24:mi (UTC), e.g. 03:00-04:00"
    };
    let parsed = text.split_once('-').and_then(|(a, b)| Some((minutes(a, weekly)?, minutes(b, weekly)?)));
    let Some((start, end)) = parsed else {
        problems.push(format!("{attribute}: `{text}` is not a window {form}"));
        return None;
    };
    let period = if weekly { 7 * 24 * 60 } else { 24 * 60 };
    let length = (end + period - start) % period;
    if length < 30 {
        problems.push(format!("{attribute}: `{text}` must last at least 30 minutes"));
    }
    Some((start, length))
}

fn identifier_like(attribute: &str, text: &str, max: usize, underscore: bool, problems: &mut Vec<String>) {
    let ok = (1..=max).contains(&text.len())
        && text.starts_with(|c: char| c.is_ascii_alphabetic())
        && text.chars().all(|c| c.is_ascii_alphanumeric() || (underscore && c == '_'));
    if !ok {
        let chars = if underscore { "letters, digits and underscores" } else { "letters and digits" };
        problems.push(format!("{attribute}: `{text}` must be 1 to {max} {chars}, starting with a letter"));
    }
}

impl Resource for DbInstance {
    const SCHEMA: &'static TypeSchema = &DB_INSTANCE;
    fn validate(&self, problems: &mut Vec<String>) {
        if !self.instance_class.starts_with("db.") {
            problems.push(format!("instance_class: `{}` is not an RDS instance class (db.*)", self.instance_class));
        }
        if !(20..=65536).contains(&self.allocated_storage_gb) {
            problems.push(format!("allocated_storage_gb: {} must be 20 to 65536", self.allocated_storage_gb));
        }
        if self.backup_retention_days > 35 {
            problems.push(format!("backup_retention_days: {} must be 0 to 35", self.backup_retention_days));
        }
        if self.multi_az && self.backup_retention_days == 0 {
            problems.push("backup_retention_days: a Multi-AZ instance needs backups".into());
        }
        identifier_like("master_username", &self.master_username, 63, true, problems);
        if ["postgres", "rdsadmin", "admin", "root"].contains(&self.master_username.as_str()) {
            problems.push(format!("master_username: `{}` is reserved", self.master_username));
        }
        identifier_like("db_name", &self.db_name, 63, true, problems);
        if self.port < 1150 {
            problems.push(format!("port: {} must be 1150 to 65535", self.port));
        }
        if !self.engine_version.split('.').all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit())) {
            problems.push(format!("engine_version: `{}` is not a version such as `17`", self.engine_version));
        }
        if self.security_groups.is_empty() {
            problems.push("security_groups: a database needs its own security group".into());
        }
        // https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBInstance.html
        // (EnableCloudwatchLogsExports, MonitoringInterval, MonitoringRoleArn).
        let exportable: &[&str] = match self.engine {
            DbEngine::Postgres => &["postgresql", "upgrade", "iam-db-auth-error"],
            DbEngine::Mysql => &["error", "general", "slowquery", "audit", "iam-db-auth-error"],
        };
        for log in &self.log_exports {
            if !exportable.contains(&log.as_str()) {
                problems.push(format!("log_exports: `{log}` is not a log this engine exports ({exportable:?})"));
            }
        }
        if ![0, 1, 5, 10, 15, 30, 60].contains(&self.monitoring_interval_seconds) {
            problems.push(format!(
                "monitoring_interval_seconds: {} must be 0 (off), 1, 5, 10, 15, 30 or 60",
                self.monitoring_interval_seconds
            ));
        }
        if self.kms_key.is_some() && !self.storage_encrypted {
            problems.push("kms_key: a storage key needs storage_encrypted".into());
        }
        if self.performance_insights_kms_key.is_some() && !self.performance_insights {
            problems.push("performance_insights_kms_key: needs performance_insights".into());
        }
        if (self.monitoring_interval_seconds > 0) != self.monitoring_role.is_some() {
            problems.push(
                "monitoring_role: Enhanced Monitoring needs both an interval and a role (and neither when off)".into(),
            );
        }
        if let Some(max) = self.max_allocated_storage_gb {
            // https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_PIOPS.Autoscaling.html
            if u64::from(max) * 10 < u64::from(self.allocated_storage_gb) * 11 || max > 65536 {
                problems.push(format!(
                    "max_allocated_storage_gb: {max} must be at least 10% more than allocated_storage_gb ({}) and \
                     at most 65536",
                    self.allocated_storage_gb
                ));
            }
        }
        let maintenance =
            self.maintenance_window.as_deref().and_then(|w| window("maintenance_window", w, true, problems));
        let backup = self.backup_window.as_deref().and_then(|w| window("backup_window", w, false, problems));
        if let (Some((m_start, m_len)), Some((b_start, b_len))) = (maintenance, backup) {
            // The daily backup window must not overlap the weekly maintenance window on any day.
            let day = 24 * 60;
            let overlaps = (0..7).any(|d| {
                let b = d * day + b_start;
                let week = 7 * day;
                let starts_inside = |x: u32, start: u32, len: u32| (x + week - start) % week < len;
                starts_inside(b, m_start, m_len) || starts_inside(m_start, b, b_len)
            });
            if overlaps {
                problems.push(format!(
                    "backup_window: `{}` overlaps maintenance_window `{}`",
                    self.backup_window.as_deref().unwrap_or_default(),
                    self.maintenance_window.as_deref().unwrap_or_default()
                ));
            }
        }
    }
}

/// Marker for references to RDS resource ids (`db-...`, used in IAM database authentication).
pub struct ResourceId;

outputs! {
    /// What a database instance records. The endpoint is known once the instance is available.
    DbInstance => DbInstanceOutputs {
        /// The instance identifier.
        identifier: String => identifier(Name),
        /// The instance's ARN.
        arn: String => arn(Arn),
        /// The instance's resource id.
        resource_id: String => resource_id(ResourceId),
        /// The host name clients connect to (the endpoint's address).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        address: Option<String> => endpoint(HostName),
        /// The port clients connect to.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        port: Option<i32> => port(Port),
        /// The ARN of the Secrets Manager secret holding the master credentials.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        master_user_secret_arn: Option<String> => master_user_secret_arn(Arn),
    }
}

fn instance_widening(before: Option<&Value>, after: &Value) -> Vec<String> {
    let mut out = vec![];
    if access::became(before, after, "publicly_accessible", Value::Bool(true)) {
        out.push("the database becomes publicly accessible".into());
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn instance() -> DbInstance {
        DbInstance::postgres("17", "cards", Ref::existing("g"), vec![Ref::existing("sg-1")])
    }

    fn problems(i: &DbInstance) -> Vec<String> {
        let mut p = vec![];
        i.validate(&mut p);
        p
    }

    #[test]
    fn windows_are_checked_for_form_length_and_overlap() {
        let mut i = instance();
        i.maintenance_window = Some("sun:05:00-sun:06:00".into());
        i.backup_window = Some("03:00-04:00".into());
        assert!(problems(&i).is_empty(), "{:?}", problems(&i));
        i.backup_window = Some("05:30-06:30".into());
        assert!(problems(&i).iter().any(|p| p.contains("overlaps maintenance_window")), "{:?}", problems(&i));
        i.backup_window = Some("03:00-03:10".into());
        assert!(problems(&i).iter().any(|p| p.contains("at least 30 minutes")));
        i.backup_window = None;
        i.maintenance_window = Some("sunday 5am".into());
        assert!(problems(&i).iter().any(|p| p.contains("is not a window ddd:hh24:mi-ddd:hh24:mi")));
        // A window may span midnight and the end of the week.
        i.maintenance_window = Some("sun:23:30-mon:00:30".into());
        assert!(problems(&i).is_empty(), "{:?}", problems(&i));
        i.max_allocated_storage_gb = Some(21);
        assert!(problems(&i).iter().any(|p| p.contains("at least 10% more")));
        i.max_allocated_storage_gb = Some(100);
        assert!(problems(&i).is_empty());
    }

    #[test]
    fn storage_never_shrinks_and_disruptive_changes_are_deferred_unless_immediate() {
        let before = json!({"allocated_storage_gb": 100, "instance_class": "db.m7g.large", "apply_immediately": false});
        let check =
            instance_update_check(&before, &json!({"allocated_storage_gb": 50, "instance_class": "db.m7g.large"}));
        assert!(check.refused[0].contains("cannot shrink (100 GiB to 50 GiB)"), "{check:?}");
        let check =
            instance_update_check(&before, &json!({"allocated_storage_gb": 105, "instance_class": "db.m7g.large"}));
        assert!(check.refused[0].contains("at least 110 GiB"), "{check:?}");
        let grown = json!({"allocated_storage_gb": 200, "instance_class": "db.m7g.large", "apply_immediately": false});
        assert_eq!(
            instance_update_check(&before, &grown),
            UpdateCheck::default(),
            "growth is applied at once, no outage"
        );

        let resized = json!({"allocated_storage_gb": 100, "instance_class": "db.m7g.xlarge", "apply_immediately": false,
            "maintenance_window": "sun:05:00-sun:06:00"});
        let check = instance_update_check(&before, &resized);
        assert!(check.refused.is_empty());
        assert_eq!(
            check.notes,
            ["instance_class: applied in the maintenance window (sun:05:00-sun:06:00), as the instance would reboot or \
              fail over; `--apply-immediately` applies them now"]
        );
        let now = json!({"allocated_storage_gb": 100, "instance_class": "db.m7g.xlarge", "apply_immediately": true});
        assert_eq!(
            instance_update_check(&before, &now).notes,
            ["instance_class: applied now; the instance reboots or fails over"]
        );
    }
}
