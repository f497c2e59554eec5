//! Secrets Manager secrets against the emulator: created without a value (the platform never
//! holds one), their description and tags changed in place, drift seen, deleted with a recovery
//! window and restored (with what they held) when the same address is applied again, deleted at
//! once where the window is 0, and a name another address holds refused with what to do.

use platform::model::{Env, Stack, StackSpec};
use platform::plan::Action;
use platform::resources::{Secret, Tags};
use platform::Address;
use platform_tests::{id_of, Harness};

fn stack(description: &str, recovery_window_days: u32, tags: &[(&str, &str)]) -> StackSpec {
    let mut s = Stack::new("deps", &Env::new("test").unwrap());
    s.add(
        "db-app-credentials",
        Secret {
            description: description.into(),
            recovery_window_days,
            tags: tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Tags>(),
        },
    );
    s.build().unwrap()
}

async fn described(
    secrets: &aws_sdk_secretsmanager::Client,
    id: &str,
) -> aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretOutput {
    secrets.describe_secret().secret_id(id).send().await.unwrap()
}

#[tokio::test]
async fn a_secret_is_declared_without_its_value_and_restored_after_a_destroy() {
    let h = Harness::new().await;
    let secrets = aws_sdk_secretsmanager::Client::new(&h.config);
    let address = Address::new("deps", "db-app-credentials");
    let v1 = stack("the application role", 30, &[]);
    let state = h.apply_converged(&v1).await;
    let arn = id_of(&state, "db-app-credentials");
    let secret = described(&secrets, &arn).await;
    assert_eq!(secret.name(), Some("test-deps-db-app-credentials"));
    assert!(secret.version_ids_to_stages().is_none_or(|v| v.is_empty()), "created without a value");
    let tags: Vec<(&str, &str)> =
        secret.tags().iter().map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default())).collect();
    assert!(tags.contains(&("platform:address", "deps.db-app-credentials")), "{tags:?}");

    // Description and tags change in place; a description changed by hand is drift.
    let v2 = stack("the application role's credentials", 30, &[("team", "cards")]);
    assert_eq!(h.plan(&v2).await.change(&address).unwrap().action, Action::Update);
    h.apply_converged(&v2).await;
    assert_eq!(described(&secrets, &arn).await.description(), Some("the application role's credentials"));
    secrets.update_secret().secret_id(&arn).description("edited by hand").send().await.unwrap();
    let drift = h.engine.drift(&v2).await.unwrap();
    assert_eq!(drift.drifted.iter().map(|d| &d.address).collect::<Vec<_>>(), [&address]);
    h.apply_converged(&v2).await;

    // What the migration task writes survives a destroy and a new apply within the window.
    secrets
        .put_secret_value()
        .secret_id(&arn)
        .secret_string(r#"{"username":"u","password":"p"}"#)
        .send()
        .await
        .unwrap();
    h.destroy(&v2).await;
    assert!(described(&secrets, &arn).await.deleted_date().is_some(), "scheduled for deletion, restorable");
    let again = secrets.create_secret().name("test-deps-db-app-credentials").send().await.unwrap_err();
    assert_eq!(
        aws_sdk_secretsmanager::error::ProvideErrorMetadata::code(&again),
        Some("InvalidRequestException"),
        "AWS keeps the name of a secret scheduled for deletion"
    );
    let state = h.apply_converged(&v2).await;
    assert_eq!(id_of(&state, "db-app-credentials"), arn, "the same secret, restored");
    let value = secrets.get_secret_value().secret_id(&arn).send().await.unwrap();
    assert_eq!(value.secret_string(), Some(r#"{"username":"u","password":"p"}"#));
    assert!(described(&secrets, &arn).await.deleted_date().is_none());

    // Deleted at once where the window is 0: the name is free again.
    let dev = stack("the application role's credentials", 0, &[("team", "cards")]);
    h.apply_converged(&dev).await;
    h.destroy(&dev).await;
    assert!(secrets.describe_secret().secret_id(&arn).send().await.is_err(), "gone at once");
    let state = h.apply_converged(&dev).await;
    assert_ne!(id_of(&state, "db-app-credentials"), arn, "a new secret");
    h.destroy(&dev).await;
}

#[tokio::test]
async fn a_secret_name_another_address_holds_is_refused_with_what_to_do() {
    let h = Harness::new().await;
    let secrets = aws_sdk_secretsmanager::Client::new(&h.config);
    let made = secrets.create_secret().name("test-deps-db-app-credentials").send().await.unwrap();
    secrets.delete_secret().secret_id(made.arn().unwrap()).recovery_window_in_days(7).send().await.unwrap();
    let spec = stack("the application role", 30, &[]);
    let prepared = h.engine.prepare(&spec, false, "apply").await.unwrap();
    let report = h.engine.apply(prepared, &|_| {}).await.unwrap();
    assert!(!report.is_success());
    let text = platform::render::report_text(&spec.name, &report);
    assert!(text.contains("restore-secret") && text.contains("did not create"), "{text}");
}

#[test]
fn secret_names_that_look_like_an_arn_suffix_are_refused_before_any_call() {
    let mut s = Stack::new("deps", &Env::new("test").unwrap());
    s.add("secret", Secret { description: "d".into(), recovery_window_days: 0, tags: Tags::new() });
    let err = s.build().unwrap_err().to_string();
    assert!(err.contains("ends with a hyphen and six characters"), "{err}");
}
