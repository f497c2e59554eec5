//! The engine ties the pure core to the edges: it locks and loads a stack's state, refreshes it
//! from the provider, plans, and applies.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::apply::{self, ApplyEvent, ApplyOptions, ApplyReport};
use crate::model::{Address, Env, StackSpec};
use crate::plan::{self, Plan, PlanError, Upstream};
use crate::provider::{Existing, Provider, ProviderError};
use crate::state::{StackState, StateBackend, StateError, StateLock};

/// Failures of the engine, each naming what the user can do.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A resource cannot be imported.
    #[error("cannot import {address}: {reason}")]
    Import {
        /// The address.
        address: Address,
        /// Why.
        reason: String,
    },
    /// A create a killed run left unfinished could not be looked up.
    #[error("cannot tell whether {address} was created by the run that stopped during its creation; nothing was changed. Check the credentials and run again, or look for resources tagged platform:address={address}")]
    Recover {
        /// The address.
        address: Address,
        /// The cause.
        #[source]
        source: Box<ProviderError>,
    },
    /// The state could not be locked, read or written.
    #[error(transparent)]
    State(#[from] StateError),
    /// The plan could not be made.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// A resource could not be read back from the cloud.
    #[error("cannot refresh {address} ({physical_id}); check your AWS credentials, region and endpoint")]
    Refresh {
        /// The resource.
        address: Address,
        /// Its physical id.
        physical_id: String,
        /// The cause.
        #[source]
        source: Box<ProviderError>,
    },
    /// A stack this one uses has not been applied.
    #[error("stack `{stack}` uses stack `{upstream}`, which has not been applied in `{env}`: apply it first (platform apply --stack {upstream} --env {env}), or apply both with --all")]
    UpstreamNotApplied {
        /// The stack.
        stack: String,
        /// The environment.
        env: String,
        /// The stack it uses.
        upstream: String,
    },
    /// A resource this stack references is missing from the state of the stack that declares it.
    #[error("stack `{stack}` references {address}, which stack `{}` has not recorded in `{env}`: apply `{}` first", address.stack(), address.stack())]
    UpstreamResourceMissing {
        /// The stack.
        stack: String,
        /// The environment.
        env: String,
        /// The resource.
        address: Address,
    },
    /// The plan deletes or replaces protected resources that were not allowed explicitly.
    #[error("refusing to {} in `{env}`: {}. They hold data that would be lost. If that is really intended, name each one: {}",
        if addresses.len() == 1 { "delete or replace a protected resource" } else { "delete or replace protected resources" },
        addresses.iter().map(|(a, why)| format!("{a} ({why})")).collect::<Vec<_>>().join(", "),
        addresses.iter().map(|(a, _)| format!("--allow-destroy {a}")).collect::<Vec<_>>().join(" "))]
    Protected {
        /// The environment.
        env: String,
        /// Each address, with what would happen to it.
        addresses: Vec<(Address, String)>,
    },
    /// The stack breaks guardrail rules (or waives a rule that does not exist). Nothing was read
    /// from or changed in the cloud.
    #[error("stack `{stack}` ({env}) breaks {}:\n{}", plural(report.violations().count() + report.unknown_waivers.len(), "guardrail rule"), crate::render::guardrail_violations(report))]
    Guardrails {
        /// The stack.
        stack: String,
        /// The environment.
        env: String,
        /// What the checks found.
        report: crate::policy::Report,
    },
    /// The stack has no recorded state in the environment.
    #[error("stack `{stack}` has not been applied in `{env}`, so there is nothing to compare: apply it first")]
    NotApplied {
        /// The stack.
        stack: String,
        /// The environment.
        env: String,
    },
    /// The recorded state belongs to another stack or environment.
    #[error(
        "the state of `{stack}` ({env}) records stack `{found_stack}` ({found_env}); it was copied or renamed by hand"
    )]
    Mismatch {
        /// The stack asked for.
        stack: String,
        /// The environment asked for.
        env: String,
        /// The stack in the document.
        found_stack: String,
        /// The environment in the document.
        found_env: String,
    },
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// A stack locked, loaded, refreshed and planned; ready to apply. Dropping it releases the lock.
pub struct Prepared {
    /// The plan.
    pub plan: Plan,
    /// Resources the refresh found deleted outside platform.
    pub vanished: Vec<Address>,
    desired: StackSpec,
    upstream: Upstream,
    state: StackState,
    refreshed_differs: bool,
    lock: Box<dyn StateLock>,
    recovered: Vec<Recovery>,
}

