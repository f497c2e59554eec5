//! The walk over a plan's operations: bounded parallelism, intents and results saved with group
//! commit, failures skipping their dependents only.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::Direction;
use serde_json::Value;
use tokio::task::JoinSet;

use super::board::{Board, Standing};
use super::operations::{operations, Op};
use super::ApplyOptions;
use crate::model::reference::resolve_refs;
use crate::model::{Address, StackSpec};
use crate::plan::{normalize, Plan, Upstream};
use crate::provider::{Applied, Desired, Existing, Progress, Provider, ProviderError};
use crate::report::{chain, ApplyEvent, ApplyReport, OpKind, OpResult, Outcome};
use crate::resources::schema;
use crate::state::{PendingOperation, ResourceState, StackState, StateError, StateLock};

/// Applies a plan made from `desired` against a state: see [`Executor::run`].
pub struct Executor<'a> {
    /// The plan.
    pub plan: &'a Plan,
    /// The desired stack it was made from.
    pub desired: &'a StackSpec,
    /// The outputs of the stacks it uses.
    pub upstream: &'a Upstream,
    /// Where the state is saved.
    pub lock: &'a dyn StateLock,
    /// Who makes the calls.
    pub provider: Arc<dyn Provider>,
    /// Parallelism, the resources allowed to be destroyed, the stop request.
    pub options: &'a ApplyOptions,
    /// When several stacks are applied at once: where they learn of each other's resources.
    pub board: Option<&'a Board>,
}

/// A provider call, prepared.
enum Call {
    Create(Desired),
    Update(Existing, Value),
    Delete(Existing),
    Await(Existing),
}

type Joined = (NodeIndex, Result<Applied, ProviderError>, Duration);

/// What [`Executor::next`] waited for.
enum Next {
    /// An operation ended.
    Ended(Result<Joined, tokio::task::JoinError>),
    /// Another stack of the run settled or failed something.
    BoardChanged,
    /// Nothing is in flight and nothing waits: the run is over.
    Nothing,
}

/// The progress of one run: the operation graph and where each operation stands.
struct Walk {
    graph: DiGraph<Op, ()>,
    /// How many operations each still waits for.
    waiting: Vec<usize>,
    /// Operations that wait for nothing and have not started.
    ready: Vec<NodeIndex>,
    /// Operations that wait for nothing in their stack, but for resources of other stacks of the
    /// run (see [`Executor::across_stacks`]).
    blocked: Vec<NodeIndex>,
    finished: Vec<bool>,
    report: ApplyReport,
    /// Events kept until the state that records them is saved.
    events: Vec<ApplyEvent>,
}

