//! Reusable stack constructors. Each is a pure function of the environment that returns a
//! checked [`StackSpec`]; the CLI's catalog registers them by name.

pub mod foundation;

pub use foundation::{foundation, foundation_with, FoundationOptions};
