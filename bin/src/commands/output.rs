//! `platform output`: the outputs recorded by the last apply.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{anyhow, bail, Result};
use platform::state::StateBackend;

use crate::catalog;

pub async fn run(state: Arc<dyn StateBackend>, stack: Option<String>, env: &str, json: bool) -> Result<ExitCode> {
    let environments = stacks::Environments::builtin();
    let env = environments.get(env).map_err(|e| anyhow!(e))?.env.clone();
    let names: Vec<&str> = catalog::ENTRIES.iter().map(|e| e.name).collect();
    let selected: Vec<String> = match stack {
        Some(s) if names.contains(&s.as_str()) => vec![s],
        Some(s) => bail!("there is no stack `{s}` (stacks: {})", names.join(", ")),
        None => names.iter().map(|s| s.to_string()).collect(),
    };
    let mut all: Vec<(String, serde_json::Value)> = vec![];
    for name in &selected {
        match state.read(name, &env).await? {
            Some(state) => all.push((name.clone(), serde_json::to_value(&state.outputs)?)),
            None if selected.len() == 1 => {
                bail!("stack `{name}` has not been applied in `{env}`; run `platform apply --stack {name} --env {env}`")
            }
            None => {}
        }
    }
    if json {
        let doc = if selected.len() == 1 {
            all.into_iter().next().map(|(_, v)| v).unwrap_or_default()
        } else {
            all.into_iter().collect::<serde_json::Map<_, _>>().into()
        };
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        for (name, outputs) in &all {
            println!("# {name}");
            for (k, v) in outputs.as_object().into_iter().flatten() {
                println!("{k} = {v}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
