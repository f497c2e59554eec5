//! The dependencies stack against the emulator: the database and the bucket with the settings of
//! each environment, updates versus replacements, protection of data in production, and no secret
//! anywhere.

use std::collections::BTreeSet;

use platform::apply::ApplyOptions;
use platform::plan::Action;
use platform::{Address, EngineError, StackSpec};
use platform_tests::{id_of, Harness};
use stacks::{dependencies, foundation, DatabaseOptions, DependenciesOptions, Environment, Environments};

fn environment(name: &str) -> Environment {
    Environments::builtin().get(name).unwrap().clone()
}

fn stacks_for(environment: &Environment, database: DatabaseOptions) -> (StackSpec, StackSpec) {
    let foundation = foundation(environment).unwrap();
    let options = DependenciesOptions { database: Some(database), bucket: true };
    let deps = dependencies("card-dependencies", environment, &foundation, &options).unwrap();
    (foundation.spec, deps.spec)
}

fn db_address() -> Address {
    Address::new("card-dependencies", "db-instance")
}

async fn instance(h: &Harness, identifier: &str) -> aws_sdk_rds::types::DbInstance {
    let rds = aws_sdk_rds::Client::new(&h.config);
    let out = rds.describe_db_instances().db_instance_identifier(identifier).send().await.unwrap();
    out.db_instances()[0].clone()
}

