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
    let not_started = report.count(|o| matches!(o, Outcome::NotStarted));
    let _ = write!(out, "Stack `{stack}`: {done} done, {failed} failed, {skipped} skipped");
    if not_started > 0 {
        let _ = write!(out, ", {not_started} not started (interrupted)");
    }
    let _ = writeln!(out, ".");
    for r in &report.results {
        match &r.outcome {
            Outcome::Done => {}
            Outcome::Failed { error } => {
                let _ = writeln!(out, "  failed:  {} {}: {error}", r.kind.as_str(), r.address);
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

/// The resources of `specs` and their dependencies as a Graphviz `dot` document: one cluster per
/// stack, an edge from each resource to each resource it depends on (dashed across stacks).
pub fn graph_dot(specs: &[&crate::StackSpec]) -> String {
    let mut out = String::from("digraph platform {\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n");
    for (i, spec) in specs.iter().enumerate() {
        let _ = writeln!(out, "  subgraph cluster_{i} {{\n    label=\"{} ({})\";", spec.name, spec.env);
        for r in &spec.resources {
            let _ = writeln!(out, "    \"{}\" [label=\"{}\\n{}\"];", r.address, r.address.name(), r.type_name);
        }
        out.push_str("  }\n");
    }
    for spec in specs {
        for r in &spec.resources {
            for d in &r.dependencies {
                let style = if d.stack() != spec.name { " [style=dashed]" } else { "" };
                let _ = writeln!(out, "  \"{}\" -> \"{d}\"{style};", r.address);
            }
        }
    }
    out.push_str("}\n");
    out
}

/// The same graph as a Mermaid flowchart (renders in GitHub comments and Markdown files).
pub fn graph_mermaid(specs: &[&crate::StackSpec]) -> String {
    let id = |a: &crate::Address| a.to_string().replace(['.', '-'], "_");
    let mut out = String::from("flowchart LR\n");
    for spec in specs {
        let _ = writeln!(out, "  subgraph {}[\"{} ({})\"]", spec.name.replace('-', "_"), spec.name, spec.env);
        for r in &spec.resources {
            let _ =
                writeln!(out, "    {}[\"{}<br/><small>{}</small>\"]", id(&r.address), r.address.name(), r.type_name);
        }
        out.push_str("  end\n");
    }
    for spec in specs {
        for r in &spec.resources {
            for d in &r.dependencies {
                let arrow = if d.stack() != spec.name { "-.->" } else { "-->" };
                let _ = writeln!(out, "  {} {arrow} {}", id(&r.address), id(d));
            }
        }
    }
    out
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// Plans as Markdown for a pull-request comment: a summary line, the changes of each stack (with
/// their attributes folded), the changes that widen access in a section of their own, and the
/// waived guardrails.
pub fn plans_markdown(plans: &[Plan]) -> String {
    let mut out = String::new();
    let mut total = crate::plan::Summary::default();
    for p in plans {
        let s = p.summary();
        total.create += s.create;
        total.update += s.update;
        total.replace += s.replace;
        total.delete += s.delete;
    }
    let env = plans.first().map(|p| p.env.to_string()).unwrap_or_default();
    let _ = writeln!(out, "## platform plan: `{env}`\n");
    let _ = writeln!(
        out,
        "**{} to add, {} to change, {} to replace, {} to destroy** in {} stack{}.\n",
        total.create,
        total.update,
        total.replace,
        total.delete,
        plans.len(),
        if plans.len() == 1 { "" } else { "s" }
    );
    for p in plans {
        if !p.has_changes() {
            let _ = writeln!(out, "### `{}`: no changes ({} resources up to date)\n", p.stack, p.resources.len());
            continue;
        }
        let s = p.summary();
        let _ = writeln!(
            out,
            "### `{}`: {} to add, {} to change, {} to replace, {} to destroy\n",
            p.stack, s.create, s.update, s.replace, s.delete
        );
        out.push_str("| | address | type | why |\n|---|---|---|---|\n");
        let changed: Vec<_> = p.resources.iter().filter(|r| r.action != Action::NoOp).collect();
        for r in &changed {
            let mut why: Vec<String> = vec![];
            if r.action == Action::Replace {
                let because: Vec<&str> = r.replaced_because().collect();
                if !because.is_empty() {
                    why.push(format!("{} cannot change in place", because.join(", ")));
                }
            }
            if let Some(reason) = &r.reason {
                why.push(reason.clone());
            }
            if r.protected && matches!(r.action, Action::Delete | Action::Replace) {
                why.push(format!("**protected**: needs `--allow-destroy {}`", r.address));
            }
            let _ = writeln!(
                out,
                "| {} {} | `{}` | `{}` | {} |",
                symbol(r.action),
                r.action.as_str(),
                r.address,
                r.type_name,
                cell(&why.join("; "))
            );
        }
        out.push_str("\n<details><summary>Attribute changes</summary>\n\n```diff\n");
        for r in &changed {
            let _ = writeln!(out, "{} {}", symbol(r.action), r.address);
            for c in &r.changes {
                if let Some(b) = &c.before {
                    let _ = writeln!(out, "-     {}: {}", c.path, value(b));
                }
                if let Some(a) = &c.after {
                    let _ = writeln!(out, "+     {}: {}", c.path, value(a));
                }
            }
        }
        out.push_str("```\n\n</details>\n\n");
    }
    let widening: Vec<(&crate::Address, &String)> = plans
        .iter()
        .flat_map(|p| &p.resources)
        .flat_map(|r| r.widens_access.iter().map(move |w| (&r.address, w)))
        .collect();
    let _ = writeln!(out, "### Changes that widen access\n");
    if widening.is_empty() {
        out.push_str("None: no new permissions, ingress or public exposure.\n");
    } else {
        out.push_str("| address | what opens up |\n|---|---|\n");
        for (address, what) in widening {
            let _ = writeln!(out, "| `{address}` | {} |", cell(what));
        }
    }
    let waived: Vec<&crate::policy::Finding> = plans.iter().flat_map(|p| &p.waived).collect();
    if !waived.is_empty() {
        out.push_str("\n### Waived guardrails\n\n| rule | address | finding | reason |\n|---|---|---|---|\n");
        for f in waived {
            let _ = writeln!(
                out,
                "| `{}` | `{}` | {} | {} |",
                f.rule,
                f.address,
                cell(&f.message),
                cell(f.waived.as_deref().unwrap_or_default())
            );
        }
    }
    out
}

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
/// value -> actual value), then expected drift and what could not be checked.
pub fn drift_text(report: &crate::drift::DriftReport) -> String {
    let mut out = String::new();
    let n = report.drifted.len();
    let _ = writeln!(
        out,
        "Drift of stack `{}` in `{}`: {} drifted, {} in sync.",
        report.stack,
        report.env,
        if n == 1 { "1 resource".to_string() } else { format!("{n} resources") },
        report.in_sync
    );
    for d in &report.drifted {
        match d.status {
            crate::drift::DriftStatus::Deleted => {
                let _ = writeln!(
                    out,
                    "  - {} [{}] ({}) was deleted outside platform",
                    d.address, d.physical_id, d.type_name
                );
            }
            crate::drift::DriftStatus::Changed => {
                let _ = writeln!(
                    out,
                    "  ~ {} [{}] ({}) was changed outside platform:",
                    d.address, d.physical_id, d.type_name
                );
                for c in &d.changes {
                    for line in drift_change_lines(c) {
                        let _ = writeln!(out, "      {line}");
                    }
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
                crate::drift::DriftStatus::Changed => {
                    d.changes.iter().flat_map(drift_change_lines).collect::<Vec<_>>().join("<br>")
                }
            };
            let _ = writeln!(out, "| `{}` | `{}` | {} |", d.address, d.physical_id, cell(&what));
        }
        for e in &r.expected {
            let what = drift_change_lines(&e.change).join("<br>");
            let _ = writeln!(out, "| `{}` | | expected: {} ({}) |", e.address, cell(&what), cell(&e.reason));
        }
        out.push('\n');
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
