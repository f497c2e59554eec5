use std::collections::{BTreeMap, BTreeSet};
use std::marker::PhantomData;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::reference::visit_refs;
use super::{validate, Address, Env, NameStyle, Ref, Resource, TypeSchema, TAG_ADDRESS, TAG_ENV, TAG_STACK};

/// One resource of a stack's desired state, untyped: what the graph, plan and apply work on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceSpec {
    /// The resource's address.
    pub address: Address,
    /// Its type (the `type_name` of its [`TypeSchema`]).
    pub type_name: String,
    /// Its deterministic physical name.
    pub name: Option<String>,
    /// Its props, including the engine-managed `name` and `tags`; references are still markers.
    pub props: Value,
    /// The addresses it depends on: those it references, and those declared with [`Stack::depends_on`].
    /// Addresses of other stacks are cross-stack references, resolved from those stacks' states.
    pub dependencies: BTreeSet<Address>,
    /// Whether deleting or replacing it must be allowed explicitly (it holds data).
    pub protected: bool,
}

/// A stack's desired state, checked: every name valid, every reference inside the stack, no cycle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StackSpec {
    /// The stack's name.
    pub name: String,
    /// The environment it is built for.
    pub env: Env,
    /// Its resources, in declaration order.
    pub resources: Vec<ResourceSpec>,
    /// Its named outputs; references are resolved after apply.
    pub outputs: BTreeMap<String, Value>,
    /// The stacks it reads outputs from (see [`Stack::uses`]); they are applied before it.
    pub upstream: BTreeSet<String>,
    /// Guardrail rules waived for single addresses, each with its reason (see [`Stack::waive`]).
    pub waivers: Vec<Waiver>,
    /// Attributes whose drift is expected, with the reason (see [`Stack::expect_drift`]).
    pub expected_drift: Vec<ExpectedDrift>,
}

/// An attribute of one resource that is expected to drift (for example a desired count managed by
/// autoscaling): drift reports show it apart and do not count it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpectedDrift {
    /// The resource.
    pub address: Address,
    /// Its top-level attribute, e.g. `desired_count`.
    pub attribute: String,
    /// Why it drifts.
    pub reason: String,
}

/// A guardrail rule waived for one resource, with the reason. Waivers are shown in every plan and
/// guardrail report; there is no way to turn the guardrails off as a whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Waiver {
    /// The rule's id (for example `rds-multi-az`).
    pub rule: String,
    /// The resource it is waived for.
    pub address: Address,
    /// Why, in words a reviewer can judge.
    pub reason: String,
}

impl StackSpec {
    /// The same stack with no resources: what `destroy` plans against.
    pub fn emptied(&self) -> StackSpec {
        StackSpec {
            name: self.name.clone(),
            env: self.env.clone(),
            resources: vec![],
            outputs: BTreeMap::new(),
            upstream: BTreeSet::new(),
            waivers: vec![],
            expected_drift: vec![],
        }
    }

    /// The resource at `address`.
    pub fn resource(&self, address: &Address) -> Option<&ResourceSpec> {
        self.resources.iter().find(|r| &r.address == address)
    }
}

/// Why a stack could not be built. Reported before any AWS call.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum StackError {
    /// Props, names or references that AWS or the engine would refuse.
    #[error("stack `{stack}` ({env}) is invalid:\n{}", problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid {
        /// The stack's name.
        stack: String,
        /// The environment.
        env: String,
        /// One sentence per problem, each naming the address involved.
        problems: Vec<String>,
    },
    /// Resources that depend on each other in a loop.
    #[error("stack `{stack}` has a dependency cycle: {}", cycle.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(" -> "))]
    Cycle {
        /// The stack's name.
        stack: String,
        /// The addresses in the cycle.
        cycle: Vec<Address>,
    },
}

/// A typed handle to a resource added to a stack; its methods give typed references to the
/// resource's outputs (declared with each type's outputs).
pub struct Handle<R> {
    address: Address,
    _type: PhantomData<fn() -> R>,
}

impl<R> Clone for Handle<R> {
    fn clone(&self) -> Self {
        Self { address: self.address.clone(), _type: PhantomData }
    }
}

impl<R> std::fmt::Debug for Handle<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Handle({})", self.address)
    }
}

impl<R> Handle<R> {
    /// The resource's address.
    pub fn address(&self) -> &Address {
        &self.address
    }

    /// A typed reference to one of the resource's outputs.
    pub(crate) fn output<K>(&self, attribute: &'static str) -> Ref<K> {
        Ref::output(self.address.clone(), attribute)
    }
}

