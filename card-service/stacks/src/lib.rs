//! The card service's infrastructure, declared: its dependencies (a PostgreSQL database for the
//! cards, a bucket for their images) on the shared foundation.

use platform::model::{StackError, StackSpec};
use stacks::{dependencies, DatabaseOptions, DependenciesOptions, Environment, Foundation};

/// The name of the card service's dependencies stack.
pub const DEPENDENCIES: &str = "card-dependencies";

/// The card service's stacks, built on `foundation`, in the order they are applied.
pub fn card_stacks(environment: &Environment, foundation: &Foundation) -> Result<Vec<StackSpec>, StackError> {
    let dependencies = dependencies(
        DEPENDENCIES,
        environment,
        foundation,
        &DependenciesOptions { database: Some(DatabaseOptions::postgres("cards")), bucket: true },
    )?;
    Ok(vec![dependencies.spec])
}
