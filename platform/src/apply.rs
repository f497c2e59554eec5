//! The apply executor: walks a plan's operations in dependency order with bounded parallelism,
//! recording every result in the state as soon as it is known.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::Direction;
use serde::Serialize;
use serde_json::Value;
use tokio::task::JoinSet;

use crate::model::reference::resolve_refs;
use crate::model::{Address, StackSpec};
use crate::plan::{normalize, Action, Plan, Upstream};
use crate::provider::{Applied, Desired, Existing, Provider, ProviderError};
use crate::resources::schema;
use crate::state::{PendingOperation, ResourceState, StackState, StateError, StateLock};

/// One kind of provider call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OpKind {
    /// Create a resource.
    Create,
    /// Update a resource in place.
    Update,
    /// Delete a resource.
    Delete,
    /// Wait until a resource is available.
    Await,
}

impl OpKind {
    /// The verb, e.g. `create`.
    pub fn as_str(self) -> &'static str {
        match self {
            OpKind::Create => "create",
            OpKind::Update => "update",
            OpKind::Delete => "delete",
            OpKind::Await => "await",
        }
    }
}

/// How one operation ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum Outcome {
    /// It succeeded.
    Done,
    /// It failed; the message holds the whole cause chain.
    Failed {
        /// The error and its causes.
        error: String,
    },
    /// It was not attempted because an operation it depends on failed.
    Skipped {
        /// The address whose operation failed.
        because: Address,
    },
    /// It was not started: the run was interrupted (Ctrl-C) first.
    NotStarted,
}

/// What the executor reports as it goes.
#[derive(Debug, Clone)]
pub enum ApplyEvent {
    /// A provider call started.
    Started {
        /// The resource.
        address: Address,
        /// The call.
        kind: OpKind,
    },
    /// An operation ended (or was skipped).
    Finished {
        /// The resource.
        address: Address,
        /// The call.
        kind: OpKind,
        /// How it ended.
        outcome: Outcome,
        /// How long it took.
        elapsed: Duration,
        /// The physical id, when known.
        physical_id: Option<String>,
    },
}

/// The result of one operation.
#[derive(Debug, Clone, Serialize)]
pub struct OpResult {
    /// The resource.
    pub address: Address,
    /// The call.
    pub kind: OpKind,
    /// How it ended.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// How long it took.
    #[serde(skip)]
    pub elapsed: Duration,
}

/// Every operation of an apply and how it ended.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ApplyReport {
    /// In the order they finished.
    pub results: Vec<OpResult>,
}

impl ApplyReport {
    /// Whether any operation failed or was skipped.
    pub fn is_success(&self) -> bool {
        self.results.iter().all(|r| r.outcome == Outcome::Done)
    }

    /// Operations that ended a given way.
    pub fn count(&self, f: impl Fn(&Outcome) -> bool) -> usize {
        self.results.iter().filter(|r| f(&r.outcome)).count()
    }
}

#[derive(Debug, Clone)]
struct Op {
    address: Address,
    kind: OpKind,
    /// The operation is on the old resource of a replaced address (create before destroy).
    deposed: bool,
}