/// A resource brought under management by [`Engine::import`].
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    /// Its address.
    pub address: Address,
    /// Its physical id.
    pub physical_id: String,
}

/// How an operation a killed run left unfinished was resolved.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum Recovery {
    /// The create had happened: the resource was found by its name or tags and adopted.
    Adopted {
        /// The address.
        address: Address,
        /// The resource found.
        physical_id: String,
    },
    /// The create had not happened: the plan creates it again.
    NotCreated {
        /// The address.
        address: Address,
    },
    /// An update, delete or wait: the refresh read what is there; the plan finishes the job.
    Reread {
        /// The address.
        address: Address,
        /// `update`, `delete` or `await`.
        operation: String,
    },
}

impl Prepared {
    /// The refreshed state the plan was made against.
    pub fn state(&self) -> &StackState {
        &self.state
    }

    /// How the operations a killed run left unfinished were resolved (found and adopted, or to
    /// be made again); the next save records it.
    pub fn recovered(&self) -> &[Recovery] {
        &self.recovered
    }

    /// Releases the lock without applying.
    pub async fn release(self) -> Result<(), EngineError> {
        Ok(self.lock.release().await?)
    }

    /// Releases the lock and keeps the plan (a `plan` that applies nothing).
    pub async fn into_plan(self) -> Result<Plan, EngineError> {
        self.lock.release().await?;
        Ok(self.plan)
    }
}

/// The engine: a provider, a state backend and the apply options.
#[derive(Clone)]
pub struct Engine {
    provider: Arc<dyn Provider>,
    backend: Arc<dyn StateBackend>,
    options: ApplyOptions,
    rules: Arc<crate::policy::RuleSet>,
}

impl Engine {
    /// An engine applying through `provider` and recording in `backend`, with the guardrail rules
    /// of `policies/` (there is no engine without them).
    pub fn new(provider: Arc<dyn Provider>, backend: Arc<dyn StateBackend>, options: ApplyOptions) -> Self {
        Self { provider, backend, options, rules: Arc::new(crate::policy::RuleSet::builtin()) }
    }

    /// The guardrail rules in force.
    pub fn rules(&self) -> &crate::policy::RuleSet {
        &self.rules
    }

    /// Locks the stack's state (failing at once if another run holds it), refreshes every recorded
    /// resource from the provider and plans `desired` (or its destruction) against it.
    pub async fn prepare(&self, desired: &StackSpec, destroy: bool, operation: &str) -> Result<Prepared, EngineError> {
        self.prepare_with(desired, destroy, operation, &BTreeSet::new()).await
    }

    /// Like [`Engine::prepare`]; `pending_upstream` names upstream stacks applied earlier in the same
    /// run, whose outputs may still be unknown.
    pub async fn prepare_with(
        &self,
        desired: &StackSpec,
        destroy: bool,
        operation: &str,
        pending_upstream: &BTreeSet<String>,
    ) -> Result<Prepared, EngineError> {
        // Guardrails first: a stack that breaks them is refused before any state or cloud access.
        // (Destroying is never refused by them.) Rules spanning stacks, such as a grant into
        // another stack's database group, need that stack's spec: see `policy::check`.
        let guardrails = if destroy { crate::policy::Report::default() } else { self.check(desired) };
        if !guardrails.passes() {
            return Err(EngineError::Guardrails {
                stack: desired.name.clone(),
                env: desired.env.to_string(),
                report: guardrails,
            });
        }
        let upstream = if destroy { Upstream::default() } else { self.upstream(desired, pending_upstream).await? };
        let lock = self.backend.lock(&desired.name, &desired.env, operation).await?;
        match self.load_and_plan(desired, destroy, &upstream, lock.as_ref()).await {
            Ok((plan, vanished, state, refreshed_differs, recovered)) => {
                let mut plan = plan;
                plan.waived = guardrails.waived().cloned().collect();
                let target = if destroy { desired.emptied() } else { desired.clone() };
                Ok(Prepared { plan, vanished, refreshed_differs, desired: target, upstream, state, lock, recovered })
            }
            Err(err) => {
                // The lock is released on every path; an error releasing it is secondary.
                if let Err(release) = lock.release().await {
                    tracing::warn!(error = %release, "releasing the lock after an error");
                }
                Err(err)
            }
        }
    }

