//! `platform apply` killed (SIGKILL) at many points of a run: after each kill a new apply
//! converges, the emulator holds exactly one resource per address and none the state does not
//! know (checked by tag and by name), and a plan afterwards is a no-op.

// Tests report what they measured (nextest shows it in the CI log).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use platform::model::Env;
use platform::state::local::LocalBackend;
use platform_tests::Emulator;

const KILL_POINTS: usize = 24;

fn platform(dir: &Path, emulator: &Emulator, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_platform"));
    cmd.current_dir(dir).args(args).env_remove("AWS_PROFILE").env_remove("PLATFORM_STATE").envs(emulator.env());
    cmd
}

fn apply(dir: &Path, emulator: &Emulator) -> Command {
    platform(dir, emulator, &["apply", "--stack", "foundation", "--env", "dev", "--yes"])
}

/// Starts an apply and kills it once the emulator has answered `after` more requests.
fn apply_killed_after(dir: &Path, emulator: &Emulator, after: usize) -> bool {
    let start = emulator.requests();
    let mut child = apply(dir, emulator).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "the apply failed before it was killed");
            return false;
        }
        if emulator.requests() - start >= after {
            child.kill().unwrap();
            child.wait().unwrap();
            return true;
        }
        assert!(Instant::now() < deadline, "the apply did not reach {after} requests");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Every live resource the emulator holds for the foundation in dev, by `platform:address`, with
/// its ids; plus the named resources the tagging API does not list.
async fn live(emulator: &Emulator) -> BTreeMap<String, Vec<String>> {
    let config = emulator.sdk_config().await;
    let tagging = aws_sdk_resourcegroupstagging::Client::new(&config);
    let ecs = aws_sdk_ecs::Client::new(&config);
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let filter = |k: &str, v: &str| aws_sdk_resourcegroupstagging::types::TagFilter::builder().key(k).values(v).build();
    let mut found: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut pages = tagging
        .get_resources()
        .tag_filters(filter("platform:stack", "foundation"))
        .tag_filters(filter("platform:env", "dev"))
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        for mapping in page.unwrap().resource_tag_mapping_list() {
            let arn = mapping.resource_arn().unwrap().to_string();
            // Deleted clusters and NAT gateways stay listed for a while: they are gone.
            if arn.contains(":cluster/") {
                let clusters = ecs.describe_clusters().clusters(&arn).send().await.unwrap();
                if clusters.clusters()[0].status() != Some("ACTIVE") {
                    continue;
                }
            }
            if let Some(id) = arn.split("natgateway/").nth(1) {
                let nats = ec2.describe_nat_gateways().nat_gateway_ids(id).send().await.unwrap();
                if nats.nat_gateways()[0].state().map(|s| s.as_str()) == Some("deleted") {
                    continue;
                }
            }
            let address = mapping.tags().iter().find(|t| t.key() == "platform:address").unwrap().value().to_string();
            found.entry(address).or_default().push(arn);
        }
    }
    // Not listed by the tagging API: repositories and namespaces, by name.
    let ecr = aws_sdk_ecr::Client::new(&config);
    for repo in ecr.describe_repositories().send().await.unwrap().repositories() {
        found.entry(format!("repository {}", repo.repository_name().unwrap())).or_default().push("ecr".into());
    }
    let sd = aws_sdk_servicediscovery::Client::new(&config);
    for ns in sd.list_namespaces().send().await.unwrap().namespaces() {
        found.entry(format!("namespace {}", ns.name().unwrap())).or_default().push(ns.id().unwrap().to_string());
    }
    found
}

