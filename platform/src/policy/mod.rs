//! Guardrails: rules checked on the typed desired state of stacks before anything is planned or
//! applied. The rules are data (`policies/rules/*.toml`, embedded by the `policies` crate): each has
//! an id, a severity, a description, a fix, the environments it applies to, the equivalent checks
//! of well-known scanners, and its checks — either an attribute of a resource type compared with an
//! expected value, or a named structural check ([`Builtin`]) for what spans several attributes or
//! resources. A stack can waive a rule for one address with a reason ([`crate::Stack::waive`]);
//! waived findings are kept in the report. Pure: no IO.

mod builtin;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::{Address, StackSpec};

/// How much a violation matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Exposes data or access directly.
    Critical,
    /// Weakens security or availability substantially.
    High,
    /// A defence in depth is missing.
    Medium,
    /// Hygiene.
    Low,
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Severity::Critical => "critical",
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
        })
    }
}

/// One guardrail rule.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// A stable id, used in reports and waivers.
    pub id: String,
    /// One line.
    pub title: String,
    /// How much it matters.
    pub severity: Severity,
    /// What it protects against.
    pub description: String,
    /// How to comply.
    pub fix: String,
    /// The environments it applies to; empty means every environment.
    #[serde(default)]
    pub environments: Vec<String>,
    /// The equivalent checks of well-known scanners (`checkov:CKV_AWS_16`, `cdk-nag:AwsSolutions-RDS2`).
    #[serde(default)]
    pub scanners: Vec<String>,
    /// What is checked; every check must hold.
    #[serde(rename = "check")]
    pub checks: Vec<Check>,
}

impl Rule {
    /// Whether the rule applies in environment `env`.
    pub fn applies_in(&self, env: &str) -> bool {
        self.environments.is_empty() || self.environments.iter().any(|e| e == env)
    }
}

/// One check of a rule.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Check {
    /// A structural check implemented by the engine, with its data.
    Builtin {
        /// Which one.
        builtin: Builtin,
        /// Its data (ports, TLS policies, names, actions: see [`Builtin`]).
        #[serde(default)]
        patterns: Vec<String>,
    },
    /// An attribute of every resource of a type.
    Attribute(AttributeCheck),
}

/// An attribute of every resource of a type, compared with what is expected. The attribute is a
/// path of field names separated by dots, where `name[*]` stands for every element of a list.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeCheck {
    /// The resource type (`aws.rds.db_instance`).
    pub resource: String,
    /// The attribute's path (`storage_encrypted`, `containers[*].user`).
    pub attribute: String,
    /// The value must be exactly this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<Value>,
    /// The value must be a number at least this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_least: Option<f64>,
    /// The value must be one of these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub one_of: Option<Vec<Value>>,
    /// The value must be none of these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_one_of: Option<Vec<Value>>,
    /// The value must match none of these patterns (`*` matches any text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_matching: Option<Vec<String>>,
    /// The attribute must be set (`true`) or not set (`false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub present: Option<bool>,
}

/// The structural checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Builtin {
    /// No ingress from 0.0.0.0/0 or ::/0, except TCP on the ports in `patterns` on a group
    /// attached to a load balancer (rules of groups and grants).
    OpenIngress,
    /// The groups of databases admit only other security groups (their rules and grants into them).
    DatabaseIngressFromGroups,
    /// Where a load balancer has a certificate: HTTPS listeners with a TLS policy from
    /// `patterns`, and HTTP listeners that only redirect to HTTPS.
    LoadBalancerTls,
    /// No internet-facing load balancer forwards plain HTTP: its HTTP listeners only redirect to
    /// HTTPS.
    NoPlainHttp,
    /// Every internet-facing load balancer has a web ACL in front of it, and every web ACL's rule
    /// groups include each of `patterns`, acting on what they match (not only counting).
    LoadBalancerWebAcl,
    /// Every web ACL logs what it inspects.
    WebAclLogging,
    /// Every VPC has a flow log recording all its traffic (`ALL`).
    VpcFlowLogs,
    /// Every VPC's default security group is taken over with no rule.
    DefaultSecurityGroupClosed,
    /// Every database publishes its engine's log to CloudWatch Logs (PostgreSQL: `postgresql`;
    /// MySQL: `error` and `slowquery`) with query logging on in a parameter group declared in the
    /// stacks (PostgreSQL: `log_statement` other than `none` and `log_min_duration_statement` of
    /// 0 or more; MySQL: `slow_query_log`).
    DatabaseLogging,
    /// What holds data is encrypted with a customer-managed key: every log group, image
    /// repository, bucket (but those that receive AWS services' logs, which take only SSE-S3),
    /// database's storage and, where it is on, Performance Insights.
    CustomerManagedKeys,
    /// No container environment variable whose name contains one of `patterns` (case-insensitive,
    /// names ending in `_ARN` excepted) or whose value looks like a credential.
    ContainerSecrets,
    /// No `*` action, and no `*` resource unless every action is one of `patterns` (actions that
    /// AWS only allows on `*`).
    IamWildcards,
    /// `iam:PassRole` is never allowed on `*`.
    IamPassRole,
    /// Every ECS service's container declares a health check and, behind a load balancer, the
    /// target group checks a port the container exposes.
    ServiceHealthCheck,
}

