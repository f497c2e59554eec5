//! RDS: DB subnet groups, DB parameter groups and database instances.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Arn, Name, SecurityGroupId, SubnetId, Tags};
use crate::access;
use crate::model::validate;
use crate::model::{outputs, NameStyle, Ref, Resource, TypeSchema};

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
    force_new: &["name", "engine", "storage_encrypted", "master_username", "db_name", "subnet_group"],
    sets: &["security_groups"],
    taggable: true,
    outputs: DbInstanceOutputs::NAMES,
    awaits: true,
    widening: Some(instance_widening),
    ..TypeSchema::BASE
};

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
    /// Take a final snapshot when the instance is deleted. Not an AWS attribute: it only changes how
    /// the instance is deleted.
    #[serde(default)]
    pub final_snapshot: bool,
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
            final_snapshot: true,
            tags: Tags::new(),
        }
    }
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
