//! The pipeline stack against the emulator, and its deploy role against what deploying really
//! calls: every call recorded while the card stacks are applied, changed, checked for drift and
//! destroyed, and every action the AWS provider's code names, is allowed; nothing else is, unless
//! the document says why no call shows it.

// Tests report what they measured (nextest shows it in the CI log).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::BTreeSet;

use platform::apply::ApplyOptions;
use platform::{Address, StackSpec};
use platform_tests::{id_of, workspace_root, Harness};
use serde_json::{json, Value};
use stacks::pipeline::{deploy_statements, pipeline};
use stacks::{foundation, Environments};

fn card(env: &str, image_tag: &str) -> Vec<StackSpec> {
    let environment = Environments::builtin().get(env).unwrap().clone();
    let foundation = foundation(&environment).unwrap();
    let mut specs = vec![foundation.spec.clone()];
    specs.extend(card_stacks::card_stacks(&environment, &foundation, image_tag).unwrap());
    specs
}

/// Every `api("service:Operation")` label in the AWS provider's code, as the IAM action that
/// authorizes it: what it can call. OIDC providers are left out: the pipeline stack, applied by an
/// administrator, is their only user, and the deploy role must not manage them.
fn provider_actions() -> BTreeSet<String> {
    let mut files = vec![];
    let mut dirs = vec![workspace_root().join("platform/src/provider/aws")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    let mut actions = BTreeSet::new();
    for path in files {
        let text = std::fs::read_to_string(path).unwrap();
        for part in text.split("api(\"").skip(1) {
            let action = part.split('"').next().unwrap();
            let Some((service, operation)) = action.split_once(':') else { continue };
            if !operation.contains("OpenIDConnectProvider") {
                actions.insert(platform_tests::iam_action(service, operation));
            }
        }
    }
    actions
}

#[tokio::test]
async fn the_deploy_role_allows_what_deploying_calls_and_nothing_more() {
    let mut h = Harness::new().await;
    let recorder = h.record_calls();
    let specs = card("staging", "v1");
    for spec in &specs {
        h.apply_converged(spec).await;
    }
    for spec in &specs {
        h.engine.drift(spec).await.unwrap();
    }
    // A new image: a new task definition revision, the service updated.
    let changed = card("staging", "v2");
    h.apply_converged(&changed[2]).await;
    for spec in changed.iter().rev() {
        h.destroy(spec).await;
    }
    let recorded = recorder.actions();
    let named = provider_actions();
    let statements = deploy_statements("staging");
    let allowed: BTreeSet<String> = statements.iter().flat_map(|s| s.actions.clone()).collect();
    let explained: BTreeSet<String> =
        statements.iter().filter(|s| s.reason.is_some()).flat_map(|s| s.actions.clone()).collect();

    let missing: Vec<&String> = recorded.union(&named).filter(|a| !allowed.contains(*a)).collect();
    let unused: Vec<&String> =
        allowed.iter().filter(|a| !recorded.contains(*a) && !named.contains(*a) && !explained.contains(*a)).collect();
    println!(
        "deploy role: {} actions allowed; {} called while deploying, {} named by the provider, {} explained; missing {missing:?}, unused {unused:?}",
        allowed.len(),
        recorded.len(),
        named.len(),
        explained.len()
    );
    assert!(missing.is_empty(), "deploying needs actions the deploy role does not allow: {missing:?}");
    assert!(unused.is_empty(), "the deploy role allows actions nothing calls: {unused:?}");
}

#[tokio::test]
async fn the_pipeline_stack_trusts_only_github_tokens_of_its_subjects() {
    let h = Harness::new().await;
    let prod = Environments::builtin().get("prod").unwrap().clone();
    let p = pipeline(&prod).unwrap();
    let state = h.apply_converged(&p.spec).await;
    let iam = aws_sdk_iam::Client::new(&h.config);

    let provider_arn = id_of(&state, "github");
    assert!(provider_arn.ends_with(":oidc-provider/token.actions.githubusercontent.com"), "{provider_arn}");
    let provider = iam.get_open_id_connect_provider().open_id_connect_provider_arn(&provider_arn).send().await.unwrap();
    assert_eq!(provider.client_id_list(), ["sts.amazonaws.com"]);
    assert!(provider.tags().iter().any(|t| t.key() == "platform:address" && t.value() == "pipeline.github"));

    let role = iam.get_role().role_name(id_of(&state, "deploy")).send().await.unwrap();
    let trust = percent_encoding::percent_decode_str(role.role().unwrap().assume_role_policy_document().unwrap())
        .decode_utf8()
        .unwrap()
        .to_string();
    let trust: Value = serde_json::from_str(&trust).unwrap();
    assert_eq!(
        trust["Statement"][0],
        json!({
            "Effect": "Allow",
            "Principal": { "Federated": provider_arn },
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {
                "StringEquals": { "token.actions.githubusercontent.com:aud": "sts.amazonaws.com" },
                "StringLike": { "token.actions.githubusercontent.com:sub": ["repo:acme/card-platform:environment:prod"] },
            },
        })
    );
    let s3 = aws_sdk_s3::Client::new(&h.config);
    let bucket = id_of(&state, "state");
    let versioning = s3.get_bucket_versioning().bucket(&bucket).send().await.unwrap();
    assert_eq!(versioning.status().map(|s| s.as_str()), Some("Enabled"));

    // A trust widened outside platform is drift, and apply puts it back.
    let mut widened = trust.clone();
    widened["Statement"][0]["Condition"]["StringLike"]["token.actions.githubusercontent.com:sub"] =
        json!(["repo:acme/*"]);
    iam.update_assume_role_policy()
        .role_name(id_of(&state, "deploy"))
        .policy_document(widened.to_string())
        .send()
        .await
        .unwrap();
    let drift = h.engine.drift(&p.spec).await.unwrap();
    let drifted: Vec<&Address> = drift.drifted.iter().map(|d| &d.address).collect();
    assert_eq!(drifted, [&Address::new("pipeline", "deploy")]);
    let plan = h.plan(&p.spec).await;
    let change = plan.resources.iter().find(|r| r.address.name() == "deploy").unwrap();
    assert!(change.widens_access.is_empty(), "putting the trust back narrows it");
    h.apply_converged(&p.spec).await;

    // A new subject is a change in place, and it widens access.
    let mut rotated = prod.clone();
    rotated.settings.ci_deploy_subjects.push("repo:acme/card-platform:environment:prod-eu".into());
    let p2 = pipeline(&rotated).unwrap();
    let plan = h.plan(&p2.spec).await;
    let change = plan.resources.iter().find(|r| r.address.name() == "deploy").unwrap();
    assert_eq!(change.action, platform::plan::Action::Update);
    assert!(
        change.widens_access.iter().any(|w| w.contains("prod-eu")),
        "a new subject is shown as widening access: {:?}",
        change.widens_access
    );
    h.apply_converged(&p2.spec).await;

    // The state bucket is protected: destroying it must be allowed by address.
    let options = ApplyOptions { allow_destroy: [Address::new("pipeline", "state")].into(), ..ApplyOptions::default() };
    let engine = h.engine_with(options);
    let prepared = engine.prepare(&p2.spec, true, "destroy").await.unwrap();
    let report = engine.apply(prepared, &|_| {}).await.unwrap();
    assert!(report.is_success(), "{}", platform::render::report_text("pipeline", &report));
    assert!(iam.get_open_id_connect_provider().open_id_connect_provider_arn(&provider_arn).send().await.is_err());
}
