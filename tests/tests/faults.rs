//! The card stacks applied through a proxy that fails 20% of the requests — throttling, 5xx,
//! connections dropped, and answers lost after the emulator acted (the case where a blind retry
//! of a create makes a duplicate). The apply converges, and the emulator holds exactly one
//! resource per address, none the state does not know.

// Tests report what they measured (nextest shows it in the CI log).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::BTreeMap;

use platform_tests::{FaultProxy, Harness};
use stacks::{foundation, Environments};

const RATE: f64 = 0.2;
const SEED: u64 = 20261130;

#[tokio::test]
async fn applying_through_a_20_percent_fault_rate_converges_without_duplicates() {
    // PLATFORM_FAULT_SEED explores other sequences of faults; the default is repeatable.
    let seed = std::env::var("PLATFORM_FAULT_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(SEED);
    let emulator = platform_tests::Emulator::start();
    let proxy = FaultProxy::start(&emulator, RATE, seed).await;
    let h = Harness::through_proxy(emulator, &proxy).await;
    let dev = Environments::builtin().get("dev").unwrap().clone();
    let foundation = foundation(&dev).unwrap();
    let mut specs = vec![stacks::account().unwrap().spec, foundation.pipeline.spec.clone(), foundation.spec.clone()];
    specs.extend(card_stacks::card_stacks(&dev, &foundation, "v1").unwrap());
    for spec in &specs {
        h.apply_converged(spec).await;
    }
    let stats = proxy.stats();

    // Every resource carrying a platform:address, straight from the emulator.
    let tagging = aws_sdk_resourcegroupstagging::Client::new(&h.config);
    let ecs = aws_sdk_ecs::Client::new(&h.config);
    let filter = aws_sdk_resourcegroupstagging::types::TagFilter::builder().key("platform:env").values("dev").build();
    let mut by_address: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut pages = tagging.get_resources().tag_filters(filter).into_paginator().send();
    while let Some(page) = pages.next().await {
        for mapping in page.unwrap().resource_tag_mapping_list() {
            let arn = mapping.resource_arn().unwrap().to_string();
            if arn.contains(":cluster/") {
                let c = ecs.describe_clusters().clusters(&arn).send().await.unwrap();
                if c.clusters()[0].status() != Some("ACTIVE") {
                    continue;
                }
            }
            // Task definition revisions: one per address is recorded; older ones are history. RDS
            // takes automated snapshots of a new database, tagged like it (copy_tags_to_snapshot).
            if arn.contains(":task-definition/") || arn.contains(":snapshot:") {
                continue;
            }
            let address = mapping.tags().iter().find(|t| t.key() == "platform:address").unwrap().value().to_string();
            by_address.entry(address).or_default().push(arn);
        }
    }
    let recorded: std::collections::BTreeSet<String> =
        specs.iter().flat_map(|s| h.state(s).resources.into_keys().map(|a| a.to_string())).collect();
    let duplicates: Vec<_> = by_address.iter().filter(|(_, arns)| arns.len() > 1).collect();
    let orphans: Vec<_> = by_address.keys().filter(|a| !recorded.contains(*a)).collect();
    println!(
        "fault rate {:.0}% (seed {seed}): {} requests, {} throttled, {} failed, {} dropped, {} answers lost; \
         {} resources checked; duplicates found: {}, orphans found: {}",
        RATE * 100.0,
        stats.requests,
        stats.throttled,
        stats.failed,
        stats.dropped,
        stats.lost,
        by_address.len(),
        duplicates.len(),
        orphans.len()
    );
    assert!(stats.lost > 0 && stats.dropped > 0 && stats.throttled > 0 && stats.failed > 0, "{stats:?}");
    assert!(duplicates.is_empty(), "duplicates: {duplicates:?}");
    assert!(orphans.is_empty(), "orphans: {orphans:?}");
}
