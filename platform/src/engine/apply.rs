//! Applying a prepared plan.

use super::{Engine, EngineError, Prepared};
use crate::apply::{resolve_outputs, ApplyEvent, ApplyReport, Executor};
use crate::model::Address;
use crate::plan::Action;

impl Engine {
    /// Applies a prepared plan, reporting progress through `on_event`. The state is written after
    /// every operation; the lock is released when this returns.
    pub async fn apply(
        &self,
        mut prepared: Prepared,
        on_event: &(dyn Fn(&ApplyEvent) + Send + Sync),
    ) -> Result<ApplyReport, EngineError> {
        let result = self.apply_locked(&mut prepared, on_event).await;
        let released = prepared.lock.release().await;
        let report = result?;
        released?;
        Ok(report)
    }

    async fn apply_locked(
        &self,
        prepared: &mut Prepared,
        on_event: &(dyn Fn(&ApplyEvent) + Send + Sync),
    ) -> Result<ApplyReport, EngineError> {
        let Prepared { plan, desired, upstream, state, refreshed_differs, lock, .. } = prepared;
        let blocked: Vec<(Address, String)> = plan
            .blocked(&self.options.allow_destroy)
            .map(|r| {
                let why = match r.action {
                    Action::Replace => {
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
            let outputs = resolve_outputs(desired, state);
            if *refreshed_differs || outputs != state.outputs {
                state.outputs = outputs;
                lock.save(state).await?;
            }
            return Ok(ApplyReport::default());
        }
        let executor = Executor {
            plan,
            desired,
            upstream,
            lock: lock.as_ref(),
            provider: self.provider.clone(),
            options: &self.options,
        };
        Ok(executor.run(state, on_event).await?)
    }
}