/// The rules in force.
#[derive(Debug, Clone)]
pub struct RuleSet {
    rules: Vec<Rule>,
}

/// A rule file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    /// Not a valid rule file.
    #[error("guardrail rules in {file}: {message}")]
    Invalid {
        /// The file.
        file: String,
        /// What is wrong.
        message: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    #[serde(rename = "rule")]
    rules: Vec<Rule>,
}

impl RuleSet {
    /// The rules shipped in `policies/rules/`.
    pub fn builtin() -> Self {
        Self::parse(policies::RULE_FILES).expect("the shipped rules are valid (tested)")
    }

    /// Parses rule files given as (name, text).
    pub fn parse(files: &[(&str, &str)]) -> Result<Self, RuleError> {
        let mut rules: Vec<Rule> = vec![];
        for (file, text) in files {
            let invalid = |message: String| RuleError::Invalid { file: file.to_string(), message };
            let parsed: RuleFile = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
            for rule in parsed.rules {
                if rules.iter().any(|r| r.id == rule.id) {
                    return Err(invalid(format!("rule id `{}` is used twice", rule.id)));
                }
                if rule.checks.is_empty() {
                    return Err(invalid(format!("rule `{}` has no check", rule.id)));
                }
                for check in &rule.checks {
                    if let Check::Attribute(a) = check {
                        let expectations = [
                            a.equals.is_some(),
                            a.at_least.is_some(),
                            a.one_of.is_some(),
                            a.not_one_of.is_some(),
                            a.not_matching.is_some(),
                            a.present.is_some(),
                        ];
                        if expectations.iter().filter(|e| **e).count() != 1 {
                            return Err(invalid(format!(
                                "rule `{}`: a check of `{}` needs exactly one of equals, at_least, one_of, not_one_of, not_matching, present",
                                rule.id, a.attribute
                            )));
                        }
                        if crate::resources::schema(&a.resource).is_none() {
                            return Err(invalid(format!("rule `{}`: unknown resource type `{}`", rule.id, a.resource)));
                        }
                    }
                }
                rules.push(rule);
            }
        }
        Ok(Self { rules })
    }

    /// Every rule.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The rule with id `id`.
    pub fn rule(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.id == id)
    }
}

/// A rule broken by a resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// The rule's id.
    pub rule: String,
    /// The rule's title.
    pub title: String,
    /// Its severity.
    pub severity: Severity,
    /// The resource.
    pub address: Address,
    /// What is wrong, specifically.
    pub message: String,
    /// How to fix it.
    pub fix: String,
    /// The reason the stack gives for waiving it, if it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waived: Option<String>,
}

/// What the guardrails found in some stacks.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    /// Every finding, waived or not, ordered by stack, address and rule.
    pub findings: Vec<Finding>,
    /// Waivers that name no rule, or a rule the resource does not break (kept visible).
    pub unused_waivers: Vec<crate::model::Waiver>,
    /// Waivers that name a rule that does not exist: errors, like violations.
    pub unknown_waivers: Vec<crate::model::Waiver>,
}

impl Report {
    /// The findings that are not waived.
    pub fn violations(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.waived.is_none())
    }

    /// The findings that are waived.
    pub fn waived(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.waived.is_some())
    }

    /// Whether nothing stops a plan: no violation and no waiver of an unknown rule.
    pub fn passes(&self) -> bool {
        self.violations().next().is_none() && self.unknown_waivers.is_empty()
    }
}

/// All the resources the checks can look at: the checked stacks and the stacks they use.
pub(crate) struct Index<'a> {
    by_address: BTreeMap<String, &'a crate::model::ResourceSpec>,
}

impl<'a> Index<'a> {
    fn of(specs: impl IntoIterator<Item = &'a StackSpec>) -> Self {
        let mut by_address = BTreeMap::new();
        for spec in specs {
            for r in &spec.resources {
                by_address.insert(r.address.to_string(), r);
            }
        }
        Self { by_address }
    }

    /// The resource a reference value points at, if it is a reference to a known resource.
    pub(crate) fn target(&self, value: &Value) -> Option<&'a crate::model::ResourceSpec> {
        let (address, _) = crate::model::reference::as_ref(value)?;
        self.by_address.get(address).copied()
    }

    /// Every resource of type `type_name`.
    pub(crate) fn of_type(&self, type_name: &'a str) -> impl Iterator<Item = &'a crate::model::ResourceSpec> + '_ {
        self.by_address.values().copied().filter(move |r| r.type_name == type_name)
    }
}