/// The graph of operations: an edge from each operation to those that must wait for it.
fn operations(plan: &Plan, desired: &StackSpec, state: &StackState) -> DiGraph<Op, ()> {
    let mut g = DiGraph::new();
    let mut creates: HashMap<&Address, NodeIndex> = HashMap::new();
    let mut updates: HashMap<&Address, NodeIndex> = HashMap::new();
    let mut deletes: HashMap<&Address, NodeIndex> = HashMap::new();
    // The first and last operation of each address that is created, updated or awaited.
    let mut entry: HashMap<&Address, NodeIndex> = HashMap::new();
    let mut exit: HashMap<&Address, NodeIndex> = HashMap::new();
    // Old resources of addresses replaced create-before-destroy.
    let mut retired: HashMap<&Address, NodeIndex> = HashMap::new();
    for change in &plan.resources {
        let a = &change.address;
        // The operations of this address, in order; each waits for the one before.
        let mut chain: Vec<NodeIndex> = vec![];
        let add = |g: &mut DiGraph<Op, ()>, chain: &mut Vec<NodeIndex>, kind| {
            let node = g.add_node(Op { address: a.clone(), kind, deposed: false });
            if let Some(&previous) = chain.last() {
                g.add_edge(previous, node, ());
            }
            chain.push(node);
            node
        };
        let awaits = schema(&change.type_name).is_some_and(|s| s.awaits);
        // A resource recorded as not yet available is awaited before anything else is done with it.
        let still_awaited = state.resources.get(a).is_some_and(|r| r.awaiting);
        match change.action {
            Action::NoOp => {
                if still_awaited {
                    add(&mut g, &mut chain, OpKind::Await);
                }
            }
            Action::Create => {
                creates.insert(a, add(&mut g, &mut chain, OpKind::Create));
                if awaits {
                    add(&mut g, &mut chain, OpKind::Await);
                }
            }
            Action::Update => {
                if still_awaited {
                    add(&mut g, &mut chain, OpKind::Await);
                }
                updates.insert(a, add(&mut g, &mut chain, OpKind::Update));
                if awaits {
                    add(&mut g, &mut chain, OpKind::Await);
                }
            }
            Action::Delete if change.deposed => {
                g.add_node(Op { address: a.clone(), kind: OpKind::Delete, deposed: true });
            }
            Action::Delete => {
                deletes.insert(a, g.add_node(Op { address: a.clone(), kind: OpKind::Delete, deposed: false }));
            }
            Action::Replace if schema(&change.type_name).is_some_and(|s| s.create_before_destroy) => {
                // Create the new one, let dependents move to it, then delete the old one.
                creates.insert(a, add(&mut g, &mut chain, OpKind::Create));
                if awaits {
                    add(&mut g, &mut chain, OpKind::Await);
                }
                let retire = g.add_node(Op { address: a.clone(), kind: OpKind::Delete, deposed: true });
                g.add_edge(*chain.last().expect("the create"), retire, ());
                retired.insert(a, retire);
            }
            Action::Replace => {
                // Delete, then create: the create is where the address's new life begins.
                let delete = g.add_node(Op { address: a.clone(), kind: OpKind::Delete, deposed: false });
                deletes.insert(a, delete);
                let create = add(&mut g, &mut chain, OpKind::Create);
                g.add_edge(delete, create, ());
                creates.insert(a, create);
                if awaits {
                    add(&mut g, &mut chain, OpKind::Await);
                }
            }
        }
        if let (Some(&first), Some(&last)) = (chain.first(), chain.last()) {
            entry.insert(a, first);
            exit.insert(a, last);
        }
    }
    // A resource is created or updated once its dependencies are done (and available); an old
    // resource replaced create-before-destroy is deleted once its dependents moved on.
    for r in &desired.resources {
        for d in &r.dependencies {
            if let (Some(&node), Some(&dep)) = (entry.get(&r.address), exit.get(d)) {
                g.add_edge(dep, node, ());
            }
            if let (Some(&done), Some(&retire)) = (exit.get(&r.address), retired.get(d)) {
                g.add_edge(done, retire, ());
            }
        }
    }
    // A resource is deleted only once nothing that depended on it (when last applied) still does:
    // its dependents are deleted first, or updated first when it goes away for good. (When it is
    // replaced, its dependents' updates need the new one, so they come after its re-creation.)
    for (address, r) in &state.resources {
        for d in &r.dependencies {
            let Some(&del) = deletes.get(d) else { continue };
            if let Some(&first) = deletes.get(address) {
                g.add_edge(first, del, ());
            } else if let (Some(&update), false) = (updates.get(address), creates.contains_key(d)) {
                g.add_edge(update, del, ());
            }
        }
    }
    g
}

/// Options of an apply.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// The most provider calls in flight at once.
    pub parallelism: usize,
    /// Protected resources the user named as allowed to be deleted or replaced.
    pub allow_destroy: BTreeSet<Address>,
    /// Set (by a Ctrl-C handler, say) to stop starting operations: those in flight finish and are
    /// recorded, the others are reported as not started.
    pub stop: Stop,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        Self { parallelism: 10, allow_destroy: BTreeSet::new(), stop: Stop::default() }
    }
}

