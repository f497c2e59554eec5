//! The apply executor: walks a plan's operations in dependency order with bounded parallelism,
//! recording every result in the state as soon as it is known.
//!
//! [`operations`] turns a plan into a graph of provider calls; [`Executor`] walks it. What an
//! apply reports ([`ApplyEvent`], [`ApplyReport`]) lives in [`crate::report`], so that what shows
//! it does not depend on what runs it.

mod board;
mod executor;
mod operations;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

pub use crate::report::{ApplyEvent, ApplyReport, OpKind, OpResult, Outcome};
pub use board::Board;
pub use executor::Executor;

use crate::model::reference::resolve_refs;
use crate::model::{Address, StackSpec};
use crate::state::StackState;

/// Options of a run (plan, apply or destroy).
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// The most provider calls in flight at once.
    pub parallelism: usize,
    /// Protected resources the user named as allowed to be deleted or replaced.
    pub allow_destroy: BTreeSet<Address>,
    /// Set (by a Ctrl-C handler, say) to stop starting operations: those in flight finish and are
    /// recorded, the others are reported as not started.
    pub stop: Stop,
    /// When set, only these addresses are planned and applied (a partial run, for an incident):
    /// see [`crate::plan::Targets`].
    pub targets: Option<BTreeSet<Address>>,
    /// Plans read the states without taking their locks (`plan --no-lock`): nothing is written,
    /// and what is prepared cannot be applied.
    pub no_lock: bool,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        Self { parallelism: 10, allow_destroy: BTreeSet::new(), stop: Stop::default(), targets: None, no_lock: false }
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
