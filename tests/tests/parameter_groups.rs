//! DB parameter groups against the emulator: created with their parameters, read back, a value
//! changed, one added and one reset in place, drift of a parameter set by hand, deleted.

use std::collections::BTreeMap;

use platform::model::{Env, Stack, StackSpec};
use platform::plan::Action;
use platform::resources::DbParameterGroup;
use platform::Address;
use platform_tests::{id_of, Harness};

fn stack(parameters: &[(&str, &str)], description: &str) -> StackSpec {
    let mut s = Stack::new("data", &Env::new("test").unwrap());
    let parameters: BTreeMap<String, String> = parameters.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    s.add("params", DbParameterGroup::new("postgres17", description, parameters));
    s.build().unwrap()
}

async fn user_parameters(h: &Harness, group: &str) -> BTreeMap<String, String> {
    let rds = aws_sdk_rds::Client::new(&h.config);
    let out = rds.describe_db_parameters().db_parameter_group_name(group).source("user").send().await.unwrap();
    out.parameters()
        .iter()
        .map(|p| (p.parameter_name().unwrap().to_string(), p.parameter_value().unwrap().to_string()))
        .collect()
}

#[tokio::test]
async fn parameters_are_set_changed_reset_and_drift_is_seen() {
    let h = Harness::new().await;
    let v1 = stack(&[("log_min_duration_statement", "500"), ("rds.force_ssl", "1")], "the cards database");
    let state = h.apply_converged(&v1).await;
    let group = id_of(&state, "params");
    assert_eq!(group, "test-data-params");
    assert_eq!(
        user_parameters(&h, &group).await,
        BTreeMap::from([("log_min_duration_statement".into(), "500".into()), ("rds.force_ssl".into(), "1".into())])
    );

    // A value changed, one added, one left out (reset to the engine's default): in place.
    let v2 = stack(&[("log_min_duration_statement", "1000"), ("log_statement", "ddl")], "the cards database");
    let plan = h.plan(&v2).await;
    assert_eq!(plan.change(&Address::new("data", "params")).unwrap().action, Action::Update);
    h.apply_converged(&v2).await;
    assert_eq!(
        user_parameters(&h, &group).await,
        BTreeMap::from([("log_min_duration_statement".into(), "1000".into()), ("log_statement".into(), "ddl".into())])
    );

    // A parameter set by hand is drift, named by its path.
    aws_sdk_rds::Client::new(&h.config)
        .modify_db_parameter_group()
        .db_parameter_group_name(&group)
        .parameters(
            aws_sdk_rds::types::Parameter::builder()
                .parameter_name("log_statement")
                .parameter_value("all")
                .apply_method(aws_sdk_rds::types::ApplyMethod::Immediate)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let drift = h.engine.drift(&v2).await.unwrap();
    let changes: Vec<&str> = drift.drifted.iter().flat_map(|d| &d.changes).map(|c| c.path.as_str()).collect();
    assert_eq!(changes, ["parameters.log_statement"]);
    h.apply_converged(&v2).await;

    // The description cannot change in place.
    let v3 = stack(&[("log_min_duration_statement", "1000"), ("log_statement", "ddl")], "the cards and more");
    let plan = h.plan(&v3).await;
    assert_eq!(plan.change(&Address::new("data", "params")).unwrap().action, Action::Replace);

    h.destroy(&v2).await;
    let rds = aws_sdk_rds::Client::new(&h.config);
    // AWS answers DBParameterGroupNotFound; the emulator an empty list.
    let gone = rds.describe_db_parameter_groups().db_parameter_group_name(&group).send().await;
    assert!(gone.map(|out| out.db_parameter_groups().is_empty()).unwrap_or(true), "deleted");
}
