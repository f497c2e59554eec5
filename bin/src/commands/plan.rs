//! `platform plan`: what apply would change, as text, JSON or Markdown; saved with `--out`.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use platform::apply::ApplyOptions;
use platform::render;
use platform::saved::SavedPlan;
use platform::state::StateBackend;

use crate::cli::{Format, Select, Target};

/// How the plan is shown and kept.
pub struct Output {
    /// Exit 2 when there are changes.
    pub detailed_exitcode: bool,
    /// Text, JSON or Markdown.
    pub format: Format,
    /// Where to save it.
    pub out: Option<PathBuf>,
}

pub async fn run(
    state: Arc<dyn StateBackend>,
    select: &Select,
    target: &Target,
    output: Output,
    no_lock: bool,
) -> Result<ExitCode> {
    let Output { detailed_exitcode, format, out } = output;
    let selection = select.build(state.as_ref(), false, target).await?;
    selection.require_guardrails()?;
    if let Some(warning) = selection.partial_warning(false) {
        eprintln!("{warning}");
    }
    let options = ApplyOptions { targets: selection.covered.clone(), no_lock, ..ApplyOptions::default() };
    let engine = super::engine(state.clone(), options).await;
    let mut plans = vec![];
    let mut earlier = BTreeSet::new();
    for spec in &selection.selected {
        let prepared = engine.prepare_with(spec, false, "plan", &earlier).await?;
        super::warn_interrupted(&prepared);
        plans.push(prepared.into_plan().await?);
        earlier.insert(spec.name.clone());
    }
    match format {
        Format::Json => {
            let doc = serde_json::json!({ "format_version": platform::plan::PLAN_FORMAT_VERSION, "plans": plans });
            println!("{}", serde_json::to_string_pretty(&doc)?);
        }
        Format::Markdown => print!("{}", render::plans_markdown(&plans)),
        Format::Text => {
            let palette = crate::terminal::palette();
            if let Some(identity) = plans.iter().find_map(|p| p.identity.as_ref()) {
                println!("{}", render::plan_header(identity, &select.env));
            }
            for p in &plans {
                print!("{}", render::plan_text_styled(p, palette));
            }
        }
    }
    if let Some(path) = out {
        let mut saved = SavedPlan::new(
            &select.env,
            &selection.image_tag,
            selection.targets.clone(),
            &selection.selected,
            plans.clone(),
        );
        saved.apply_immediately = select.apply_immediately;
        std::fs::write(&path, saved.to_json())
            .with_context(|| format!("cannot write the plan to {}", path.display()))?;
        eprintln!("The plan is saved in {}; apply exactly it with: platform apply {}", path.display(), path.display());
    }
    let none = BTreeSet::new();
    for blocked in plans.iter().flat_map(|p| p.blocked(&none)) {
        eprintln!(
            "note: {} is protected: apply will refuse to {} it unless you pass --allow-destroy {}",
            blocked.address,
            blocked.action.as_str(),
            blocked.address
        );
    }
    let changes = plans.iter().any(|p| p.has_changes());
    Ok(if detailed_exitcode && changes { ExitCode::from(2) } else { ExitCode::SUCCESS })
}
