//! The dependency graph of a stack's resources (pure).

use std::collections::HashMap;

use petgraph::algo::{tarjan_scc, toposort};
use petgraph::graph::{DiGraph, NodeIndex};

use crate::model::{Address, StackError, StackSpec};

/// Resources as nodes, and an edge from each dependency to its dependent.
#[derive(Debug)]
pub struct DependencyGraph {
    graph: DiGraph<Address, ()>,
}

impl DependencyGraph {
    /// Builds the graph of a stack, refusing cycles (naming every address in them).
    /// References to addresses outside the stack are ignored here; [`crate::model::Stack::build`] reports them.
    pub fn of(spec: &StackSpec) -> Result<Self, StackError> {
        let mut graph = DiGraph::new();
        let mut index: HashMap<&Address, NodeIndex> = HashMap::new();
        for r in &spec.resources {
            index.insert(&r.address, graph.add_node(r.address.clone()));
        }
        for r in &spec.resources {
            for d in &r.dependencies {
                if let Some(&from) = index.get(d) {
                    graph.add_edge(from, index[&r.address], ());
                }
            }
        }
        let this = Self { graph };
        if toposort(&this.graph, None).is_err() {
            let mut cycle = tarjan_scc(&this.graph)
                .into_iter()
                .find(|scc| scc.len() > 1 || this.graph.contains_edge(scc[0], scc[0]))
                .map(|scc| scc.into_iter().map(|n| this.graph[n].clone()).collect::<Vec<_>>())
                .unwrap_or_default();
            cycle.sort();
            return Err(StackError::Cycle { stack: spec.name.clone(), cycle });
        }
        Ok(this)
    }

    /// The addresses in an order where every resource comes after its dependencies
    /// (ties broken by address, so the order is stable).
    pub fn order(&self) -> Vec<Address> {
        let mut indegree: Vec<usize> =
            self.graph.node_indices().map(|n| self.graph.neighbors_directed(n, petgraph::Incoming).count()).collect();
        let mut ready: std::collections::BTreeSet<(Address, NodeIndex)> = self
            .graph
            .node_indices()
            .filter(|n| indegree[n.index()] == 0)
            .map(|n| (self.graph[n].clone(), n))
            .collect();
        let mut out = Vec::with_capacity(self.graph.node_count());
        while let Some((address, n)) = ready.pop_first() {
            out.push(address);
            for m in self.graph.neighbors(n) {
                indegree[m.index()] -= 1;
                if indegree[m.index()] == 0 {
                    ready.insert((self.graph[m].clone(), m));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use serde_json::json;

    use super::*;
    use crate::model::{Env, ResourceSpec};

    fn spec(edges: &[(&str, &[&str])]) -> StackSpec {
        StackSpec {
            name: "s".into(),
            env: Env::new("dev").unwrap(),
            resources: edges
                .iter()
                .map(|(name, deps)| ResourceSpec {
                    address: Address::new("s", *name),
                    type_name: "test.thing".into(),
                    name: None,
                    props: json!({}),
                    dependencies: deps.iter().map(|d| Address::new("s", *d)).collect::<BTreeSet<_>>(),
                    protected: false,
                })
                .collect(),
            outputs: BTreeMap::new(),
            upstream: BTreeSet::new(),
            waivers: vec![],
            expected_drift: vec![],
        }
    }

    #[test]
    fn orders_dependencies_first() {
        let g = DependencyGraph::of(&spec(&[("c", &["b"]), ("b", &["a"]), ("a", &[]), ("d", &[])])).unwrap();
        let order: Vec<String> = g.order().iter().map(|a| a.name().to_string()).collect();
        assert_eq!(order, ["a", "b", "c", "d"]);
    }

    #[test]
    fn names_every_address_of_a_cycle() {
        let err = DependencyGraph::of(&spec(&[("a", &["c"]), ("b", &["a"]), ("c", &["b"]), ("d", &[])])).unwrap_err();
        assert_eq!(err.to_string(), "stack `s` has a dependency cycle: s.a -> s.b -> s.c");
    }
}