#[tokio::test]
async fn production_gets_a_protected_highly_available_database_and_a_locked_down_bucket() {
    let h = Harness::new().await;
    let prod = environment("prod");
    let (foundation, deps) = stacks_for(&prod, DatabaseOptions::postgres("cards"));
    h.bootstrap(&prod).await;
    h.apply_converged(&foundation).await;
    let state = h.apply_converged(&deps).await;

    let db = instance(&h, &id_of(&state, "db-instance")).await;
    assert_eq!(db.db_instance_identifier(), Some("prod-card-dependencies-db-instance"));
    assert_eq!(db.engine(), Some("postgres"));
    assert_eq!(db.multi_az(), Some(true));
    assert_eq!(db.storage_encrypted(), Some(true));
    assert_eq!(db.deletion_protection(), Some(true));
    assert_eq!(db.publicly_accessible(), Some(false));
    assert_eq!(db.backup_retention_period(), Some(14));
    assert_eq!(db.copy_tags_to_snapshot(), Some(true));
    assert_eq!(db.auto_minor_version_upgrade(), Some(true));
    let secret = db.master_user_secret().and_then(|s| s.secret_arn()).expect("a managed master secret");
    assert_eq!(state.outputs["db_secret_arn"], secret);
    assert_eq!(db.db_subnet_group().and_then(|g| g.db_subnet_group_name()), Some("prod-card-dependencies-db-subnets"));
    let groups: Vec<_> = db.vpc_security_groups().iter().filter_map(|g| g.vpc_security_group_id()).collect();
    assert_eq!(groups, [id_of(&state, "db").as_str()]);
    assert!(db
        .tag_list()
        .iter()
        .any(|t| t.key() == Some("platform:address") && t.value() == Some("card-dependencies.db-instance")));
    assert_eq!(state.outputs["db_port"], 5432);
    assert!(state.outputs["db_address"].as_str().unwrap().starts_with("prod-card-dependencies-db-instance."));

    // The database's security group has no ingress until a group is granted access.
    let ec2 = aws_sdk_ec2::Client::new(&h.config);
    let sg = ec2.describe_security_groups().group_ids(id_of(&state, "db")).send().await.unwrap();
    assert!(sg.security_groups()[0].ip_permissions().is_empty());

    // The bucket: every public access block, encryption, versioning, TLS only.
    let s3 = aws_sdk_s3::Client::new(&h.config);
    let bucket = id_of(&state, "images");
    assert_eq!(bucket, "prod-card-dependencies-images-123456789012-us-east-1");
    let block = s3.get_public_access_block().bucket(&bucket).send().await.unwrap();
    let block = block.public_access_block_configuration().unwrap();
    assert_eq!(
        (
            block.block_public_acls(),
            block.ignore_public_acls(),
            block.block_public_policy(),
            block.restrict_public_buckets()
        ),
        (Some(true), Some(true), Some(true), Some(true))
    );
    let encryption = s3.get_bucket_encryption().bucket(&bucket).send().await.unwrap();
    let rule = &encryption.server_side_encryption_configuration().unwrap().rules()[0];
    // SSE-KMS with the stack's own key (customer_managed_keys), S3 Bucket Keys on.
    let default = rule.apply_server_side_encryption_by_default().unwrap();
    assert_eq!(default.sse_algorithm().as_str(), "aws:kms");
    assert_eq!(
        default.kms_master_key_id(),
        state.resources[&platform::Address::new("card-dependencies", "data-key")].outputs["arn"].as_str()
    );
    assert_eq!(rule.bucket_key_enabled(), Some(true));
    let versioning = s3.get_bucket_versioning().bucket(&bucket).send().await.unwrap();
    assert_eq!(versioning.status().map(|s| s.as_str()), Some("Enabled"));
    let policy: serde_json::Value =
        serde_json::from_str(s3.get_bucket_policy().bucket(&bucket).send().await.unwrap().policy().unwrap()).unwrap();
    let statement = &policy["Statement"][0];
    assert_eq!(statement["Effect"], "Deny");
    assert_eq!(statement["Condition"]["Bool"]["aws:SecureTransport"], "false");
    assert_eq!(statement["Resource"][1], format!("arn:aws:s3:::{bucket}/*"));
    assert_eq!(state.outputs["bucket_name"], bucket);
    // Old versions expire after prod's 90 days, lone delete markers go, abandoned uploads after 7;
    // current objects never expire.
    let lifecycle = s3.get_bucket_lifecycle_configuration().bucket(&bucket).send().await.unwrap();
    let [rule] = lifecycle.rules() else { panic!("one rule: {lifecycle:?}") };
    assert_eq!(rule.status().as_str(), "Enabled");
    assert_eq!(rule.noncurrent_version_expiration().and_then(|n| n.noncurrent_days()), Some(90));
    assert_eq!(rule.abort_incomplete_multipart_upload().and_then(|a| a.days_after_initiation()), Some(7));
    let expiration = rule.expiration().unwrap();
    assert_eq!((expiration.expired_object_delete_marker(), expiration.days()), (Some(true), None));
    assert!(rule.transitions().is_empty());

    // A rule added by hand (expiring current objects after a day) is drift; apply puts the
    // declared configuration back.
    let by_hand = aws_sdk_s3::types::LifecycleRule::builder()
        .id("by-hand")
        .status(aws_sdk_s3::types::ExpirationStatus::Enabled)
        .filter(aws_sdk_s3::types::LifecycleRuleFilter::builder().prefix("").build())
        .expiration(aws_sdk_s3::types::LifecycleExpiration::builder().days(1).build())
        .build()
        .unwrap();
    let config =
        aws_sdk_s3::types::BucketLifecycleConfiguration::builder().rules(rule.clone()).rules(by_hand).build().unwrap();
    s3.put_bucket_lifecycle_configuration().bucket(&bucket).lifecycle_configuration(config).send().await.unwrap();
    let drift = h.engine.drift(&deps).await.unwrap();
    let paths: Vec<(String, String)> =
        drift.drifted.iter().flat_map(|d| d.changes.iter().map(|c| (d.address.to_string(), c.path.clone()))).collect();
    assert!(
        !paths.is_empty() && paths.iter().all(|(a, p)| a == "card-dependencies.images" && p.starts_with("lifecycle")),
        "{paths:?}"
    );
    h.apply_converged(&deps).await;
    let lifecycle = s3.get_bucket_lifecycle_configuration().bucket(&bucket).send().await.unwrap();
    assert_eq!(lifecycle.rules().len(), 1);
}

