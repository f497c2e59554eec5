//! Engine tests on the in-memory provider: plan, normalization, executor ordering, failures,
//! parallelism, state writes, drift and locking.

// Engine tests look at the state files the local backend wrote.
#![allow(clippy::disallowed_methods)]

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::apply::{ApplyOptions, ApplyReport, Outcome};
use crate::model::{Env, Stack, StackError, StackSpec};
use crate::plan::{Action, Plan};
use crate::provider::memory::MemoryProvider;
use crate::resources::test_thing::Thing;
use crate::state::local::LocalBackend;
use crate::state::StackState;
use crate::{render, Address, Engine, EngineError};

struct Fixture {
    provider: Arc<MemoryProvider>,
    backend: LocalBackend,
    engine: Engine,
    _dir: tempfile::TempDir,
}

fn fixture_with(provider: MemoryProvider, parallelism: usize) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let provider = Arc::new(provider);
    let backend = LocalBackend::new(dir.path());
    let engine = Engine::new(
        provider.clone(),
        Arc::new(backend.clone()),
        ApplyOptions { parallelism, ..ApplyOptions::default() },
    );
    Fixture { provider, backend, engine, _dir: dir }
}

fn fixture() -> Fixture {
    fixture_with(MemoryProvider::new(), 10)
}

impl Fixture {
    async fn plan(&self, spec: &StackSpec) -> Plan {
        self.engine.prepare(spec, false, "plan").await.unwrap().into_plan().await.unwrap()
    }

    async fn apply(&self, spec: &StackSpec) -> ApplyReport {
        let prepared = self.engine.prepare(spec, false, "apply").await.unwrap();
        self.engine.apply(prepared, &|_| {}).await.unwrap()
    }

    async fn destroy(&self, spec: &StackSpec) -> ApplyReport {
        let prepared = self.engine.prepare(spec, true, "destroy").await.unwrap();
        self.engine.apply(prepared, &|_| {}).await.unwrap()
    }

    fn state(&self) -> StackState {
        self.backend.read_file("s", &env()).unwrap().unwrap()
    }

    fn id(&self, name: &str) -> String {
        self.state().resources[&Address::new("s", name)].physical_id.clone()
    }
}

fn env() -> Env {
    Env::new("dev").unwrap()
}

/// `a`, `b` (child of `a`), `c` (child of `b`), `d` (independent).
#[derive(Clone)]
struct Shape {
    size: u32,
    immutable: &'static str,
    set: Vec<&'static str>,
    with_d: bool,
}

const SHAPE: Shape = Shape { size: 1, immutable: "x", set: vec![], with_d: true };

fn stack(shape: &Shape) -> StackSpec {
    let mut s = Stack::new("s", &env());
    let a = s.add(
        "a",
        Thing {
            size: shape.size,
            immutable: shape.immutable.into(),
            set: shape.set.iter().map(|x| x.to_string()).collect(),
            ..Thing::default()
        },
    );
    let b = s.add("b", Thing { parent: Some(a.id()), ..Thing::default() });
    s.add("c", Thing { parent: Some(b.id()), ..Thing::default() });
    if shape.with_d {
        s.add("d", Thing::default());
    }
    s.output("a_id", a.id());
    s.build().unwrap()
}

fn position(log: &[String], entry: &str) -> usize {
    log.iter().position(|l| l == entry).unwrap_or_else(|| panic!("`{entry}` in {log:?}"))
}

#[tokio::test]
async fn applies_in_dependency_order_and_then_plans_no_changes() {
    let f = fixture();
    let spec = stack(&SHAPE);
    let plan = f.plan(&spec).await;
    assert_eq!(plan.summary().create, 4);
    let report = f.apply(&spec).await;
    assert!(report.is_success());
    let log = f.provider.log();
    assert!(position(&log, "create s.a") < position(&log, "create s.b"));
    assert!(position(&log, "create s.b") < position(&log, "create s.c"));
    let state = f.state();
    assert_eq!(state.resources.len(), 4);
    assert_eq!(state.outputs["a_id"], json!(f.id("a")));
    assert_eq!(state.resources[&Address::new("s", "b")].props["parent"], json!(f.id("a")));
    assert!(state.pending.is_empty());
    let again = f.plan(&spec).await;
    assert!(!again.has_changes(), "{}", render::plan_text(&again));
}