/// A request to stop an apply between operations, shared with whoever may ask for it.
#[derive(Debug, Clone, Default)]
pub struct Stop(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Stop {
    /// Asks the apply to start no more operations.
    pub fn request(&self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Whether stopping was asked for.
    pub fn requested(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

fn now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

enum Call {
    Create(Desired),
    Update(Existing, Value),
    Delete(Existing),
    Await(Existing),
}

/// Applies `plan`, made from `desired` against `state`. The state is saved through `lock`
/// before every mutating call (the intent) and after it (the result), before anything that depends
/// on it starts; intents and results that fall together are saved in one write. Independent branches go on
/// when an operation fails; its dependents are skipped.
#[allow(clippy::too_many_arguments)]
pub async fn execute(
    plan: &Plan,
    desired: &StackSpec,
    upstream: &Upstream,
    state: &mut StackState,
    lock: &dyn StateLock,
    provider: Arc<dyn Provider>,
    options: &ApplyOptions,
    on_event: &(dyn Fn(&ApplyEvent) + Send + Sync),
) -> Result<ApplyReport, StateError> {
    let context = Context { desired, upstream, allow_destroy: &options.allow_destroy };
    let graph = operations(plan, desired, state);
    let mut waiting: Vec<usize> =
        graph.node_indices().map(|n| graph.neighbors_directed(n, Direction::Incoming).count()).collect();
    let mut ready: Vec<NodeIndex> = graph.node_indices().filter(|n| waiting[n.index()] == 0).collect();
    ready.reverse();
    let mut finished = vec![false; graph.node_count()];
    let mut report = ApplyReport::default();
    let mut tasks: JoinSet<(NodeIndex, Result<Applied, ProviderError>, Duration)> = JoinSet::new();
    let parallelism = options.parallelism.max(1);

    // Group commit: each turn records every result that came in and every intent about to be
    // acted on, saves the state once, and only then reports the results and makes the calls. A
    // result is durable before any dependent starts, an intent before its call, and operations
    // finishing together share one write instead of rewriting the state once each.
    let buffered = std::sync::Mutex::new(Vec::<ApplyEvent>::new());
    let buffer = |event: &ApplyEvent| buffered.lock().expect("event buffer").push(event.clone());
    let mut unsaved = false;
    loop {
        let mut starting = vec![];
        while tasks.len() + starting.len() < parallelism && !options.stop.requested() {
            let Some(node) = ready.pop() else { break };
            let op = &graph[node];
            let call = match prepare(op, &context, state) {
                Ok(call) => call,
                Err(message) => {
                    let outcome = Outcome::Failed { error: message };
                    finish(&graph, node, outcome, Duration::ZERO, None, &mut finished, &mut report, &buffer);
                    skip_dependents(&graph, node, &mut finished, &mut report, &buffer);
                    continue;
                }
            };
            let (name, physical_id, props) = match &call {
                Call::Create(d) => (d.name.clone(), None, Some(d.props.clone())),
                Call::Update(e, _) | Call::Delete(e) | Call::Await(e) => {
                    (e.name.clone(), Some(e.physical_id.clone()), None)
                }
            };
            state.pending.push(PendingOperation {
                address: op.address.clone(),
                operation: op.kind.as_str().to_string(),
                type_name: desired
                    .resource(&op.address)
                    .map(|r| r.type_name.clone())
                    .or_else(|| state.resources.get(&op.address).map(|r| r.type_name.clone()))
                    .unwrap_or_default(),
                name,
                physical_id,
                started_at: now(),
                props,
            });
            starting.push((node, call));
        }
        // With nothing starting and nothing in flight the run is over: the final save follows.
        if !starting.is_empty() || (unsaved && !tasks.is_empty()) {
            lock.save(state).await?;
            unsaved = false;
        }
        for event in buffered.lock().expect("event buffer").drain(..) {
            on_event(&event);
        }
        for (node, call) in starting {
            on_event(&ApplyEvent::Started { address: graph[node].address.clone(), kind: graph[node].kind });
            let provider = provider.clone();
            tasks.spawn(async move {
                let started = Instant::now();
                let result = match call {
                    Call::Create(d) => provider.create(&d).await,
                    Call::Update(e, props) => provider.update(&e, &props).await,
                    Call::Await(e) => {
                        provider.await_ready(&e).await.map(|outputs| Applied { physical_id: e.physical_id, outputs })
                    }
                    Call::Delete(e) => match provider.delete(&e).await {
                        Ok(()) => Ok(Applied { physical_id: e.physical_id, outputs: BTreeMap::new() }),
                        Err(err) if err.is_not_found() => {
                            Ok(Applied { physical_id: e.physical_id, outputs: BTreeMap::new() })
                        }
                        Err(err) => Err(err),
                    },
                };
                (node, result, started.elapsed())
            });
        }
        // Wait for one operation to end, then take every other that has ended meanwhile.
        let Some(first) = tasks.join_next().await else {
            break;
        };
        let mut joined = Some(first);
        while let Some(next) = joined {
            let (node, result, elapsed) = next.expect("provider calls do not panic");
            let op = graph[node].clone();
            state.pending.retain(|p| p.address != op.address);
            let (outcome, physical_id) = match result {
                Ok(applied) => {
                    record(&op, &context, state, applied.clone(), false);
                    (Outcome::Done, Some(applied.physical_id))
                }
                Err(ProviderError::Incomplete { applied, source }) if op.kind == OpKind::Create => {
                    let error = ProviderError::Incomplete { applied: applied.clone(), source };
                    record(&op, &context, state, applied.clone(), true);
                    (Outcome::Failed { error: chain(&error) }, Some(applied.physical_id))
                }
                Err(error) => (Outcome::Failed { error: chain(&error) }, None),
            };
            unsaved = true;
            let failed = outcome != Outcome::Done;
            finish(&graph, node, outcome, elapsed, physical_id, &mut finished, &mut report, &buffer);
            if failed {
                skip_dependents(&graph, node, &mut finished, &mut report, &buffer);
            } else {
                for next in graph.neighbors(node) {
                    waiting[next.index()] -= 1;
                    if waiting[next.index()] == 0 && !finished[next.index()] {
                        ready.push(next);
                    }
                }
            }
            joined = tasks.try_join_next();
        }
    }

    // Operations never reached: the run was interrupted, or (a bug) the graph had a cycle; report
    // them rather than claim success.
    for node in graph.node_indices().filter(|n| !finished[n.index()]).collect::<Vec<_>>() {
        let outcome = if options.stop.requested() {
            Outcome::NotStarted
        } else {
            Outcome::Failed { error: "not run: its operations wait on each other".into() }
        };
        finish(&graph, node, outcome, Duration::ZERO, None, &mut finished, &mut report, &buffer);
    }
    state.outputs = resolve_outputs(desired, state);
    lock.save(state).await?;
    for event in buffered.lock().expect("event buffer").drain(..) {
        on_event(&event);
    }
    Ok(report)
}

/// What the executor resolves references against.
struct Context<'a> {
    desired: &'a StackSpec,
    upstream: &'a Upstream,
    allow_destroy: &'a BTreeSet<Address>,
}

fn prepare(op: &Op, context: &Context, state: &StackState) -> Result<Call, String> {
    let desired = context.desired;
    let existing = || {
        state.resources.get(&op.address).map(|r| Existing {
            address: op.address.clone(),
            type_name: r.type_name.clone(),
            physical_id: r.physical_id.clone(),
            name: r.name.clone(),
            props: r.props.clone(),
            outputs: r.outputs.clone(),
            delete_allowed: context.allow_destroy.contains(&op.address),
        })
    };
    let missing_from_state = || format!("{} is not in the state", op.address);
    match op.kind {
        OpKind::Delete if op.deposed => {
            let old = state.deposed.iter().find(|d| d.address == op.address).ok_or_else(missing_from_state)?;
            return Ok(Call::Delete(Existing {
                address: op.address.clone(),
                type_name: old.resource.type_name.clone(),
                physical_id: old.resource.physical_id.clone(),
                name: old.resource.name.clone(),
                props: old.resource.props.clone(),
                outputs: old.resource.outputs.clone(),
                delete_allowed: context.allow_destroy.contains(&op.address),
            }));
        }
        OpKind::Delete => return existing().map(Call::Delete).ok_or_else(missing_from_state),
        OpKind::Await => return existing().map(Call::Await).ok_or_else(missing_from_state),
        OpKind::Create | OpKind::Update => {}
    }
    let spec = desired.resource(&op.address).ok_or_else(|| format!("{} is not in the stack", op.address))?;
    let schema = schema(&spec.type_name).ok_or_else(|| format!("unknown resource type `{}`", spec.type_name))?;
    let mut missing = vec![];
    let props = resolve_refs(&spec.props, &mut |a, attr| {
        let value = Address::parse(a).and_then(|a| match state.resources.get(&a) {
            Some(r) => r.outputs.get(attr),
            None => context.upstream.output(&a, attr),
        });
        value.cloned().unwrap_or_else(|| {
            missing.push(format!("{a}.{attr}"));
            Value::Null
        })
    });
    if !missing.is_empty() {
        return Err(format!("references outputs that are not known: {}", missing.join(", ")));
    }
    let props = normalize(schema, &props);
    match op.kind {
        OpKind::Create => Ok(Call::Create(Desired {
            address: op.address.clone(),
            type_name: spec.type_name.clone(),
            name: spec.name.clone(),
            props,
        })),
        _ => existing().map(|e| Call::Update(e, props)).ok_or_else(missing_from_state),
    }
}

fn record(op: &Op, context: &Context, state: &mut StackState, applied: Applied, tainted: bool) {
    match op.kind {
        OpKind::Delete if op.deposed => {
            if let Some(i) = state.deposed.iter().position(|d| d.address == op.address) {
                state.deposed.remove(i);
            }
        }
        OpKind::Delete => {
            state.resources.remove(&op.address);
        }
        OpKind::Await => {
            if let Some(r) = state.resources.get_mut(&op.address) {
                r.awaiting = false;
                r.outputs.extend(applied.outputs);
            }
        }
        OpKind::Create | OpKind::Update => {
            let spec = context.desired.resource(&op.address).expect("creates and updates are of desired resources");
            let props = match prepare(op, context, state) {
                Ok(Call::Create(d)) => d.props,
                Ok(Call::Update(_, p)) => p,
                _ => Value::Null,
            };
            let awaits = schema(&spec.type_name).is_some_and(|s| s.awaits);
            // A create while the address still holds a resource is a create-before-destroy
            // replacement: the old one is kept as deposed until it is deleted.
            if op.kind == OpKind::Create {
                if let Some(old) = state.resources.remove(&op.address) {
                    state.deposed.push(crate::state::Deposed { address: op.address.clone(), resource: old });
                }
            }
            state.resources.insert(
                op.address.clone(),
                ResourceState {
                    type_name: spec.type_name.clone(),
                    physical_id: applied.physical_id,
                    name: spec.name.clone(),
                    props,
                    outputs: applied.outputs,
                    dependencies: spec.dependencies.clone(),
                    tainted,
                    protected: spec.protected,
                    awaiting: awaits && !tainted,
                },
            );
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn finish(
    graph: &DiGraph<Op, ()>,
    node: NodeIndex,
    outcome: Outcome,
    elapsed: Duration,
    physical_id: Option<String>,
    finished: &mut [bool],
    report: &mut ApplyReport,
    on_event: &(dyn Fn(&ApplyEvent) + Send + Sync),
) {
    let op = &graph[node];
    finished[node.index()] = true;
    tracing::info!(address = %op.address, operation = op.kind.as_str(), ?outcome, ?elapsed, "finished");
    on_event(&ApplyEvent::Finished {
        address: op.address.clone(),
        kind: op.kind,
        outcome: outcome.clone(),
        elapsed,
        physical_id,
    });
    report.results.push(OpResult { address: op.address.clone(), kind: op.kind, outcome, elapsed });
}

fn skip_dependents(
    graph: &DiGraph<Op, ()>,
    failed: NodeIndex,
    finished: &mut [bool],
    report: &mut ApplyReport,
    on_event: &(dyn Fn(&ApplyEvent) + Send + Sync),
) {
    let because = graph[failed].address.clone();
    let mut stack: Vec<NodeIndex> = graph.neighbors(failed).collect();
    while let Some(n) = stack.pop() {
        if finished[n.index()] {
            continue;
        }
        finish(
            graph,
            n,
            Outcome::Skipped { because: because.clone() },
            Duration::ZERO,
            None,
            finished,
            report,
            on_event,
        );
        stack.extend(graph.neighbors(n));
    }
}

/// The stack's outputs, resolved against the state; outputs whose resources are missing are left out.
pub fn resolve_outputs(desired: &StackSpec, state: &StackState) -> BTreeMap<String, Value> {
    desired
        .outputs
        .iter()
        .filter_map(|(name, value)| {
            let mut complete = true;
            let resolved = resolve_refs(value, &mut |a, attr| {
                let found = Address::parse(a).and_then(|a| state.resources.get(&a)).and_then(|r| r.outputs.get(attr));
                found.cloned().unwrap_or_else(|| {
                    complete = false;
                    Value::Null
                })
            });
            complete.then(|| (name.clone(), resolved))
        })
        .collect()
}