    async fn load_and_plan(
        &self,
        desired: &StackSpec,
        destroy: bool,
        upstream: &Upstream,
        lock: &dyn StateLock,
    ) -> Result<(Plan, Vec<Address>, StackState, bool, Vec<Recovery>), EngineError> {
        let loaded = lock.load().await?.unwrap_or_else(|| StackState::new(&desired.name, &desired.env));
        if loaded.stack != desired.name || loaded.env != desired.env {
            return Err(EngineError::Mismatch {
                stack: desired.name.clone(),
                env: desired.env.to_string(),
                found_stack: loaded.stack,
                found_env: loaded.env.to_string(),
            });
        }
        let (recovered_state, recovered) = self.recover(&loaded, desired).await?;
        tracing::debug!(stack = %desired.name, env = %desired.env, resources = loaded.resources.len(), "refreshing");
        let (state, vanished) = self.refresh(&recovered_state).await?;
        let target = if destroy { desired.emptied() } else { desired.clone() };
        let plan = plan::plan(&target, &state, &vanished, upstream)?;
        let refreshed_differs = state != loaded;
        Ok((plan, vanished, state, refreshed_differs, recovered))
    }

    /// Resolves the operations a killed run left pending. A create is looked up by what it was
    /// made with (name, tags, parent): found, the resource is adopted into the state (and awaited
    /// again if its type is awaited); not found, the plan creates it. Updates, deletes and waits
    /// need nothing: the refresh reads what is there and the plan finishes the job. Nothing is
    /// written here: the apply that follows saves the resolved state (a plan never writes).
    async fn recover(
        &self,
        loaded: &StackState,
        desired: &StackSpec,
    ) -> Result<(StackState, Vec<Recovery>), EngineError> {
        if loaded.pending.is_empty() {
            return Ok((loaded.clone(), vec![]));
        }
        let mut state = loaded.clone();
        let mut recovered = vec![];
        for pending in std::mem::take(&mut state.pending) {
            let address = pending.address.clone();
            if pending.operation != "create" || state.resources.contains_key(&address) {
                recovered.push(Recovery::Reread { address, operation: pending.operation });
                continue;
            }
            let lookup = crate::provider::Lookup {
                address: address.clone(),
                env: desired.env.to_string(),
                type_name: pending.type_name.clone(),
                name: pending.name.clone(),
                props: pending.props.clone().unwrap_or(Value::Null),
            };
            let found = self
                .provider
                .find(&lookup)
                .await
                .map_err(|source| EngineError::Recover { address: address.clone(), source: Box::new(source) })?;
            let Some(found) = found else {
                recovered.push(Recovery::NotCreated { address });
                continue;
            };
            let declared = desired.resource(&address);
            let awaits = crate::resources::schema(&pending.type_name).is_some_and(|s| s.awaits);
            state.resources.insert(
                address.clone(),
                crate::state::ResourceState {
                    type_name: pending.type_name.clone(),
                    physical_id: found.physical_id.clone(),
                    name: pending.name.clone(),
                    // What it was created with, overlaid with what AWS reports (attributes AWS
                    // does not report keep the value they were created with, as in a refresh).
                    props: {
                        let mut props = match &pending.props {
                            Some(Value::Object(created)) => created.clone(),
                            _ => serde_json::Map::new(),
                        };
                        props.extend(found.observed.props);
                        Value::Object(props)
                    },
                    outputs: found.observed.outputs,
                    dependencies: declared.map(|r| r.dependencies.clone()).unwrap_or_default(),
                    tainted: false,
                    protected: declared.is_some_and(|r| r.protected),
                    awaiting: awaits,
                },
            );
            recovered.push(Recovery::Adopted { address, physical_id: found.physical_id });
        }
        Ok((state, recovered))
    }

    /// Checks `desired` on its own against the guardrail rules.
    pub fn check(&self, desired: &StackSpec) -> crate::policy::Report {
        crate::policy::check(&[desired], &[], &self.rules)
    }

