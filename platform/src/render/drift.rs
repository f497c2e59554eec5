//! Drift reports as text and Markdown.

use std::fmt::Write;

use serde_json::Value;

use super::diff::{lines, wants_lines};
use super::{cell, value, Palette};

fn drift_change_lines(c: &crate::drift::DriftChange) -> Vec<String> {
    let mut lines = vec![];
    for added in &c.added {
        lines.push(format!("{}: added outside platform (unmanaged): {}", c.path, value(added)));
    }
    for removed in &c.removed {
        lines.push(format!("{}: removed outside platform: {}", c.path, value(removed)));
    }
    if lines.is_empty() {
        let show = |v: &Option<Value>| v.as_ref().map(value).unwrap_or_else(|| "(none)".into());
        lines.push(format!("{}: {} -> {}", c.path, show(&c.applied), show(&c.actual)));
    }
    lines
}

/// A drift report as text: each drifted resource with its physical id and its changes (applied
/// value -> actual value; documents as line diffs), then expected drift and what could not be
/// checked.
pub fn drift_text(report: &crate::drift::DriftReport) -> String {
    drift_text_styled(report, Palette::PLAIN)
}

/// Whether `path` lies inside one of the documents that drifted.
fn in_document(d: &crate::drift::DriftedResource, path: &str) -> bool {
    d.documents.iter().any(|doc| {
        path == doc.path
            || path.strip_prefix(doc.path.as_str()).is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
    })
}

/// A drift report as text, styled with `palette`.
pub fn drift_text_styled(report: &crate::drift::DriftReport, palette: Palette) -> String {
    let mut out = String::new();
    let n = report.drifted.len();
    let _ = writeln!(
        out,
        "Drift of stack `{}` in `{}`: {} drifted, {} in sync.",
        palette.strong(&report.stack),
        report.env,
        if n == 1 { "1 resource".to_string() } else { format!("{n} resources") },
        report.in_sync
    );
    for d in &report.drifted {
        match d.status {
            crate::drift::DriftStatus::Deleted => {
                let _ = writeln!(
                    out,
                    "  {} {} [{}] ({}) was deleted outside platform",
                    palette.removed("-"),
                    palette.strong(&d.address.to_string()),
                    d.physical_id,
                    d.type_name
                );
            }
            crate::drift::DriftStatus::Changed => {
                let _ = writeln!(
                    out,
                    "  {} {} [{}] ({}) was changed outside platform:",
                    palette.changed("~"),
                    palette.strong(&d.address.to_string()),
                    d.physical_id,
                    d.type_name
                );
                for c in d.changes.iter().filter(|c| !in_document(d, &c.path)) {
                    match (&c.applied, &c.actual) {
                        (Some(b), Some(a)) if c.added.is_empty() && c.removed.is_empty() && wants_lines(b, a) => {
                            let _ = writeln!(out, "      {}:", c.path);
                            out.push_str(&lines(Some(b), Some(a), "        ", palette));
                        }
                        _ => {
                            for line in drift_change_lines(c) {
                                let _ = writeln!(out, "      {line}");
                            }
                        }
                    }
                }
                for doc in &d.documents {
                    let _ = writeln!(out, "      {} {} (applied -> actual):", palette.changed("~"), doc.path);
                    out.push_str(&lines(doc.before.as_ref(), doc.after.as_ref(), "        ", palette));
                }
            }
        }
    }
    if !report.expected.is_empty() {
        let _ = writeln!(out, "  Expected drift (not counted):");
        for e in &report.expected {
            for line in drift_change_lines(&e.change) {
                let _ = writeln!(out, "      {} {line} ({})", e.address, e.reason);
            }
        }
    }
    if !report.not_checked.is_empty() {
        let _ = writeln!(out, "  Not checked (AWS does not report them, so they are not known to be in sync):");
        for n in &report.not_checked {
            let _ = writeln!(out, "      {}: {}", n.address, n.attributes.join(", "));
        }
    }
    out
}

/// Drift reports as Markdown (for an issue or a pull-request comment).
pub fn drift_markdown(reports: &[crate::drift::DriftReport]) -> String {
    let mut out = String::new();
    let env = reports.first().map(|r| r.env.clone()).unwrap_or_default();
    let drifted: usize = reports.iter().map(|r| r.drifted.len()).sum();
    let in_sync: usize = reports.iter().map(|r| r.in_sync).sum();
    let _ = writeln!(out, "## platform drift: `{env}`\n");
    let _ = writeln!(out, "**{drifted} drifted, {in_sync} in sync** in {} stacks.\n", reports.len());
    for r in reports.iter().filter(|r| r.has_drift() || !r.expected.is_empty()) {
        let _ = writeln!(out, "### `{}`\n\n| resource | id | what changed |\n|---|---|---|", r.stack);
        for d in &r.drifted {
            let what = match d.status {
                crate::drift::DriftStatus::Deleted => "deleted outside platform".to_string(),
                crate::drift::DriftStatus::Changed => d
                    .changes
                    .iter()
                    .filter(|c| !in_document(d, &c.path))
                    .flat_map(drift_change_lines)
                    .chain(d.documents.iter().map(|doc| format!("{}: changed (see below)", doc.path)))
                    .collect::<Vec<_>>()
                    .join("<br>"),
            };
            let _ = writeln!(out, "| `{}` | `{}` | {} |", d.address, d.physical_id, cell(&what));
        }
        for e in &r.expected {
            let what = drift_change_lines(&e.change).join("<br>");
            let _ = writeln!(out, "| `{}` | | expected: {} ({}) |", e.address, cell(&what), cell(&e.reason));
        }
        out.push('\n');
        for d in r.drifted.iter().filter(|d| !d.documents.is_empty()) {
            for doc in &d.documents {
                let _ = writeln!(out, "`{}` `{}` (applied → actual):\n\n```diff", d.address, doc.path);
                out.push_str(&lines(doc.before.as_ref(), doc.after.as_ref(), "", Palette::PLAIN));
                out.push_str("```\n\n");
            }
        }
    }
    let not_checked: Vec<&crate::drift::NotChecked> = reports.iter().flat_map(|r| &r.not_checked).collect();
    if !not_checked.is_empty() {
        out.push_str("<details><summary>Not checked (AWS does not report them)</summary>\n\n");
        for n in not_checked {
            let _ = writeln!(out, "- `{}`: {}", n.address, n.attributes.join(", "));
        }
        out.push_str("\n</details>\n");
    }
    out
}
