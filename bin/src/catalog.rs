//! The stacks this binary knows, by name, in dependency order.

use platform::model::{Env, StackError, StackSpec};

/// A named stack constructor.
pub struct Entry {
    /// The name used with `--stack`.
    pub name: &'static str,
    /// One line about it.
    pub description: &'static str,
    /// Builds the stack for an environment.
    pub build: fn(&Env) -> Result<StackSpec, StackError>,
}

/// Every stack, upstream stacks first (`--all` applies in this order and destroys in reverse).
pub fn catalog() -> Vec<Entry> {
    vec![Entry {
        name: stacks::foundation::NAME,
        description: "network, container registry, ECS cluster, service discovery and shared logs",
        build: stacks::foundation,
    }]
}
