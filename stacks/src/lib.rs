//! Reusable stack constructors. Each is a pure function of an [`Environment`] (and of the stacks it
//! builds on) that returns a checked stack and typed handles for the stacks built on it.

pub mod account;
pub mod dependencies;
pub mod environments;
pub mod foundation;
pub mod pipeline;
pub mod service;

pub use account::{account, Account};
pub use dependencies::{dependencies, DataBucket, DatabaseOptions, Dependencies, DependenciesOptions};
pub use environments::{Environment, Environments, Settings};
pub use foundation::{foundation, foundation_with, Foundation, FoundationOptions};
pub use pipeline::{pipeline, Pipeline};
pub use service::{service, Grant, ServiceOptions, ServiceStack};