    /// Reads the outputs of the resources `desired` references in the stacks it uses.
    async fn upstream(&self, desired: &StackSpec, pending: &BTreeSet<String>) -> Result<Upstream, EngineError> {
        let mut upstream = Upstream { outputs: BTreeMap::new(), pending: pending.clone() };
        for name in &desired.upstream {
            let state = self.backend.read(name, &desired.env).await?;
            let state = match (state, pending.contains(name)) {
                (Some(state), _) => state,
                (None, true) => continue,
                (None, false) => {
                    return Err(EngineError::UpstreamNotApplied {
                        stack: desired.name.clone(),
                        env: desired.env.to_string(),
                        upstream: name.clone(),
                    })
                }
            };
            for address in desired.resources.iter().flat_map(|r| &r.dependencies).filter(|a| a.stack() == name) {
                match state.resources.get(address) {
                    Some(r) => {
                        upstream.outputs.insert(address.clone(), r.outputs.clone());
                    }
                    None if pending.contains(name) => {}
                    None => {
                        return Err(EngineError::UpstreamResourceMissing {
                            stack: desired.name.clone(),
                            env: desired.env.to_string(),
                            address: address.clone(),
                        })
                    }
                }
            }
        }
        Ok(upstream)
    }

    /// Reads every recorded resource back through the provider, in parallel (bounded): resources
    /// of the types the provider reads in batches go in chunks (one task per chunk), the others
    /// one by one. A chunk whose batch read fails is read one by one, so each error names its
    /// resource.
    async fn read_all(
        &self,
        recorded: &StackState,
    ) -> Vec<(Existing, Result<Option<crate::provider::Observed>, ProviderError>)> {
        const CHUNK: usize = 500;
        let semaphore = Arc::new(Semaphore::new(self.options.parallelism.max(1)));
        let batch_types = self.provider.batch_types();
        let mut batches: BTreeMap<String, Vec<Existing>> = BTreeMap::new();
        let mut singles = vec![];
        for (address, r) in &recorded.resources {
            let existing = Existing {
                address: address.clone(),
                type_name: r.type_name.clone(),
                physical_id: r.physical_id.clone(),
                name: r.name.clone(),
                props: r.props.clone(),
                outputs: r.outputs.clone(),
                delete_allowed: false,
            };
            if batch_types.contains(&r.type_name.as_str()) {
                batches.entry(r.type_name.clone()).or_default().push(existing);
            } else {
                singles.push(vec![existing]);
            }
        }
        let groups =
            batches.into_values().flat_map(|all| all.chunks(CHUNK).map(<[Existing]>::to_vec).collect::<Vec<_>>());
        let mut reads = JoinSet::new();
        for group in groups.chain(singles) {
            let provider = self.provider.clone();
            let semaphore = semaphore.clone();
            reads.spawn(async move {
                let _permit = semaphore.acquire_owned().await.expect("semaphore is never closed");
                if group.len() > 1 {
                    if let Ok(observed) = provider.read_batch(&group).await {
                        return group.into_iter().zip(observed.into_iter().map(Ok)).collect::<Vec<_>>();
                    }
                }
                let mut out = Vec::with_capacity(group.len());
                for existing in group {
                    let result = provider.read(&existing).await;
                    out.push((existing, result));
                }
                out
            });
        }
        let mut results = vec![];
        while let Some(joined) = reads.join_next().await {
            results.extend(joined.expect("provider reads do not panic"));
        }
        results
    }

