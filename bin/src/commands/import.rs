//! `platform import`: an existing resource brought under management.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{anyhow, Result};
use platform::apply::ApplyOptions;
use platform::model::Address;
use platform::state::StateBackend;

use crate::cli::{Select, Target};

pub async fn run(state: Arc<dyn StateBackend>, address: &str, physical_id: &str, env: &str) -> Result<ExitCode> {
    let address = Address::parse(address)
        .ok_or_else(|| anyhow!("`{address}` is not an address (stack.name, e.g. foundation.vpc)"))?;
    let select = Select {
        stacks: vec![address.stack().to_string()],
        all: false,
        env: env.to_string(),
        vars: vec![],
        apply_immediately: false,
    };
    // Any image tag builds the stacks: importing reads the resource, it applies nothing.
    let selection = select.build(state.as_ref(), true, &Target::default()).await?;
    let spec = &selection.selected[0];
    let engine = super::engine(state.clone(), ApplyOptions::default()).await;
    let imported = engine.import(spec, &address, physical_id).await?;
    println!(
        "Imported {} ({}) into `{}` in `{env}`. Run `platform plan --stack {} --env {env}` to see how it differs from the declaration.",
        imported.address, imported.physical_id, spec.name, spec.name
    );
    Ok(ExitCode::SUCCESS)
}
