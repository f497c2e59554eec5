//! The plan: what must change to bring the recorded (and refreshed) state to the desired stack.
//! Pure: no IO.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::graph::DependencyGraph;
use crate::model::reference::resolve_refs;
use crate::model::{is_unknown, unknown, Address, Env, StackSpec, TypeSchema};
use crate::resources::schema;
use crate::state::StackState;

/// The version of the plan's JSON form.
pub const PLAN_FORMAT_VERSION: u32 = 1;

/// What happens to one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Nothing to do.
    NoOp,
    /// Create it.
    Create,
    /// Update it in place.
    Update,
    /// Delete it and create it again (an attribute that AWS cannot change has changed).
    Replace,
    /// Delete it.
    Delete,
}

impl Action {
    /// The word used in plans and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::NoOp => "no-op",
            Action::Create => "create",
            Action::Update => "update",
            Action::Replace => "replace",
            Action::Delete => "delete",
        }
    }
}

/// One attribute that changes. `before` is absent for creates, `after` for deletes;
/// a value known only after apply is `{"$unknown": "address.attr"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttributeChange {
    /// The attribute's path, e.g. `cidr_block` or `tags.Name`.
    pub path: String,
    /// Its recorded value.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub before: Option<Value>,
    /// Its desired value.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub after: Option<Value>,
    /// Whether this change alone forces a replacement.
    pub forces_replacement: bool,
}

/// A document that changes as a whole (a policy, the container definitions), with its value
/// before and after: what plans show as a line diff, where [`AttributeChange`]s give the detail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentChange {
    /// The document's path, e.g. `policies.task` or `containers`.
    pub path: String,
    /// Its recorded value (none when it is new).
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub before: Option<Value>,
    /// Its desired value (none when it goes away).
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub after: Option<Value>,
}

/// A value that is there, even `null` (absent is `None`, by `default`): so that a plan reads
/// back as it was written.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// The planned change of one resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceChange {
    /// The resource's address.
    pub address: Address,
    /// Its type.
    pub type_name: String,
    /// What happens to it.
    pub action: Action,
    /// Its current physical id, if it exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub physical_id: Option<String>,
    /// Attribute by attribute.
    pub changes: Vec<AttributeChange>,
    /// The documents (see [`TypeSchema::documents`]) that change, whole, for an update or a
    /// replacement: plans show them as line diffs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub documents: Vec<DocumentChange>,
    /// Why, when it is not obvious (e.g. it was deleted outside platform).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Whether it holds data, so that deleting or replacing it must be allowed explicitly.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub protected: bool,
    /// Whether this is an old resource of the address, replaced earlier (create before destroy)
    /// and still to be deleted.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deposed: bool,
    /// What this change opens up (new permissions, ingress, public exposure), one sentence each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub widens_access: Vec<String>,
    /// How the change is made, where its type has something to say (a database change deferred
    /// to the maintenance window), one sentence each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl ResourceChange {
    /// The attributes that force the replacement.
    pub fn replaced_because(&self) -> impl Iterator<Item = &str> {
        self.changes.iter().filter(|c| c.forces_replacement).map(|c| c.path.as_str())
    }
}

/// Counts of a plan's actions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Resources to create.
    pub create: usize,
    /// Resources to update in place.
    pub update: usize,
    /// Resources to replace.
    pub replace: usize,
    /// Resources to delete.
    pub delete: usize,
}

/// Who makes the calls, and where: the AWS account, partition, principal and region a plan is
/// made for (the provider's credentials say).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// The account id.
    pub account: String,
    /// The partition (`aws`, `aws-cn`, `aws-us-gov`).
    pub partition: String,
    /// The principal's ARN (the role or user the credentials are for).
    pub principal: String,
    /// The region.
    pub region: String,
}

/// The plan of one stack in one environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// The version of this JSON form.
    pub format_version: u32,
    /// The stack.
    pub stack: String,
    /// The environment.
    pub env: Env,
    /// Whether this plan destroys the stack.
    pub destroy: bool,
    /// The lineage of the state it was made against.
    pub lineage: String,
    /// The serial of the state it was made against.
    pub serial: u64,
    /// The account and region it was made for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<Identity>,
    /// When it is partial: the addresses it was restricted to (see [`Plan::restrict`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targets: Option<Vec<Address>>,
    /// Every resource, in apply order (deletes of removed resources last).
    pub resources: Vec<ResourceChange>,
    /// Guardrail findings the stack waives, each with its reason (shown in every plan).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waived: Vec<crate::policy::Finding>,
}