    /// Reads every resource recorded for `desired`'s stack back from the cloud and compares it with
    /// what was last applied: changed attributes (with lists' added and removed elements),
    /// deletions outside platform, drift the stack expects, and attributes AWS did not report.
    /// Reads the state without locking or writing it.
    pub async fn drift(&self, desired: &StackSpec) -> Result<crate::drift::DriftReport, EngineError> {
        let Some(recorded) = self.backend.read(&desired.name, &desired.env).await? else {
            return Err(EngineError::NotApplied { stack: desired.name.clone(), env: desired.env.to_string() });
        };
        let mut report = crate::drift::DriftReport {
            stack: desired.name.clone(),
            env: desired.env.to_string(),
            in_sync: 0,
            drifted: vec![],
            expected: vec![],
            not_checked: vec![],
        };
        let mut results = self.read_all(&recorded).await;
        results.sort_by(|a, b| a.0.address.cmp(&b.0.address));
        for (existing, result) in results {
            let observed = result.map_err(|source| EngineError::Refresh {
                address: existing.address.clone(),
                physical_id: existing.physical_id.clone(),
                source: Box::new(source),
            })?;
            let props = observed.map(|o| o.props);
            let expected: Vec<(String, String)> = desired
                .expected_drift
                .iter()
                .filter(|e| e.address == existing.address)
                .map(|e| (e.attribute.clone(), e.reason.clone()))
                .collect();
            let observation = crate::drift::Observation {
                address: &existing.address,
                type_name: &existing.type_name,
                physical_id: &existing.physical_id,
                applied: &existing.props,
                observed: props.as_ref(),
            };
            let (drifted, expected, not_checked) = crate::drift::compare(&observation, &expected);
            match drifted {
                Some(d) => report.drifted.push(d),
                None => report.in_sync += 1,
            }
            report.expected.extend(expected);
            report.not_checked.extend(not_checked);
        }
        Ok(report)
    }

    /// Reads every recorded resource back, in parallel. Attributes the provider reads replace the
    /// recorded ones; resources that no longer exist are dropped and returned.
    pub async fn refresh(&self, recorded: &StackState) -> Result<(StackState, Vec<Address>), EngineError> {
        let mut state = recorded.clone();
        let mut vanished = vec![];
        for (existing, result) in self.read_all(recorded).await {
            match result {
                Ok(Some(observed)) => {
                    let r = state.resources.get_mut(&existing.address).expect("read of a recorded resource");
                    if let Value::Object(props) = &mut r.props {
                        props.extend(observed.props);
                    }
                    r.outputs.extend(observed.outputs);
                }
                Ok(None) => {
                    state.resources.remove(&existing.address);
                    vanished.push(existing.address);
                }
                Err(source) => {
                    return Err(EngineError::Refresh {
                        address: existing.address,
                        physical_id: existing.physical_id,
                        source: Box::new(source),
                    })
                }
            }
        }
        vanished.sort();
        Ok((state, vanished))
    }

    /// Applies a prepared plan, reporting progress through `on_event`. The state is written after
    /// every operation; the lock is released when this returns.
    pub async fn apply(
        &self,
        prepared: Prepared,
        on_event: &(dyn Fn(&ApplyEvent) + Send + Sync),
    ) -> Result<ApplyReport, EngineError> {
        let Prepared { plan, desired, upstream, mut state, refreshed_differs, lock, .. } = prepared;
        let result =
            self.apply_locked(&plan, &desired, &upstream, &mut state, refreshed_differs, lock.as_ref(), on_event).await;
        let released = lock.release().await;
        let report = result?;
        released?;
        Ok(report)
    }

    #[allow(clippy::too_many_arguments)]
    async fn apply_locked(
        &self,
        plan: &Plan,
        desired: &StackSpec,
        upstream: &Upstream,
        state: &mut StackState,
        refreshed_differs: bool,
        lock: &dyn StateLock,
        on_event: &(dyn Fn(&ApplyEvent) + Send + Sync),
    ) -> Result<ApplyReport, EngineError> {
        let blocked: Vec<(Address, String)> = plan
            .blocked(&self.options.allow_destroy)
            .map(|r| {
                let why = match r.action {
                    crate::plan::Action::Replace => {
                        let because: Vec<&str> = r.replaced_because().collect();
                        format!("replace because {} cannot change in place", because.join(", "))
                    }
                    _ => "delete".to_string(),
                };
                (r.address.clone(), why)
            })
            .collect();
        if !blocked.is_empty() {
            return Err(EngineError::Protected { env: plan.env.to_string(), addresses: blocked });
        }
        let awaiting = state.resources.values().any(|r| r.awaiting);
        if !plan.has_changes() && !awaiting {
            let outputs = apply::resolve_outputs(desired, state);
            if refreshed_differs || outputs != state.outputs {
                state.outputs = outputs;
                lock.save(state).await?;
            }
            return Ok(ApplyReport::default());
        }
        let report =
            apply::execute(plan, desired, upstream, state, lock, self.provider.clone(), &self.options, on_event)
                .await?;
        Ok(report)
    }