#[tokio::test]
async fn each_intent_and_the_results_a_call_depends_on_are_saved_before_it_is_made() {
    let f = fixture();
    // At every provider call: what the stored state holds (pending intents, recorded resources).
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (backend, record) = (f.backend.clone(), seen.clone());
    f.provider.observe(move |operation, address| {
        let stored = backend.read_file("s", &env()).unwrap().unwrap();
        let pending: Vec<String> = stored.pending.iter().map(|p| format!("{} {}", p.operation, p.address)).collect();
        let recorded: Vec<String> = stored.resources.keys().map(|a| a.to_string()).collect();
        record.lock().unwrap().push((format!("{operation} {address}"), pending, recorded));
    });
    assert!(f.apply(&stack(&SHAPE)).await.is_success());
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 4, "{seen:?}");
    for (call, pending, recorded) in &seen {
        assert!(pending.contains(call), "{call}: its intent is saved first ({pending:?})");
        let needs = match call.as_str() {
            "create s.b" => vec!["s.a"],
            "create s.c" => vec!["s.a", "s.b"],
            _ => vec![],
        };
        for dependency in needs {
            assert!(recorded.iter().any(|r| r == dependency), "{call}: {dependency} is saved first ({recorded:?})");
        }
    }
    // Results and intents that fall together share a write: `a` and `d` start together, their
    // results go with `b`'s intent, `b`'s with `c`'s, then `c`'s result with the outputs — four
    // writes where one per intent and one per result would take nine.
    assert_eq!(f.state().serial, 4);
    assert!(f.state().pending.is_empty());
}

#[tokio::test]
async fn a_plan_writes_nothing_and_holds_the_lock_only_while_it_plans() {
    let f = fixture();
    let spec = stack(&SHAPE);
    f.apply(&spec).await;
    let path = f.backend.state_path("s", &env());
    let before = (std::fs::read(&path).unwrap(), std::fs::metadata(&path).unwrap().modified().unwrap());
    f.provider.tamper(&f.id("a"), "size", json!(5));
    let plan = f.plan(&spec).await;
    assert!(plan.has_changes(), "the drift is in the plan");
    let after = (std::fs::read(&path).unwrap(), std::fs::metadata(&path).unwrap().modified().unwrap());
    assert!(before == after, "the plan left the state file as it was");
    use crate::state::StateBackend;
    assert!(f.backend.lock("s", &env(), "apply").await.is_ok(), "and released the lock");
}

#[tokio::test]
async fn operations_finishing_together_share_one_state_write() {
    let f = fixture();
    let mut stack = Stack::new("s", &env());
    for i in 0..100 {
        stack.add(&format!("t{i}"), Thing::default());
    }
    let spec = stack.build().unwrap();
    assert!(f.apply(&spec).await.is_success());
    assert_eq!(f.state().resources.len(), 100);
    // 100 creates, 10 at a time: a write per turn of ten, not two per create.
    assert!(f.state().serial <= 15, "{} writes", f.state().serial);
}

#[tokio::test]
async fn unordered_lists_are_normalized_so_their_order_is_no_change() {
    let f = fixture();
    f.apply(&stack(&Shape { set: vec!["b", "a", "a"], ..SHAPE })).await;
    assert!(!f.plan(&stack(&Shape { set: vec!["a", "b"], ..SHAPE })).await.has_changes());
    let plan = f.plan(&stack(&Shape { set: vec!["a", "c"], ..SHAPE })).await;
    assert_eq!(plan.change(&Address::new("s", "a")).unwrap().action, Action::Update);
}