impl Plan {
    /// Counts per action.
    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for r in &self.resources {
            match r.action {
                Action::Create => s.create += 1,
                Action::Update => s.update += 1,
                Action::Replace => s.replace += 1,
                Action::Delete => s.delete += 1,
                Action::NoOp => {}
            }
        }
        s
    }

    /// Whether applying it would change anything.
    pub fn has_changes(&self) -> bool {
        self.resources.iter().any(|r| r.action != Action::NoOp)
    }

    /// The change of one address (not counting old resources still to be deleted).
    pub fn change(&self, address: &Address) -> Option<&ResourceChange> {
        self.resources.iter().find(|r| &r.address == address && !r.deposed)
    }

    /// Keeps only the changes of `addresses` (and old resources of them still to be deleted): a
    /// partial plan, marked as such. See [`targeted`] for the addresses a set of targets covers.
    pub fn restrict(&mut self, addresses: &BTreeSet<Address>) {
        self.resources.retain(|r| addresses.contains(&r.address));
        self.targets = Some(addresses.iter().filter(|a| a.stack() == self.stack).cloned().collect());
    }

    /// Deletions and replacements of protected resources that `allowed` does not name.
    pub fn blocked<'a>(&'a self, allowed: &'a BTreeSet<Address>) -> impl Iterator<Item = &'a ResourceChange> + 'a {
        self.resources.iter().filter(move |r| {
            r.protected && matches!(r.action, Action::Delete | Action::Replace) && !allowed.contains(&r.address)
        })
    }
}

/// Outputs of resources of the stacks a stack uses, read from their states, and the values of
/// the account (`aws.partition`, see [`crate::model::Ref::partition`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Upstream {
    /// Outputs by address.
    pub outputs: BTreeMap<Address, BTreeMap<String, Value>>,
    /// Upstream stacks that will be applied earlier in the same run: their missing outputs are
    /// unknown rather than an error.
    pub pending: BTreeSet<String>,
    /// The account's values by name (`partition`, `account`), once the engine knows who it acts as.
    pub account: BTreeMap<String, Value>,
}

impl Upstream {
    /// The output `attr` of the upstream resource at `address` (or the account's value
    /// `aws.NAME`).
    pub fn output(&self, address: &Address, attr: &str) -> Option<&Value> {
        if address.stack() == crate::model::reference::PSEUDO_STACK {
            return self.account.get(address.name());
        }
        self.outputs.get(address).and_then(|o| o.get(attr))
    }

    /// These outputs with the values of the account `identity` is in.
    pub fn with_identity(mut self, identity: &Identity) -> Self {
        self.account.insert("partition".into(), Value::String(identity.partition.clone()));
        self.account.insert("account".into(), Value::String(identity.account.clone()));
        self
    }
}

/// Puts a props document in canonical form: unordered lists sorted and deduplicated,
/// tags managed by AWS (`aws:*`) dropped, attributes that are not set (`null`) left out, as a
/// type leaves out an optional attribute it does not declare. Object keys are already sorted
/// (JSON maps are ordered).
pub fn normalize(schema: &TypeSchema, props: &Value) -> Value {
    let Value::Object(map) = props else {
        return props.clone();
    };
    let mut out = Map::new();
    for (key, value) in map.iter().filter(|(_, v)| !v.is_null()) {
        let value = match (key.as_str(), value) {
            (k, Value::Array(items)) if schema.sets.contains(&k) => {
                let mut keyed: Vec<(String, Value)> = items.iter().map(|v| (v.to_string(), v.clone())).collect();
                keyed.sort_by(|a, b| a.0.cmp(&b.0));
                keyed.dedup_by(|a, b| a.0 == b.0);
                Value::Array(keyed.into_iter().map(|(_, v)| v).collect())
            }
            ("tags", Value::Object(tags)) => Value::Object(
                tags.iter().filter(|(k, _)| !k.starts_with("aws:")).map(|(k, v)| (k.clone(), v.clone())).collect(),
            ),
            _ => value.clone(),
        };
        out.insert(key.clone(), value);
    }
    Value::Object(out)
}

