//! Customer-managed KMS keys through the engine: a key whose policy lets the account administer it
//! and CloudWatch Logs, S3 and ECR use it, encrypting a log group, a bucket and an image
//! repository. Applied against an emulator as strict as AWS where it matters (a log group is
//! refused a key whose policy does not let CloudWatch Logs use it for that group; ECR and RDS
//! refuse a key that is not enabled; a policy that would lock the account out is refused), read
//! back as declared, a statement added by hand and rotation turned off by hand found and undone,
//! and a destroyed key taken back by the next apply within its deletion window.

use aws_sdk_kms::types::KeyState;
use platform::model::{Env, Stack};
use platform::plan::Action;
use platform::resources::{
    Bucket, BucketEncryption, EcrRepository, ImageLifecycle, Key, KeyService, KeyUse, LogGroup, ObjectLifecycle,
    TagMutability,
};
use platform::{Address, StackSpec};
use platform_tests::{id_of, Harness};

/// A key and what it encrypts; `covered` is the log group pattern its policy lets CloudWatch
/// Logs use it for.
fn stack(covered: &str) -> StackSpec {
    let mut s = Stack::new("kms", &Env::new("test").unwrap());
    let key = s.add(
        "key",
        Key::new(
            "Test data",
            vec![
                KeyUse::LogGroups { names: vec![covered.to_string()] },
                KeyUse::ThroughService { service: KeyService::S3 },
                KeyUse::ThroughService { service: KeyService::Ecr },
            ],
            7,
        ),
    );
    s.add("logs", LogGroup { kms_key: Some(key.arn()), ..LogGroup::new(7) });
    s.add(
        "images",
        Bucket {
            encryption: BucketEncryption::KmsManaged,
            kms_key: Some(key.arn()),
            lifecycle: Some(ObjectLifecycle::Expire {
                current_days: None,
                noncurrent_days: 7,
                incomplete_upload_days: 7,
            }),
            force_destroy: true,
            ..Bucket::default()
        },
    );
    s.add(
        "repository",
        EcrRepository {
            kms_key: Some(key.arn()),
            image_tag_mutability: TagMutability::Immutable,
            lifecycle: Some(ImageLifecycle::Expire { untagged_days: 7, keep: 10 }),
            force_delete: true,
            ..EcrRepository::default()
        },
    );
    s.build().unwrap()
}

