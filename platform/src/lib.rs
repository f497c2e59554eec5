//! `platform`: infrastructure as code for AWS.
//!
//! - [`model`] and [`resources`]: typed resources in stacks, with typed references (pure).
//! - [`graph`], [`plan`], [`render`]: the dependency graph, the diff, and how plans are shown (pure).
//! - [`report`]: what an apply reports as it goes and when it ends (pure data).
//! - [`apply`] and [`engine`]: the executor and the orchestration of lock, refresh, plan and apply.
//! - [`provider`]: create, read, update, delete through the AWS SDK for Rust (IO).
//! - [`state`]: the recorded state and its backends (IO).

pub mod access;
pub mod apply;
pub mod drift;
pub mod engine;
pub mod graph;
pub mod model;
pub mod plan;
pub mod policy;
pub mod provider;
pub mod render;
pub mod report;
pub mod resources;
pub mod saved;
pub mod state;

#[cfg(test)]
mod tests;

pub use engine::{Engine, EngineError, Prepared};
pub use model::{Address, Env, Handle, Ref, Stack, StackError, StackSpec};
