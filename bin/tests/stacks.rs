//! Every shipped stack in every environment, as a reviewable snapshot: its desired state (the
//! spec, references as markers) and its plan from an empty state. A change to a stack, an
//! environment or a resource type shows here as a diff to review (`cargo insta review`).

use std::collections::{BTreeMap, BTreeSet};

use platform::plan::{self, Upstream};
use platform::render;
use platform::state::StackState;
use platform_cli::catalog;

fn snapshot(env: &str) {
    let environment = stacks::Environments::builtin().get(env).unwrap().clone();
    let specs = catalog::build(&environment, "v1").unwrap();
    let mut earlier = BTreeSet::new();
    for spec in &specs {
        insta::assert_json_snapshot!(format!("{}-{env}-spec", spec.name), spec);
        // The stacks it uses are applied in the same run: their outputs are known after apply.
        let upstream = Upstream { outputs: BTreeMap::new(), pending: earlier.clone(), account: BTreeMap::new() }
            .with_identity(&platform::plan::Identity {
                account: "111111111111".into(),
                partition: "aws".into(),
                principal: "arn:aws:iam::111111111111:role/deployer".into(),
                region: "us-east-1".into(),
            });
        let planned = plan::plan(spec, &StackState::new(&spec.name, &spec.env), &[], &upstream).unwrap();
        insta::assert_snapshot!(format!("{}-{env}-plan", spec.name), render::plan_text(&planned));
        earlier.insert(spec.name.clone());
    }
}

#[test]
fn every_stack_in_dev() {
    snapshot("dev");
}

#[test]
fn every_stack_in_staging() {
    snapshot("staging");
}

#[test]
fn every_stack_in_prod() {
    snapshot("prod");
}