impl Executor<'_> {
    /// Applies the plan to `state`. The state is saved through the lock before every mutating
    /// call (the intent) and after it (the result), before anything that depends on it starts;
    /// intents and results that fall together are saved in one write (group commit). Independent
    /// branches go on when an operation fails; its dependents are skipped. `on_event` hears of
    /// each operation as it starts and ends, once what it reports is saved.
    pub async fn run(
        &self,
        state: &mut StackState,
        on_event: &(dyn Fn(&ApplyEvent) + Send + Sync),
    ) -> Result<ApplyReport, StateError> {
        let mut walk = Walk::new(self, state);
        let mut tasks: JoinSet<Joined> = JoinSet::new();
        // What long operations report as they go: passed on at once (it records nothing).
        let (progress_tx, mut progress_rx) = tokio::sync::mpsc::unbounded_channel::<ApplyEvent>();
        let mut board_changes = self.board.map(Board::watch);
        let parallelism = self.options.parallelism.max(1);
        let mut unsaved = false;
        loop {
            // Operations waiting for resources of other stacks of the run look at the board again.
            if let Some(changes) = &mut board_changes {
                changes.borrow_and_update();
                walk.ready.append(&mut walk.blocked);
            }
            // Each turn records every result that came in and every intent about to be acted
            // on, saves the state once, and only then reports the results and makes the calls.
            let mut starting = vec![];
            while tasks.len() + starting.len() < parallelism && !self.options.stop.requested() {
                let Some(node) = walk.ready.pop() else { break };
                match self.across_stacks(&walk.graph[node]) {
                    Standing::Settled => {}
                    Standing::Pending => {
                        walk.blocked.push(node);
                        continue;
                    }
                    Standing::Failed => {
                        let because =
                            self.failed_across(&walk.graph[node]).unwrap_or_else(|| walk.graph[node].address.clone());
                        walk.finish(node, Outcome::Skipped { because }, Duration::ZERO, None);
                        self.publish_failure(&walk.graph[node].address.clone());
                        for address in walk.skip_dependents(node) {
                            self.publish_failure(&address);
                        }
                        continue;
                    }
                }
                match self.prepare(&walk.graph[node], state) {
                    Ok(call) => {
                        state.pending.push(self.intent(&walk.graph[node], &call, state));
                        starting.push((node, call));
                    }
                    Err(message) => {
                        self.publish_failure(&walk.graph[node].address.clone());
                        for address in walk.fail(node, message) {
                            self.publish_failure(&address);
                        }
                    }
                }
            }
            // With nothing starting and nothing in flight the run is over: the final save follows.
            if !starting.is_empty() || (unsaved && !tasks.is_empty()) {
                self.lock.save(state).await?;
                unsaved = false;
            }
            walk.flush(on_event);
            for (node, call) in starting {
                let op = &walk.graph[node];
                on_event(&ApplyEvent::Started { address: op.address.clone(), kind: op.kind });
                let provider = self.provider.clone();
                let (address, kind, progress_tx) = (op.address.clone(), op.kind, progress_tx.clone());
                tasks.spawn(async move {
                    let started = Instant::now();
                    let progress = move |message: &str| {
                        let message = message.to_string();
                        let _ = progress_tx.send(ApplyEvent::Progress { address: address.clone(), kind, message });
                    };
                    (node, call.make(provider.as_ref(), &progress).await, started.elapsed())
                });
            }
            // Wait for one operation to end (passing on what the others report meanwhile), then
            // take every other that has ended meanwhile.
            let first = match self.next(&mut tasks, &mut progress_rx, &mut board_changes, &walk, on_event).await {
                Next::Ended(joined) => joined,
                Next::BoardChanged => continue,
                Next::Nothing => break,
            };
            let mut joined = Some(first);
            while let Some(next) = joined {
                let (node, result, elapsed) = next.expect("provider calls do not panic");
                self.settle(&mut walk, state, node, result, elapsed);
                unsaved = true;
                joined = tasks.try_join_next();
            }
        }
        for address in walk.abandon_the_rest(self.options.stop.requested()) {
            self.publish_failure(&address);
        }
        state.outputs = super::resolve_outputs(self.desired, state);
        self.lock.save(state).await?;
        walk.flush(on_event);
        Ok(walk.report)
    }

    /// Waits for an operation to end (passing on what the others report meanwhile), or, when
    /// operations wait for other stacks of the run, for the board to change.
    async fn next(
        &self,
        tasks: &mut JoinSet<Joined>,
        progress: &mut tokio::sync::mpsc::UnboundedReceiver<ApplyEvent>,
        board: &mut Option<tokio::sync::watch::Receiver<u64>>,
        walk: &Walk,
        on_event: &(dyn Fn(&ApplyEvent) + Send + Sync),
    ) -> Next {
        let waiting_on_board = !walk.blocked.is_empty() && !self.options.stop.requested();
        loop {
            let board_changed = async {
                match board {
                    Some(changes) if waiting_on_board => changes.changed().await.is_ok(),
                    _ => std::future::pending().await,
                }
            };
            if tasks.is_empty() {
                if !waiting_on_board {
                    return Next::Nothing;
                }
                return if board_changed.await { Next::BoardChanged } else { Next::Nothing };
            }
            tokio::select! {
                joined = tasks.join_next() => return joined.map_or(Next::Nothing, Next::Ended),
                Some(event) = progress.recv() => on_event(&event),
                true = board_changed => return Next::BoardChanged,
            }
        }
    }

    /// Where what `op` needs from the other stacks of the run stands: for a create, update or
    /// await, the resources of other stacks it depends on; for a delete, the resources of other
    /// stacks that depend on it (deleted, or moved off it, first).
    fn across_stacks(&self, op: &Op) -> Standing {
        let Some(board) = self.board else { return Standing::Settled };
        let mut standing = Standing::Settled;
        for other in self.others(op, board) {
            match board.standing(&other) {
                Standing::Failed => return Standing::Failed,
                Standing::Pending => standing = Standing::Pending,
                Standing::Settled => {}
            }
        }
        standing
    }

    /// The resource of another stack whose failure skips `op`.
    fn failed_across(&self, op: &Op) -> Option<Address> {
        let board = self.board?;
        self.others(op, board).into_iter().find(|a| board.standing(a) == Standing::Failed)
    }

    /// The resources of other stacks `op` waits for (see [`Executor::across_stacks`]).
    fn others(&self, op: &Op, board: &Board) -> Vec<Address> {
        match op.kind {
            OpKind::Delete => board.dependents(&op.address),
            _ => self
                .desired
                .resource(&op.address)
                .map(|r| r.dependencies.iter().filter(|d| d.stack() != op.address.stack()).cloned().collect())
                .unwrap_or_default(),
        }
    }

    /// Records how an operation ended and readies what waited for it (or skips it).
    fn settle(
        &self,
        walk: &mut Walk,
        state: &mut StackState,
        node: NodeIndex,
        result: Result<Applied, ProviderError>,
        elapsed: Duration,
    ) {
        let op = walk.graph[node].clone();
        // This operation's intent (an address has several at once only for old resources of a
        // replacement, told apart by their physical ids).
        let mine = |p: &PendingOperation| {
            p.address == op.address
                && p.operation == op.kind.as_str()
                && (op.deposed.is_none() || p.physical_id == op.deposed)
        };
        state.pending.retain(|p| !mine(p));
        let (outcome, physical_id) = match result {
            Ok(applied) => {
                self.record(&op, state, applied.clone(), false);
                (Outcome::Done, Some(applied.physical_id))
            }
            // Created, but its setup failed: recorded as tainted, never lost.
            Err(ProviderError::Incomplete { applied, source }) if op.kind == OpKind::Create => {
                let error = ProviderError::Incomplete { applied: applied.clone(), source };
                self.record(&op, state, applied.clone(), true);
                (Outcome::Failed { error: chain(&error) }, Some(applied.physical_id))
            }
            Err(error) => (Outcome::Failed { error: chain(&error) }, None),
        };
        let failed = outcome != Outcome::Done;
        walk.finish(node, outcome, elapsed, physical_id);
        if failed {
            self.publish_failure(&op.address);
            for address in walk.skip_dependents(node) {
                self.publish_failure(&address);
            }
        } else {
            walk.release(node);
            if let (Some(board), true) = (self.board, op.settles) {
                let outputs = state.resources.get(&op.address).map(|r| r.outputs.clone());
                board.settle(&op.address, if op.kind == OpKind::Delete { None } else { outputs });
            }
        }
    }

    /// Tells the other stacks of the run that `address` will not be settled.
    fn publish_failure(&self, address: &Address) {
        if let Some(board) = self.board {
            board.fail(address);
        }
    }

    /// The intent saved before `call` is made: what a run that dies during the call leaves for
    /// the next one to resolve.
    fn intent(&self, op: &Op, call: &Call, state: &StackState) -> PendingOperation {
        let (name, physical_id, props, token) = match call {
            Call::Create(d) => (d.name.clone(), None, Some(d.props.clone()), Some(d.token.clone())),
            Call::Update(e, _) | Call::Delete(e) | Call::Await(e) => {
                (e.name.clone(), Some(e.physical_id.clone()), None, None)
            }
        };
        PendingOperation {
            address: op.address.clone(),
            operation: op.kind.as_str().to_string(),
            type_name: self
                .desired
                .resource(&op.address)
                .map(|r| r.type_name.clone())
                .or_else(|| state.resources.get(&op.address).map(|r| r.type_name.clone()))
                .unwrap_or_default(),
            name,
            physical_id,
            started_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            props,
            token,
        }
    }

    /// The call an operation makes, with the references of its props resolved.
    fn prepare(&self, op: &Op, state: &StackState) -> Result<Call, String> {
        let existing = |r: &ResourceState| Existing {
            address: op.address.clone(),
            type_name: r.type_name.clone(),
            physical_id: r.physical_id.clone(),
            name: r.name.clone(),
            props: r.props.clone(),
            outputs: r.outputs.clone(),
            delete_allowed: self.options.allow_destroy.contains(&op.address),
        };
        let recorded =
            || state.resources.get(&op.address).map(existing).ok_or(format!("{} is not in the state", op.address));
        match op.kind {
            OpKind::Delete if op.deposed.is_some() => {
                let old = state
                    .deposed
                    .iter()
                    .find(|d| d.address == op.address && Some(&d.resource.physical_id) == op.deposed.as_ref());
                return old
                    .map(|d| Call::Delete(existing(&d.resource)))
                    .ok_or(format!("{} is not in the state", op.address));
            }
            OpKind::Delete => return recorded().map(Call::Delete),
            OpKind::Await => return recorded().map(Call::Await),
            OpKind::Create | OpKind::Update => {}
        }
        let props = self.resolved(&op.address, state)?;
        let spec = self.desired.resource(&op.address).expect("resolved above");
        match op.kind {
            OpKind::Create => Ok(Call::Create(Desired {
                address: op.address.clone(),
                type_name: spec.type_name.clone(),
                name: spec.name.clone(),
                props,
                token: uuid::Uuid::new_v4().to_string(),
            })),
            _ => recorded().map(|e| Call::Update(e, props)),
        }
    }

    /// The desired props of `address`, references resolved against the state and the stacks it
    /// uses, normalized.
    fn resolved(&self, address: &Address, state: &StackState) -> Result<Value, String> {
        let spec = self.desired.resource(address).ok_or_else(|| format!("{address} is not in the stack"))?;
        let schema = schema(&spec.type_name).ok_or_else(|| format!("unknown resource type `{}`", spec.type_name))?;
        let mut missing = vec![];
        let props = resolve_refs(&spec.props, &mut |a, attr| {
            let value = Address::parse(a).and_then(|a| match state.resources.get(&a) {
                Some(r) => r.outputs.get(attr).cloned(),
                // Another stack of the run settled it, or an earlier run did.
                None => self.board.and_then(|b| b.output(&a, attr)).or_else(|| self.upstream.output(&a, attr).cloned()),
            });
            value.unwrap_or_else(|| {
                missing.push(format!("{a}.{attr}"));
                Value::Null
            })
        });
        if !missing.is_empty() {
            return Err(format!("references outputs that are not known: {}", missing.join(", ")));
        }
        Ok(normalize(schema, &props))
    }

    /// Records what an operation did in the state.
    fn record(&self, op: &Op, state: &mut StackState, applied: Applied, tainted: bool) {
        match op.kind {
            OpKind::Delete if op.deposed.is_some() => {
                let old = |d: &crate::state::Deposed| {
                    d.address == op.address && Some(&d.resource.physical_id) == op.deposed.as_ref()
                };
                if let Some(i) = state.deposed.iter().position(old) {
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
                let spec = self.desired.resource(&op.address).expect("creates and updates are of desired resources");
                let props = self.resolved(&op.address, state).unwrap_or(Value::Null);
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
}

impl Call {
    /// Makes the call; waits report to `progress`. Deleting what is already gone counts as
    /// deleted.
    async fn make(self, provider: &dyn Provider, progress: &Progress) -> Result<Applied, ProviderError> {
        match self {
            Call::Create(d) => provider.create(&d).await,
            Call::Update(e, props) => provider.update(&e, &props).await,
            Call::Await(e) => {
                provider.await_ready(&e, progress).await.map(|outputs| Applied { physical_id: e.physical_id, outputs })
            }
            Call::Delete(e) => match provider.delete(&e, progress).await {
                Ok(()) => Ok(Applied { physical_id: e.physical_id, outputs: BTreeMap::new() }),
                Err(err) if err.is_not_found() => Ok(Applied { physical_id: e.physical_id, outputs: BTreeMap::new() }),
                Err(err) => Err(err),
            },
        }
    }
}

impl Walk {
    fn new(executor: &Executor<'_>, state: &StackState) -> Self {
        let graph = operations(executor.plan, executor.desired, state);
        let waiting: Vec<usize> =
            graph.node_indices().map(|n| graph.neighbors_directed(n, Direction::Incoming).count()).collect();
        let mut ready: Vec<NodeIndex> = graph.node_indices().filter(|n| waiting[n.index()] == 0).collect();
        ready.reverse();
        let finished = vec![false; graph.node_count()];
        Self { graph, waiting, ready, blocked: vec![], finished, report: ApplyReport::default(), events: vec![] }
    }

    /// Ends an operation: reported (once saved) and counted.
    fn finish(&mut self, node: NodeIndex, outcome: Outcome, elapsed: Duration, physical_id: Option<String>) {
        let op = &self.graph[node];
        self.finished[node.index()] = true;
        tracing::info!(address = %op.address, operation = op.kind.as_str(), ?outcome, ?elapsed, "finished");
        self.events.push(ApplyEvent::Finished {
            address: op.address.clone(),
            kind: op.kind,
            outcome: outcome.clone(),
            elapsed,
            physical_id,
        });
        self.report.results.push(OpResult { address: op.address.clone(), kind: op.kind, outcome, elapsed });
    }

    /// An operation that could not even be prepared; the addresses skipped for it.
    fn fail(&mut self, node: NodeIndex, message: String) -> Vec<Address> {
        self.finish(node, Outcome::Failed { error: message }, Duration::ZERO, None);
        self.skip_dependents(node)
    }

    /// Readies the operations that waited only for `node`.
    fn release(&mut self, node: NodeIndex) {
        let next: Vec<NodeIndex> = self.graph.neighbors(node).collect();
        for n in next {
            self.waiting[n.index()] -= 1;
            if self.waiting[n.index()] == 0 && !self.finished[n.index()] {
                self.ready.push(n);
            }
        }
    }

    /// Skips everything that depends, directly or not, on the failed `node`; the addresses
    /// skipped.
    fn skip_dependents(&mut self, failed: NodeIndex) -> Vec<Address> {
        let because = self.graph[failed].address.clone();
        let mut skipped = vec![];
        let mut stack: Vec<NodeIndex> = self.graph.neighbors(failed).collect();
        while let Some(n) = stack.pop() {
            if self.finished[n.index()] {
                continue;
            }
            self.finish(n, Outcome::Skipped { because: because.clone() }, Duration::ZERO, None);
            skipped.push(self.graph[n].address.clone());
            stack.extend(self.graph.neighbors(n));
        }
        skipped
    }

    /// Operations never reached: the run was interrupted, or (a bug) the graph had a cycle; they
    /// are reported rather than claimed done.
    fn abandon_the_rest(&mut self, stopped: bool) -> Vec<Address> {
        let left: Vec<NodeIndex> = self.graph.node_indices().filter(|n| !self.finished[n.index()]).collect();
        let addresses = left.iter().map(|n| self.graph[*n].address.clone()).collect();
        for node in left {
            let outcome = if stopped {
                Outcome::NotStarted
            } else {
                Outcome::Failed { error: "not run: its operations wait on each other".into() }
            };
            self.finish(node, outcome, Duration::ZERO, None);
        }
        addresses
    }

    /// Hands the events kept so far to `on_event` (their results are saved by now).
    fn flush(&mut self, on_event: &(dyn Fn(&ApplyEvent) + Send + Sync)) {
        for event in self.events.drain(..) {
            on_event(&event);
        }
    }
}