#[tokio::test]
async fn updates_in_place_and_replaces_when_a_force_new_attribute_changes() {
    let f = fixture();
    f.apply(&stack(&SHAPE)).await;
    let old_a = f.id("a");

    let plan = f.plan(&stack(&Shape { size: 2, ..SHAPE })).await;
    let a = plan.change(&Address::new("s", "a")).unwrap();
    assert_eq!(a.action, Action::Update);
    assert_eq!(a.changes.len(), 1);
    assert_eq!((a.changes[0].before.clone(), a.changes[0].after.clone()), (Some(json!(1)), Some(json!(2))));
    assert_eq!(plan.change(&Address::new("s", "b")).unwrap().action, Action::NoOp);

    let plan = f.plan(&stack(&Shape { immutable: "y", ..SHAPE })).await;
    let a = plan.change(&Address::new("s", "a")).unwrap();
    assert_eq!(a.action, Action::Replace);
    assert_eq!(a.replaced_because().collect::<Vec<_>>(), ["immutable"]);
    // `b` references `a`'s id, which is only known after the replacement.
    let b = plan.change(&Address::new("s", "b")).unwrap();
    assert_eq!(b.action, Action::Update);
    assert_eq!(render::value(b.changes[0].after.as_ref().unwrap()), "(known after apply)");

    f.provider.log();
    assert!(f.apply(&stack(&Shape { immutable: "y", ..SHAPE })).await.is_success());
    assert_ne!(f.id("a"), old_a);
    let log = f.provider.log();
    let recreated = log.iter().rposition(|l| l == "create s.a").unwrap();
    assert!(position(&log, "delete s.a") < recreated, "{log:?}");
    assert!(recreated < position(&log, "update s.b"), "{log:?}");
    assert_eq!(f.state().resources[&Address::new("s", "b")].props["parent"], json!(f.id("a")));
    assert!(!f.plan(&stack(&Shape { immutable: "y", ..SHAPE })).await.has_changes());
}

#[tokio::test]
async fn deletes_dependents_before_what_they_depend_on() {
    let f = fixture();
    let spec = stack(&SHAPE);
    f.apply(&spec).await;
    let plan = f.engine.prepare(&spec, true, "destroy").await.unwrap().plan;
    assert!(plan.destroy);
    assert_eq!(plan.summary().delete, 4);
    drop(plan);
    assert!(f.destroy(&spec).await.is_success());
    let log = f.provider.log();
    assert!(position(&log, "delete s.c") < position(&log, "delete s.b"));
    assert!(position(&log, "delete s.b") < position(&log, "delete s.a"));
    assert!(f.provider.resources().is_empty());
    assert!(f.state().resources.is_empty());
}

#[tokio::test]
async fn removing_a_resource_from_the_stack_deletes_it() {
    let f = fixture();
    f.apply(&stack(&SHAPE)).await;
    let plan = f.plan(&stack(&Shape { with_d: false, ..SHAPE })).await;
    assert_eq!(plan.change(&Address::new("s", "d")).unwrap().action, Action::Delete);
    assert_eq!(plan.summary().delete, 1);
    f.apply(&stack(&Shape { with_d: false, ..SHAPE })).await;
    assert_eq!(f.provider.resources().len(), 3);
}

#[tokio::test]
async fn a_failure_skips_its_dependents_and_independent_branches_go_on() {
    let f = fixture();
    f.provider.fail("create", "s.b");
    let report = f.apply(&stack(&SHAPE)).await;
    assert!(!report.is_success());
    let outcome = |name: &str| {
        report.results.iter().find(|r| r.address == Address::new("s", name)).map(|r| r.outcome.clone()).unwrap()
    };
    assert_eq!(outcome("a"), Outcome::Done);
    assert_eq!(outcome("d"), Outcome::Done);
    assert!(matches!(outcome("b"), Outcome::Failed { error } if error.contains("failed on purpose")));
    assert_eq!(outcome("c"), Outcome::Skipped { because: Address::new("s", "b") });
    let text = render::report_text("s", &report);
    assert!(text.contains("2 done, 1 failed, 1 skipped"), "{text}");
    let state = f.state();
    assert_eq!(state.resources.len(), 2, "what succeeded is recorded");
    assert!(state.pending.is_empty(), "failed calls leave no intent behind");

    // Once the cause is gone, the next apply finishes the job.
    f.provider.heal();
    let plan = f.plan(&stack(&SHAPE)).await;
    assert_eq!(plan.summary().create, 2);
    assert!(f.apply(&stack(&SHAPE)).await.is_success());
    assert!(!f.plan(&stack(&SHAPE)).await.has_changes());
}

