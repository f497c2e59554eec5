//! One file per command; this module dispatches and holds what they share.

mod apply;
mod check;
mod drift;
mod force_unlock;
mod graph;
mod import;
mod output;
mod plan;
mod stacks;

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Result;
use platform::apply::ApplyOptions;
use platform::provider::aws::AwsProvider;
use platform::state::{StateBackend, StateUrl};
use platform::Engine;

use crate::cli::{Cli, Command};

/// Runs a command; the exit code it asks for, or the error to print.
pub async fn run(cli: Cli) -> Result<ExitCode> {
    let state = backend(&cli.state).await?;
    match cli.command {
        Command::Stacks => stacks::run(),
        Command::Plan { select, target, detailed_exitcode, json, format, out, no_lock } => {
            plan::run(
                state,
                &select,
                &target,
                plan::Output { detailed_exitcode, format: if json { crate::cli::Format::Json } else { format }, out },
                no_lock,
            )
            .await
        }
        Command::Apply { plan_file: Some(path), select, change, .. } => {
            apply::saved(state, &path, &select, change).await
        }
        Command::Apply { plan_file: None, select, target, change } => apply::run(state, &select, &target, change).await,
        Command::Destroy { select, target, change } => apply::destroy(state, &select, &target, change).await,
        Command::Check { select, json } => check::run(state, &select, json).await,
        Command::Drift { select, json, format } => {
            drift::run(state, &select, if json { crate::cli::Format::Json } else { format }).await
        }
        Command::Graph { select, format } => graph::run(state, &select, format).await,
        Command::Import { address, physical_id, env } => import::run(state, &address, &physical_id, &env).await,
        Command::ForceUnlock { id } => force_unlock::run(state, &id).await,
        Command::Output { stack, env, json } => output::run(state, stack, &env, json).await,
    }
}

/// The state backend at `url` (checked before any AWS call).
async fn backend(url: &str) -> Result<Arc<dyn StateBackend>> {
    Ok(platform::state::open(&url.parse::<StateUrl>()?).await)
}

/// An engine on AWS, through the standard configuration chain.
async fn engine(backend: Arc<dyn StateBackend>, options: ApplyOptions) -> Engine {
    let provider = AwsProvider::from_env().await;
    Engine::new(Arc::new(provider), backend, options)
}

/// Says how the operations a killed run left unfinished were resolved.
fn warn_interrupted(prepared: &platform::Prepared) {
    let recovered = prepared.recovered();
    if recovered.is_empty() {
        return;
    }
    eprintln!("note: a previous run stopped during these operations; they were resolved:");
    for r in recovered {
        match r {
            platform::engine::Recovery::Adopted { address, physical_id } => {
                eprintln!("  {address}: it had been created ({physical_id}); adopted into the state")
            }
            platform::engine::Recovery::NotCreated { address } => {
                eprintln!("  {address}: it had not been created; it is created again")
            }
            platform::engine::Recovery::Reread { address, operation } => {
                eprintln!("  {address}: {operation} read back from AWS; the plan finishes it")
            }
        }
    }
}
