//! Route 53 records in a public zone found by its name: create, read back, no change planned,
//! an update in place, drift made by hand, a record someone else made left alone, a zone the
//! account lacks explained, destroy.

use platform::model::{Env, Ref, Stack, StackSpec};
use platform::plan::Action;
use platform::resources::{Record, RecordTarget};
use platform::Address;
use platform_tests::{id_of, Harness};

fn record(zone: &str, name: &str, value: &str) -> StackSpec {
    record_in("dns", zone, name, value)
}

fn record_in(stack: &str, zone: &str, name: &str, value: &str) -> StackSpec {
    let mut s = Stack::new(stack, &Env::new("test").unwrap());
    s.add(
        "www",
        Record {
            zone: zone.into(),
            name: Ref::existing(name),
            record_type: "CNAME".into(),
            target: RecordTarget::Values { ttl_seconds: 300, values: vec![Ref::existing(value)] },
        },
    );
    s.build().unwrap()
}

async fn answer(route53: &aws_sdk_route53::Client, zone: &str, name: &str) -> Option<String> {
    let out = route53.list_resource_record_sets().hosted_zone_id(zone).send().await.unwrap();
    out.resource_record_sets()
        .iter()
        .find(|r| r.name().trim_end_matches('.') == name && r.r#type().as_str() == "CNAME")
        .map(|r| r.resource_records()[0].value().trim_end_matches('.').to_string())
}

async fn upsert(route53: &aws_sdk_route53::Client, zone: &str, name: &str, value: &str) {
    use aws_sdk_route53::types::{Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType};
    let set = ResourceRecordSet::builder()
        .name(name)
        .r#type(RrType::Cname)
        .ttl(60)
        .resource_records(ResourceRecord::builder().value(value).build().unwrap())
        .build()
        .unwrap();
    let change = Change::builder().action(ChangeAction::Upsert).resource_record_set(set).build().unwrap();
    route53
        .change_resource_record_sets()
        .hosted_zone_id(zone)
        .change_batch(ChangeBatch::builder().changes(change).build().unwrap())
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn a_record_is_created_updated_kept_from_drift_and_deleted_and_never_takes_anothers() {
    let h = Harness::new().await;
    let zone = h.public_zone("svc.example").await;
    let route53 = aws_sdk_route53::Client::new(&h.config);

    let state = h.apply_converged(&record("svc.example", "www.svc.example", "a.example.org")).await;
    assert_eq!(id_of(&state, "www"), format!("{zone}_www.svc.example_CNAME"));
    assert_eq!(answer(&route53, &zone, "www.svc.example").await.as_deref(), Some("a.example.org"));

    // Another value: an update in place (UPSERT).
    let changed = record("svc.example", "www.svc.example", "b.example.org");
    let plan = h.plan(&changed).await;
    assert_eq!(plan.change(&Address::new("dns", "www")).unwrap().action, Action::Update);
    h.apply_converged(&changed).await;
    assert_eq!(answer(&route53, &zone, "www.svc.example").await.as_deref(), Some("b.example.org"));

    // Changed by hand: the plan shows it, the apply restores it.
    upsert(&route53, &zone, "www.svc.example", "elsewhere.example.net").await;
    let plan = h.plan(&changed).await;
    assert_eq!(plan.change(&Address::new("dns", "www")).unwrap().action, Action::Update);
    h.apply_converged(&changed).await;
    assert_eq!(answer(&route53, &zone, "www.svc.example").await.as_deref(), Some("b.example.org"));

    // A name someone else answers: refused, with what to do, and their record left as it was.
    upsert(&route53, &zone, "taken.svc.example", "theirs.example.net").await;
    let mut s = Stack::new("other", &Env::new("test").unwrap());
    s.add(
        "taken",
        Record {
            zone: "svc.example".into(),
            name: Ref::existing("taken.svc.example"),
            record_type: "CNAME".into(),
            target: RecordTarget::Values { ttl_seconds: 300, values: vec![Ref::existing("mine.example.org")] },
        },
    );
    let taken = s.build().unwrap();
    let prepared = h.engine.prepare(&taken, false, "apply").await.unwrap();
    let report = h.engine.apply(prepared, &|_| {}).await.unwrap();
    let text = platform::render::report_text(&taken.name, &report);
    assert!(!report.is_success() && text.contains("with another answer, not made by this stack"), "{text}");
    assert_eq!(answer(&route53, &zone, "taken.svc.example").await.as_deref(), Some("theirs.example.net"));

    // A zone the account does not have: said before anything is written.
    let missing = record_in("nowhere", "nowhere.example", "www.nowhere.example", "a.example.org");
    let prepared = h.engine.prepare(&missing, false, "apply").await.unwrap();
    let report = h.engine.apply(prepared, &|_| {}).await.unwrap();
    let text = platform::render::report_text(&missing.name, &report);
    assert!(text.contains("no public Route 53 hosted zone named nowhere.example: create it"), "{text}");

    h.destroy(&changed).await;
    assert_eq!(answer(&route53, &zone, "www.svc.example").await, None);
    assert_eq!(answer(&route53, &zone, "taken.svc.example").await.as_deref(), Some("theirs.example.net"));
}
