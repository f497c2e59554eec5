use serde_json::json;

use super::*;
use crate::model::{Env, Stack};
use crate::resources::logs::LogGroup;

#[test]
fn the_shipped_rules_parse_and_cover_every_builtin() {
    let rules = RuleSet::builtin();
    assert!(rules.rules().len() >= 16);
    let used: BTreeSet<String> = rules
        .rules()
        .iter()
        .flat_map(|r| &r.checks)
        .filter_map(|c| match c {
            Check::Builtin { builtin, .. } => Some(format!("{builtin:?}")),
            Check::Attribute(_) => None,
        })
        .collect();
    assert_eq!(used.len(), 14, "every structural check is used by a rule: {used:?}");
    for rule in rules.rules() {
        assert!(!rule.description.is_empty() && !rule.fix.is_empty(), "{}", rule.id);
    }
}

const ONE_RULE: &str = r#"
[[rule]]
id = "a"
title = "t"
severity = "low"
description = "d"
fix = "f"
[[rule.check]]
resource = "aws.logs.log_group"
attribute = "retention_in_days"
at_least = 1
"#;

#[test]
fn bad_rule_files_are_refused_with_the_file_named() {
    let err = RuleSet::parse(&[("a.toml", ONE_RULE), ("b.toml", ONE_RULE)]).unwrap_err();
    assert_eq!(err.to_string(), "guardrail rules in b.toml: rule id `a` is used twice");
    let both = ONE_RULE.replace("at_least = 1", "at_least = 1\nequals = 3");
    let err = RuleSet::parse(&[("a.toml", &both)]).unwrap_err();
    assert!(err.to_string().contains("exactly one of"), "{err}");
    let unknown = ONE_RULE.replace("aws.logs.log_group", "aws.nope");
    let err = RuleSet::parse(&[("a.toml", &unknown)]).unwrap_err();
    assert!(err.to_string().contains("unknown resource type `aws.nope`"), "{err}");
    let typo = ONE_RULE.replace("severity", "severty");
    assert!(RuleSet::parse(&[("a.toml", &typo)]).is_err(), "unknown fields are refused");
}

#[test]
fn patterns_match_with_stars() {
    assert!(matches_pattern("ec2:Describe*", "ec2:DescribeSubnets"));
    assert!(!matches_pattern("ec2:Describe*", "ec2:CreateVpc"));
    assert!(matches_pattern("arn:aws*:iam::aws:policy/*FullAccess", "arn:aws:iam::aws:policy/AmazonS3FullAccess"));
    assert!(!matches_pattern("arn:aws*:iam::aws:policy/*FullAccess", "arn:aws:iam::aws:policy/ReadOnlyAccess"));
    assert!(matches_pattern("a*b*c", "abc") && matches_pattern("a*b*c", "a-b-c") && !matches_pattern("a*b*c", "ac"));
    assert!(matches_pattern("x", "x") && !matches_pattern("x", "xy"));
}

#[test]
fn attribute_checks_name_the_element_and_the_values() {
    let check = AttributeCheck {
        resource: "aws.ecs.task_definition".into(),
        attribute: "containers[*].user".into(),
        equals: None,
        at_least: None,
        one_of: None,
        not_one_of: Some(vec![json!("root"), json!("")]),
        not_matching: None,
        present: None,
    };
    let props = json!({"containers": [{"user": "10001"}, {"user": "root"}]});
    assert_eq!(attribute_findings(&check, &props), ["containers[1].user is `root`, which is not allowed"]);
    let least = AttributeCheck { at_least: Some(7.0), not_one_of: None, attribute: "days".into(), ..check };
    assert_eq!(attribute_findings(&least, &json!({"days": 3})), ["days is `3`; it must be at least 7"]);
    assert_eq!(attribute_findings(&least, &json!({})), ["days is not set; it must be at least 7"]);
    let present = AttributeCheck { at_least: None, present: Some(true), attribute: "access_logs".into(), ..least };
    assert_eq!(attribute_findings(&present, &json!({})), ["access_logs is not set; it must be"]);
    assert!(attribute_findings(&present, &json!({"access_logs": {"prefix": "lb"}})).is_empty());
}

/// A stack with one log group, its retention then set to `retention` in the desired props (0
/// stands for a group whose events never expire).
fn stack_with_log_group(retention: u32, waive: Option<(&str, &str)>) -> StackSpec {
    let mut s = Stack::new("logs", &Env::new("dev").unwrap());
    let group = s.add("app", LogGroup::new(30));
    if let Some((rule, reason)) = waive {
        s.waive(&group, rule, reason);
    }
    let mut spec = s.build().unwrap();
    spec.resources[0].props["retention_in_days"] = json!(retention);
    spec
}

#[test]
fn waivers_keep_the_finding_visible_and_unknown_rules_are_errors() {
    let rules = RuleSet::builtin();
    let broken = stack_with_log_group(0, None);
    let report = check(&[&broken], &[], &rules);
    assert!(!report.passes());
    let v: Vec<_> = report.violations().map(|f| (f.rule.as_str(), f.address.to_string())).collect();
    assert_eq!(v, [("logs-retention", "logs.app".to_string())]);

    let waived = stack_with_log_group(0, Some(("logs-retention", "kept forever by the audit team's request")));
    let report = check(&[&waived], &[], &rules);
    assert!(report.passes());
    assert_eq!(report.waived().next().unwrap().waived.as_deref(), Some("kept forever by the audit team's request"));

    let unused = stack_with_log_group(30, Some(("logs-retention", "kept forever by the audit team's request")));
    let report = check(&[&unused], &[], &rules);
    assert!(report.passes());
    assert_eq!(report.unused_waivers.len(), 1);

    let unknown = stack_with_log_group(30, Some(("no-such-rule", "because we say so, really")));
    let report = check(&[&unknown], &[], &rules);
    assert!(!report.passes(), "a waiver of an unknown rule is an error");
}

#[test]
fn a_waiver_needs_a_reason() {
    let mut s = Stack::new("logs", &Env::new("dev").unwrap());
    let group = s.add("app", LogGroup::new(30));
    s.waive(&group, "logs-retention", "ok");
    let err = s.build().unwrap_err().to_string();
    assert!(err.contains("logs.app: the waiver of `logs-retention` needs a reason a reviewer can judge"), "{err}");
}
