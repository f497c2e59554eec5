//! Benchmark 5 (BENCHMARKS.md): `apply --all` and `destroy --all` of the card stacks in prod
//! against the emulator behaving as AWS does (lifecycles that take time, rollouts, drains,
//! network interfaces that linger, eventual consistency), scaled: one AWS minute lasts
//! `--minute` seconds. Reports each wall time against the critical path of those durations
//! through the dependency graph of the three stacks, and whether it is within 1.2× of it.
//!
//!     cargo run --release -p platform-tests --example lifecycle-benchmark -- [--minute 2] [--sequential]
//!
//! `--sequential` applies (and destroys) the stacks one after the other instead, each waiting for
//! the whole previous one, for comparison.
//!
//! The critical path is the longest chain of the graph, each resource weighing what AWS takes to
//! make it (or, destroying, to delete it and release what it held): an RDS instance `creating`
//! then `backing-up`, a NAT gateway `pending`, a load balancer `provisioning`, an ECS service's
//! deployment; destroying, the service's drain then its tasks' network interfaces, a load
//! balancer's network interfaces, an RDS instance `deleting`, a NAT gateway `deleting`. Calls
//! themselves count as nothing: the ratio shows what the engine adds (polling, calls, ordering).

// Benchmarks report what they measured.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use platform::apply::ApplyOptions;
use platform::model::{Address, StackSpec};
use platform_tests::{AwsBehaviour, Emulator, Harness};

/// The lifecycle durations, in AWS minutes (the emulator harness's defaults, set explicitly so
/// the model below uses the same numbers).
const DURATIONS: &[(&str, f64)] = &[
    ("rds_creating", 6.0),
    ("rds_backing_up", 3.0),
    ("rds_deleting", 4.0),
    ("nat_pending", 2.0),
    ("nat_deleting", 1.0),
    ("lb_provisioning", 3.0),
    ("ecs_deployment", 3.0),
    ("ecs_draining", 2.0),
    ("eni_linger", 3.0),
    ("consistency", 0.5),
];

fn minutes(name: &str) -> f64 {
    DURATIONS.iter().find(|(n, _)| *n == name).map(|(_, m)| *m).unwrap_or(0.0)
}

/// What AWS takes to make a resource of `type_name`, in minutes.
fn create_weight(type_name: &str) -> f64 {
    match type_name {
        "aws.rds.db_instance" => minutes("rds_creating") + minutes("rds_backing_up"),
        "aws.ec2.nat_gateway" => minutes("nat_pending"),
        "aws.elbv2.load_balancer" => minutes("lb_provisioning"),
        "aws.ecs.service" => minutes("ecs_deployment"),
        _ => 0.0,
    }
}

/// What AWS takes to delete a resource of `type_name`, in minutes: until it is gone, and until
/// what it held (its network interfaces) is released.
fn delete_weights(type_name: &str) -> (f64, f64) {
    match type_name {
        "aws.rds.db_instance" => (minutes("rds_deleting"), minutes("rds_deleting")),
        "aws.ec2.nat_gateway" => (minutes("nat_deleting"), minutes("nat_deleting")),
        "aws.elbv2.load_balancer" => (minutes("eni_linger"), minutes("eni_linger")),
        // Gone once drained; its tasks' interfaces linger after that.
        "aws.ecs.service" => (minutes("ecs_draining"), minutes("ecs_draining") + minutes("eni_linger")),
        _ => (0.0, 0.0),
    }
}

