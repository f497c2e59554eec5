//! How plans, apply reports, drift and guardrail findings are shown to people. Pure: every
//! function returns text and prints nothing; the CLI decides where it goes and whether it is
//! coloured ([`Palette`]).
//!
//! [`plan`] renders plans (text for a terminal, Markdown for a pull request), [`diff`] the line
//! diffs of documents and long values in them, [`drift`] drift reports, [`report`] what an apply
//! did, [`guardrails`] findings, [`graph`] the dependency graph.

mod diff;
mod drift;
mod graph;
mod guardrails;
mod plan;
mod report;

use serde_json::Value;

pub use drift::{drift_markdown, drift_text, drift_text_styled};
pub use graph::{graph_dot, graph_mermaid};
pub use guardrails::{guardrail_report, guardrail_violations, waived_text};
pub use plan::{plan_header, plan_text, plan_text_styled, plans_markdown, summary_line};
pub use report::{report_text, report_text_styled};

use crate::model::UNKNOWN_KEY;

/// How text is styled: plain, or with ANSI colours for a terminal (the CLI decides, honouring
/// `NO_COLOR` and whether the output is a terminal).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Palette {
    color: bool,
}

impl Palette {
    /// No styling.
    pub const PLAIN: Palette = Palette { color: false };
    /// ANSI colours.
    pub const ANSI: Palette = Palette { color: true };

    fn paint(self, style: anstyle::Style, text: &str) -> String {
        if self.color {
            format!("{style}{text}{style:#}")
        } else {
            text.to_string()
        }
    }

    fn fg(color: anstyle::AnsiColor) -> anstyle::Style {
        anstyle::Style::new().fg_color(Some(color.into()))
    }

    /// What is added or created.
    pub fn added(self, text: &str) -> String {
        self.paint(Self::fg(anstyle::AnsiColor::Green), text)
    }

    /// What is removed or deleted.
    pub fn removed(self, text: &str) -> String {
        self.paint(Self::fg(anstyle::AnsiColor::Red), text)
    }

    /// What changes in place.
    pub fn changed(self, text: &str) -> String {
        self.paint(Self::fg(anstyle::AnsiColor::Yellow), text)
    }

    /// What is replaced.
    pub fn replaced(self, text: &str) -> String {
        self.paint(Self::fg(anstyle::AnsiColor::Magenta), text)
    }

    /// What matters most on a line (an address, a heading).
    pub fn strong(self, text: &str) -> String {
        self.paint(anstyle::Style::new().bold(), text)
    }

    /// What is there for context only (unchanged lines, elisions).
    pub fn faint(self, text: &str) -> String {
        self.paint(anstyle::Style::new().dimmed(), text)
    }
}

/// A value as shown in a plan: JSON, with unknown values as `(known after apply)`.
pub fn value(v: &Value) -> String {
    match v {
        Value::Object(m) if m.contains_key(UNKNOWN_KEY) => "(known after apply)".to_string(),
        Value::Object(m) => {
            let inner: Vec<String> = m.iter().map(|(k, v)| format!("{k}: {}", value(v))).collect();
            format!("{{{}}}", inner.join(", "))
        }
        Value::Array(items) => format!("[{}]", items.iter().map(value).collect::<Vec<_>>().join(", ")),
        other => other.to_string(),
    }
}

/// A Markdown table cell's text.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}
