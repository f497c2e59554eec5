//! What an apply did, per stack.

use std::fmt::Write;

use super::Palette;
use crate::report::{ApplyReport, OpKind, Outcome};

/// The end of an apply: what was done, what failed and why, what was skipped (no colours).
pub fn report_text(stack: &str, report: &ApplyReport) -> String {
    report_text_styled(stack, report, Palette::PLAIN)
}

/// The end of an apply, styled with `palette`.
pub fn report_text_styled(stack: &str, report: &ApplyReport, palette: Palette) -> String {
    let mut out = String::new();
    // Waiting for a resource to become available is part of its create or update, not an operation
    // of its own.
    let done = report.results.iter().filter(|r| r.outcome == Outcome::Done && r.kind != OpKind::Await).count();
    let failed = report.count(|o| matches!(o, Outcome::Failed { .. }));
    let skipped = report.count(|o| matches!(o, Outcome::Skipped { .. }));
    let not_started = report.count(|o| matches!(o, Outcome::NotStarted));
    let failed_text = format!("{failed} failed");
    let failed_text = if failed > 0 { palette.removed(&failed_text) } else { failed_text };
    let _ = write!(out, "Stack `{}`: {done} done, {failed_text}, {skipped} skipped", palette.strong(stack));
    if not_started > 0 {
        let _ = write!(out, ", {not_started} not started (interrupted)");
    }
    let _ = writeln!(out, ".");
    for r in &report.results {
        match &r.outcome {
            Outcome::Done => {}
            Outcome::Failed { error } => {
                let _ = writeln!(out, "  {}  {} {}: {error}", palette.removed("failed:"), r.kind.as_str(), r.address);
            }
            Outcome::Skipped { because } => {
                let _ = writeln!(out, "  skipped: {} {} (because {because} failed)", r.kind.as_str(), r.address);
            }
            Outcome::NotStarted => {
                let _ = writeln!(out, "  not started: {} {}", r.kind.as_str(), r.address);
            }
        }
    }
    out
}
