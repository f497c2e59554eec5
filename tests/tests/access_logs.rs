//! Access logs through the engine: a log bucket whose policy lets Elastic Load Balancing and S3
//! logging write under their prefixes only, a bucket whose server access logs go to it; both
//! read back as declared, switched on and off in place, and a change made outside is found.

use platform::model::{Env, Stack};
use platform::plan::Action;
use platform::resources::{AccessLogs, Bucket, LogSource, ObjectLifecycle};
use platform::Address;
use platform_tests::{id_of, Harness};
use serde_json::Value;

fn stack(logging: bool) -> platform::StackSpec {
    let mut s = Stack::new("logs", &Env::new("test").unwrap());
    let mut sources = vec![LogSource::LoadBalancers { prefix: "lb".into() }];
    if logging {
        sources.push(LogSource::S3ServerAccess { prefix: "s3/".into() });
    }
    let logs = s.add(
        "access-logs",
        Bucket {
            versioning: false,
            lifecycle: Some(ObjectLifecycle::Expire {
                current_days: Some(30),
                noncurrent_days: 1,
                incomplete_upload_days: 1,
            }),
            log_sources: sources,
            force_destroy: true,
            ..Bucket::default()
        },
    );
    s.add(
        "images",
        Bucket {
            lifecycle: Some(ObjectLifecycle::Expire {
                current_days: None,
                noncurrent_days: 7,
                incomplete_upload_days: 1,
            }),
            access_logs: logging.then(|| AccessLogs { bucket: logs.name(), prefix: "s3/test-logs-images/".into() }),
            force_destroy: true,
            ..Bucket::default()
        },
    );
    s.build().unwrap()
}

#[tokio::test]
async fn server_access_logs_and_log_grants_switch_on_and_off_in_place_and_drift_is_found() {
    // Over TLS: the buckets deny plain HTTP, and emptying the log bucket deletes objects.
    let h = Harness::over_tls().await;
    let s3 = aws_sdk_s3::Client::new(&h.config);
    let on = stack(true);
    let state = h.apply_converged(&on).await;
    let (logs, images) = (id_of(&state, "access-logs"), id_of(&state, "images"));

    // The grants come first, the TLS-only deny last; objects expire after 30 days.
    let policy = s3.get_bucket_policy().bucket(&logs).send().await.unwrap();
    let policy: Value = serde_json::from_str(policy.policy().unwrap()).unwrap();
    let sids: Vec<&str> = policy["Statement"].as_array().unwrap().iter().map(|s| s["Sid"].as_str().unwrap()).collect();
    assert_eq!(sids, ["LoadBalancerAccessLogs", "S3ServerAccessLogs", "DenyInsecureTransport"]);
    let lifecycle = s3.get_bucket_lifecycle_configuration().bucket(&logs).send().await.unwrap();
    assert_eq!(lifecycle.rules()[0].expiration().and_then(|e| e.days()), Some(30));
    let logging = s3.get_bucket_logging().bucket(&images).send().await.unwrap();
    let enabled = logging.logging_enabled().expect("server access logging is on");
    assert_eq!((enabled.target_bucket(), enabled.target_prefix()), (logs.as_str(), "s3/test-logs-images/"));

    // Turned off outside platform: the plan turns it on again.
    s3.put_bucket_logging()
        .bucket(&images)
        .bucket_logging_status(aws_sdk_s3::types::BucketLoggingStatus::builder().build())
        .send()
        .await
        .unwrap();
    assert!(s3.get_bucket_logging().bucket(&images).send().await.unwrap().logging_enabled().is_none());
    let plan = h.plan(&on).await;
    assert_eq!(
        plan.change(&Address::new("logs", "images")).unwrap().action,
        Action::Update,
        "{}",
        platform::render::plan_text(&plan)
    );
    assert!(plan.change(&Address::new("logs", "access-logs")).is_none_or(|c| c.action == Action::NoOp));
    h.apply_converged(&on).await;

    // Off in place: nothing is replaced.
    let off = stack(false);
    let plan = h.plan(&off).await;
    for name in ["access-logs", "images"] {
        assert_eq!(plan.change(&Address::new("logs", name)).unwrap().action, Action::Update, "{name}");
    }
    h.apply_converged(&off).await;
    assert!(s3.get_bucket_logging().bucket(&images).send().await.unwrap().logging_enabled().is_none());
    let policy = s3.get_bucket_policy().bucket(&logs).send().await.unwrap();
    let policy: Value = serde_json::from_str(policy.policy().unwrap()).unwrap();
    assert_eq!(policy["Statement"].as_array().unwrap().len(), 2, "{policy}");

    // And on again.
    h.apply_converged(&on).await;
    assert!(s3.get_bucket_logging().bucket(&images).send().await.unwrap().logging_enabled().is_some());
    h.destroy(&on).await;
}