/// The longest path through the stacks' dependency graph, in AWS minutes: applying, a resource
/// starts when everything it depends on is done; destroying, when everything that depends on it
/// is gone (and, for its subnets and security groups, has released its network interfaces).
fn critical_path(specs: &[StackSpec], destroy: bool) -> f64 {
    let resources: BTreeMap<&Address, &platform::model::ResourceSpec> =
        specs.iter().flat_map(|s| &s.resources).map(|r| (&r.address, r)).collect();
    let mut done: BTreeMap<Address, f64> = BTreeMap::new();
    fn finish(
        a: &Address,
        resources: &BTreeMap<&Address, &platform::model::ResourceSpec>,
        destroy: bool,
        done: &mut BTreeMap<Address, f64>,
    ) -> f64 {
        if let Some(t) = done.get(a) {
            return *t;
        }
        let r = resources[a];
        let t = if destroy {
            // Deleted once every resource depending on it is gone (and released it).
            // The internet gateway is detached only once no public address is mapped in the
            // VPC: the load balancers' and NAT gateways' interfaces are released.
            let public = |d: &platform::model::ResourceSpec| {
                r.type_name == "aws.ec2.internet_gateway"
                    && matches!(d.type_name.as_str(), "aws.elbv2.load_balancer" | "aws.ec2.nat_gateway")
            };
            let start = resources
                .values()
                .filter(|d| d.dependencies.contains(a) || public(d))
                .map(|d| {
                    let gone = finish(&d.address, resources, destroy, done);
                    let (deleted, released) = delete_weights(&d.type_name);
                    let holds =
                        matches!(r.type_name.as_str(), "aws.ec2.subnet" | "aws.ec2.security_group") || public(d);
                    if holds {
                        gone - deleted + released
                    } else {
                        gone
                    }
                })
                .fold(0.0, f64::max);
            start + delete_weights(&r.type_name).0
        } else {
            let start = r
                .dependencies
                .iter()
                .filter(|d| resources.contains_key(d))
                .map(|d| finish(d, resources, destroy, done))
                .fold(0.0, f64::max);
            start + create_weight(&r.type_name)
        };
        done.insert(a.clone(), t);
        t
    }
    resources.keys().map(|a| finish(a, &resources, destroy, &mut done)).fold(0.0, f64::max)
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

#[tokio::main]
async fn main() {
    let minute: f64 = arg("--minute").and_then(|m| m.parse().ok()).unwrap_or(2.0);
    let sequential = std::env::args().any(|a| a == "--sequential");
    let mut behaviour = AwsBehaviour::strict().minute(minute);
    for (name, m) in DURATIONS {
        behaviour = behaviour.duration(name, *m);
    }
    let h = Harness::on(Emulator::start_with(behaviour)).await;
    let environment = stacks::Environments::builtin().get("prod").unwrap().clone();
    // The pipeline stack (the roles' permissions boundary) is an administrator's, applied before.
    h.bootstrap(&environment).await;
    let foundation = stacks::foundation(&environment).unwrap();
    let mut specs = vec![foundation.spec.clone()];
    specs.extend(card_stacks::card_stacks(&environment, &foundation, "v1").unwrap());

    let mut rows = vec![];
    for destroy in [false, true] {
        let options = if destroy {
            let all: BTreeSet<Address> =
                specs.iter().flat_map(|s| s.resources.iter().map(|r| r.address.clone())).collect();
            ApplyOptions { allow_destroy: all, ..ApplyOptions::default() }
        } else {
            ApplyOptions::default()
        };
        let engine = h.engine_with(options);
        let started = Instant::now();
        let operation = if destroy { "destroy" } else { "apply" };
        let results = if sequential {
            let mut results = vec![];
            let mut order: Vec<&StackSpec> = specs.iter().collect();
            if destroy {
                order.reverse();
            }
            for spec in order {
                let prepared = engine.prepare(spec, destroy, operation).await.unwrap();
                results.push((spec.name.clone(), engine.apply(prepared, &|_| {}).await));
            }
            results
        } else {
            let run = engine.prepare_run(&specs, destroy, operation).await.unwrap();
            engine.apply_run(run, &|_, _| {}).await.unwrap()
        };
        let wall = started.elapsed();
        for (name, report) in results {
            let report = report.unwrap();
            assert!(report.is_success(), "{operation} {name}:\n{}", platform::render::report_text(&name, &report));
        }
        let path = Duration::from_secs_f64(critical_path(&specs, destroy) * minute);
        rows.push((operation, wall, path));
    }
    println!(
        "Card stacks in prod, one AWS minute = {minute} s ({} resources):",
        specs.iter().map(|s| s.resources.len()).sum::<usize>()
    );
    println!("| run | wall time | critical path | ratio | target (1.2×) |");
    println!("|---|---|---|---|---|");
    for (operation, wall, path) in rows {
        let ratio = wall.as_secs_f64() / path.as_secs_f64();
        let verdict = if ratio <= 1.2 { "met".to_string() } else { format!("missed by {:.0}%", (ratio - 1.2) * 100.0) };
        println!(
            "| {operation} --all | {:.1} s | {:.1} s | {ratio:.2}× | {verdict} |",
            wall.as_secs_f64(),
            path.as_secs_f64()
        );
    }
}
