//! The dependencies of a service: its database (PostgreSQL on RDS, in the foundation's private
//! subnets, behind its own security group) and its bucket. What "safe" means comes from the
//! environment: Multi-AZ, backups, deletion protection, final snapshots and protection of the data
//! against deletion are settings of [`Environment`], not flags.

use std::collections::BTreeMap;

use platform::model::{Handle, Ref, Stack, StackError, StackSpec};
use platform::resources::{
    Bucket, BucketEncryption, DbEngine, DbInstance, DbParameterGroup, DbSubnetGroup, Key, KeyService, KeyUse, LogGroup,
    ObjectLifecycle, PolicyDocument, Role, Secret, SecurityGroup, SecurityGroupId, Statement, Tags, Trust,
};

use crate::{Environment, Foundation};

/// The PostgreSQL major version new databases get.
pub const POSTGRES_VERSION: &str = "17";

/// Days an incomplete multipart upload is kept before S3 aborts it (its parts are billed until
/// then), in every bucket.
pub const INCOMPLETE_UPLOAD_DAYS: u32 = 7;

/// The database a service needs.
#[derive(Debug, Clone)]
pub struct DatabaseOptions {
    /// The engine.
    pub engine: DbEngine,
    /// The database created in the instance (e.g. `cards`).
    pub db_name: String,
    /// The PostgreSQL major version.
    pub engine_version: String,
    /// Security groups granted access on the database port from this stack. The service stack
    /// grants its own group with a rule it owns.
    pub access_from: Vec<Ref<SecurityGroupId>>,
}

impl DatabaseOptions {
    /// A PostgreSQL database of the current major version.
    pub fn postgres(db_name: &str) -> Self {
        Self {
            engine: DbEngine::Postgres,
            db_name: db_name.to_string(),
            engine_version: POSTGRES_VERSION.into(),
            access_from: vec![],
        }
    }
}

/// What a service's dependencies stack holds.
#[derive(Debug, Clone, Default)]
pub struct DependenciesOptions {
    /// A database, if the service needs one.
    pub database: Option<DatabaseOptions>,
    /// A bucket, if the service needs one.
    pub bucket: bool,
}

/// The database of a dependencies stack.
#[derive(Debug, Clone)]
pub struct Database {
    /// The instance.
    pub instance: Handle<DbInstance>,
    /// Its security group (no CIDR ingress; only granted groups).
    pub security_group: Handle<SecurityGroup>,
    /// The port it listens on.
    pub port: u16,
    /// The secret holding the application role's credentials: created empty here, filled and
    /// rotated by the service's migration task (with the owner's credentials), read by its
    /// tasks. The owner's credentials are the master user secret RDS manages.
    pub app_credentials: Handle<Secret>,
}

/// A service's dependencies stack and typed handles to what the service stack uses.
#[derive(Debug, Clone)]
pub struct Dependencies {
    /// The checked stack.
    pub spec: StackSpec,
    /// The database.
    pub database: Option<Database>,
    /// The bucket.
    pub bucket: Option<DataBucket>,
}

/// A bucket of a dependencies stack and the key its objects are encrypted with, if the
/// environment has customer-managed keys: who reads or writes its objects needs both.
#[derive(Debug, Clone)]
pub struct DataBucket {
    /// The bucket.
    pub bucket: Handle<Bucket>,
    /// Its customer-managed key.
    pub key: Option<Handle<Key>>,
}

/// The logical name of the database instance.
const INSTANCE: &str = "db-instance";

/// The name the database instance is created with.
fn instance_name(s: &Stack) -> String {
    s.name_for::<DbInstance>(INSTANCE).unwrap_or_default()
}

