//! Benchmarks 1 and 2 (BENCHMARKS.md): synthetic stacks of 100, 500 and 1,000 resources (subnets,
//! security groups with rules, grants, log groups, IAM roles with policies) applied to the
//! emulator with a fixed latency added to every call, then planned without change.
//!
//! Reports, per size: the no-change plan's calls and wall time, and what a one-call-per-resource
//! refresh at parallelism 10 would take at the same latency; the apply's calls, state writes, wall
//! time and the critical path of the dependency graph (its longest chain times the per-call
//! latency); for both, the CPU time spent by the engine (this process) and by the emulator.
//!
//!     cargo run --release -p platform-tests --example refresh-benchmark -- [--sizes 100,500,1000]
//!         [--latency-ms 50] [--parallelism 10]

// Tests report what they measured (nextest shows it in the CI log).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use platform::apply::ApplyOptions;
use platform::model::{Address, Env, Stack, StackSpec};
use platform::resources::ec2::{AzIndex, Peer, Protocol, Rule, SecurityGroupGrant};
use platform::resources::{LogGroup, SecurityGroup, Subnet, Tags, Vpc};
use platform_tests::{log_writer_role, process_cpu_time, Emulator, Harness};

/// A stack of about `size` resources: a VPC and, per group of ten, two subnets, two security
/// groups with rules, two grants into them, two log groups and two roles writing to them.
fn synthetic(size: usize) -> StackSpec {
    let mut s = Stack::new("synthetic", &Env::new("bench").unwrap());
    let vpc = s.add("vpc", Vpc::new("10.80.0.0/16"));
    for g in 0..size / 10 {
        for k in 0..2 {
            let i = g * 2 + k;
            s.add(
                &format!("subnet-{i}"),
                Subnet::new(vpc.id(), format!("10.80.{}.{}/25", i / 2, (i % 2) * 128), AzIndex((i % 3) as u8)),
            );
            let group = s.add(
                &format!("group-{i}"),
                SecurityGroup {
                    vpc: vpc.id(),
                    description: format!("group {i}"),
                    ingress: vec![Rule::tcp(
                        443,
                        Peer::CidrIpv4(platform::Ref::literal("10.80.0.0/16")),
                        "from the VPC",
                    )],
                    egress: vec![Rule::tcp(443, Peer::CidrIpv4(platform::Ref::literal("10.80.0.0/16")), "to the VPC")],
                    tags: Tags::new(),
                },
            );
            s.add(
                &format!("grant-{i}"),
                SecurityGroupGrant {
                    group: group.id(),
                    protocol: Protocol::Tcp,
                    from_port: 8080,
                    to_port: 8080,
                    peer: Peer::CidrIpv4(platform::Ref::literal(format!("10.81.{}.0/24", i % 250))),
                },
            );
            let logs = s.add(&format!("logs-{i}"), LogGroup::new(30));
            s.add(
                &format!("role-{i}"),
                log_writer_role(&logs, &["logs:CreateLogStream", "logs:PutLogEvents"], ":log-stream:*", Tags::new()),
            );
        }
    }
    s.build().expect("the synthetic stack is valid")
}

