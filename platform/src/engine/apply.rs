//! Applying a prepared plan.

use std::sync::Arc;

use super::{Engine, EngineError, Prepared};
use crate::apply::{resolve_outputs, ApplyEvent, ApplyReport, Board, Executor};
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
        let result = self.apply_locked(&mut prepared, None, on_event).await;
        let released = prepared.lock.release().await;
        let report = result?;
        released?;
        Ok(report)
    }

    /// The protected resources `prepared` would delete or replace without the user naming them.
    fn protected(&self, prepared: &Prepared) -> Option<EngineError> {
        let blocked: Vec<(Address, String)> = prepared
            .plan
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
        (!blocked.is_empty()).then(|| EngineError::Protected { env: prepared.plan.env.to_string(), addresses: blocked })
    }

    /// Applies several prepared stacks of one environment at once (a run of `apply --all` or
    /// `destroy --all`): each operation waits only for what it needs, in its stack or in
    /// another (see [`Board`]), so the run's wall time is the critical path of the whole
    /// dependency graph. A failure skips what depends on it, in every stack. Returns each
    /// stack's name and how its apply ended, in the order given; each lock is released.
    pub async fn apply_run(
        &self,
        run: Vec<Prepared>,
        on_event: &(dyn Fn(&str, &ApplyEvent) + Send + Sync),
    ) -> Result<Vec<(String, Result<ApplyReport, EngineError>)>, EngineError> {
        // A protected resource the user did not name refuses the whole run, before anything.
        let mut refused: Vec<(Address, String)> = vec![];
        for prepared in &run {
            if let Some(EngineError::Protected { addresses, .. }) = self.protected(prepared) {
                refused.extend(addresses);
            }
        }
        if !refused.is_empty() {
            let env = run.first().map(|p| p.plan.env.to_string()).unwrap_or_default();
            for prepared in run {
                prepared.release().await?;
            }
            return Err(EngineError::Protected { env, addresses: refused });
        }
        let board = Arc::new(Board::new(run.iter().map(|p| (&p.plan, &p.desired, &p.state))));
        let names: Vec<String> = run.iter().map(|p| p.desired.name.clone()).collect();
        let (events, mut received) = tokio::sync::mpsc::unbounded_channel::<(String, ApplyEvent)>();
        let mut tasks = tokio::task::JoinSet::new();
        for (index, mut prepared) in run.into_iter().enumerate() {
            let (engine, board, events) = (self.clone(), board.clone(), events.clone());
            tasks.spawn(async move {
                let name = prepared.desired.name.clone();
                let send = |e: &ApplyEvent| {
                    let _ = events.send((name.clone(), e.clone()));
                };
                let result = engine.apply_locked(&mut prepared, Some(&board), &send).await;
                // Whatever of this stack did not settle never will: the others stop waiting.
                board.abandon(&name);
                let released = prepared.lock.release().await;
                let result = match (result, released) {
                    (Ok(report), Ok(())) => Ok(report),
                    (Err(err), _) => Err(err),
                    (Ok(_), Err(err)) => Err(err.into()),
                };
                (index, result)
            });
        }
        drop(events);
        let mut results: Vec<Option<Result<ApplyReport, EngineError>>> = names.iter().map(|_| None).collect();
        loop {
            tokio::select! {
                Some((stack, event)) = received.recv() => on_event(&stack, &event),
                joined = tasks.join_next() => match joined {
                    Some(joined) => {
                        let (index, result) = joined.expect("applies do not panic");
                        results[index] = Some(result);
                    }
                    None => break,
                },
            }
        }
        while let Ok((stack, event)) = received.try_recv() {
            on_event(&stack, &event);
        }
        Ok(names.into_iter().zip(results).map(|(name, r)| (name, r.expect("every stack ended"))).collect())
    }

    async fn apply_locked(
        &self,
        prepared: &mut Prepared,
        board: Option<&Board>,
        on_event: &(dyn Fn(&ApplyEvent) + Send + Sync),
    ) -> Result<ApplyReport, EngineError> {
        // A plan read without the lock is for showing only.
        if self.options.no_lock {
            return Err(crate::state::StateError::NotLocked {
                stack: prepared.desired.name.clone(),
                env: prepared.desired.env.to_string(),
            }
            .into());
        }
        if let Some(protected) = self.protected(prepared) {
            return Err(protected);
        }
        let Prepared { plan, desired, upstream, state, refreshed_differs, lock, .. } = prepared;
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
            board,
        };
        Ok(executor.run(state, on_event).await?)
    }
}