fn diff_into(
    path: String,
    before: Option<&Value>,
    after: Option<&Value>,
    forces: bool,
    out: &mut Vec<AttributeChange>,
) {
    match (before, after) {
        (Some(Value::Object(b)), Some(Value::Object(a))) if !a.contains_key(crate::model::UNKNOWN_KEY) => {
            let keys: std::collections::BTreeSet<&String> = b.keys().chain(a.keys()).collect();
            for k in keys {
                diff_into(format!("{path}.{k}"), b.get(k), a.get(k), forces, out);
            }
        }
        // Lists of the same length (containers, rules) are compared element by element.
        (Some(Value::Array(b)), Some(Value::Array(a))) if a.len() == b.len() && a != b && !a.iter().any(is_unknown) => {
            for (i, (b, a)) in b.iter().zip(a).enumerate() {
                diff_into(format!("{path}[{i}]"), Some(b), Some(a), forces, out);
            }
        }
        (b, a) if b != a || a.is_some_and(is_unknown) => {
            out.push(AttributeChange { path, before: b.cloned(), after: a.cloned(), forces_replacement: forces })
        }
        _ => {}
    }
}

/// Attribute-level differences between two props documents (top-level keys, and keys of nested objects).
pub fn diff(schema: &TypeSchema, before: &Value, after: &Value) -> Vec<AttributeChange> {
    let empty = Map::new();
    let b = before.as_object().unwrap_or(&empty);
    let a = after.as_object().unwrap_or(&empty);
    let keys: std::collections::BTreeSet<&String> = b.keys().chain(a.keys()).collect();
    let mut out = vec![];
    for k in keys {
        diff_into(k.clone(), b.get(k), a.get(k), schema.forces_new(k), &mut out);
    }
    out
}

