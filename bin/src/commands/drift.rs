//! `platform drift`: the cloud compared with what was last applied.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Result;
use platform::apply::ApplyOptions;
use platform::render;
use platform::state::StateBackend;

use crate::cli::{Format, Select, Target};

pub async fn run(state: Arc<dyn StateBackend>, select: &Select, format: Format) -> Result<ExitCode> {
    // The recorded image tag (or any) builds the stacks; drift compares with the state.
    let selection = select.build(state.as_ref(), true, &Target::default()).await?;
    let engine = super::engine(state.clone(), ApplyOptions::default()).await;
    let mut reports = vec![];
    for spec in &selection.selected {
        reports.push(engine.drift(spec).await?);
    }
    match format {
        Format::Json => {
            let doc = serde_json::json!({ "format_version": 1, "env": select.env, "reports": reports });
            println!("{}", serde_json::to_string_pretty(&doc)?);
        }
        Format::Markdown => print!("{}", render::drift_markdown(&reports)),
        Format::Text => {
            let palette = crate::terminal::palette();
            for r in &reports {
                print!("{}", render::drift_text_styled(r, palette));
            }
        }
    }
    let drift = reports.iter().any(|r| r.has_drift());
    if drift && format == Format::Text {
        eprintln!("`platform apply` with the same stacks brings the cloud back to the declarations.");
    }
    Ok(if drift { ExitCode::from(2) } else { ExitCode::SUCCESS })
}