#[tokio::test]
async fn dev_gets_a_single_zone_database_without_deletion_protection() {
    let h = Harness::new().await;
    let dev = environment("dev");
    let (foundation, deps) = stacks_for(&dev, DatabaseOptions::postgres("cards"));
    h.apply_converged(&foundation).await;
    let state = h.apply_converged(&deps).await;
    let db = instance(&h, &id_of(&state, "db-instance")).await;
    assert_eq!(db.multi_az(), Some(false));
    assert_eq!(db.deletion_protection(), Some(false));
    assert_eq!(db.storage_encrypted(), Some(true));
    assert_eq!(db.backup_retention_period(), Some(7));
    // The TLS-only policy at work: this harness reaches the emulator over plain HTTP, so writes are
    // denied, as AWS denies them (`bucket_over_tls_...` below shows TLS requests going through).
    let s3 = aws_sdk_s3::Client::new(&h.config);
    let bucket = id_of(&state, "images");
    let put = || {
        s3.put_object()
            .bucket(&bucket)
            .key("cards/1.png")
            .body(aws_sdk_s3::primitives::ByteStream::from_static(b"png"))
            .send()
    };
    let denied = put().await.unwrap_err();
    assert_eq!(denied.raw_response().map(|r| r.status().as_u16()), Some(403));
    // Someone lifts the policy and stores an object: the plan sees it, and apply puts the policy back.
    s3.delete_bucket_policy().bucket(&bucket).send().await.unwrap();
    put().await.unwrap();
    let plan = h.plan(&deps).await;
    let change = plan.change(&Address::new("card-dependencies", "images")).unwrap();
    assert_eq!(change.action, Action::Update);
    assert_eq!(change.changes[0].path, "enforce_tls");
    h.apply_converged(&deps).await;
    assert!(s3.get_bucket_policy().bucket(&bucket).send().await.is_ok());
    // Not protected in dev: destroy goes through, emptying the bucket and taking no final snapshot.
    // (Over plain HTTP the TLS-only policy denies the engine's own deletions of objects too, as on
    // AWS; the policy is lifted first. Over TLS it is not needed: see the next test.)
    s3.delete_bucket_policy().bucket(&bucket).send().await.unwrap();
    h.destroy(&deps).await;
    let rds = aws_sdk_rds::Client::new(&h.config);
    assert!(rds.describe_db_instances().db_instance_identifier(id_of(&state, "db-instance")).send().await.is_err());
    let snapshots = rds.describe_db_snapshots().snapshot_type("manual").send().await.unwrap();
    assert!(snapshots.db_snapshots().is_empty(), "no final snapshot in dev");
    assert!(s3.head_bucket().bucket(&bucket).send().await.is_err());
    h.destroy(&foundation).await;
}

#[tokio::test]
async fn bucket_over_tls_takes_objects_and_destroy_empties_it_with_the_policy_in_place() {
    let h = Harness::over_tls().await;
    let dev = environment("dev");
    let foundation = foundation(&dev).unwrap();
    let options = DependenciesOptions { database: None, bucket: true };
    let deps = dependencies("card-dependencies", &dev, &foundation, &options).unwrap().spec;
    h.apply_converged(&foundation.spec).await;
    let state = h.apply_converged(&deps).await;
    let bucket = id_of(&state, "images");
    let s3 = aws_sdk_s3::Client::new(&h.config);
    s3.put_object()
        .bucket(&bucket)
        .key("cards/1.png")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"png"))
        .send()
        .await
        .expect("the TLS-only policy lets TLS requests through");
    let object = s3.get_object().bucket(&bucket).key("cards/1.png").send().await.unwrap();
    assert_eq!(object.body.collect().await.unwrap().into_bytes().as_ref(), b"png");
    assert!(s3.get_bucket_policy().bucket(&bucket).send().await.is_ok(), "the policy stayed in place");
    h.destroy(&deps).await;
    assert!(s3.head_bucket().bucket(&bucket).send().await.is_err(), "emptied and deleted");
    h.destroy(&foundation.spec).await;
}

