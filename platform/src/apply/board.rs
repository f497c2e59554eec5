//! What the stacks of one run tell each other while they are applied at once: which of their
//! resources are settled (applied, or deleted), with what outputs, and which failed. A stack's
//! operation that needs a resource of another stack of the run waits on the board until that
//! resource is settled, rather than waiting for the whole other stack: `apply --all` follows the
//! dependency graph across stacks, so its wall time is the graph's critical path, not the sum of
//! each stack's.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use serde_json::Value;
use tokio::sync::watch;

use crate::model::Address;
use crate::plan::{Action, Plan};
use crate::state::StackState;

/// Where a resource of the run stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Standing {
    /// Not part of the run, or settled: what depends on it may go ahead.
    Settled,
    /// Still to be applied (or deleted) in the run.
    Pending,
    /// Its operation failed (or was skipped): what depends on it is skipped.
    Failed,
}

#[derive(Debug, Default)]
struct Inner {
    pending: BTreeSet<Address>,
    failed: BTreeSet<Address>,
    outputs: BTreeMap<Address, BTreeMap<String, Value>>,
}

/// The shared board of a run of several stacks.
#[derive(Debug)]
pub struct Board {
    inner: Mutex<Inner>,
    /// Resources of other stacks that depend on each resource (from their declarations and
    /// states): what a delete of it waits for.
    dependents: BTreeMap<Address, BTreeSet<Address>>,
    /// Bumped on every change, so that a waiting stack wakes up and looks again.
    changed: watch::Sender<u64>,
}

impl Board {
    /// The board of a run of these stacks: each with its plan, its desired dependencies (by
    /// address) and its state.
    pub fn new<'a>(stacks: impl IntoIterator<Item = (&'a Plan, &'a crate::model::StackSpec, &'a StackState)>) -> Self {
        let mut inner = Inner::default();
        let mut dependents: BTreeMap<Address, BTreeSet<Address>> = BTreeMap::new();
        for (plan, desired, state) in stacks {
            for change in &plan.resources {
                let awaited = state.resources.get(&change.address).is_some_and(|r| r.awaiting);
                if change.action != Action::NoOp || awaited {
                    inner.pending.insert(change.address.clone());
                }
            }
            let declared = desired.resources.iter().map(|r| (&r.address, &r.dependencies));
            let recorded = state.resources.iter().map(|(a, r)| (a, &r.dependencies));
            for (address, dependencies) in declared.chain(recorded) {
                for d in dependencies.iter().filter(|d| d.stack() != address.stack()) {
                    dependents.entry(d.clone()).or_default().insert(address.clone());
                }
            }
        }
        Self { inner: Mutex::new(inner), dependents, changed: watch::Sender::new(0) }
    }

    /// Where `address` stands.
    pub(crate) fn standing(&self, address: &Address) -> Standing {
        let inner = self.inner.lock().expect("board lock");
        if inner.failed.contains(address) {
            Standing::Failed
        } else if inner.pending.contains(address) {
            Standing::Pending
        } else {
            Standing::Settled
        }
    }

    /// The resources of other stacks that depend on `address`.
    pub(crate) fn dependents(&self, address: &Address) -> Vec<Address> {
        self.dependents.get(address).map(|d| d.iter().cloned().collect()).unwrap_or_default()
    }

    /// An output of a resource settled in this run.
    pub(crate) fn output(&self, address: &Address, attr: &str) -> Option<Value> {
        self.inner.lock().expect("board lock").outputs.get(address).and_then(|o| o.get(attr)).cloned()
    }

    /// `address` is settled, with its outputs (none when it was deleted).
    pub(crate) fn settle(&self, address: &Address, outputs: Option<BTreeMap<String, Value>>) {
        {
            let mut inner = self.inner.lock().expect("board lock");
            inner.pending.remove(address);
            if let Some(outputs) = outputs {
                inner.outputs.insert(address.clone(), outputs);
            }
        }
        self.changed.send_modify(|v| *v += 1);
    }

    /// `address` failed (or was skipped, or not started): what depends on it is skipped.
    pub(crate) fn fail(&self, address: &Address) {
        {
            let mut inner = self.inner.lock().expect("board lock");
            if inner.pending.contains(address) {
                inner.failed.insert(address.clone());
            }
        }
        self.changed.send_modify(|v| *v += 1);
    }

    /// Every resource of `stack` still pending fails: its apply ended (or never started).
    pub(crate) fn abandon(&self, stack: &str) {
        {
            let mut inner = self.inner.lock().expect("board lock");
            let left: Vec<Address> = inner.pending.iter().filter(|a| a.stack() == stack).cloned().collect();
            inner.failed.extend(left);
        }
        self.changed.send_modify(|v| *v += 1);
    }

    /// A watch of the board's changes: look at the board after marking the watch seen, then wait
    /// for its next change.
    pub(crate) fn watch(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }
}
