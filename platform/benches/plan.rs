//! Engine CPU and memory: building, checking and planning a stack of 10,000 resources held in
//! memory (a VPC, subnets, security groups referencing each other, log groups), against a state
//! in which all of them are already applied — the no-change plan a user runs most often.
//!
//! `cargo bench -p platform --bench plan` (BENCHMARKS.md). The peak heap of one plan is measured
//! by a counting allocator and printed before the timings.

// The benchmark reports what it measured; its allocator counts the heap it uses (the one unsafe
// code of the workspace, delegating to the system allocator).
#![allow(clippy::print_stdout, clippy::print_stderr, unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use criterion::{criterion_group, criterion_main, Criterion};
use platform::model::{Env, Stack, StackSpec};
use platform::plan::{plan, Upstream};
use platform::resources::ec2::AzIndex;
use platform::resources::{LogGroup, Peer, Rule, SecurityGroup, Subnet, Tags, Vpc};
use platform::state::{ResourceState, StackState};
use serde_json::Value;

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = CURRENT.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(now, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const SUBNETS: usize = 3_000;
const GROUPS: usize = 3_000;
const LOG_GROUPS: usize = 3_999;

fn stack() -> StackSpec {
    let mut s = Stack::new("big", &Env::new("bench").unwrap());
    let vpc = s.add("vpc", Vpc::new("10.0.0.0/16"));
    for i in 0..SUBNETS {
        let cidr = format!("10.0.{}.{}/28", i / 16, (i % 16) * 16);
        s.add(&format!("subnet-{i}"), Subnet::new(vpc.id(), cidr, AzIndex((i % 3) as u8)));
    }
    let mut previous: Option<platform::Handle<SecurityGroup>> = None;
    for i in 0..GROUPS {
        let mut ingress = vec![Rule::tcp(443, Peer::CidrIpv4("10.0.0.0/16".into()), "from the VPC")];
        if let Some(previous) = &previous {
            ingress.push(Rule::tcp(8080, Peer::SecurityGroup(previous.id()), "chained"));
        }
        let group = s.add(
            &format!("group-{i}"),
            SecurityGroup {
                vpc: vpc.id(),
                description: format!("group {i}"),
                ingress,
                egress: vec![],
                tags: Tags::new(),
            },
        );
        previous = Some(group);
    }
    for i in 0..LOG_GROUPS {
        s.add(&format!("logs-{i}"), LogGroup::new(30));
    }
    s.build().expect("the synthetic stack is valid")
}

/// `value` with every reference replaced by the referenced resource's recorded output.
fn resolve(value: &Value, outputs: &BTreeMap<String, BTreeMap<String, Value>>) -> Value {
    match value {
        Value::Object(m) if m.contains_key("$ref") => {
            outputs[m["$ref"].as_str().unwrap()][m["attr"].as_str().unwrap()].clone()
        }
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), resolve(v, outputs))).collect()),
        Value::Array(items) => Value::Array(items.iter().map(|v| resolve(v, outputs)).collect()),
        other => other.clone(),
    }
}

/// The state after applying `spec`: every resource recorded with its resolved props.
fn applied(spec: &StackSpec) -> StackState {
    let mut state = StackState::new(&spec.name, &spec.env);
    let mut outputs: BTreeMap<String, BTreeMap<String, Value>> = BTreeMap::new();
    for (i, r) in spec.resources.iter().enumerate() {
        let id = format!("id-{i:08}");
        let own = BTreeMap::from([
            ("id".to_string(), Value::String(id.clone())),
            ("arn".to_string(), Value::String(format!("arn:aws:test:::{id}"))),
            ("name".to_string(), Value::String(r.name.clone().unwrap_or_default())),
        ]);
        outputs.insert(r.address.to_string(), own.clone());
        state.resources.insert(
            r.address.clone(),
            ResourceState {
                type_name: r.type_name.clone(),
                physical_id: id,
                name: r.name.clone(),
                props: resolve(&r.props, &outputs),
                outputs: own,
                dependencies: r.dependencies.clone(),
                tainted: false,
                protected: false,
                awaiting: false,
            },
        );
    }
    state
}

/// `met`, or by how much `value` misses `limit`.
fn verdict(value: f64, limit: f64, unit: &str) -> String {
    if value < limit {
        "met".to_string()
    } else {
        format!("missed by {:.1} {unit}", value - limit)
    }
}

fn benches(c: &mut Criterion) {
    let spec = stack();
    let state = applied(&spec);
    let upstream = Upstream::default();
    let before = CURRENT.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let once = plan(&spec, &state, &[], &upstream).unwrap();
    assert!(!once.has_changes(), "the synthetic state is as applied");
    let peak = PEAK.load(Ordering::Relaxed) - before;
    println!(
        "plan of {} resources: no changes; peak heap during the plan {:.1} MB (the stack and state themselves: {:.1} MB)",
        spec.resources.len(),
        peak as f64 / 1e6,
        before as f64 / 1e6
    );
    // The targets, checked here on the median of a few plans (criterion's estimate follows).
    let mut times: Vec<std::time::Duration> = (0..9)
        .map(|_| {
            let started = std::time::Instant::now();
            plan(&spec, &state, &[], &upstream).unwrap();
            started.elapsed()
        })
        .collect();
    times.sort();
    let median = times[times.len() / 2].as_secs_f64() * 1e3;
    let total = (before + peak) as f64 / 1e6;
    println!("target: plan under 200 ms: {median:.0} ms, {}", verdict(median, 200.0, "ms"));
    println!("target: under 200 MB peak: {total:.1} MB, {}", verdict(total, 200.0, "MB"));
    let rules = platform::policy::RuleSet::builtin();
    let mut group = c.benchmark_group("10k resources");
    group.sample_size(20);
    group.bench_function("no-change plan", |b| b.iter(|| plan(&spec, &state, &[], &upstream).unwrap()));
    group.bench_function("build the stack", |b| b.iter(stack));
    group.bench_function("guardrail check", |b| b.iter(|| platform::policy::check(&[&spec], &[], &rules)));
    group.finish();
}

criterion_group!(plan_benches, benches);
criterion_main!(plan_benches);
