//! The graph of operations a plan becomes: which provider calls, and which must wait for which.

use std::collections::HashMap;

use petgraph::graph::{DiGraph, NodeIndex};

use crate::model::{Address, StackSpec};
use crate::plan::{Action, Plan};
use crate::report::OpKind;
use crate::resources::schema;
use crate::state::StackState;

/// One provider call of an apply.
#[derive(Debug, Clone)]
pub(super) struct Op {
    pub address: Address,
    pub kind: OpKind,
    /// The operation is on an old resource of a replaced address (create before destroy): its
    /// physical id.
    pub deposed: Option<String>,
    /// The address is done once this operation is (its last one, or its delete): resources of
    /// other stacks of the run waiting for it may go ahead.
    pub settles: bool,
}

/// The graph of operations: an edge from each operation to those that must wait for it.
pub(super) fn operations(plan: &Plan, desired: &StackSpec, state: &StackState) -> DiGraph<Op, ()> {
    let mut g = DiGraph::new();
    let mut creates: HashMap<&Address, NodeIndex> = HashMap::new();
    let mut updates: HashMap<&Address, NodeIndex> = HashMap::new();
    let mut deletes: HashMap<&Address, NodeIndex> = HashMap::new();
    // The first and last operation of each address that is created, updated or awaited.
    let mut entry: HashMap<&Address, NodeIndex> = HashMap::new();
    let mut exit: HashMap<&Address, NodeIndex> = HashMap::new();
    // Old resources of addresses replaced create-before-destroy (now, or in an earlier run that
    // stopped before deleting them).
    let mut retired: HashMap<&Address, Vec<NodeIndex>> = HashMap::new();
    for change in &plan.resources {
        let a = &change.address;
        // The operations of this address, in order; each waits for the one before.
        let mut chain: Vec<NodeIndex> = vec![];
        let add = |g: &mut DiGraph<Op, ()>, chain: &mut Vec<NodeIndex>, kind| {
            let node = g.add_node(Op { address: a.clone(), kind, deposed: None, settles: false });
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
                let old = Op {
                    address: a.clone(),
                    kind: OpKind::Delete,
                    deposed: change.physical_id.clone(),
                    settles: false,
                };
                retired.entry(a).or_default().push(g.add_node(old));
            }
            Action::Delete => {
                let delete = Op { address: a.clone(), kind: OpKind::Delete, deposed: None, settles: true };
                deletes.insert(a, g.add_node(delete));
            }
            Action::Replace if schema(&change.type_name).is_some_and(|s| s.create_before_destroy) => {
                // Create the new one, let dependents move to it, then delete the old one.
                creates.insert(a, add(&mut g, &mut chain, OpKind::Create));
                if awaits {
                    add(&mut g, &mut chain, OpKind::Await);
                }
                let old = Op {
                    address: a.clone(),
                    kind: OpKind::Delete,
                    deposed: change.physical_id.clone(),
                    settles: false,
                };
                let retire = g.add_node(old);
                g.add_edge(*chain.last().expect("the create"), retire, ());
                retired.entry(a).or_default().push(retire);
            }
            Action::Replace => {
                // Delete, then create: the create is where the address's new life begins.
                let delete = g.add_node(Op { address: a.clone(), kind: OpKind::Delete, deposed: None, settles: false });
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
            g[last].settles = true;
        }
    }
    // A resource is created or updated once its dependencies are done (and available); an old
    // resource replaced create-before-destroy is deleted once its dependents moved on (and were
    // awaited: an ECS service's rollout to a new task definition, say, so that a failed rollout
    // keeps the revision it rolled back to).
    for r in &desired.resources {
        for d in &r.dependencies {
            if let (Some(&node), Some(&dep)) = (entry.get(&r.address), exit.get(d)) {
                g.add_edge(dep, node, ());
            }
            if let (Some(&done), Some(old)) = (exit.get(&r.address), retired.get(d)) {
                for &retire in old {
                    g.add_edge(done, retire, ());
                }
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