/// Builds a stack from typed resources. Problems are collected and reported together by [`Stack::build`].
pub struct Stack {
    name: String,
    env: Env,
    resources: Vec<ResourceSpec>,
    outputs: BTreeMap<String, Value>,
    upstream: BTreeMap<String, BTreeSet<Address>>,
    waivers: Vec<Waiver>,
    expected_drift: Vec<ExpectedDrift>,
    problems: Vec<String>,
    /// The addresses declared so far (duplicates are found without scanning the resources).
    declared: std::collections::HashSet<Address>,
    /// The types the stack holds, for their checks across the stack (see [`TypeSchema::stack_check`]).
    types: BTreeMap<&'static str, &'static TypeSchema>,
}

impl Stack {
    /// Starts an empty stack named `name` for environment `env`.
    pub fn new(name: &str, env: &Env) -> Self {
        let mut problems = vec![];
        if let Err(e) = validate::logical_name(name) {
            problems.push(format!("stack name: {e}"));
        }
        if name == super::reference::PSEUDO_STACK {
            problems.push(format!("stack name: `{name}` is reserved for the values of the account (its partition)"));
        }
        Self {
            name: name.to_string(),
            env: env.clone(),
            resources: vec![],
            outputs: BTreeMap::new(),
            upstream: BTreeMap::new(),
            waivers: vec![],
            expected_drift: vec![],
            problems,
            declared: Default::default(),
            types: BTreeMap::new(),
        }
    }

    /// The stack's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The environment the stack is built for.
    pub fn env(&self) -> &Env {
        &self.env
    }

    /// Adds a resource under `logical` (unique in the stack) and returns its typed handle.
    pub fn add<R: Resource>(&mut self, logical: &str, resource: R) -> Handle<R> {
        self.insert(logical, None, resource)
    }

    /// The name a resource of type `R` added under `logical` gets, known before it is added (for
    /// names other resources must spell out, such as a log group named after an instance);
    /// `None` for types whose name depends on their attributes or that have none.
    pub fn name_for<R: Resource>(&self, logical: &str) -> Option<String> {
        match R::SCHEMA.name_style {
            NameStyle::Tag | NameStyle::Dashed { .. } => Some(format!("{}-{}-{}", self.env, self.name, logical)),
            NameStyle::Path { .. } => Some(format!("/platform/{}/{}/{}", self.env, self.name, logical)),
            NameStyle::Unique { .. } | NameStyle::None => None,
        }
    }

    /// Adds a resource like [`Stack::add`], named `name` instead of the name platform derives from
    /// the address: for a name AWS dictates, such as the log group an RDS instance publishes to
    /// (`/aws/rds/instance/ID/postgresql`). Only for types with a name of their own.
    pub fn add_named<R: Resource>(&mut self, logical: &str, name: &str, resource: R) -> Handle<R> {
        self.insert(logical, Some(name), resource)
    }

    fn insert<R: Resource>(&mut self, logical: &str, named: Option<&str>, resource: R) -> Handle<R> {
        let address = Address::new(&self.name, logical);
        let handle = Handle { address: address.clone(), _type: PhantomData };
        if let Err(e) = validate::logical_name(logical) {
            self.problems.push(format!("{address}: {e}"));
            return handle;
        }
        if !self.declared.insert(address.clone()) {
            self.problems.push(format!("{address}: declared twice"));
            return handle;
        }
        let schema = R::SCHEMA;
        self.types.insert(schema.type_name, schema);
        let mut local = vec![];
        resource.validate(&mut local);
        self.problems.extend(local.into_iter().map(|p| format!("{address}: {p}")));

        let mut props = match serde_json::to_value(&resource) {
            Ok(Value::Object(map)) => map,
            _ => {
                self.problems.push(format!("{address}: props must serialize to a JSON object"));
                return handle;
            }
        };
        let name = match (schema.name_style, named) {
            (NameStyle::Tag | NameStyle::None, Some(_)) => {
                self.problems.push(format!("{address}: a {} is not named by its declaration", schema.type_name));
                None
            }
            (
                NameStyle::Dashed { max_len, .. } | NameStyle::Unique { max_len, .. } | NameStyle::Path { max_len },
                Some(n),
            ) => {
                validate::length(&format!("{address}: name `{n}`"), n, max_len, &mut self.problems);
                Some(n.to_string())
            }
            (NameStyle::Tag, None) => self.name_for::<R>(logical),
            (NameStyle::Dashed { max_len, lowercase } | NameStyle::Unique { max_len, lowercase }, None) => {
                let mut n = format!("{}-{}-{}", self.env, self.name, logical);
                if matches!(schema.name_style, NameStyle::Unique { .. }) {
                    // The readable part is shortened to leave room for the hash.
                    let keep = max_len.saturating_sub(9).min(n.len());
                    n = format!("{}-{}", n[..keep].trim_end_matches('-'), replacement_hash(schema, &props));
                }
                if lowercase && n.chars().any(|c| c.is_ascii_uppercase()) {
                    self.problems.push(format!("{address}: the name `{n}` must be lower case"));
                }
                validate::length(&format!("{address}: name `{n}`"), &n, max_len, &mut self.problems);
                Some(n)
            }
            (NameStyle::Path { max_len }, None) => {
                let n = self.name_for::<R>(logical).unwrap_or_default();
                validate::length(&format!("{address}: name `{n}`"), &n, max_len, &mut self.problems);
                Some(n)
            }
            (NameStyle::None, None) => None,
        };
        if let (Some(n), true) = (&name, schema.name_style.in_props()) {
            props.insert("name".into(), Value::String(n.clone()));
        }
        if schema.taggable {
            let tags = self.tags(&address, &props, name.as_deref().filter(|_| schema.name_style == NameStyle::Tag));
            props.insert("tags".into(), Value::Object(tags));
        }
        let props = Value::Object(props);
        let mut dependencies = BTreeSet::new();
        visit_refs(&props, &mut |a, _| {
            // Values of the account (the partition) depend on no resource.
            if let Some(a) = Address::parse(a).filter(|a| a.stack() != super::reference::PSEUDO_STACK) {
                dependencies.insert(a);
            }
        });
        self.resources.push(ResourceSpec {
            address,
            type_name: schema.type_name.to_string(),
            name,
            props,
            dependencies,
            protected: false,
        });
        handle
    }

