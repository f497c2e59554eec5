//! Plans as text (for a terminal) and as Markdown (for a pull request).

use std::fmt::Write;

use serde_json::Value;

use super::diff::{block, lines, wants_block, wants_lines};
use super::guardrails::waived_text;
use super::{cell, plural, value, Palette};
use crate::plan::{Action, AttributeChange, Identity, Plan, ResourceChange, Summary};

fn symbol(action: Action) -> &'static str {
    match action {
        Action::NoOp => " ",
        Action::Create => "+",
        Action::Update => "~",
        Action::Replace => "-/+",
        Action::Delete => "-",
    }
}

fn styled_symbol(action: Action, palette: Palette) -> String {
    let s = symbol(action);
    match action {
        Action::Create => palette.added(s),
        Action::Update => palette.changed(s),
        Action::Replace => palette.replaced(s),
        Action::Delete => palette.removed(s),
        Action::NoOp => s.to_string(),
    }
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

/// The one-line summary: `2 to create, 1 to update, 0 to replace, 0 to delete`.
pub fn summary_line(s: &Summary) -> String {
    format!("{} to create, {} to update, {} to replace, {} to delete", s.create, s.update, s.replace, s.delete)
}

/// What a run's plans are for: the AWS account, the principal, the region and the environment
/// (shown once, above the plans, so that nobody applies to the wrong account).
pub fn plan_header(identity: &Identity, env: &str) -> String {
    format!(
        "AWS account {} ({}), region {}, environment `{env}`, as {}.\n",
        identity.account, identity.partition, identity.region, identity.principal
    )
}

/// A plan as text, the way `platform plan` shows it (no colours).
pub fn plan_text(plan: &Plan) -> String {
    plan_text_styled(plan, Palette::PLAIN)
}

/// Whether `path` lies inside the document at `document`.
fn inside(path: &str, document: &str) -> bool {
    path == document || path.strip_prefix(document).is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
}

/// A plan as text, styled with `palette`: each change with its attributes; documents and long
/// structured values as line diffs.
pub fn plan_text_styled(plan: &Plan, palette: Palette) -> String {
    let mut out = String::new();
    let verb = if plan.destroy { "Destroy plan" } else { "Plan" };
    let _ = writeln!(out, "{verb} for stack `{}` in `{}`:", palette.strong(&plan.stack), plan.env);
    if let Some(targets) = &plan.targets {
        let names: Vec<String> = targets.iter().map(|a| a.to_string()).collect();
        let _ = writeln!(
            out,
            "  Partial: only {} and what {} on (--target).",
            if names.is_empty() { "what the targets need".to_string() } else { names.join(", ") },
            if plan.destroy { "depends" } else { "they depend" }
        );
    }
    if !plan.has_changes() {
        let n = plan.resources.len();
        let _ = writeln!(out, "  No changes. {n} resource{} up to date.", if n == 1 { "" } else { "s" });
        out.push_str(&waived_text(&plan.waived));
        return out;
    }
    for r in plan.resources.iter().filter(|r| r.action != Action::NoOp) {
        let id = r.physical_id.as_deref().map(|id| format!(" [{id}]")).unwrap_or_default();
        let _ = write!(
            out,
            "\n  {} {} ({}){id} will be {}",
            styled_symbol(r.action, palette),
            palette.strong(&r.address.to_string()),
            r.type_name,
            past(r.action)
        );
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
        for note in &r.notes {
            let _ = writeln!(out, "      {}", palette.changed(&format!("note: {note}")));
        }
        out.push_str(&changes_text(r, palette));
    }
    let _ = writeln!(out, "\n{}.", summary_line(&plan.summary()));
    out.push_str(&waived_text(&plan.waived));
    out
}

/// The attribute lines of one change: documents whole, as line diffs; the other attributes one
/// per line (long structured values as line diffs too).
fn changes_text(r: &ResourceChange, palette: Palette) -> String {
    let mut out = String::new();
    let forces = |c: &AttributeChange| c.forces_replacement && r.action == Action::Replace;
    let marker = |yes: bool| if yes { palette.removed("  # forces replacement") } else { String::new() };
    for c in r.changes.iter().filter(|c| !r.documents.iter().any(|d| inside(&c.path, &d.path))) {
        match (r.action, &c.before, &c.after) {
            (Action::Create, _, Some(v)) | (Action::Delete, Some(v), _) if wants_block(v) => {
                let _ = writeln!(out, "      {} =", c.path);
                out.push_str(&block(v, "          "));
            }
            (Action::Create, _, Some(a)) => {
                let _ = writeln!(out, "      {} = {}", c.path, value(a));
            }
            (Action::Delete, Some(b), _) => {
                let _ = writeln!(out, "      {} = {}", c.path, value(b));
            }
            (_, Some(b), Some(a)) if wants_lines(b, a) => {
                let _ = writeln!(out, "      {}:{}", c.path, marker(forces(c)));
                out.push_str(&lines(Some(b), Some(a), "        ", palette));
            }
            (_, before, after) => {
                let show = |v: &Option<Value>| v.as_ref().map(value).unwrap_or_else(|| "(none)".into());
                let line = match (before, after) {
                    (None, None) => c.path.clone(),
                    _ => format!("{}: {} -> {}", c.path, show(before), show(after)),
                };
                let _ = writeln!(out, "      {line}{}", marker(forces(c)));
            }
        }
    }
    for d in &r.documents {
        let forced = r.changes.iter().any(|c| inside(&c.path, &d.path) && forces(c));
        let _ = writeln!(out, "      {} {}:{}", palette.changed("~"), d.path, marker(forced));
        out.push_str(&lines(d.before.as_ref(), d.after.as_ref(), "        ", palette));
    }
    out
}

/// Plans as Markdown for a pull-request comment: a summary line, the changes of each stack (with
/// their attributes folded, documents as diffs), the changes that widen access in a section of
/// their own, and the waived guardrails.
pub fn plans_markdown(plans: &[Plan]) -> String {
    let mut out = String::new();
    let mut total = Summary::default();
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
        "**{} to add, {} to change, {} to replace, {} to destroy** in {}.\n",
        total.create,
        total.update,
        total.replace,
        total.delete,
        plural(plans.len(), "stack")
    );
    if let Some(identity) = plans.iter().find_map(|p| p.identity.as_ref()) {
        let _ = writeln!(
            out,
            "AWS account `{}` ({}), region `{}`.\n",
            identity.account, identity.partition, identity.region
        );
    }
    if plans.iter().any(|p| p.targets.is_some()) {
        out.push_str("> **Partial plan** (`--target`): only the targeted resources and what they need.\n\n");
    }
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
            why.extend(r.notes.iter().cloned());
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
            for c in r.changes.iter().filter(|c| !r.documents.iter().any(|d| inside(&c.path, &d.path))) {
                match (&c.before, &c.after) {
                    (Some(b), Some(a)) if wants_lines(b, a) => {
                        let _ = writeln!(out, "      {}:", c.path);
                        out.push_str(&lines(Some(b), Some(a), "", Palette::PLAIN));
                    }
                    _ => {
                        if let Some(b) = &c.before {
                            let _ = writeln!(out, "-     {}: {}", c.path, value(b));
                        }
                        if let Some(a) = &c.after {
                            let _ = writeln!(out, "+     {}: {}", c.path, value(a));
                        }
                    }
                }
            }
            for d in &r.documents {
                let _ = writeln!(out, "      {}:", d.path);
                out.push_str(&lines(d.before.as_ref(), d.after.as_ref(), "", Palette::PLAIN));
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::{Address, Env};
    use crate::plan::DocumentChange;

    #[test]
    fn a_changed_document_shows_as_a_line_diff_instead_of_its_attributes() {
        let statement =
            |actions: &[&str]| json!({"effect": "Allow", "actions": actions, "resources": ["arn:aws:s3:::cards/*"]});
        let before = json!({"statements": [statement(&["s3:GetObject"])]});
        let after = json!({"statements": [statement(&["s3:GetObject", "s3:PutObject"])]});
        let plan = Plan {
            format_version: 1,
            stack: "card-service".into(),
            env: Env::new("dev").unwrap(),
            destroy: false,
            lineage: "l".into(),
            serial: 1,
            identity: None,
            targets: None,
            resources: vec![ResourceChange {
                address: Address::new("card-service", "task-role"),
                type_name: "aws.iam.role".into(),
                action: Action::Update,
                physical_id: Some("dev-card-service-task-role".into()),
                changes: vec![AttributeChange {
                    path: "policies.run.statements[0].actions".into(),
                    before: Some(before["statements"][0]["actions"].clone()),
                    after: Some(after["statements"][0]["actions"].clone()),
                    forces_replacement: false,
                }],
                documents: vec![DocumentChange {
                    path: "policies.run".into(),
                    before: Some(before),
                    after: Some(after),
                }],
                reason: None,
                protected: false,
                deposed: false,
                widens_access: vec!["allows s3:PutObject on arn:aws:s3:::cards/*".into()],
                notes: vec![],
            }],
            waived: vec![],
        };
        let text = plan_text(&plan);
        assert!(text.contains("      ~ policies.run:\n"), "{text}");
        assert!(text.contains("        -         \"s3:GetObject\"\n"), "{text}");
        assert!(text.contains("        +         \"s3:PutObject\"\n"), "{text}");
        assert!(!text.contains("statements[0].actions:"), "the document replaces its attribute lines:\n{text}");
        let markdown = plans_markdown(std::slice::from_ref(&plan));
        assert!(markdown.contains("+         \"s3:PutObject\""), "{markdown}");
    }
}