#[tokio::test]
async fn a_create_that_fails_half_way_is_recorded_as_tainted_and_replaced_next_time() {
    let f = fixture();
    f.provider.fail("create-incomplete", "s.a");
    let report = f.apply(&stack(&SHAPE)).await;
    assert!(!report.is_success());
    let state = f.state();
    let a = &state.resources[&Address::new("s", "a")];
    assert!(a.tainted, "the resource exists, so it is recorded");
    let half_made = a.physical_id.clone();
    assert!(f.provider.resources().contains_key(&half_made));

    f.provider.heal();
    let plan = f.plan(&stack(&SHAPE)).await;
    let change = plan.change(&Address::new("s", "a")).unwrap();
    assert_eq!(change.action, Action::Replace);
    assert_eq!(change.reason.as_deref(), Some("its creation did not finish (tainted)"));
    assert!(f.apply(&stack(&SHAPE)).await.is_success());
    assert!(!f.provider.resources().contains_key(&half_made), "no orphan is left");
    assert!(!f.state().resources[&Address::new("s", "a")].tainted);
    assert!(!f.plan(&stack(&SHAPE)).await.has_changes());
}

#[tokio::test]
async fn parallelism_bounds_the_calls_in_flight() {
    let f = fixture_with(MemoryProvider::with_delay(Duration::from_millis(20)), 3);
    let mut s = Stack::new("s", &env());
    for i in 0..12 {
        s.add(&format!("t{i}"), Thing::default());
    }
    let spec = s.build().unwrap();
    assert!(f.apply(&spec).await.is_success());
    assert_eq!(f.provider.max_in_flight(), 3);
}

#[tokio::test]
async fn drift_is_planned_back_to_the_declaration() {
    let f = fixture();
    f.apply(&stack(&SHAPE)).await;
    f.provider.tamper(&f.id("a"), "size", json!(7));
    f.provider.remove(&f.id("d"));
    let plan = f.plan(&stack(&SHAPE)).await;
    let a = plan.change(&Address::new("s", "a")).unwrap();
    assert_eq!(a.action, Action::Update);
    assert_eq!(a.changes[0].before, Some(json!(7)));
    let d = plan.change(&Address::new("s", "d")).unwrap();
    assert_eq!(d.action, Action::Create);
    assert_eq!(d.reason.as_deref(), Some("it was deleted outside platform"));
    f.apply(&stack(&SHAPE)).await;
    assert!(!f.plan(&stack(&SHAPE)).await.has_changes());
}

#[tokio::test]
async fn a_second_run_on_a_locked_stack_is_refused_naming_the_holder() {
    let f = fixture();
    let spec = stack(&SHAPE);
    let held = f.engine.prepare(&spec, false, "apply").await.unwrap();
    let Err(err) = f.engine.prepare(&spec, false, "apply").await else { panic!("the second run must be refused") };
    assert!(matches!(err, EngineError::State(crate::state::StateError::Locked { .. })));
    assert!(err.to_string().contains(&format!("pid {}", std::process::id())), "{err}");
    drop(held);
    assert!(f.engine.prepare(&spec, false, "apply").await.is_ok());
}

#[test]
fn a_reference_outside_the_stack_is_refused_naming_both_addresses() {
    let mut other = Stack::new("other", &env());
    let foreign = other.add("x", Thing::default());
    let mut s = Stack::new("s", &env());
    s.add("y", Thing { parent: Some(foreign.id()), ..Thing::default() });
    let err = s.build().unwrap_err();
    assert_eq!(
        err,
        StackError::Invalid {
            stack: "s".into(),
            env: "dev".into(),
            problems: vec!["s.y: references `other.x`, which is not in stack `s` nor in a stack it uses".into()],
        }
    );
}

#[test]
fn a_cycle_is_refused_naming_its_addresses() {
    let mut s = Stack::new("s", &env());
    let a = s.add("a", Thing::default());
    let b = s.add("b", Thing { parent: Some(a.id()), ..Thing::default() });
    s.depends_on(&a, &b);
    let err = s.build().unwrap_err().to_string();
    assert_eq!(err, "stack `s` has a dependency cycle: s.a -> s.b");
}