/// Checks `specs` against `rules`. `context` holds the stacks they use (for references across
/// stacks, such as a grant into another stack's database group); only `specs` are reported on.
pub fn check(specs: &[&StackSpec], context: &[&StackSpec], rules: &RuleSet) -> Report {
    let index = Index::of(specs.iter().copied().chain(context.iter().copied()));
    let mut report = Report::default();
    for spec in specs {
        let env = spec.env.to_string();
        let mut found: Vec<(String, Address, String)> = vec![];
        for rule in rules.rules().iter().filter(|r| r.applies_in(&env)) {
            for check in &rule.checks {
                let mut hits: Vec<(Address, String)> = vec![];
                match check {
                    Check::Attribute(a) => {
                        for r in spec.resources.iter().filter(|r| r.type_name == a.resource) {
                            for message in attribute_findings(a, &r.props) {
                                hits.push((r.address.clone(), message));
                            }
                        }
                    }
                    Check::Builtin { builtin, patterns } => {
                        hits = builtin::run(*builtin, patterns, spec, &index);
                    }
                }
                found.extend(hits.into_iter().map(|(address, message)| (rule.id.clone(), address, message)));
            }
        }
        let mut used: BTreeSet<(String, Address)> = BTreeSet::new();
        for (id, address, message) in found {
            let rule = rules.rule(&id).expect("found by a known rule");
            let waiver = spec.waivers.iter().find(|w| w.rule == id && w.address == address);
            if let Some(w) = waiver {
                used.insert((w.rule.clone(), w.address.clone()));
            }
            report.findings.push(Finding {
                rule: id,
                title: rule.title.clone(),
                severity: rule.severity,
                address,
                message,
                fix: rule.fix.clone(),
                waived: waiver.map(|w| w.reason.clone()),
            });
        }
        for w in &spec.waivers {
            if rules.rule(&w.rule).is_none() {
                report.unknown_waivers.push(w.clone());
            } else if !used.contains(&(w.rule.clone(), w.address.clone())) {
                report.unused_waivers.push(w.clone());
            }
        }
    }
    report.findings.sort_by(|a, b| (&a.address, &a.rule, &a.message).cmp(&(&b.address, &b.rule, &b.message)));
    report.findings.dedup();
    report
}

/// The values at `path` in `props`, with their concrete paths (`containers[0].user`).
fn values_at<'v>(props: &'v Value, path: &str) -> Vec<(String, &'v Value)> {
    let mut current: Vec<(String, &Value)> = vec![(String::new(), props)];
    for segment in path.split('.') {
        let (name, every) = match segment.strip_suffix("[*]") {
            Some(name) => (name, true),
            None => (segment, false),
        };
        let mut next = vec![];
        for (at, value) in current {
            let here = if at.is_empty() { name.to_string() } else { format!("{at}.{name}") };
            let child = value.get(name).unwrap_or(&Value::Null);
            if every {
                for (i, item) in child.as_array().into_iter().flatten().enumerate() {
                    next.push((format!("{here}[{i}]"), item));
                }
            } else {
                next.push((here, child));
            }
        }
        current = next;
    }
    current
}

/// `*` matches any text (including none); everything else matches itself.
pub(crate) fn matches_pattern(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    true
}

fn show(value: &Value) -> String {
    match value {
        Value::Null => "not set".into(),
        Value::String(s) => format!("`{s}`"),
        other => format!("`{other}`"),
    }
}

fn attribute_findings(check: &AttributeCheck, props: &Value) -> Vec<String> {
    let mut out = vec![];
    for (at, value) in values_at(props, &check.attribute) {
        if let Some(expected) = &check.equals {
            if value != expected {
                out.push(format!("{at} is {}; it must be {}", show(value), show(expected)));
            }
        }
        if let Some(least) = check.at_least {
            if value.as_f64().is_none_or(|v| v < least) {
                out.push(format!("{at} is {}; it must be at least {least}", show(value)));
            }
        }
        if let Some(allowed) = &check.one_of {
            if !allowed.contains(value) {
                let list: Vec<String> = allowed.iter().map(show).collect();
                out.push(format!("{at} is {}; it must be one of {}", show(value), list.join(", ")));
            }
        }
        if let Some(refused) = &check.not_one_of {
            if refused.contains(value) {
                out.push(format!("{at} is {}, which is not allowed", show(value)));
            }
        }
        if let Some(wanted) = check.present {
            if value.is_null() == wanted {
                out.push(if wanted {
                    format!("{at} is not set; it must be")
                } else {
                    format!("{at} is set; it must not be")
                });
            }
        }
        if let Some(patterns) = &check.not_matching {
            if let Some(p) = value.as_str().and_then(|v| patterns.iter().find(|p| matches_pattern(p, v))) {
                out.push(format!("{at} is {}, which matches the refused `{p}`", show(value)));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
