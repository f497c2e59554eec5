//! The resource model: addresses, environments, typed references and the stack builder.
//!
//! Everything here is pure: no IO, no AWS. A [`Stack`] is built from typed resources
//! ([`Resource`]) and turns into a [`StackSpec`], the untyped desired state the
//! graph, plan and apply code work on.

mod address;
pub mod fields;
mod outputs;
pub(crate) mod reference;
mod stack;
pub mod validate;

pub use address::{Address, Env, LOGICAL_NAME_MAX};
pub(crate) use outputs::outputs;
pub use reference::{is_unknown, unknown, Ref, JOIN_KEY, REF_KEY, UNKNOWN_KEY};
pub use stack::{ExpectedDrift, Handle, ResourceSpec, Stack, StackError, StackSpec, Waiver};

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

/// Tag keys that every taggable resource carries.
pub const TAG_STACK: &str = "platform:stack";
/// Tag key holding the environment name.
pub const TAG_ENV: &str = "platform:env";
/// Tag key holding the resource's address.
pub const TAG_ADDRESS: &str = "platform:address";

/// A typed resource: the props a user declares for one AWS resource.
///
/// The props serialize to JSON; [`Ref`] values inside them become references to
/// other resources' outputs, which is how the dependency graph is derived. The same type is
/// what providers read back from the cloud (so declared and observed props are one form, diffed
/// attribute by attribute): it deserializes from resolved props, where references are values.
pub trait Resource: Serialize + DeserializeOwned {
    /// What the engine needs to know about the type (its name, how it is named, what forces a
    /// replacement, its outputs...).
    const SCHEMA: &'static TypeSchema;

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
    /// `{env}-{stack}-{logical}-{hash}` (the first part shortened to fit the length limit),
    /// recorded as the `name` attribute, where the hash (8 hex digits) is of the declared
    /// attributes that force a replacement: a replacement gets a new
    /// name, so it can be created while the old resource still exists and is in use (security
    /// groups and target groups, whose names AWS keeps unique), and the same declaration always
    /// gets the same name (so a create whose answer was lost is found by it).
    Unique {
        /// The AWS length limit for this type's names.
        max_len: usize,
        /// Whether AWS only accepts lower case names.
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

impl NameStyle {
    /// Whether the name is recorded in the props as the `name` attribute.
    pub fn in_props(self) -> bool {
        matches!(self, NameStyle::Dashed { .. } | NameStyle::Unique { .. } | NameStyle::Path { .. })
    }
}

/// A check across the resources of a stack that one type needs (subnets inside their VPC, say),
/// run by [`Stack::build`] once for each type the stack holds. Each problem is pushed as a
/// sentence naming the address.
pub type StackCheck = fn(&StackSpec, &mut Vec<String>);

/// What a change of a resource opens up (new permissions, ingress, public exposure), from its
/// props before (none when created) to after, one sentence each.
pub type Widening = fn(Option<&Value>, &Value) -> Vec<String>;

/// What a type says of an in-place update of one of its resources, from its props before to
/// after (both resolved as far as the plan knows them): changes AWS would refuse, refused at plan
/// time before any call, and notes the plan shows (a change deferred to a maintenance window).
pub type UpdateCheckFn = fn(&Value, &Value) -> UpdateCheck;

/// The result of an [`UpdateCheckFn`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdateCheck {
    /// Why the change cannot be made, one sentence each (naming the attribute).
    pub refused: Vec<String>,
    /// What the plan should say about how it is made.
    pub notes: Vec<String>,
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
    /// Attributes that are documents people read as a whole (a policy, a container definition):
    /// plans and drift reports show their changes as a line diff of the document. `name` is a
    /// top-level attribute, `name.*` each entry of an object (each inline policy of a role).
    pub documents: &'static [&'static str],
    /// Whether the resource carries tags (the engine then adds the `platform:*` tags).
    pub taggable: bool,
    /// Output attribute names the provider records after create (see the `outputs!` macro).
    pub outputs: &'static [&'static str],
    /// Whether the resource becomes available some time after a create or update returns (a
    /// database, say): the engine records it, then awaits it before anything that depends on it.
    pub awaits: bool,
    /// Whether a replacement creates the new resource first and deletes the old one after its
    /// dependents moved to the new one (for immutable, unnamed things such as task definition
    /// revisions). Otherwise the old one is deleted first, freeing its deterministic name.
    pub create_before_destroy: bool,
    /// A check across the stack's resources this type needs, if any.
    pub stack_check: Option<StackCheck>,
    /// What a change of a resource of this type opens up, if the type can widen access.
    pub widening: Option<Widening>,
    /// What an in-place update of a resource of this type cannot be, and what the plan says of
    /// it, if the type has anything to say.
    pub update_check: Option<UpdateCheckFn>,
}

impl TypeSchema {
    /// A schema with nothing set but the name: the base of every schema, completed with struct
    /// update syntax (`TypeSchema { type_name: .., ..TypeSchema::BASE }`).
    pub const BASE: TypeSchema = TypeSchema {
        type_name: "",
        name_style: NameStyle::None,
        force_new: &[],
        sets: &[],
        documents: &[],
        taggable: false,
        outputs: &[],
        awaits: false,
        create_before_destroy: false,
        stack_check: None,
        widening: None,
        update_check: None,
    };

    /// Whether a change of this top-level attribute forces a replacement.
    pub fn forces_new(&self, attribute: &str) -> bool {
        self.force_new.contains(&attribute)
    }

    /// The document `path` belongs to (`policies.task` for `policies.task.statements[0]`), if
    /// it is a document or lies inside one.
    pub fn document_of<'p>(&self, path: &'p str) -> Option<&'p str> {
        self.documents.iter().find_map(|pattern| {
            let (attribute, each) = match pattern.strip_suffix(".*") {
                Some(attribute) => (attribute, true),
                None => (*pattern, false),
            };
            let rest = path.strip_prefix(attribute)?;
            if !each {
                return (rest.is_empty() || rest.starts_with(['.', '['])).then(|| &path[..attribute.len()]);
            }
            let key = rest.strip_prefix('.')?;
            let end = key.find(['.', '[']).unwrap_or(key.len());
            (end > 0).then(|| &path[..attribute.len() + 1 + end])
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_paths_are_found_for_attributes_and_for_each_entry_of_an_object() {
        let schema = TypeSchema { documents: &["policies.*", "containers"], ..TypeSchema::BASE };
        assert_eq!(schema.document_of("policies.task.statements[0].actions"), Some("policies.task"));
        assert_eq!(schema.document_of("policies.task"), Some("policies.task"));
        assert_eq!(schema.document_of("policies"), None, "the object of documents is not one");
        assert_eq!(schema.document_of("containers[0].image"), Some("containers"));
        assert_eq!(schema.document_of("containers"), Some("containers"));
        assert_eq!(schema.document_of("containers_extra"), None);
        assert_eq!(schema.document_of("cpu"), None);
    }
}
