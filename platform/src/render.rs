//! How plans and apply reports are shown to people (pure: returns text, prints nothing).

use std::fmt::Write;

use serde_json::Value;

use crate::apply::{ApplyReport, OpKind, Outcome};
use crate::model::UNKNOWN_KEY;
use crate::plan::{Action, Plan, Summary};

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

fn symbol(action: Action) -> &'static str {
    match action {
        Action::NoOp => " ",
        Action::Create => "+",
        Action::Update => "~",
        Action::Replace => "-/+",
        Action::Delete => "-",
    }
}

/// The one-line summary: `2 to create, 1 to update, 0 to replace, 0 to delete`.
pub fn summary_line(s: &Summary) -> String {
    format!("{} to create, {} to update, {} to replace, {} to delete", s.create, s.update, s.replace, s.delete)
}

/// A plan as text, the way `platform plan` shows it.
pub fn plan_text(plan: &Plan) -> String {
    let mut out = String::new();
    let verb = if plan.destroy { "Destroy plan" } else { "Plan" };
    let _ = writeln!(out, "{verb} for stack `{}` in `{}`:", plan.stack, plan.env);
    if !plan.has_changes() {
        let n = plan.resources.len();
        let _ = writeln!(out, "  No changes. {n} resource{} up to date.", if n == 1 { "" } else { "s" });
        out.push_str(&waived_text(&plan.waived));
        return out;
    }
    for r in plan.resources.iter().filter(|r| r.action != Action::NoOp) {
        let id = r.physical_id.as_deref().map(|id| format!(" [{id}]")).unwrap_or_default();
        let _ = write!(out, "\n  {} {} ({}){id} will be {}", symbol(r.action), r.address, r.type_name, past(r.action));
        if r.action == Action::Replace {
            let because: Vec<&str> = r.replaced_because().collect();
            if !because.is_empty() {
                let _ = write!(out, " because {} cannot change in place", because.join(", "));
            }
        }
        if r.protected && matches!(r.action, Action::Delete | Action::Replace) {
            let _ = write!(out, " [protected: needs --allow-destroy {}]", r.address);
        }
        if let Some(reason) = &r.reason {
            let _ = write!(out, " ({reason})");
        }
        out.push('\n');
        for c in &r.changes {
            let line = match (r.action, &c.before, &c.after) {
                (Action::Create, _, Some(a)) => format!("{} = {}", c.path, value(a)),
                (Action::Delete, Some(b), _) => format!("{} = {}", c.path, value(b)),
                (_, Some(b), Some(a)) => format!("{}: {} -> {}", c.path, value(b), value(a)),
                (_, None, Some(a)) => format!("{}: (none) -> {}", c.path, value(a)),
                (_, Some(b), None) => format!("{}: {} -> (none)", c.path, value(b)),
                (_, None, None) => c.path.clone(),
            };
            let forces =
                if c.forces_replacement && r.action == Action::Replace { "  # forces replacement" } else { "" };
            let _ = writeln!(out, "      {line}{forces}");
        }
    }
    let _ = writeln!(out, "\n{}.", summary_line(&plan.summary()));
    out.push_str(&waived_text(&plan.waived));
    out
}

fn past(action: Action) -> &'static str {
    match action {
        Action::NoOp => "left as is",
        Action::Create => "created",
        Action::Update => "updated in place",
        Action::Replace => "replaced",
        Action::Delete => "deleted",
    }
}

/// The end of an apply: what was done, what failed and why, what was skipped.
pub fn report_text(stack: &str, report: &ApplyReport) -> String {
    let mut out = String::new();
    // Waiting for a resource to become available is part of its create or update, not an operation
    // of its own.
    let done = report.results.iter().filter(|r| r.outcome == Outcome::Done && r.kind != OpKind::Await).count();
    let failed = report.count(|o| matches!(o, Outcome::Failed { .. }));
    let skipped = report.count(|o| matches!(o, Outcome::Skipped { .. }));
    let _ = writeln!(out, "Stack `{stack}`: {done} done, {failed} failed, {skipped} skipped.");
    for r in &report.results {
        match &r.outcome {
            Outcome::Done => {}
            Outcome::Failed { error } => {
                let _ = writeln!(out, "  failed:  {} {}: {error}", r.kind.as_str(), r.address);
            }
            Outcome::Skipped { because } => {
                let _ = writeln!(out, "  skipped: {} {} (because {because} failed)", r.kind.as_str(), r.address);
            }
        }
    }
    out
}

/// The waived guardrail findings of a plan, with their reasons (empty when there are none).
pub fn waived_text(waived: &[crate::policy::Finding]) -> String {
    let mut out = String::new();
    if waived.is_empty() {
        return out;
    }
    let _ = writeln!(out, "  Guardrails waived by this stack:");
    for f in waived {
        let reason = f.waived.as_deref().unwrap_or_default();
        let _ = writeln!(out, "    ! {} on {}: {} (waived: {reason})", f.rule, f.address, f.message);
    }
    out
}

/// Each violation of a guardrail report on its own lines: rule, severity, address, what is wrong
/// and how to fix it; then waivers of rules that do not exist.
pub fn guardrail_violations(report: &crate::policy::Report) -> String {
    let mut out = String::new();
    for f in report.violations() {
        let _ = writeln!(out, "  x [{}] {} ({}): {}", f.rule, f.address, f.severity, f.message);
        let _ = writeln!(out, "      {} Fix: {}", f.title, f.fix);
    }
    for w in &report.unknown_waivers {
        let _ = writeln!(
            out,
            "  x {}: waives `{}`, which is not a guardrail rule (see policies/rules/)",
            w.address, w.rule
        );
    }
    out.trim_end().to_string()
}

/// A whole guardrail report: violations, waived findings and unused waivers.
pub fn guardrail_report(report: &crate::policy::Report) -> String {
    let mut out = String::new();
    let violations = report.violations().count() + report.unknown_waivers.len();
    if violations > 0 {
        let _ = writeln!(out, "{}", guardrail_violations(report));
    }
    for f in report.waived() {
        let reason = f.waived.as_deref().unwrap_or_default();
        let _ = writeln!(out, "  ! [{}] {} ({}): {} (waived: {reason})", f.rule, f.address, f.severity, f.message);
    }
    for w in &report.unused_waivers {
        let _ = writeln!(out, "  ? {}: waives `{}`, which it does not break (remove the waiver)", w.address, w.rule);
    }
    let waived = report.waived().count();
    let _ = writeln!(out, "{} violation{}, {} waived.", violations, if violations == 1 { "" } else { "s" }, waived);
    out
}