#[test]
fn invalid_names_and_props_are_all_reported_at_once() {
    let mut s = Stack::new("s", &env());
    s.add("Bad_Name", Thing::default());
    s.add("big", Thing { size: 1000, ..Thing::default() });
    s.add("big", Thing::default());
    let mut tagged = Thing::default();
    tagged.tags.insert("platform:stack".into(), "x".into());
    s.add("tagged", tagged);
    let StackError::Invalid { problems, .. } = s.build().unwrap_err() else { panic!("invalid") };
    assert_eq!(problems.len(), 4, "{problems:?}");
    assert!(problems[0].starts_with("s.Bad_Name: `Bad_Name` is not a valid name"));
    assert_eq!(problems[1], "s.big: size: must be at most 100");
    assert_eq!(problems[2], "s.big: declared twice");
    assert_eq!(problems[3], "s.tagged: tag `platform:stack` is reserved");
}

#[tokio::test]
async fn rendered_plans() {
    let f = fixture();
    let spec = stack(&SHAPE);
    insta::assert_snapshot!("create", render::plan_text(&f.plan(&spec).await));
    f.apply(&spec).await;
    insta::assert_snapshot!("no_changes", render::plan_text(&f.plan(&spec).await));
    let changed = stack(&Shape { size: 3, immutable: "y", with_d: false, set: vec!["z"] });
    insta::assert_snapshot!("update_replace_delete", render::plan_text(&f.plan(&changed).await));
    let mut plan = f.plan(&changed).await;
    plan.lineage = "[lineage]".into();
    insta::assert_json_snapshot!("update_replace_delete_json", plan);
}

/// `up` holds a thing; `down` uses it across stacks.
fn up_and_down() -> (StackSpec, StackSpec) {
    let mut up = Stack::new("up", &env());
    let a = up.add("a", Thing::default());
    let up = up.build().unwrap();
    let mut down = Stack::new("down", &env());
    down.uses(&up);
    down.add("b", Thing { parent: Some(a.id()), ..Thing::default() });
    (up, down.build().unwrap())
}

#[tokio::test]
async fn cross_stack_references_resolve_from_the_upstream_state() {
    let f = fixture();
    let (up, down) = up_and_down();
    assert_eq!(down.upstream.iter().collect::<Vec<_>>(), ["up"]);
    let Err(err) = f.engine.prepare(&down, false, "plan").await else { panic!("upstream not applied") };
    assert_eq!(
        err.to_string(),
        "stack `down` uses stack `up`, which has not been applied in `dev`: apply it first \
         (platform apply --stack up --env dev), or both in one run"
    );
    // Planned in the same run as its upstream, the reference is unknown rather than an error.
    let pending = ["up".to_string()].into();
    let plan = f.engine.prepare_with(&down, false, "plan", &pending).await.unwrap().plan;
    let b = plan.change(&Address::new("down", "b")).unwrap();
    assert_eq!(
        render::value(&b.changes.iter().find(|c| c.path == "parent").unwrap().after.clone().unwrap()),
        "(known after apply)"
    );

    f.apply(&up).await;
    assert!(f.apply(&down).await.is_success());
    let a_id =
        f.backend.read_file("up", &env()).unwrap().unwrap().resources[&Address::new("up", "a")].physical_id.clone();
    let down_state = f.backend.read_file("down", &env()).unwrap().unwrap();
    assert_eq!(down_state.resources[&Address::new("down", "b")].props["parent"], json!(a_id));
    assert!(!f.plan(&down).await.has_changes());
}

#[test]
fn a_reference_to_a_stack_not_declared_as_used_is_refused() {
    let mut up = Stack::new("up", &env());
    let a = up.add("a", Thing::default());
    let mut down = Stack::new("down", &env());
    down.add("b", Thing { parent: Some(a.id()), ..Thing::default() });
    let err = down.build().unwrap_err().to_string();
    assert!(err.contains("down.b: references `up.a`, which is not in stack `down` nor in a stack it uses"), "{err}");
}

