//! Managed policies and roles' permissions boundaries against the emulator: a policy created, its
//! document changed in place as a new default version (more than AWS's five versions kept), a
//! version made by hand seen as drift, a role bounded by it, the boundary moved and removed in
//! place, and a boundary that does not exist refused as AWS refuses it.

use std::collections::BTreeMap;

use platform::model::{Env, Ref, Stack, StackSpec};
use platform::plan::Action;
use platform::resources::{ManagedPolicy, PolicyDocument, Role, Statement, Tags, Trust};
use platform::Address;
use platform_tests::{id_of, Harness};

fn stack(actions: &[&str], bounded: Option<&str>) -> StackSpec {
    let mut s = Stack::new("iam", &Env::new("test").unwrap());
    let document = PolicyDocument { statements: vec![Statement::allow(actions, vec!["*".into()])] };
    let boundary =
        s.add("boundary", ManagedPolicy { description: "what roles may do".into(), document, tags: Tags::new() });
    let other = s.add(
        "other",
        ManagedPolicy {
            description: "another boundary".into(),
            document: PolicyDocument { statements: vec![Statement::allow(&["s3:GetObject"], vec!["*".into()])] },
            tags: Tags::new(),
        },
    );
    let permissions_boundary: Option<Ref<_>> = match bounded {
        Some("boundary") => Some(boundary.arn()),
        Some(_) => Some(other.arn()),
        None => None,
    };
    s.add(
        "role",
        Role {
            trust: Trust::Service("ecs-tasks.amazonaws.com".into()),
            policies: BTreeMap::new(),
            managed_policies: vec![],
            permissions_boundary,
            max_session_seconds: Some(7200),
            tags: Tags::new(),
        },
    );
    s.build().unwrap()
}

#[tokio::test]
async fn a_boundary_policy_changes_by_versions_and_bounds_a_role_in_place() {
    let h = Harness::new().await;
    let iam = aws_sdk_iam::Client::new(&h.config);
    let v1 = stack(&["s3:GetObject"], Some("boundary"));
    let state = h.apply_converged(&v1).await;
    let arn = id_of(&state, "boundary");
    assert!(arn.ends_with(":policy/test-iam-boundary"), "{arn}");
    let role = iam.get_role().role_name(id_of(&state, "role")).send().await.unwrap();
    let role = role.role().unwrap();
    assert_eq!(role.permissions_boundary().and_then(|b| b.permissions_boundary_arn()), Some(arn.as_str()));
    assert_eq!(role.max_session_duration(), Some(7200));

    // Six changes of the document: each a new default version, the oldest deleted past five.
    for (i, action) in [
        "s3:PutObject",
        "s3:DeleteObject",
        "s3:ListBucket",
        "logs:PutLogEvents",
        "ecr:BatchGetImage",
        "sqs:SendMessage",
    ]
    .iter()
    .enumerate()
    {
        let next = stack(&["s3:GetObject", action], Some("boundary"));
        let plan = h.plan(&next).await;
        assert_eq!(plan.change(&Address::new("iam", "boundary")).unwrap().action, Action::Update, "change {i}");
        h.apply_converged(&next).await;
    }
    let versions = iam.list_policy_versions().policy_arn(&arn).send().await.unwrap();
    assert_eq!(versions.versions().len(), 5, "AWS keeps five versions at most");
    let last = stack(&["s3:GetObject", "sqs:SendMessage"], Some("boundary"));

    // A default version made by hand is drift.
    let widened = serde_json::json!({ "Version": "2012-10-17", "Statement": [{ "Effect": "Allow", "Action": "*", "Resource": "*" }] });
    let oldest =
        versions.versions().iter().find(|v| !v.is_default_version()).unwrap().version_id().unwrap().to_string();
    iam.delete_policy_version().policy_arn(&arn).version_id(oldest).send().await.unwrap();
    iam.create_policy_version()
        .policy_arn(&arn)
        .policy_document(widened.to_string())
        .set_as_default(true)
        .send()
        .await
        .unwrap();
    let drift = h.engine.drift(&last).await.unwrap();
    let drifted: Vec<&Address> = drift.drifted.iter().map(|d| &d.address).collect();
    assert_eq!(drifted, [&Address::new("iam", "boundary")]);
    h.apply_converged(&last).await;

    // The role's boundary moves, then goes, in place.
    let moved = stack(&["s3:GetObject", "sqs:SendMessage"], Some("other"));
    assert_eq!(h.plan(&moved).await.change(&Address::new("iam", "role")).unwrap().action, Action::Update);
    let state = h.apply_converged(&moved).await;
    let role = iam.get_role().role_name(id_of(&state, "role")).send().await.unwrap();
    assert_eq!(
        role.role().unwrap().permissions_boundary().and_then(|b| b.permissions_boundary_arn()),
        Some(id_of(&state, "other").as_str())
    );
    let unbounded = stack(&["s3:GetObject", "sqs:SendMessage"], None);
    let plan = h.plan(&unbounded).await;
    let change = plan.change(&Address::new("iam", "role")).unwrap();
    assert!(
        change.widens_access.iter().any(|w| w.contains("loses its permissions boundary")),
        "{:?}",
        change.widens_access
    );
    let state = h.apply_converged(&unbounded).await;
    let role = iam.get_role().role_name(id_of(&state, "role")).send().await.unwrap();
    assert!(role.role().unwrap().permissions_boundary().is_none());

    h.destroy(&unbounded).await;
    assert!(iam.get_policy().policy_arn(&arn).send().await.is_err(), "the policy is gone, its versions first");
}

#[tokio::test]
async fn a_boundary_that_does_not_exist_is_refused_as_aws_refuses_it() {
    let h = Harness::new().await;
    let iam = aws_sdk_iam::Client::new(&h.config);
    let err = iam
        .create_role()
        .role_name("test-unbounded")
        .assume_role_policy_document(r#"{"Version":"2012-10-17","Statement":[]}"#)
        .permissions_boundary("arn:aws:iam::123456789012:policy/nothing-here")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.as_service_error().and_then(|e| aws_sdk_iam::error::ProvideErrorMetadata::code(e)),
        Some("NoSuchEntity")
    );
}
