//! `platform graph`: resources and what depends on what.

use std::collections::BTreeSet;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Result;
use platform::model::StackSpec;
use platform::render;
use platform::state::StateBackend;

use crate::cli::{GraphFormat, Select, Target};

pub async fn run(state: Arc<dyn StateBackend>, select: &Select, format: GraphFormat) -> Result<ExitCode> {
    // Any image tag builds the stacks; the graph does not depend on it.
    let selection = select.build(state.as_ref(), true, &Target::default()).await?;
    // The selected stacks and, transitively, the stacks they use.
    let mut names: BTreeSet<&str> = selection.selected.iter().map(|s| s.name.as_str()).collect();
    loop {
        let used: Vec<&str> = selection
            .all
            .iter()
            .filter(|s| names.contains(s.name.as_str()))
            .flat_map(|s| s.upstream.iter().map(String::as_str))
            .filter(|u| !names.contains(u))
            .collect();
        if used.is_empty() {
            break;
        }
        names.extend(used);
    }
    let specs: Vec<&StackSpec> = selection.all.iter().filter(|s| names.contains(s.name.as_str())).collect();
    print!(
        "{}",
        match format {
            GraphFormat::Dot => render::graph_dot(&specs),
            GraphFormat::Mermaid => render::graph_mermaid(&specs),
        }
    );
    Ok(ExitCode::SUCCESS)
}
