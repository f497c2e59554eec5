//! The stacks this binary knows, by name, in dependency order.

use platform::model::{StackError, StackSpec};
use stacks::Environment;

/// A stack of the catalog.
pub struct Entry {
    /// The name used with `--stack`.
    pub name: &'static str,
    /// One line about it.
    pub description: &'static str,
    /// Whether `--all` includes it (the pipeline stack is applied by an administrator, by name).
    pub in_all: bool,
}

/// Every stack, upstream stacks first (`--all` applies in this order and destroys in reverse).
pub const ENTRIES: &[Entry] = &[
    Entry {
        name: stacks::account::NAME,
        description: "the AWS account's GitHub OIDC provider, once per account whatever the environment (an administrator's, applied first; not in --all)",
        in_all: false,
    },
    Entry {
        name: stacks::pipeline::NAME,
        description: "CI: the state bucket, the deploy and plan roles, the services' permissions boundary (an administrator's, applied after the account; not in --all)",
        in_all: false,
    },
    Entry {
        name: stacks::foundation::NAME,
        description: "network, container registry, ECS cluster, service discovery and shared logs",
        in_all: true,
    },
    Entry {
        name: card_stacks::DEPENDENCIES,
        description: "the card service's PostgreSQL database and image bucket",
        in_all: true,
    },
    Entry {
        name: card_stacks::SERVICE,
        description: "the card service: load balancer, security groups, roles, task definition, ECS service",
        in_all: true,
    },
];

/// The catalog's entry for `name`.
pub fn entry(name: &str) -> Option<&'static Entry> {
    ENTRIES.iter().find(|e| e.name == name)
}

/// The stacks that run an image, and so need an image tag.
pub const NEEDS_IMAGE_TAG: &[&str] = &[card_stacks::SERVICE];

/// Builds every stack of the catalog for `environment`, in the order of [`ENTRIES`], services
/// running `image_tag`. Building is pure and checks every stack before any AWS call.
pub fn build(environment: &Environment, image_tag: &str) -> Result<Vec<StackSpec>, StackError> {
    let account = stacks::account()?;
    let pipeline = stacks::pipeline(environment)?;
    let foundation = stacks::foundation(environment)?;
    let mut specs = vec![account.spec, pipeline.spec, foundation.spec.clone()];
    specs.extend(card_stacks::card_stacks(environment, &foundation, image_tag)?);
    Ok(specs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_entries_are_the_built_stacks_in_dependency_order() {
        for environment in ["dev", "staging", "prod"] {
            let environment = stacks::Environments::builtin().get(environment).unwrap().clone();
            let specs = build(&environment, "v1").unwrap();
            let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
            assert_eq!(names, ENTRIES.iter().map(|e| e.name).collect::<Vec<_>>());
            for (i, spec) in specs.iter().enumerate() {
                for upstream in &spec.upstream {
                    assert!(names[..i].contains(&upstream.as_str()), "{} uses {upstream}, declared later", spec.name);
                }
            }
        }
    }
}