fn protected_stack(immutable: &'static str, protected: bool) -> StackSpec {
    let mut s = Stack::new("s", &env());
    let data = s.add("data", Thing { immutable: immutable.into(), ..Thing::default() });
    s.protect(&data, protected);
    s.build().unwrap()
}

#[tokio::test]
async fn replacing_or_deleting_a_protected_resource_needs_its_address_named() {
    let dir = tempfile::tempdir().unwrap();
    let provider = Arc::new(MemoryProvider::new());
    let backend = Arc::new(LocalBackend::new(dir.path()));
    let engine = |allow: &[&str]| {
        let allow_destroy = allow.iter().map(|a| Address::parse(a).unwrap()).collect();
        Engine::new(provider.clone(), backend.clone(), ApplyOptions { allow_destroy, ..ApplyOptions::default() })
    };
    let apply = |engine: Engine, spec: StackSpec, destroy: bool| async move {
        let prepared = engine.prepare(&spec, destroy, "apply").await?;
        engine.apply(prepared, &|_| {}).await
    };
    apply(engine(&[]), protected_stack("x", true), false).await.unwrap();

    let err = apply(engine(&[]), protected_stack("y", true), false).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "refusing to delete or replace a protected resource in `dev`: s.data (replace because immutable cannot \
         change in place). They hold data that would be lost. If that is really intended, name each one: \
         --allow-destroy s.data"
    );
    assert_eq!(provider.resources().len(), 1, "nothing was touched");
    let err = apply(engine(&[]), protected_stack("x", true), true).await.unwrap_err();
    assert!(err.to_string().contains("s.data (delete)"), "{err}");
    // Removing the resource from the stack does not lift the protection recorded in the state.
    let mut empty = Stack::new("s", &env());
    empty.add("other", Thing::default());
    let err = apply(engine(&[]), empty.build().unwrap(), false).await.unwrap_err();
    assert!(err.to_string().contains("s.data (delete)"), "{err}");

    // Unprotected (another environment's setting), or named explicitly: it goes ahead.
    assert!(apply(engine(&["s.data"]), protected_stack("y", true), false).await.unwrap().is_success());
    assert!(apply(engine(&[]), protected_stack("z", false), false).await.unwrap().is_success());
}

fn slow_stack(size: u32) -> StackSpec {
    use crate::resources::test_thing::Slow;
    let mut s = Stack::new("s", &env());
    let db = s.add("db", Slow { size });
    s.add("user", Thing { parent: Some(db.endpoint()), ..Thing::default() });
    s.build().unwrap()
}

#[tokio::test]
async fn resources_that_become_available_later_are_awaited_before_their_dependents() {
    let f = fixture();
    assert!(f.apply(&slow_stack(1)).await.is_success());
    let log = f.provider.log();
    assert!(position(&log, "create s.db") < position(&log, "await s.db"));
    assert!(position(&log, "await s.db") < position(&log, "create s.user"));
    let state = f.state();
    let db = &state.resources[&Address::new("s", "db")];
    assert!(!db.awaiting);
    assert_eq!(db.outputs["endpoint"], json!(format!("{}.endpoint", db.physical_id)));
    assert_eq!(state.resources[&Address::new("s", "user")].props["parent"], db.outputs["endpoint"]);
    assert!(!f.plan(&slow_stack(1)).await.has_changes());

    // An update is awaited too.
    f.apply(&slow_stack(2)).await;
    let log = f.provider.log();
    assert!(position(&log, "update s.db") < log.iter().rposition(|l| l == "await s.db").unwrap());
}

#[tokio::test]
async fn an_interrupted_wait_is_resumed_instead_of_creating_again() {
    let f = fixture();
    f.provider.fail("await", "s.db");
    let report = f.apply(&slow_stack(1)).await;
    assert!(!report.is_success());
    let db = f.state().resources[&Address::new("s", "db")].clone();
    assert!(db.awaiting, "created, not yet available");

    f.provider.heal();
    assert!(!f
        .plan(&slow_stack(1))
        .await
        .resources
        .iter()
        .any(|r| r.address.name() == "db" && r.action != Action::NoOp));
    assert!(f.apply(&slow_stack(1)).await.is_success());
    let log = f.provider.log();
    assert_eq!(log.iter().filter(|l| *l == "create s.db").count(), 1, "{log:?}");
    assert_eq!(log.iter().filter(|l| *l == "await s.db").count(), 2, "{log:?}");
    assert!(!f.state().resources[&Address::new("s", "db")].awaiting);
    assert_eq!(f.state().resources[&Address::new("s", "db")].physical_id, db.physical_id);
}