#[tokio::test]
async fn a_key_encrypts_logs_objects_and_images_and_its_policy_and_rotation_are_kept() {
    let h = Harness::new().await;
    let kms = aws_sdk_kms::Client::new(&h.config);
    let spec = stack("/platform/test/*");
    let state = h.apply_converged(&spec).await;
    let key_id = id_of(&state, "key");
    let key_arn = state.resources[&Address::new("kms", "key")].outputs["arn"].as_str().unwrap().to_string();

    // The key: enabled, rotating yearly, named by its alias, with the declared statements only.
    let alias = state.resources[&Address::new("kms", "key")].outputs["alias"].as_str().unwrap().to_string();
    assert!(alias.starts_with("alias/test-kms-key"), "{alias}");
    let described = kms.describe_key().key_id(&alias).send().await.unwrap();
    assert_eq!(described.key_metadata().unwrap().key_id(), key_id);
    assert_eq!(described.key_metadata().unwrap().key_state(), Some(&KeyState::Enabled));
    let rotation = kms.get_key_rotation_status().key_id(&key_id).send().await.unwrap();
    assert!(rotation.key_rotation_enabled());
    assert_eq!(rotation.rotation_period_in_days(), Some(365));
    let policy = kms.get_key_policy().key_id(&key_id).policy_name("default").send().await.unwrap();
    let policy: serde_json::Value = serde_json::from_str(policy.policy().unwrap()).unwrap();
    let sids: Vec<&str> = policy["Statement"].as_array().unwrap().iter().map(|s| s["Sid"].as_str().unwrap()).collect();
    assert_eq!(sids.len(), 4, "{sids:?}");

    // What it encrypts.
    let logs = aws_sdk_cloudwatchlogs::Client::new(&h.config);
    let groups = logs.describe_log_groups().log_group_name_prefix("/platform/test/kms/").send().await.unwrap();
    assert_eq!(groups.log_groups()[0].kms_key_id(), Some(key_arn.as_str()));
    let s3 = aws_sdk_s3::Client::new(&h.config);
    let bucket = state.resources[&Address::new("kms", "images")].physical_id.clone();
    let encryption = s3.get_bucket_encryption().bucket(&bucket).send().await.unwrap();
    let rule = &encryption.server_side_encryption_configuration().unwrap().rules()[0];
    assert_eq!(rule.apply_server_side_encryption_by_default().unwrap().kms_master_key_id(), Some(key_arn.as_str()));
    assert_eq!(rule.bucket_key_enabled(), Some(true), "S3 Bucket Keys: a data key per bucket, not per object");
    let ecr = aws_sdk_ecr::Client::new(&h.config);
    let repositories = ecr.describe_repositories().repository_names(id_of(&state, "repository")).send().await.unwrap();
    let encryption = repositories.repositories()[0].encryption_configuration().unwrap();
    assert_eq!(encryption.kms_key(), Some(key_arn.as_str()));
    assert!(!h.plan(&spec).await.has_changes(), "no perpetual diff");

    // Outside platform: the key opened to another account, and its rotation turned off.
    let mut opened = policy.clone();
    opened["Statement"].as_array_mut().unwrap().push(serde_json::json!({
        "Sid": "Partner", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::999999999999:root"},
        "Action": "kms:Decrypt", "Resource": "*"
    }));
    kms.put_key_policy().key_id(&key_id).policy_name("default").policy(opened.to_string()).send().await.unwrap();
    kms.disable_key_rotation().key_id(&key_id).send().await.unwrap();
    let plan = h.plan(&spec).await;
    let text = platform::render::plan_text(&plan);
    assert_eq!(plan.change(&Address::new("kms", "key")).unwrap().action, Action::Update, "{text}");
    assert!(text.contains("999999999999") && text.contains("rotation_period_days"), "{text}");
    h.apply_converged(&spec).await;
    let policy = kms.get_key_policy().key_id(&key_id).policy_name("default").send().await.unwrap();
    assert!(!policy.policy().unwrap().contains("999999999999"));
    assert!(kms.get_key_rotation_status().key_id(&key_id).send().await.unwrap().key_rotation_enabled());

    // By hand: its alias deleted and the key scheduled for deletion. The key reads as disabled,
    // under its recorded name: what it encrypts keeps it (no replacement), and the apply takes it
    // back and names it again.
    kms.delete_alias().alias_name(&alias).send().await.unwrap();
    kms.schedule_key_deletion().key_id(&key_id).pending_window_in_days(7).send().await.unwrap();
    let plan = h.plan(&spec).await;
    let text = platform::render::plan_text(&plan);
    assert_eq!(plan.change(&Address::new("kms", "key")).unwrap().action, Action::Update, "{text}");
    for other in ["logs", "images", "repository"] {
        assert!(plan.change(&Address::new("kms", other)).is_none_or(|c| c.action == Action::NoOp), "{other}: {text}");
    }
    h.apply_converged(&spec).await;
    let back = kms.describe_key().key_id(&alias).send().await.unwrap();
    assert_eq!(back.key_metadata().unwrap().key_id(), key_id);
    assert_eq!(back.key_metadata().unwrap().key_state(), Some(&KeyState::Enabled));

    // Destroyed: the key waits out its window, disabled, under its alias; the next apply takes
    // it back (what it encrypted stays readable) rather than making another.
    h.destroy(&spec).await;
    let waiting = kms.describe_key().key_id(&key_id).send().await.unwrap();
    assert_eq!(waiting.key_metadata().unwrap().key_state(), Some(&KeyState::PendingDeletion));
    let state = h.apply_converged(&spec).await;
    assert_eq!(id_of(&state, "key"), key_id, "the same key, taken back");
    let back = kms.describe_key().key_id(&key_id).send().await.unwrap();
    assert_eq!(back.key_metadata().unwrap().key_state(), Some(&KeyState::Enabled));
    h.destroy(&spec).await;
}

#[tokio::test]
async fn a_log_group_is_refused_a_key_whose_policy_does_not_cover_it() {
    let h = Harness::new().await;
    // The key lets CloudWatch Logs use it for other groups only: AWS refuses the log group.
    let spec = stack("/platform/other/*");
    let prepared = h.engine.prepare(&spec, false, "apply").await.unwrap();
    let report = h.engine.apply(prepared, &|_| {}).await.unwrap();
    assert!(!report.is_success());
    let err = platform::render::report_text(&spec.name, &report);
    assert!(err.contains("AccessDeniedException") && err.contains("/platform/test/kms/logs"), "{err}");
}