/// PostgreSQL's logs, published to CloudWatch Logs: a parameter group of the stack's own sets what
/// is logged, and the groups RDS publishes to (`/aws/rds/instance/ID/TYPE`, one per exported log,
/// which RDS would create keeping events forever:
/// <https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_LogAccess.Procedural.UploadtoCloudWatch.html>)
/// are declared with the environment's retention, before the instance. What is logged: errors (always), connections
/// and disconnections (who logged in, from where), DDL (schema and role changes: a role's
/// password reaches the database only as a SCRAM verifier, see `card-service/src/credentials.rs`)
/// and statements slower than a second, never the values bound to their parameters (card data),
/// whether they succeed or fail (values written into a statement's text would be logged with it:
/// the service binds every value). `rds.force_ssl` is on, as it is by default from PostgreSQL 15
/// (<https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/PostgreSQL.Concepts.General.SSL.html>):
/// said here, it survives a change of default.
fn database_logging(
    s: &mut Stack,
    environment: &Environment,
    foundation: &Foundation,
    stack: &str,
    instance: &mut DbInstance,
) -> Vec<Handle<LogGroup>> {
    let parameters = match instance.engine {
        DbEngine::Postgres => BTreeMap::from([
            ("log_connections".to_string(), "1".to_string()),
            ("log_disconnections".to_string(), "1".to_string()),
            ("log_statement".to_string(), "ddl".to_string()),
            ("log_min_duration_statement".to_string(), "1000".to_string()),
            ("log_parameter_max_length".to_string(), "0".to_string()),
            ("log_parameter_max_length_on_error".to_string(), "0".to_string()),
            ("rds.force_ssl".to_string(), "1".to_string()),
        ]),
        DbEngine::Mysql => BTreeMap::from([
            ("slow_query_log".to_string(), "1".to_string()),
            ("long_query_time".to_string(), "1".to_string()),
            ("log_output".to_string(), "FILE".to_string()),
            ("require_secure_transport".to_string(), "1".to_string()),
        ]),
    };
    let group = s.add(
        "db-parameters",
        DbParameterGroup::new(
            &instance.parameter_group_family(),
            &format!("Engine settings of the {stack} database: what it logs, TLS only"),
            parameters,
        ),
    );
    instance.parameter_group = Some(group.name());
    let exports: &[&str] = match instance.engine {
        DbEngine::Postgres => &["postgresql", "upgrade"],
        DbEngine::Mysql => &["error", "slowquery"],
    };
    instance.log_exports = exports.iter().map(|l| l.to_string()).collect();
    exports
        .iter()
        .map(|log| {
            let name = format!("/aws/rds/instance/{}/{log}", instance_name(s));
            let group = foundation.log_group(s, environment);
            s.add_named(&format!("db-{log}-log"), &name, group)
        })
        .collect()
}

/// Enhanced Monitoring: the database host's operating system metrics, sent by RDS with a role
/// only RDS monitoring of this account, for this instance, may assume (the confused-deputy
/// conditions of <https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_Monitoring.OS.Enabling.html>),
/// allowed what AWS's `AmazonRDSEnhancedMonitoringRole` allows, narrowed to the one log group RDS
/// writes the metrics to (`RDSOSMetrics`, which RDS creates and keeps 30 days).
fn enhanced_monitoring(s: &mut Stack, foundation: &Foundation, instance: &mut DbInstance, interval: u32) {
    s.uses(&foundation.pipeline.spec);
    let group = "log-group:RDSOSMetrics";
    let policy = PolicyDocument {
        statements: vec![
            // The group's ARN in both forms (`NAME` and `NAME:*`), as AWS's `log-group:RDS*` covers.
            Statement::allow(
                &["logs:CreateLogGroup", "logs:PutRetentionPolicy"],
                vec![Ref::account_arn_in("logs", "*", group), Ref::account_arn_in("logs", "*", &format!("{group}:*"))],
            ),
            Statement::allow(
                &["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams", "logs:GetLogEvents"],
                vec![Ref::account_arn_in("logs", "*", &format!("{group}:log-stream:*"))],
            ),
        ],
    };
    let role = s.add(
        "db-monitoring",
        Role {
            trust: Trust::ServiceFor {
                service: "monitoring.rds.amazonaws.com".into(),
                account: Ref::account(),
                source_arn: Ref::account_arn_in("rds", "*", &format!("db:{}", instance_name(s))),
            },
            policies: BTreeMap::from([("metrics".to_string(), policy)]),
            managed_policies: vec![],
            permissions_boundary: Some(foundation.pipeline.boundary.arn()),
            max_session_seconds: None,
            tags: Tags::new(),
        },
    );
    instance.monitoring_interval_seconds = interval;
    instance.monitoring_role = Some(role.arn());
}

