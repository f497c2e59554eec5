//! Concurrency is limited per AWS service as well as overall: with the engine allowed eight
//! operations at once, IAM never sees more requests in flight than its limit. The emulator answers
//! each request 100 ms late, as a region would, so unlimited operations do overlap (checked too).

// Tests report what they measured (nextest shows it in the CI log).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::BTreeMap;

use platform::apply::ApplyOptions;
use platform::model::{Env, Stack};
use platform::provider::aws::ServiceLimits;
use platform::resources::{LogGroup, Tags};
use platform_tests::{log_writer_role, Emulator, Harness};

fn roles_and_logs(name: &str) -> platform::StackSpec {
    let mut s = Stack::new(name, &Env::new("test").unwrap());
    for i in 0..8 {
        let logs = s.add(&format!("logs-{i}"), LogGroup::new(30));
        s.add(&format!("role-{i}"), log_writer_role(&logs, &["logs:PutLogEvents"], ":*", Tags::new()));
    }
    s.build().unwrap()
}

#[tokio::test]
async fn operations_of_one_service_stay_within_its_limit() {
    let mut h = Harness::on(Emulator::start_with_latency(100)).await;
    let options = ApplyOptions { parallelism: 8, ..ApplyOptions::default() };
    let limits = ServiceLimits(BTreeMap::from([("iam", 2), ("logs", 8)]));
    let recorder = h.record_calls_with(limits, options.clone());
    h.apply_converged(&roles_and_logs("limited")).await;
    let (iam, logs) = (recorder.max_in_flight("iam"), recorder.max_in_flight("logs"));
    println!("most requests in flight at once: iam {iam} (limit 2), logs {logs} (limit 8)");
    assert!((1..=2).contains(&iam), "IAM saw {iam} requests at once, over its limit of 2");
    assert!(logs > 2, "the log groups ran side by side ({logs} at most): the measure works");

    let limits = ServiceLimits(BTreeMap::from([("iam", 8)]));
    let recorder = h.record_calls_with(limits, options);
    h.apply_converged(&roles_and_logs("unlimited")).await;
    let iam = recorder.max_in_flight("iam");
    println!("without a tight limit: iam {iam}");
    assert!(iam > 2, "with a limit of 8, IAM requests overlap ({iam} at most)");
}