/// The number of resources on the longest dependency chain.
fn longest_chain(spec: &StackSpec) -> usize {
    fn depth(a: &Address, deps: &HashMap<&Address, Vec<&Address>>, memo: &mut HashMap<Address, usize>) -> usize {
        if let Some(d) = memo.get(a) {
            return *d;
        }
        let d = 1 + deps.get(a).into_iter().flatten().map(|b| depth(b, deps, memo)).max().unwrap_or(0);
        memo.insert(a.clone(), d);
        d
    }
    let deps: HashMap<&Address, Vec<&Address>> =
        spec.resources.iter().map(|r| (&r.address, r.dependencies.iter().collect())).collect();
    let mut memo = HashMap::new();
    spec.resources.iter().map(|r| depth(&r.address, &deps, &mut memo)).max().unwrap_or(0)
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

#[tokio::main]
async fn main() {
    let sizes: Vec<usize> = arg("--sizes")
        .unwrap_or_else(|| "100,500,1000".into())
        .split(',')
        .map(|s| s.trim().parse().expect("--sizes takes numbers"))
        .collect();
    let latency_ms: u64 = arg("--latency-ms").map(|s| s.parse().expect("--latency-ms takes a number")).unwrap_or(50);
    let parallelism: usize =
        arg("--parallelism").map(|s| s.parse().expect("--parallelism takes a number")).unwrap_or(10);
    let latency = Duration::from_millis(latency_ms);
    println!("latency {latency_ms} ms per call, apply parallelism {parallelism}");
    let mut applies = vec![];
    let mut plans = vec![];
    let mut targets = vec![];
    for size in sizes {
        let spec = synthetic(size);
        let resources = spec.resources.len();
        let h = Harness::on(Emulator::start_with_latency(latency_ms)).await;
        let engine = h.engine_with(ApplyOptions { parallelism, ..ApplyOptions::default() });
        // Each phase: calls, wall time, and the CPU time of each side (this process is the engine).
        let measure =
            || (h.emulator.requests(), Instant::now(), process_cpu_time(std::process::id()), h.emulator.cpu_time());
        let since = |(calls, started, cpu, emulator_cpu): (usize, Instant, Duration, Duration)| {
            (
                h.emulator.requests() - calls,
                started.elapsed(),
                process_cpu_time(std::process::id()).saturating_sub(cpu),
                h.emulator.cpu_time().saturating_sub(emulator_cpu),
            )
        };

        let start = measure();
        let prepared = engine.prepare(&spec, false, "apply").await.expect("plan");
        let report = engine.apply(prepared, &|_| {}).await.expect("apply");
        let (calls, wall, cpu, emulator_cpu) = since(start);
        assert!(report.is_success(), "{}", platform::render::report_text("synthetic", &report));
        let chain = longest_chain(&spec);
        let critical = latency * chain as u32;
        let work = latency * calls.div_ceil(parallelism) as u32;
        let apply = (resources, calls, wall, chain, critical, work, cpu, emulator_cpu);

        let start = measure();
        let plan = engine.prepare(&spec, false, "plan").await.expect("plan").into_plan().await.expect("release");
        let (calls, wall, cpu, emulator_cpu) = since(start);
        assert!(!plan.has_changes(), "{}", platform::render::plan_text(&plan));
        let naive = latency * resources.div_ceil(10) as u32;
        if resources >= 1000 {
            let over = |value: f64, limit: f64, unit: &str| {
                if value < limit {
                    "met".to_string()
                } else {
                    format!("missed by {:.2} {unit}", value - limit)
                }
            };
            let (apply_wall, apply_critical) = (apply.2.as_secs_f64(), apply.4.as_secs_f64());
            targets.push(format!(
                "target ({resources} resources): no-change plan in fewer than 100 calls: {calls}, {}",
                over(calls as f64, 100.0, "calls")
            ));
            targets.push(format!(
                "target ({resources} resources): no-change plan under 2 s: {:.2} s, {}",
                wall.as_secs_f64(),
                over(wall.as_secs_f64(), 2.0, "s")
            ));
            targets.push(format!(
                "target ({resources} resources): apply within 1.2× the critical path ({:.2} s): {apply_wall:.2} s, {}",
                apply_critical,
                over(apply_wall, 1.2 * apply_critical, "s")
            ));
        }
        plans.push(format!(
            "| {resources} | {calls} | {} | {} | {} | {} | {:.1}× |",
            secs(wall),
            secs(cpu),
            secs(emulator_cpu),
            secs(naive),
            naive.as_secs_f64() / wall.as_secs_f64(),
        ));

        // The state started empty, so its serial is the number of writes the apply made.
        let (resources, calls, wall, chain, critical, work, cpu, emulator_cpu) = apply;
        applies.push(format!(
            "| {resources} | {calls} | {} | {} | {chain} | {} | {:.1}× | {} | {} | {} |",
            plan.serial,
            secs(wall),
            secs(critical),
            wall.as_secs_f64() / critical.as_secs_f64(),
            secs(work),
            secs(cpu),
            secs(emulator_cpu),
        ));
    }
    println!("\nNo-change plan\n");
    println!(
        "| resources | calls | wall | engine CPU | emulator CPU | one call per resource at parallelism 10 | speed-up |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    plans.iter().for_each(|row| println!("{row}"));
    println!("\nApply\n");
    println!("| resources | calls | state writes | wall | longest chain | critical path | wall / critical path | calls × latency / parallelism | engine CPU | emulator CPU |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    applies.iter().for_each(|row| println!("{row}"));
    println!();
    targets.iter().for_each(|line| println!("{line}"));
}