    /// Declares that this stack references resources of `upstream` (through the handles its
    /// constructor returned). Such references are resolved from `upstream`'s recorded state, and
    /// `upstream` is applied first.
    pub fn uses(&mut self, upstream: &StackSpec) {
        if upstream.env != self.env {
            self.problems.push(format!(
                "stack `{}` ({}) cannot use stack `{}` of another environment ({})",
                self.name, self.env, upstream.name, upstream.env
            ));
        }
        self.upstream.insert(upstream.name.clone(), upstream.resources.iter().map(|r| r.address.clone()).collect());
    }

    /// Marks a resource as holding data: a plan that would delete or replace it is refused unless
    /// its address is allowed explicitly. `protected` is usually a setting of the environment.
    pub fn protect<R>(&mut self, resource: &Handle<R>, protected: bool) {
        match self.resources.iter_mut().find(|r| r.address == resource.address) {
            Some(r) => r.protected = protected,
            None => self.problems.push(format!("{}: not in stack `{}`", resource.address, self.name)),
        }
    }

    /// Waives the guardrail rule `rule` for `resource`, with the reason a reviewer will read in
    /// every plan and report. The reason must say why (at least a few words).
    pub fn waive<R>(&mut self, resource: &Handle<R>, rule: &str, reason: &str) {
        let address = resource.address.clone();
        if !self.resources.iter().any(|r| r.address == address) {
            self.problems.push(format!("{address}: waiver of `{rule}` for a resource not in stack `{}`", self.name));
        } else if reason.split_whitespace().count() < 3 {
            self.problems.push(format!("{address}: the waiver of `{rule}` needs a reason a reviewer can judge"));
        } else if self.waivers.iter().any(|w| w.rule == rule && w.address == address) {
            self.problems.push(format!("{address}: `{rule}` is waived twice"));
        } else {
            self.waivers.push(Waiver { rule: rule.to_string(), address, reason: reason.trim().to_string() });
        }
    }

    /// Declares that `attribute` of `resource` is changed by something else on purpose (for
    /// example a desired count managed by autoscaling), with the reason: drift reports show such
    /// changes apart and do not count them.
    pub fn expect_drift<R>(&mut self, resource: &Handle<R>, attribute: &str, reason: &str) {
        let address = resource.address.clone();
        match self.resources.iter().find(|r| r.address == address) {
            None => {
                self.problems.push(format!("{address}: expected drift for a resource not in stack `{}`", self.name))
            }
            Some(r) if r.props.get(attribute).is_none() => {
                self.problems.push(format!("{address}: expected drift of `{attribute}`, which it does not have"))
            }
            Some(_) if reason.split_whitespace().count() < 3 => {
                self.problems.push(format!("{address}: the expected drift of `{attribute}` needs a reason"))
            }
            Some(_) => self.expected_drift.push(ExpectedDrift {
                address,
                attribute: attribute.to_string(),
                reason: reason.trim().to_string(),
            }),
        }
    }

