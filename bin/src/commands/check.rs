//! `platform check`: the guardrails alone.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Result;
use platform::render;
use platform::state::StateBackend;

use crate::cli::{Select, Target};

pub async fn run(state: Arc<dyn StateBackend>, select: &Select, json: bool) -> Result<ExitCode> {
    // Any image tag builds the stacks; the checks do not depend on it.
    let selection = select.build(state.as_ref(), true, &Target::default()).await?;
    let report = selection.guardrails();
    let rules = platform::policy::RuleSet::builtin();
    let names: Vec<&str> = selection.selected.iter().map(|s| s.name.as_str()).collect();
    if json {
        let doc = serde_json::json!({
            "format_version": 1,
            "env": select.env,
            "stacks": names,
            "rules": rules.rules().iter().map(|r| &r.id).collect::<Vec<_>>(),
            "passed": report.passes(),
            "report": report,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        println!(
            "Guardrails for {} in `{}`: {} rules.",
            names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", "),
            select.env,
            rules.rules().len()
        );
        print!("{}", render::guardrail_report(&report));
    }
    Ok(if report.passes() { ExitCode::SUCCESS } else { ExitCode::from(2) })
}
