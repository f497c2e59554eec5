//! Preparing a run: guardrails, upstream outputs, lock, credentials, recovery, refresh, plan.

use std::collections::BTreeSet;

use super::recover::Recovery;
use super::{Engine, EngineError};
use crate::model::{Address, StackSpec};
use crate::plan::{self, Plan, Upstream};
use crate::state::{StackState, StateLock, Unlocked};

/// A stack locked, loaded, refreshed and planned; ready to apply. Dropping it releases the lock.
pub struct Prepared {
    /// The plan.
    pub plan: Plan,
    /// Resources the refresh found deleted outside platform.
    pub vanished: Vec<Address>,
    pub(super) desired: StackSpec,
    pub(super) upstream: Upstream,
    pub(super) state: StackState,
    pub(super) refreshed_differs: bool,
    pub(super) lock: Box<dyn StateLock>,
    recovered: Vec<Recovery>,
}

/// What loading, recovering, refreshing and planning a stack under its lock gave.
struct Loaded {
    plan: Plan,
    vanished: Vec<Address>,
    state: StackState,
    refreshed_differs: bool,
    recovered: Vec<Recovery>,
    /// The upstream outputs with the account's values.
    upstream: Upstream,
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

impl Engine {
    /// Locks the stack's state (failing at once if another run holds it), refreshes every recorded
    /// resource from the provider and plans `desired` (or its destruction) against it.
    pub async fn prepare(&self, desired: &StackSpec, destroy: bool, operation: &str) -> Result<Prepared, EngineError> {
        self.prepare_with(desired, destroy, operation, &BTreeSet::new()).await
    }

    /// Prepares the stacks of one run (in the order they depend on each other; all of one
    /// environment), each locked, for [`Engine::apply_run`]: a stack planned after one it uses
    /// takes the outputs of resources that one creates or replaces as known only after apply.
    /// On an error, the stacks already prepared are released.
    pub async fn prepare_run(
        &self,
        specs: &[StackSpec],
        destroy: bool,
        operation: &str,
    ) -> Result<Vec<Prepared>, EngineError> {
        let mut run: Vec<Prepared> = vec![];
        let mut earlier = BTreeSet::new();
        let mut changing = BTreeSet::new();
        for spec in specs {
            match self.prepare_changing(spec, destroy, operation, &earlier, &changing).await {
                Ok(prepared) => {
                    changing.extend(
                        prepared
                            .plan
                            .resources
                            .iter()
                            .filter(|r| matches!(r.action, plan::Action::Create | plan::Action::Replace))
                            .map(|r| r.address.clone()),
                    );
                    earlier.insert(spec.name.clone());
                    run.push(prepared);
                }
                Err(err) => {
                    for prepared in run {
                        if let Err(release) = prepared.release().await {
                            tracing::warn!(error = %release, "releasing a lock after an error");
                        }
                    }
                    return Err(err);
                }
            }
        }
        Ok(run)
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
        self.prepare_changing(desired, destroy, operation, pending_upstream, &BTreeSet::new()).await
    }

    /// Like [`Engine::prepare_with`]; the outputs of `changing` (resources earlier stacks of the
    /// run create or replace) are known only after apply.
    async fn prepare_changing(
        &self,
        desired: &StackSpec,
        destroy: bool,
        operation: &str,
        pending_upstream: &BTreeSet<String>,
        changing: &BTreeSet<Address>,
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
        let upstream = if destroy {
            Upstream::default()
        } else {
            let mut upstream = self.upstream(desired, pending_upstream).await?;
            for address in changing {
                upstream.outputs.remove(address);
            }
            upstream
        };
        let lock: Box<dyn StateLock> = if self.options.no_lock {
            Box::new(Unlocked::new(self.backend.clone(), &desired.name, &desired.env, operation))
        } else {
            self.backend.lock(&desired.name, &desired.env, operation).await?
        };
        match self.load_and_plan(desired, destroy, upstream, lock.as_ref()).await {
            Ok(Loaded { mut plan, vanished, state, refreshed_differs, recovered, upstream }) => {
                plan.waived = guardrails.waived().cloned().collect();
                if let Some(targets) = &self.options.targets {
                    plan.restrict(targets);
                }
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
        upstream: Upstream,
        lock: &dyn StateLock,
    ) -> Result<Loaded, EngineError> {
        let loaded = lock.load().await?.unwrap_or_else(|| StackState::new(&desired.name, &desired.env));
        if loaded.stack != desired.name || loaded.env != desired.env {
            return Err(EngineError::Mismatch {
                stack: desired.name.clone(),
                env: desired.env.to_string(),
                found_stack: loaded.stack,
                found_env: loaded.env.to_string(),
            });
        }
        // Whose account this is, before anything is read from it: with no usable credentials, a
        // plan fails here, saying what to do, even for a stack never applied.
        let identity = self.provider.identity().await.map_err(|source| EngineError::Credentials {
            stack: desired.name.clone(),
            env: desired.env.to_string(),
            source: Box::new(source),
        })?;
        let upstream = upstream.with_identity(&identity);
        let (recovered_state, recovered) = self.recover(&loaded, desired).await?;
        tracing::debug!(stack = %desired.name, env = %desired.env, resources = loaded.resources.len(), "refreshing");
        let (state, vanished) = self.refresh(&recovered_state).await?;
        let target = if destroy { desired.emptied() } else { desired.clone() };
        let mut plan = plan::plan(&target, &state, &vanished, &upstream)?;
        plan.identity = Some(identity);
        let refreshed_differs = state != loaded;
        Ok(Loaded { plan, vanished, state, refreshed_differs, recovered, upstream })
    }

    /// Reads the outputs of the resources `desired` references in the stacks it uses.
    async fn upstream(&self, desired: &StackSpec, pending: &BTreeSet<String>) -> Result<Upstream, EngineError> {
        let mut upstream = Upstream { pending: pending.clone(), ..Upstream::default() };
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
}
