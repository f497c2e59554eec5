//! `platform force-unlock`: a lock left by a run that died, removed.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Result;
use platform::state::StateBackend;

pub async fn run(state: Arc<dyn StateBackend>, id: &str) -> Result<ExitCode> {
    let held = state.force_unlock(id).await?;
    println!("Removed lock {id} of stack `{}` ({}), held by {}.", held.stack, held.env, held.info);
    Ok(ExitCode::SUCCESS)
}