/// The dependencies stack `name` of `environment`, in `foundation`'s network.
pub fn dependencies(
    name: &str,
    environment: &Environment,
    foundation: &Foundation,
    options: &DependenciesOptions,
) -> Result<Dependencies, StackError> {
    let mut s = Stack::new(name, &environment.env);
    s.uses(&foundation.spec);
    let key = (environment.customer_managed_keys && (options.database.is_some() || options.bucket)).then(|| {
        let mut uses = vec![];
        if options.bucket {
            uses.push(KeyUse::ThroughService { service: KeyService::S3 });
        }
        if options.database.is_some() {
            uses.push(KeyUse::ThroughService { service: KeyService::Rds });
        }
        let key = s.add(
            "data-key",
            Key::new(
                format!("The data of {name}: its bucket's objects, its database's storage and Performance Insights"),
                uses,
                crate::foundation::key_deletion_window(environment),
            ),
        );
        s.protect(&key, environment.protected);
        key
    });
    let database = options.database.as_ref().map(|db| {
        let port = match db.engine {
            DbEngine::Postgres => 5432,
            DbEngine::Mysql => 3306,
        };
        let subnets = s.add(
            "db-subnets",
            DbSubnetGroup {
                description: format!("Private subnets of the {name} database"),
                subnets: foundation.private_subnets.iter().map(|h| h.id()).collect(),
                tags: Tags::new(),
            },
        );
        let security_group = s.add(
            "db",
            SecurityGroup {
                vpc: foundation.vpc.id(),
                description: format!("Database of {name}: reachable only from granted security groups"),
                ingress: db
                    .access_from
                    .iter()
                    .map(|group| {
                        platform::resources::Rule::tcp(
                            port,
                            platform::resources::Peer::SecurityGroup(group.clone()),
                            "granted database access",
                        )
                    })
                    .collect(),
                egress: vec![],
                tags: Tags::new(),
            },
        );
        let mut instance =
            DbInstance::new(db.engine, &db.engine_version, &db.db_name, subnets.name(), vec![security_group.id()]);
        instance.instance_class = environment.db_instance_class.clone();
        instance.allocated_storage_gb = environment.db_allocated_storage_gb;
        instance.multi_az = environment.high_availability;
        instance.backup_retention_days = environment.backup_retention_days;
        instance.deletion_protection = environment.protected;
        instance.final_snapshot = environment.db_final_snapshot;
        instance.performance_insights = environment.performance_insights;
        instance.kms_key = key.as_ref().map(|k| k.arn());
        instance.performance_insights_kms_key =
            key.as_ref().filter(|_| environment.performance_insights).map(|k| k.arn());
        instance.max_allocated_storage_gb = environment.db_max_allocated_storage_gb;
        instance.maintenance_window = Some(environment.db_maintenance_window.clone());
        instance.backup_window = Some(environment.db_backup_window.clone());
        instance.apply_immediately = environment.db_apply_immediately;
        let logs =
            environment.db_logging.then(|| database_logging(&mut s, environment, foundation, name, &mut instance));
        if environment.db_monitoring_interval_seconds > 0 {
            enhanced_monitoring(&mut s, foundation, &mut instance, environment.db_monitoring_interval_seconds);
        }
        let instance = s.add(INSTANCE, instance);
        for group in logs.iter().flatten() {
            // RDS creates a missing group itself, keeping events forever: these exist first.
            s.depends_on(&instance, group);
        }
        s.protect(&instance, environment.protected);
        s.output("db_address", instance.endpoint());
        s.output("db_port", instance.port());
        s.output("db_secret_arn", instance.master_user_secret_arn());
        s.output("db_security_group_id", security_group.id());
        let app_credentials = s.add(
            "db-app-credentials",
            Secret {
                description: format!(
                    "Credentials of the application role of the {name} database: written and rotated by the \
                     service's migration task, read by its tasks"
                ),
                // Recoverable for 30 days where data is protected (an apply of the same address
                // restores it); elsewhere deleted at once. The migration task makes a new password
                // either way.
                recovery_window_days: if environment.protected { 30 } else { 0 },
                tags: Tags::new(),
            },
        );
        s.output("db_app_secret_arn", app_credentials.arn());
        Database { instance, security_group, port, app_credentials }
    });
    let bucket = options.bucket.then(|| {
        let lifecycle = ObjectLifecycle::Expire {
            current_days: None,
            noncurrent_days: environment.noncurrent_version_days,
            incomplete_upload_days: INCOMPLETE_UPLOAD_DAYS,
        };
        let name = s.name_for::<Bucket>("images").expect("buckets have names");
        let access_logs = foundation.bucket_logs(&mut s, &name);
        let bucket = s.add(
            "images",
            Bucket {
                encryption: if key.is_some() { BucketEncryption::KmsManaged } else { BucketEncryption::S3Managed },
                kms_key: key.as_ref().map(|k| k.arn()),
                lifecycle: Some(lifecycle),
                access_logs,
                force_destroy: environment.force_destroy_data,
                ..Bucket::default()
            },
        );
        s.protect(&bucket, environment.protected);
        s.output("bucket_name", bucket.name());
        s.output("bucket_arn", bucket.arn());
        DataBucket { bucket, key: key.clone() }
    });
    Ok(Dependencies { spec: s.build()?, database, bucket })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::{foundation, Environments};

    fn build(env: &str) -> StackSpec {
        let environment = Environments::builtin().get(env).unwrap().clone();
        let foundation = foundation(&environment).unwrap();
        let options = DependenciesOptions { database: Some(DatabaseOptions::postgres("cards")), bucket: true };
        dependencies("card-dependencies", &environment, &foundation, &options).unwrap().spec
    }

    fn props<'a>(spec: &'a StackSpec, name: &str) -> &'a serde_json::Value {
        &spec.resources.iter().find(|r| r.address.name() == name).unwrap().props
    }

    #[test]
    fn production_databases_are_highly_available_and_protected() {
        let prod = build("prod");
        let db = props(&prod, "db-instance");
        assert_eq!(db["multi_az"], json!(true));
        assert_eq!(db["deletion_protection"], json!(true));
        assert_eq!(db["backup_retention_days"], json!(14));
        assert_eq!(db["final_snapshot"], json!(true));
        assert_eq!(db["storage_encrypted"], json!(true));
        assert_eq!(db["publicly_accessible"], json!(false));
        assert_eq!(db["manage_master_user_password"], json!(true));
        assert!(prod.resources.iter().filter(|r| r.protected).count() == 3, "the database, the bucket and their key");
    }

    #[test]
    fn dev_databases_are_cheap_and_unprotected() {
        let dev = build("dev");
        let db = props(&dev, "db-instance");
        assert_eq!(db["multi_az"], json!(false));
        assert_eq!(db["deletion_protection"], json!(false));
        assert_eq!(db["backup_retention_days"], json!(7));
        assert_eq!(db["storage_encrypted"], json!(true), "encryption cannot be turned on later");
        assert!(dev.resources.iter().all(|r| !r.protected));
    }

    #[test]
    fn the_database_reads_the_foundation_across_stacks() {
        let dev = build("dev");
        assert_eq!(dev.upstream.iter().collect::<Vec<_>>(), ["foundation"]);
        let group = props(&dev, "db-subnets");
        assert_eq!(group["subnets"][0], json!({"$ref": "foundation.private-a", "attr": "id"}));
        let sg = props(&dev, "db");
        assert_eq!(sg["ingress"], json!([]), "no ingress until a group is granted access");
        assert_eq!(sg["vpc"], json!({"$ref": "foundation.vpc", "attr": "id"}));
    }
}