/// The props of every desired resource with references resolved as far as the plan knows them:
/// outputs of resources that stay are taken from the state, outputs of resources to be
/// (re)created are unknown.
fn all_attributes_as_changes(props: &Value, before: bool) -> Vec<AttributeChange> {
    props
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| AttributeChange {
                    path: k.clone(),
                    before: before.then(|| v.clone()),
                    after: (!before).then(|| v.clone()),
                    forces_replacement: false,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Plans `desired` against `state` (already refreshed from AWS). `vanished` lists the resources the
/// refresh found deleted outside platform; they were dropped from `state` and are created again.
pub fn plan(
    desired: &StackSpec,
    state: &StackState,
    vanished: &[Address],
    upstream: &Upstream,
) -> Result<Plan, PlanError> {
    let graph = DependencyGraph::of(desired).map_err(PlanError::Stack)?;
    let declared: HashMap<&Address, &crate::model::ResourceSpec> =
        desired.resources.iter().map(|r| (&r.address, r)).collect();
    let mut actions: HashMap<Address, Action> = HashMap::new();
    let mut resources = Vec::with_capacity(desired.resources.len() + state.resources.len());
    // Changes AWS would refuse (see `TypeSchema::update_check`): the plan fails naming them all.
    let mut refused = vec![];
    for address in graph.order() {
        let spec = *declared.get(&address).expect("graph nodes are the stack's resources");
        let schema = schema(&spec.type_name).ok_or_else(|| PlanError::UnknownType(spec.type_name.clone()))?;
        let resolved = resolve_refs(&spec.props, &mut |a, attr| {
            let Some(a) = Address::parse(a) else {
                return unknown(a, attr);
            };
            if a.stack() != desired.name {
                return upstream.output(&a, attr).cloned().unwrap_or_else(|| unknown(&a.to_string(), attr));
            }
            match actions.get(&a) {
                Some(Action::Create | Action::Replace) | None => unknown(&a.to_string(), attr),
                _ => state
                    .resources
                    .get(&a)
                    .and_then(|r| r.outputs.get(attr))
                    .cloned()
                    .unwrap_or_else(|| unknown(&a.to_string(), attr)),
            }
        });
        let after = normalize(schema, &resolved);
        let change = match state.resources.get(&address) {
            None => ResourceChange {
                address: address.clone(),
                type_name: spec.type_name.clone(),
                action: Action::Create,
                physical_id: None,
                changes: all_attributes_as_changes(&after, false),
                documents: vec![],
                reason: vanished.contains(&address).then(|| "it was deleted outside platform".to_string()),
                protected: spec.protected,
                deposed: false,
                widens_access: vec![],
                notes: vec![],
            },
            Some(current) if current.type_name != spec.type_name => ResourceChange {
                address: address.clone(),
                type_name: spec.type_name.clone(),
                action: Action::Replace,
                physical_id: Some(current.physical_id.clone()),
                changes: vec![AttributeChange {
                    path: "type".into(),
                    before: Some(Value::String(current.type_name.clone())),
                    after: Some(Value::String(spec.type_name.clone())),
                    forces_replacement: true,
                }],
                documents: vec![],
                reason: None,
                protected: spec.protected,
                deposed: false,
                widens_access: vec![],
                notes: vec![],
            },
            Some(current) if current.tainted => ResourceChange {
                address: address.clone(),
                type_name: spec.type_name.clone(),
                action: Action::Replace,
                physical_id: Some(current.physical_id.clone()),
                changes: diff(schema, &normalize(schema, &current.props), &after),
                documents: vec![],
                reason: Some("its creation did not finish (tainted)".to_string()),
                protected: false,
                deposed: false,
                widens_access: vec![],
                notes: vec![],
            },
            Some(current) => {
                let changes = diff(schema, &normalize(schema, &current.props), &after);
                let action = if changes.iter().any(|c| c.forces_replacement) {
                    Action::Replace
                } else if changes.is_empty() {
                    Action::NoOp
                } else {
                    Action::Update
                };
                ResourceChange {
                    address: address.clone(),
                    type_name: spec.type_name.clone(),
                    action,
                    physical_id: Some(current.physical_id.clone()),
                    changes,
                    documents: vec![],
                    reason: None,
                    protected: spec.protected,
                    deposed: false,
                    widens_access: vec![],
                    notes: vec![],
                }
            }
        };
        let mut change = change;
        if matches!(change.action, Action::Create | Action::Update | Action::Replace) {
            let before = state
                .resources
                .get(&address)
                .filter(|_| change.action != Action::Create)
                .map(|r| normalize(schema, &r.props));
            change.widens_access = crate::access::widening(&spec.type_name, before.as_ref(), &after);
            if let Some(before) = &before {
                change.documents = documents(schema, before, &after);
            }
            if let (Some(before), Some(check), Action::Update) = (&before, schema.update_check, change.action) {
                let check = check(before, &after);
                refused.extend(check.refused.into_iter().map(|r| format!("{address}: {r}")));
                change.notes = check.notes;
            }
        }
        actions.insert(address, change.action);
        resources.push(change);
    }
    // Resources recorded but no longer declared, deleted dependents first.
    let mut removed: Vec<&Address> = state.resources.keys().filter(|a| !declared.contains_key(a)).collect();
    removed.sort_by_key(|a| std::cmp::Reverse(depth(state, a, &mut BTreeMap::new())));
    for address in removed {
        let current = &state.resources[address];
        resources.push(ResourceChange {
            address: address.clone(),
            type_name: current.type_name.clone(),
            action: Action::Delete,
            physical_id: Some(current.physical_id.clone()),
            changes: all_attributes_as_changes(&current.props, true),
            documents: vec![],
            reason: None,
            protected: current.protected,
            deposed: false,
            widens_access: vec![],
            notes: vec![],
        });
    }
    // Old resources replaced earlier and not yet deleted (a run stopped in between).
    for old in &state.deposed {
        resources.push(ResourceChange {
            address: old.address.clone(),
            type_name: old.resource.type_name.clone(),
            action: Action::Delete,
            physical_id: Some(old.resource.physical_id.clone()),
            changes: vec![],
            documents: vec![],
            reason: Some("it was replaced earlier and is still to be deleted".to_string()),
            protected: false,
            deposed: true,
            widens_access: vec![],
            notes: vec![],
        });
    }
    if !refused.is_empty() {
        return Err(PlanError::Refused(refused));
    }
    Ok(Plan {
        format_version: PLAN_FORMAT_VERSION,
        stack: desired.name.clone(),
        env: desired.env.clone(),
        destroy: desired.resources.is_empty(),
        lineage: state.lineage.clone(),
        serial: state.serial,
        identity: None,
        targets: None,
        resources,
        waived: vec![],
    })
}

/// The documents of a type (see [`TypeSchema::documents`]) that differ between `before` and
/// `after`, each whole.
pub fn documents(schema: &TypeSchema, before: &Value, after: &Value) -> Vec<DocumentChange> {
    let mut out = vec![];
    for pattern in schema.documents {
        match pattern.strip_suffix(".*") {
            Some(attribute) => {
                let entries = |v: &Value| v.get(attribute).and_then(Value::as_object).cloned().unwrap_or_default();
                let (b, a) = (entries(before), entries(after));
                let keys: BTreeSet<&String> = b.keys().chain(a.keys()).collect();
                for key in keys.into_iter().filter(|k| b.get(*k) != a.get(*k)) {
                    out.push(DocumentChange {
                        path: format!("{attribute}.{key}"),
                        before: b.get(key).cloned(),
                        after: a.get(key).cloned(),
                    });
                }
            }
            None => {
                let (b, a) = (before.get(*pattern), after.get(*pattern));
                if b != a {
                    out.push(DocumentChange { path: pattern.to_string(), before: b.cloned(), after: a.cloned() });
                }
            }
        }
    }
    out
}

/// The addresses a partial run with `targets` covers, among the resources of `specs`: the
/// targets and everything they depend on (across stacks) for a plan or an apply; the targets and
/// everything that depends on them for a destroy (what depends on a deleted resource goes first).
pub fn targeted(specs: &[&StackSpec], targets: &BTreeSet<Address>, destroy: bool) -> BTreeSet<Address> {
    let mut edges: HashMap<&Address, Vec<&Address>> = HashMap::new();
    for r in specs.iter().flat_map(|s| &s.resources) {
        for d in &r.dependencies {
            if destroy {
                edges.entry(d).or_default().push(&r.address);
            } else {
                edges.entry(&r.address).or_default().push(d);
            }
        }
    }
    let mut covered: BTreeSet<Address> = targets.clone();
    let mut next: Vec<&Address> = targets.iter().collect();
    while let Some(a) = next.pop() {
        for b in edges.get(a).into_iter().flatten() {
            if covered.insert((*b).clone()) {
                next.push(b);
            }
        }
    }
    covered
}

/// The length of the longest dependency chain below a recorded resource.
fn depth(state: &StackState, address: &Address, memo: &mut BTreeMap<Address, usize>) -> usize {
    if let Some(d) = memo.get(address) {
        return *d;
    }
    memo.insert(address.clone(), 0);
    let d = state
        .resources
        .get(address)
        .map(|r| r.dependencies.iter().map(|d| 1 + depth(state, d, memo)).max().unwrap_or(0))
        .unwrap_or(0);
    memo.insert(address.clone(), d);
    d
}

/// Why a plan could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The desired stack is not a valid graph.
    #[error(transparent)]
    Stack(crate::model::StackError),
    /// A resource type this version does not know.
    #[error("unknown resource type `{0}`")]
    UnknownType(String),
    /// Changes AWS would refuse, each naming its resource and attribute and what to do instead.
    #[error("the plan asks for changes AWS would refuse:\n  {}", .0.join("\n  "))]
    Refused(Vec<String>),
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn documents_are_compared_whole_per_attribute_and_per_entry() {
        let schema = TypeSchema { documents: &["policies.*", "containers"], ..TypeSchema::BASE };
        let before = json!({"policies": {"a": {"x": 1}, "b": {"y": 1}}, "containers": [{"image": "v1"}], "cpu": 256});
        let after = json!({"policies": {"a": {"x": 2}, "c": {"z": 1}}, "containers": [{"image": "v1"}], "cpu": 512});
        let changes = documents(&schema, &before, &after);
        let paths: Vec<&str> = changes.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(paths, ["policies.a", "policies.b", "policies.c"], "unchanged containers are not a change");
        assert_eq!(changes[0].before, Some(json!({"x": 1})));
        assert_eq!(changes[1].after, None, "a policy removed");
        assert_eq!(changes[2].before, None, "a policy added");
    }
}