    fn tags(&mut self, address: &Address, props: &Map<String, Value>, name_tag: Option<&str>) -> Map<String, Value> {
        let mut tags = Map::new();
        if let Some(Value::Object(user)) = props.get("tags") {
            for (k, v) in user {
                if k.starts_with("platform:") || k.starts_with("aws:") {
                    self.problems.push(format!("{address}: tag `{k}` is reserved"));
                } else if k.len() > 128 || v.as_str().is_none_or(|v| v.len() > 256) {
                    self.problems.push(format!("{address}: tag `{k}` is too long (keys 128, values 256 characters)"));
                }
                tags.insert(k.clone(), v.clone());
            }
        }
        if let Some(n) = name_tag {
            tags.entry("Name").or_insert_with(|| Value::String(n.to_string()));
        }
        tags.insert(TAG_STACK.into(), Value::String(self.name.clone()));
        tags.insert(TAG_ENV.into(), Value::String(self.env.to_string()));
        tags.insert(TAG_ADDRESS.into(), Value::String(address.to_string()));
        tags
    }

    /// Declares that `dependent` must be applied after `dependency` although it does not reference it.
    pub fn depends_on<A, B>(&mut self, dependent: &Handle<A>, dependency: &Handle<B>) {
        match self.resources.iter_mut().find(|r| r.address == dependent.address) {
            Some(r) => {
                r.dependencies.insert(dependency.address.clone());
            }
            None => self.problems.push(format!("{}: not in stack `{}`", dependent.address, self.name)),
        }
    }

    /// Declares a named output of the stack, e.g. `stack.output("vpc_id", vpc.id())`.
    pub fn output(&mut self, name: &str, value: impl Serialize) {
        match serde_json::to_value(value) {
            Ok(v) => {
                if self.outputs.insert(name.to_string(), v).is_some() {
                    self.problems.push(format!("output `{name}` declared twice"));
                }
            }
            Err(e) => self.problems.push(format!("output `{name}`: {e}")),
        }
    }

    /// Checks the whole stack and returns its desired state.
    pub fn build(self) -> Result<StackSpec, StackError> {
        let spec = StackSpec {
            name: self.name,
            env: self.env,
            resources: self.resources,
            outputs: self.outputs,
            upstream: self.upstream.keys().cloned().collect(),
            waivers: self.waivers,
            expected_drift: self.expected_drift,
        };
        let mut problems = self.problems;
        let upstream = self.upstream;
        let types = self.types;
        let known: BTreeSet<&Address> = spec.resources.iter().map(|r| &r.address).collect();
        let resolvable =
            |a: &Address| known.contains(a) || upstream.get(a.stack()).is_some_and(|addresses| addresses.contains(a));
        for r in &spec.resources {
            for d in r.dependencies.iter().filter(|d| !resolvable(d)) {
                let problem = if upstream.contains_key(d.stack()) {
                    format!("{}: references `{d}`, which is not in stack `{}`", r.address, d.stack())
                } else {
                    format!(
                        "{}: references `{d}`, which is not in stack `{}` nor in a stack it uses",
                        r.address, spec.name
                    )
                };
                problems.push(problem);
            }
        }
        for (name, value) in &spec.outputs {
            visit_refs(value, &mut |a, _| {
                if !Address::parse(a).is_some_and(|a| known.contains(&a)) {
                    problems.push(format!("output `{name}`: references `{a}`, which is not in stack `{}`", spec.name));
                }
            });
        }
        for check in types.values().filter_map(|schema| schema.stack_check) {
            check(&spec, &mut problems);
        }
        if !problems.is_empty() {
            return Err(StackError::Invalid { stack: spec.name, env: spec.env.to_string(), problems });
        }
        crate::graph::DependencyGraph::of(&spec)?;
        Ok(spec)
    }
}

/// The hash in a [`NameStyle::Unique`] name: 8 hex digits of the declared attributes that force a
/// replacement (the name itself aside), so that a change that replaces the resource names the new
/// one differently.
fn replacement_hash(schema: &TypeSchema, props: &Map<String, Value>) -> String {
    let forcing: BTreeMap<&str, &Value> =
        schema.force_new.iter().filter(|a| **a != "name").filter_map(|a| props.get(*a).map(|v| (*a, v))).collect();
    let text = serde_json::to_string(&forcing).unwrap_or_default();
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, text.as_bytes()).simple().to_string()[..8].to_string()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_unique_name_changes_exactly_when_the_resource_is_replaced() {
        const UNIQUE: TypeSchema = TypeSchema {
            type_name: "test.unique",
            name_style: NameStyle::Unique { max_len: 32, lowercase: true },
            force_new: &["name", "port"],
            ..TypeSchema::BASE
        };
        let hash = |props: serde_json::Value| replacement_hash(&UNIQUE, props.as_object().unwrap());
        let a = hash(json!({"port": 80, "path": "/health"}));
        assert_eq!(a.len(), 8);
        assert_eq!(a, hash(json!({"port": 80, "path": "/ready"})), "an in-place change keeps the name");
        assert_eq!(a, hash(json!({"port": 80, "name": "x"})), "the name itself is left out");
        assert_ne!(a, hash(json!({"port": 8080, "path": "/health"})), "a replacement gets a new name");
    }
}
