//! IAM: roles with inline policies built from typed statements.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Arn, Name, Tags};
use crate::model::{Handle, NameStyle, Ref, Resource, TypeSchema};

/// Schema of [`Role`].
pub const ROLE: TypeSchema = TypeSchema {
    type_name: "aws.iam.role",
    name_style: NameStyle::Dashed { max_len: 64, lowercase: false },
    force_new: &["name"],
    sets: &["managed_policies"],
    taggable: true,
    outputs: &["arn", "name"],
    awaits: false,
    create_before_destroy: false,
};

/// Whether a statement allows or denies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Effect {
    /// Allow.
    Allow,
    /// Deny.
    Deny,
}

/// One statement of a policy: these actions on these resources.
#[derive(Debug, Clone, Serialize)]
pub struct Statement {
    /// Allow or deny.
    pub effect: Effect,
    /// Actions, e.g. `s3:GetObject`.
    pub actions: Vec<String>,
    /// Resource ARNs (references, possibly with a suffix such as `/cards/*`), or `*` where the
    /// actions cannot be scoped to a resource.
    pub resources: Vec<Ref<Arn>>,
}

impl Statement {
    /// Allows `actions` on `resources`.
    pub fn allow(actions: &[&str], resources: Vec<Ref<Arn>>) -> Self {
        Self { effect: Effect::Allow, actions: actions.iter().map(|a| a.to_string()).collect(), resources }
    }
}

/// A policy document.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PolicyDocument {
    /// Its statements.
    pub statements: Vec<Statement>,
}

/// A role assumable by one AWS service, with inline policies.
#[derive(Debug, Clone, Serialize)]
pub struct Role {
    /// The service principal that may assume it, e.g. `ecs-tasks.amazonaws.com`; the trust policy
    /// allows exactly that service.
    pub trusted_service: String,
    /// Inline policies by name.
    pub policies: BTreeMap<String, PolicyDocument>,
    /// ARNs of managed policies attached to it.
    pub managed_policies: Vec<String>,
    /// User tags.
    pub tags: Tags,
}

impl Resource for Role {
    const TYPE: &'static str = ROLE.type_name;
    fn validate(&self, problems: &mut Vec<String>) {
        if !self.trusted_service.ends_with(".amazonaws.com") {
            problems.push(format!("trusted_service: `{}` is not a service principal", self.trusted_service));
        }
        for (name, doc) in &self.policies {
            let ok = !name.is_empty()
                && name.len() <= 128
                && name.chars().all(|c| c.is_ascii_alphanumeric() || "+=,.@-_".contains(c));
            if !ok {
                problems.push(format!("policies: `{name}` is not a valid policy name"));
            }
            for s in &doc.statements {
                if s.actions.is_empty() || s.resources.is_empty() {
                    problems.push(format!("policies.{name}: every statement needs actions and resources"));
                }
                for a in &s.actions {
                    if a != "*" && !a.contains(':') {
                        problems.push(format!("policies.{name}: `{a}` is not an action (service:Action)"));
                    }
                }
            }
        }
    }
}

impl Handle<Role> {
    /// The role's ARN.
    pub fn arn(&self) -> Ref<Arn> {
        self.output("arn")
    }
    /// The role's name.
    pub fn name(&self) -> Ref<Name> {
        self.output("name")
    }
}
