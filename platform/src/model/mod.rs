//! The resource model: addresses, environments, typed references and the stack builder.
//!
//! Everything here is pure: no IO, no AWS. A [`Stack`] is built from typed resources
//! ([`Resource`]) and turns into a [`StackSpec`], the untyped desired state the
//! graph, plan and apply code work on.

mod address;
pub(crate) mod reference;
mod stack;
pub mod validate;

pub use address::{Address, Env, LOGICAL_NAME_MAX};
pub use reference::{is_unknown, unknown, Ref, JOIN_KEY, REF_KEY, UNKNOWN_KEY};
pub use stack::{ExpectedDrift, Handle, ResourceSpec, Stack, StackError, StackSpec, Waiver};

use serde::Serialize;

/// Tag keys that every taggable resource carries.
pub const TAG_STACK: &str = "platform:stack";
/// Tag key holding the environment name.
pub const TAG_ENV: &str = "platform:env";
/// Tag key holding the resource's address.
pub const TAG_ADDRESS: &str = "platform:address";

/// A typed resource: the props a user declares for one AWS resource.
///
/// The props serialize to JSON; [`Ref`] values inside them become references to
/// other resources' outputs, which is how the dependency graph is derived.
pub trait Resource: Serialize {
    /// The resource type, as recorded in state and shown in plans (e.g. `aws.ec2.vpc`).
    const TYPE: &'static str;

    /// Checks the props against AWS rules (lengths, characters, CIDR syntax, allowed values).
    /// Each problem is pushed as a sentence naming the attribute.
    fn validate(&self, _problems: &mut Vec<String>) {}
}

/// How the deterministic physical name of a resource type is formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameStyle {
    /// No name attribute; the name is carried in the `Name` tag (VPCs, subnets, ...).
    Tag,
    /// `{env}-{stack}-{logical}`, recorded as the `name` attribute; changing it replaces.
    Dashed {
        /// The AWS length limit for this type's names.
        max_len: usize,
        /// Whether AWS only accepts lower case names (e.g. ECR).
        lowercase: bool,
    },
    /// `/platform/{env}/{stack}/{logical}`, recorded as the `name` attribute (log groups).
    Path {
        /// The AWS length limit for this type's names.
        max_len: usize,
    },
    /// The resource has no name of its own (associations).
    None,
}

/// What the engine needs to know about a resource type, independent of any provider.
#[derive(Debug)]
pub struct TypeSchema {
    /// The type name, e.g. `aws.ec2.vpc`.
    pub type_name: &'static str,
    /// How its physical name is formed.
    pub name_style: NameStyle,
    /// Top-level attributes whose change forces a replacement.
    pub force_new: &'static [&'static str],
    /// Top-level attributes that are unordered lists; they are sorted before diffing.
    pub sets: &'static [&'static str],
    /// Whether the resource carries tags (the engine then adds the `platform:*` tags).
    pub taggable: bool,
    /// Output attribute names the provider records after create.
    pub outputs: &'static [&'static str],
    /// Whether the resource becomes available some time after a create or update returns (a
    /// database, say): the engine records it, then awaits it before anything that depends on it.
    pub awaits: bool,
    /// Whether a replacement creates the new resource first and deletes the old one after its
    /// dependents moved to the new one (for immutable, unnamed things such as task definition
    /// revisions). Otherwise the old one is deleted first, freeing its deterministic name.
    pub create_before_destroy: bool,
}

impl TypeSchema {
    /// Whether a change of this top-level attribute forces a replacement.
    pub fn forces_new(&self, attribute: &str) -> bool {
        self.force_new.contains(&attribute)
    }
}