#[tokio::test]
async fn instance_class_changes_in_place_and_an_engine_change_replaces_only_when_allowed() {
    let h = Harness::new().await;
    let prod = environment("prod");
    let (foundation, deps) = stacks_for(&prod, DatabaseOptions::postgres("cards"));
    h.bootstrap(&prod).await;
    h.apply_converged(&foundation).await;
    let state = h.apply_converged(&deps).await;
    let identifier = id_of(&state, "db-instance");

    // A bigger instance: an update in place.
    let mut bigger = prod.clone();
    bigger.settings.db_instance_class = "db.m7g.xlarge".into();
    let (_, deps_bigger) = stacks_for(&bigger, DatabaseOptions::postgres("cards"));
    let plan = h.plan(&deps_bigger).await;
    let change = plan.change(&db_address()).unwrap();
    assert_eq!(change.action, Action::Update);
    assert_eq!(change.changes.len(), 1);
    assert_eq!(change.changes[0].path, "instance_class");
    assert_eq!(plan.summary().update, 1);
    // Production makes changes that reboot or fail over in the maintenance window, and says so.
    let text = platform::render::plan_text(&plan);
    assert!(text.contains("instance_class: applied in the maintenance window (sun:05:00-sun:06:00)"), "{text}");
    h.apply_converged(&deps_bigger).await;
    let db = instance(&h, &identifier).await;
    assert_eq!(db.db_instance_class(), Some("db.m7g.large"), "not before the maintenance window");
    assert_eq!(db.pending_modified_values().and_then(|p| p.db_instance_class()), Some("db.m7g.xlarge"));
    h.emulator.maintenance_window();
    // Applied in the window; nothing to plan before, during or after.
    assert!(!h.plan(&deps_bigger).await.has_changes());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while instance(&h, &identifier).await.db_instance_class() != Some("db.m7g.xlarge") {
        assert!(std::time::Instant::now() < deadline, "applied in the maintenance window");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(!h.plan(&deps_bigger).await.has_changes());

    // Asked for now (`--apply-immediately`): applied at once, and awaited until it is done.
    let mut now = bigger.clone();
    now.settings.db_instance_class = "db.m7g.2xlarge".into();
    now.settings.db_apply_immediately = true;
    let (_, deps_now) = stacks_for(&now, DatabaseOptions::postgres("cards"));
    let text = platform::render::plan_text(&h.plan(&deps_now).await);
    assert!(text.contains("instance_class: applied now; the instance reboots or fails over"), "{text}");
    h.apply_converged(&deps_now).await;
    let db = instance(&h, &identifier).await;
    assert_eq!(db.db_instance_class(), Some("db.m7g.2xlarge"));
    assert!(db.pending_modified_values().and_then(|p| p.db_instance_class()).is_none(), "nothing left pending");
    assert_eq!(db.db_instance_status(), Some("available"));
    let bigger = now;

    // Another engine: a replacement, refused in production unless the address is named.
    let mysql = DatabaseOptions {
        engine: platform::resources::DbEngine::Mysql,
        engine_version: "8.0".into(),
        ..DatabaseOptions::postgres("cards")
    };
    let (_, deps_mysql) = stacks_for(&bigger, mysql);
    let plan = h.plan(&deps_mysql).await;
    let change = plan.change(&db_address()).unwrap();
    assert_eq!(change.action, Action::Replace);
    assert!(change.replaced_because().any(|a| a == "engine"));
    assert!(change.protected);
    let text = platform::render::plan_text(&plan);
    assert!(
        text.contains(
            "because engine cannot change in place [protected: needs --allow-destroy card-dependencies.db-instance]"
        ),
        "{text}"
    );

    let prepared = h.engine.prepare(&deps_mysql, false, "apply").await.unwrap();
    let Err(err) = h.engine.apply(prepared, &|_| {}).await else { panic!("a protected replacement must be refused") };
    assert!(matches!(err, EngineError::Protected { .. }));
    assert!(err.to_string().contains("--allow-destroy card-dependencies.db-instance"), "{err}");
    assert_eq!(instance(&h, &identifier).await.engine(), Some("postgres"), "nothing was touched");

    let allowed =
        h.engine_with(ApplyOptions { allow_destroy: BTreeSet::from([db_address()]), ..ApplyOptions::default() });
    let prepared = allowed.prepare(&deps_mysql, false, "apply").await.unwrap();
    let report = allowed.apply(prepared, &|_| {}).await.unwrap();
    assert!(report.is_success(), "{}", platform::render::report_text("card-dependencies", &report));
    assert_eq!(instance(&h, &identifier).await.engine(), Some("mysql"));
    // Production takes a final snapshot of what it replaces.
    let rds = aws_sdk_rds::Client::new(&h.config);
    let snapshots = rds.describe_db_snapshots().send().await.unwrap();
    assert!(snapshots
        .db_snapshots()
        .iter()
        .any(|s| s.db_snapshot_identifier().unwrap().starts_with(&format!("{identifier}-final-"))));
    assert!(!h.plan(&deps_mysql).await.has_changes());
}

#[tokio::test]
async fn the_dependencies_need_the_foundation_applied_first() {
    let h = Harness::new().await;
    let (_, deps) = stacks_for(&environment("dev"), DatabaseOptions::postgres("cards"));
    let Err(err) = h.engine.prepare(&deps, false, "plan").await else { panic!("the foundation is not applied") };
    assert!(err
        .to_string()
        .starts_with("stack `card-dependencies` uses stack `foundation`, which has not been applied in `dev`"));
}

/// Database logging and Enhanced Monitoring switched on for an existing database, then off: the
/// parameter group, the log group and the monitoring role are made before the instance is
/// changed to use them (RDS refuses a role it cannot assume yet, once, and is asked again), the
/// plan says the group takes effect at the next reboot, nothing is planned again, and switched
/// off the instance lets go of them before they are deleted (RDS refuses to delete a group in
/// use).
#[tokio::test]
async fn database_logging_and_monitoring_switch_on_and_off_in_place() {
    let h = Harness::new().await;
    let dev = environment("dev");
    assert!(!dev.db_logging && dev.db_monitoring_interval_seconds == 0);
    h.bootstrap(&dev).await;
    let (foundation, deps) = stacks_for(&dev, DatabaseOptions::postgres("cards"));
    h.apply_converged(&foundation).await;
    let state = h.apply_converged(&deps).await;
    let identifier = id_of(&state, "db-instance");

    let mut on = dev.clone();
    on.settings.db_logging = true;
    on.settings.db_monitoring_interval_seconds = 60;
    let (_, logged) = stacks_for(&on, DatabaseOptions::postgres("cards"));
    let plan = h.plan(&logged).await;
    let created: BTreeSet<&str> =
        plan.resources.iter().filter(|r| r.action == Action::Create).map(|r| r.address.name()).collect();
    assert_eq!(created, BTreeSet::from(["db-monitoring", "db-parameters", "db-postgresql-log", "db-upgrade-log"]));
    let change = plan.change(&db_address()).unwrap();
    assert_eq!(change.action, Action::Update);
    let text = platform::render::plan_text(&plan);
    assert!(text.contains("the instance uses the new group's parameters after its next reboot"), "{text}");
    let state = h.apply_converged(&logged).await;
    let db = instance(&h, &identifier).await;
    assert_eq!(db.enabled_cloudwatch_logs_exports(), ["postgresql", "upgrade"]);
    assert_eq!(db.monitoring_interval(), Some(60));
    assert_eq!(
        db.monitoring_role_arn(),
        state.resources[&Address::new("card-dependencies", "db-monitoring")].outputs["arn"].as_str()
    );
    assert_eq!(db.db_parameter_groups()[0].db_parameter_group_name(), Some("dev-card-dependencies-db-parameters"));
    let logs = aws_sdk_cloudwatchlogs::Client::new(&h.config);
    let prefix = format!("/aws/rds/instance/{identifier}/");
    let groups = logs.describe_log_groups().log_group_name_prefix(&prefix).send().await.unwrap();
    let groups: Vec<(&str, Option<i32>)> =
        groups.log_groups().iter().map(|g| (g.log_group_name().unwrap(), g.retention_in_days())).collect();
    let (postgresql, upgrade) = (format!("{prefix}postgresql"), format!("{prefix}upgrade"));
    // The stack's groups, one per exported log, with the environment's retention.
    assert_eq!(groups, [(postgresql.as_str(), Some(30)), (upgrade.as_str(), Some(30))]);
    assert!(!h.plan(&logged).await.has_changes(), "nothing planned again");

    // Off again: the instance back on the engine's default group, exporting nothing, unmonitored;
    // then what it used is deleted.
    let plan = h.plan(&deps).await;
    let deleted: BTreeSet<&str> =
        plan.resources.iter().filter(|r| r.action == Action::Delete).map(|r| r.address.name()).collect();
    assert_eq!(deleted, BTreeSet::from(["db-monitoring", "db-parameters", "db-postgresql-log", "db-upgrade-log"]));
    h.apply_converged(&deps).await;
    let db = instance(&h, &identifier).await;
    assert!(db.enabled_cloudwatch_logs_exports().is_empty());
    assert_eq!(db.monitoring_interval(), Some(0));
    assert_eq!(db.db_parameter_groups()[0].db_parameter_group_name(), Some("default.postgres17"));
    let rds = aws_sdk_rds::Client::new(&h.config);
    let gone =
        rds.describe_db_parameter_groups().db_parameter_group_name("dev-card-dependencies-db-parameters").send().await;
    assert!(gone.map_or(true, |g| g.db_parameter_groups().is_empty()), "the group is deleted once no instance uses it");
    assert!(!h.plan(&deps).await.has_changes());
    h.destroy(&deps).await;
    h.destroy(&foundation).await;
}