#[tokio::test]
async fn an_apply_killed_at_any_point_converges_without_duplicates_or_orphans() {
    // How many requests a whole apply makes.
    let full = {
        let emulator = Emulator::start();
        let dir = tempfile::tempdir().unwrap();
        let out = apply(dir.path(), &emulator).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        emulator.requests()
    };
    let env = Env::new("dev").unwrap();
    let mut duplicates = 0;
    let mut orphans = 0;
    let mut killed = 0;
    for point in 1..=KILL_POINTS {
        let after = point * full / (KILL_POINTS + 1);
        let emulator = Emulator::start();
        let dir = tempfile::tempdir().unwrap();
        if apply_killed_after(dir.path(), &emulator, after) {
            killed += 1;
        }
        let backend = LocalBackend::new(dir.path().join(".platform/state"));
        let pending = backend.read_file("foundation", &env).unwrap().map(|s| s.pending.len()).unwrap_or(0);

        let out = apply(dir.path(), &emulator).output().unwrap();
        assert!(
            out.status.success(),
            "kill point {point} (request {after}): the next apply failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let plan = platform(dir.path(), &emulator, &["plan", "--stack", "foundation", "--detailed-exitcode"])
            .output()
            .unwrap();
        assert_eq!(
            plan.status.code(),
            Some(0),
            "kill point {point}: a plan after the apply is not a no-op:\n{}",
            String::from_utf8_lossy(&plan.stdout)
        );

        let state = backend.read_file("foundation", &env).unwrap().unwrap();
        assert!(state.pending.is_empty());
        let recorded: BTreeSet<String> = state.resources.keys().map(|a| a.to_string()).collect();
        let live = live(&emulator).await;
        for (address, ids) in &live {
            if let Some(name) = address.strip_prefix("repository ") {
                let known = state.resources.values().any(|r| r.physical_id == name);
                orphans += usize::from(!known);
                continue;
            }
            if address.starts_with("namespace ") {
                let known = ids.iter().all(|id| state.resources.values().any(|r| &r.physical_id == id));
                orphans += usize::from(!known);
                continue;
            }
            if ids.len() > 1 {
                duplicates += ids.len() - 1;
                eprintln!("kill point {point}: {address} exists {} times: {ids:?}", ids.len());
            }
            if !recorded.contains(address) {
                orphans += 1;
                eprintln!("kill point {point}: {address} ({ids:?}) is not in the state");
            }
        }
        println!(
            "kill point {point:>2}: killed after {after:>3} of {full} requests, {pending} operations left pending; converged"
        );
    }
    println!(
        "crash test: {KILL_POINTS} kill points ({killed} runs killed before they finished), duplicates found: {duplicates}, orphans found: {orphans}"
    );
    assert!(killed >= 20, "only {killed} runs were killed before finishing");
    assert_eq!((duplicates, orphans), (0, 0));
}

fn interrupt(pid: u32) {
    let status = Command::new("kill").args(["-INT", &pid.to_string()]).status().unwrap();
    assert!(status.success());
}

/// Starts an apply of the foundation and waits until the emulator has answered `after` requests.
fn apply_running(dir: &Path, emulator: &Emulator, after: usize) -> std::process::Child {
    let start = emulator.requests();
    let child = apply(dir, emulator).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while emulator.requests() - start < after {
        assert!(Instant::now() < deadline, "the apply did not reach {after} requests");
        std::thread::sleep(Duration::from_millis(2));
    }
    child
}

#[tokio::test]
async fn ctrl_c_lets_operations_in_flight_finish_saves_and_unlocks_and_twice_aborts() {
    // Every call takes 200 ms, so operations are in flight when the interrupt comes.
    let emulator = Emulator::start_with_latency(200);
    let dir = tempfile::tempdir().unwrap();
    let env = Env::new("dev").unwrap();
    let backend = LocalBackend::new(dir.path().join(".platform/state"));

    let child = apply_running(dir.path(), &emulator, 3);
    interrupt(child.id());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("Stopping: no new operation is started"), "{stderr}");
    assert!(stderr.contains("Interrupted: stack `foundation` was saved with what was done;"), "{stderr}");
    assert!(stdout.contains("not started (interrupted)"), "{stdout}");
    // What was in flight finished and was recorded; the lock is free.
    let state = backend.read_file("foundation", &env).unwrap().unwrap();
    assert!(state.pending.is_empty(), "in-flight operations were recorded: {:?}", state.pending);
    assert!(!state.resources.is_empty(), "what was done is in the state");
    println!("after one Ctrl-C: {} resources recorded, none pending", state.resources.len());

    // Twice: abort at once; the intents left behind are resolved by the next run.
    let child = apply_running(dir.path(), &emulator, 3);
    interrupt(child.id());
    std::thread::sleep(Duration::from_millis(50));
    interrupt(child.id());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("Aborted."), "{stderr}");

    let out = apply(dir.path(), &emulator).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let plan =
        platform(dir.path(), &emulator, &["plan", "--stack", "foundation", "--detailed-exitcode"]).output().unwrap();
    assert_eq!(plan.status.code(), Some(0), "{}", String::from_utf8_lossy(&plan.stdout));
    let live = live(&emulator).await;
    let duplicated: Vec<_> = live.iter().filter(|(a, ids)| !a.contains(' ') && ids.len() > 1).collect();
    assert!(duplicated.is_empty(), "{duplicated:?}");
}
