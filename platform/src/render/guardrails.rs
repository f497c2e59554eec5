//! Guardrail findings: violations, waivers.

use std::fmt::Write;

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