fn revision_stack(content: &str) -> StackSpec {
    use crate::resources::test_thing::Revision;
    let mut s = Stack::new("s", &env());
    let revision = s.add("revision", Revision { content: content.into() });
    s.add("service", Thing { parent: Some(revision.id()), ..Thing::default() });
    s.build().unwrap()
}

#[tokio::test]
async fn immutable_resources_are_replaced_create_before_destroy() {
    let f = fixture();
    f.apply(&revision_stack("v1")).await;
    let old = f.id("revision");
    let plan = f.plan(&revision_stack("v2")).await;
    assert_eq!(plan.change(&Address::new("s", "revision")).unwrap().action, Action::Replace);
    assert_eq!(plan.change(&Address::new("s", "service")).unwrap().action, Action::Update);
    assert_eq!((plan.summary().replace, plan.summary().update), (1, 1));
    assert!(f.apply(&revision_stack("v2")).await.is_success());
    let log = f.provider.log();
    let created = log.iter().rposition(|l| l == "create s.revision").unwrap();
    assert!(created < position(&log, "update s.service"), "{log:?}");
    assert!(position(&log, "update s.service") < position(&log, "delete s.revision"), "{log:?}");
    assert!(!f.provider.resources().contains_key(&old), "the old one is deleted");
    assert!(f.state().deposed.is_empty());
    assert!(!f.plan(&revision_stack("v2")).await.has_changes());
}

#[tokio::test]
async fn an_old_resource_left_by_a_stopped_replacement_is_deleted_next_time() {
    let f = fixture();
    f.apply(&revision_stack("v1")).await;
    let old = f.id("revision");
    f.provider.fail("update", "s.service");
    assert!(!f.apply(&revision_stack("v2")).await.is_success());
    let state = f.state();
    assert_eq!(state.deposed.len(), 1, "the old one is recorded, not forgotten");
    assert_eq!(state.deposed[0].resource.physical_id, old);

    f.provider.heal();
    let plan = f.plan(&revision_stack("v2")).await;
    let deposed: Vec<_> = plan.resources.iter().filter(|r| r.deposed).collect();
    assert_eq!(deposed.len(), 1);
    assert_eq!(deposed[0].action, Action::Delete);
    assert_eq!(deposed[0].physical_id.as_deref(), Some(old.as_str()));
    assert!(f.apply(&revision_stack("v2")).await.is_success());
    assert!(!f.provider.resources().contains_key(&old));
    assert!(f.state().deposed.is_empty());
    assert!(!f.plan(&revision_stack("v2")).await.has_changes());
}

#[tokio::test]
async fn old_resources_of_several_stopped_replacements_are_all_deleted_after_their_dependents_moved() {
    // Each failed update of the dependent (an ECS service whose rollout failed, say) leaves the
    // revision before it: both are kept until the dependent has moved on, then both deleted.
    let f = fixture();
    f.apply(&revision_stack("v1")).await;
    let v1 = f.id("revision");
    f.provider.fail("update", "s.service");
    assert!(!f.apply(&revision_stack("v2")).await.is_success());
    let v2 = f.id("revision");
    assert!(!f.apply(&revision_stack("v3")).await.is_success());
    let deposed: Vec<String> = f.state().deposed.iter().map(|d| d.resource.physical_id.clone()).collect();
    assert_eq!(deposed, [v1.clone(), v2.clone()], "neither old revision is forgotten");
    assert!(f.provider.resources().contains_key(&v1) && f.provider.resources().contains_key(&v2));

    f.provider.heal();
    let log_before = f.provider.log().len();
    assert!(f.apply(&revision_stack("v3")).await.is_success());
    let log = f.provider.log()[log_before..].to_vec();
    let update = position(&log, "update s.service");
    let deletes: Vec<usize> =
        log.iter().enumerate().filter(|(_, l)| *l == "delete s.revision").map(|(i, _)| i).collect();
    assert_eq!(deletes.len(), 2, "{log:?}");
    assert!(deletes.iter().all(|d| *d > update), "deleted only after the dependent moved: {log:?}");
    assert!(!f.provider.resources().contains_key(&v1) && !f.provider.resources().contains_key(&v2));
    assert!(f.state().deposed.is_empty() && f.state().pending.is_empty());
    assert!(!f.plan(&revision_stack("v3")).await.has_changes());
}