    /// Brings an existing resource (made by hand or by another tool) under management at
    /// `address`, which `desired` declares: it is read from AWS by `physical_id`, recorded in the
    /// state, and given its `platform:*` tags; the next plan shows how it differs from the
    /// declaration. Refused when the address already has a resource or the id does not exist.
    pub async fn import(
        &self,
        desired: &StackSpec,
        address: &Address,
        physical_id: &str,
    ) -> Result<Imported, EngineError> {
        let Some(declared) = desired.resource(address) else {
            return Err(EngineError::Import {
                address: address.clone(),
                reason: format!("stack `{}` declares no resource `{}`", desired.name, address.name()),
            });
        };
        let lock = self.backend.lock(&desired.name, &desired.env, "import").await?;
        let result = self.import_locked(desired, declared, physical_id, lock.as_ref()).await;
        let released = lock.release().await;
        let imported = result?;
        released?;
        Ok(imported)
    }

    async fn import_locked(
        &self,
        desired: &StackSpec,
        declared: &crate::model::ResourceSpec,
        physical_id: &str,
        lock: &dyn StateLock,
    ) -> Result<Imported, EngineError> {
        let address = &declared.address;
        let mut state = lock.load().await?.unwrap_or_else(|| StackState::new(&desired.name, &desired.env));
        if let Some(existing) = state.resources.get(address) {
            return Err(EngineError::Import {
                address: address.clone(),
                reason: format!(
                    "it already manages {}; to manage another resource there, destroy or move that one first",
                    existing.physical_id
                ),
            });
        }
        let existing = Existing {
            address: address.clone(),
            type_name: declared.type_name.clone(),
            physical_id: physical_id.to_string(),
            name: declared.name.clone(),
            props: declared.props.clone(),
            outputs: BTreeMap::new(),
            delete_allowed: false,
        };
        let missing = || EngineError::Import {
            address: address.clone(),
            reason: format!("there is no {} with id `{physical_id}`", declared.type_name),
        };
        let observed = match self.provider.read(&existing).await {
            Ok(Some(observed)) => observed,
            Ok(None) => return Err(missing()),
            Err(err) if err.is_not_found() => return Err(missing()),
            Err(source) => {
                return Err(EngineError::Refresh {
                    address: address.clone(),
                    physical_id: physical_id.to_string(),
                    source: Box::new(source),
                })
            }
        };
        let mut props = observed.props.clone();
        // Its platform:* tags, so that it is found as platform's from now on.
        let tagged = match (props.get("tags").cloned(), declared.props.get("tags")) {
            (Some(Value::Object(mut tags)), Some(Value::Object(declared_tags))) => {
                let before = tags.clone();
                for (k, v) in declared_tags.iter().filter(|(k, _)| k.starts_with("platform:")) {
                    tags.insert(k.clone(), v.clone());
                }
                (tags != before).then_some(tags)
            }
            _ => None,
        };
        let mut outputs = observed.outputs.clone();
        if let Some(tags) = tagged {
            let mut with_tags = props.clone();
            with_tags.insert("tags".into(), Value::Object(tags));
            let recorded =
                Existing { props: Value::Object(props.clone()), outputs: observed.outputs.clone(), ..existing.clone() };
            let applied =
                self.provider.update(&recorded, &Value::Object(with_tags.clone())).await.map_err(|source| {
                    EngineError::Import {
                        address: address.clone(),
                        reason: format!("it was found, but tagging it failed: {}", crate::apply::chain(&source)),
                    }
                })?;
            outputs.extend(applied.outputs);
            props = with_tags;
        }
        state.resources.insert(
            address.clone(),
            crate::state::ResourceState {
                type_name: declared.type_name.clone(),
                physical_id: physical_id.to_string(),
                name: declared.name.clone(),
                props: Value::Object(props),
                outputs,
                dependencies: declared.dependencies.clone(),
                tainted: false,
                protected: declared.protected,
                awaiting: false,
            },
        );
        lock.save(&mut state).await?;
        Ok(Imported { address: address.clone(), physical_id: physical_id.to_string() })
    }

    /// The recorded outputs of a stack, if it was ever applied.
    pub async fn outputs(&self, stack: &str, env: &Env) -> Result<Option<BTreeMap<String, Value>>, EngineError> {
        Ok(self.backend.read(stack, env).await?.map(|s| s.outputs))
    }
}