#[tokio::test]
async fn what_a_long_wait_reports_reaches_the_apply_events() {
    let f = fixture();
    let prepared = f.engine.prepare(&slow_stack(1), false, "apply").await.unwrap();
    let events = std::sync::Mutex::new(vec![]);
    let report = f
        .engine
        .apply(prepared, &|e| {
            if let crate::apply::ApplyEvent::Progress { address, kind, message } = e {
                events.lock().unwrap().push(format!("{} {address}: {message}", kind.as_str()));
            }
        })
        .await
        .unwrap();
    assert!(report.is_success());
    assert_eq!(*events.lock().unwrap(), ["await s.db: ready"]);
}

#[tokio::test]
async fn a_plan_names_the_account_and_fails_at_once_without_credentials() {
    let f = fixture();
    let plan = f.plan(&stack(&SHAPE)).await;
    let identity = plan.identity.expect("the account and region the plan is for");
    assert_eq!((identity.account.as_str(), identity.region.as_str()), ("000000000000", "memory"));

    let f = fixture();
    f.provider.fail("identity", "");
    let err = f.engine.prepare(&stack(&SHAPE), false, "plan").await.err().expect("no credentials, no plan");
    assert!(matches!(err, EngineError::Credentials { .. }), "{err}");
    assert!(err.to_string().contains("no usable AWS credentials"), "{err}");
    assert!(f.provider.log().is_empty(), "nothing was read: {:?}", f.provider.log());
    f.provider.heal();
    assert!(f.engine.prepare(&stack(&SHAPE), false, "plan").await.is_ok(), "the lock was released");
}

#[tokio::test]
async fn a_targeted_run_plans_and_applies_the_targets_and_what_they_depend_on_only() {
    let f = fixture();
    f.apply(&stack(&SHAPE)).await;
    // `a` grows and `d` goes away; the run targets `c`, which depends on `b`, which depends on `a`.
    let changed = stack(&Shape { size: 5, with_d: false, ..SHAPE });
    let targets = crate::plan::targeted(&[&changed], &[Address::new("s", "c")].into(), false);
    assert_eq!(targets, ["a", "b", "c"].map(|n| Address::new("s", n)).into());
    let targeted = Engine::new(
        f.provider.clone(),
        Arc::new(f.backend.clone()),
        ApplyOptions { targets: Some(targets.clone()), ..ApplyOptions::default() },
    );
    let plan = targeted.prepare(&changed, false, "plan").await.unwrap().into_plan().await.unwrap();
    let addresses: Vec<String> = plan.resources.iter().map(|r| r.address.to_string()).collect();
    assert_eq!(addresses, ["s.a", "s.b", "s.c"], "d is left out");
    assert_eq!(plan.change(&Address::new("s", "a")).unwrap().action, Action::Update);
    assert!(render::plan_text(&plan).contains("Partial: only s.a, s.b, s.c and what they depend on"));
    let prepared = targeted.prepare(&changed, false, "apply").await.unwrap();
    assert!(targeted.apply(prepared, &|_| {}).await.unwrap().is_success());
    assert!(f.state().resources.contains_key(&Address::new("s", "d")), "d is left as it is");
    let full = f.plan(&changed).await;
    assert_eq!(full.summary().delete, 1, "a full plan still deletes d");
    assert_eq!(full.summary().update, 0, "a was updated by the targeted run");

    // Destroying a target takes what depends on it first.
    let dependents = crate::plan::targeted(&[&changed], &[Address::new("s", "b")].into(), true);
    assert_eq!(dependents, ["b", "c"].map(|n| Address::new("s", n)).into());
}
