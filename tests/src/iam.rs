//! AWS's evaluation of identity-based policies within one account, for the policies this project
//! writes: the emulator authorizes every call, so tests ask this instead whether AWS would allow
//! a request.
//!
//! What it covers, from AWS's documentation:
//! - the decision (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html>):
//!   an explicit deny in any of the identity policies or the permissions boundary denies; without
//!   an allow in the identity policies the request is implicitly denied; with a boundary, the
//!   boundary must allow it too (the intersection,
//!   <https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_boundaries.html>);
//! - `Action`/`NotAction`: case-insensitive, with `*` and `?` wildcards
//!   (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_action.html>);
//! - `Resource`/`NotResource`: `*`, or the six colon-separated parts of an ARN matched one by one,
//!   case-sensitively, with `*` and `?` in any part, `*` spanning `/`
//!   (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html>);
//! - `Condition`: every operator and every key must hold (AND), any of a key's values may match
//!   (OR; NOR for negated operators); key names are case-insensitive; a key missing from the
//!   request makes a condition false, except for negated operators, `…IfExists` and `Null`;
//!   operators `StringEquals`, `StringNotEquals`, `StringLike`, `StringNotLike`,
//!   `StringEqualsIgnoreCase`, `ArnEquals`/`ArnLike` (the same: part by part), `ArnNotEquals`/
//!   `ArnNotLike`, `Bool`, `Null`, each with `IfExists`; `ForAllValues:` (true when the key is
//!   missing or empty; otherwise every request value must match one of the policy's) and
//!   `ForAnyValue:` (false when missing; otherwise one value must match)
//!   (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html>,
//!   <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_multi-value-conditions.html>).
//!
//! Not covered: resource-based policies, session policies, SCPs and RCPs, cross-account access,
//! numeric, date and IP operators, policy variables (`${aws:username}`). A policy using any of them
//! is refused ([`Policy::parse`]) rather than evaluated wrongly.

use std::collections::BTreeMap;

use serde_json::Value;

/// AWS's answer to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// An allow applies, no deny does (and the boundary, if any, allows it too).
    Allowed,
    /// An explicit deny applies.
    ExplicitlyDenied,
    /// No allow applies (in the identity policies, or in the boundary).
    ImplicitlyDenied,
}

/// One request: an action on a resource, with the request's condition keys.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// `service:Action`.
    pub action: String,
    /// The resource's ARN, or `*` for actions without resource-level permissions.
    pub resource: String,
    /// Condition keys (lower-cased names) and their values (several for multi-valued keys such
    /// as `aws:TagKeys`).
    pub context: BTreeMap<String, Vec<String>>,
}

impl Request {
    /// `action` on `resource`, with no condition keys yet.
    pub fn new(action: &str, resource: &str) -> Self {
        Self { action: action.to_string(), resource: resource.to_string(), context: BTreeMap::new() }
    }

    /// With the condition key `key` set to `values`.
    pub fn with(mut self, key: &str, values: &[&str]) -> Self {
        self.context.insert(key.to_lowercase(), values.iter().map(|v| v.to_string()).collect());
        self
    }
}

#[derive(Debug, Clone)]
struct Condition {
    operator: String,
    key: String,
    values: Vec<String>,
}

#[derive(Debug, Clone)]
struct Statement {
    deny: bool,
    actions: Vec<String>,
    not_actions: bool,
    resources: Vec<String>,
    not_resources: bool,
    conditions: Vec<Condition>,
}

/// A parsed identity policy (or boundary).
#[derive(Debug, Clone)]
pub struct Policy {
    statements: Vec<Statement>,
}

/// A string, a bool, a number or a list of them, as strings.
fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::Array(items) => items.iter().flat_map(strings).collect(),
        Value::String(s) => vec![s.clone()],
        Value::Bool(b) => vec![b.to_string()],
        Value::Number(n) => vec![n.to_string()],
        _ => vec![],
    }
}

const OPERATORS: &[&str] = &[
    "StringEquals",
    "StringNotEquals",
    "StringLike",
    "StringNotLike",
    "StringEqualsIgnoreCase",
    "ArnEquals",
    "ArnLike",
    "ArnNotEquals",
    "ArnNotLike",
    "Bool",
    "Null",
];

impl Policy {
    /// A policy document in AWS's JSON form. Refuses what this evaluator does not cover.
    pub fn parse(document: &Value) -> Result<Self, String> {
        let statements = match &document["Statement"] {
            Value::Array(items) => items.clone(),
            Value::Object(_) => vec![document["Statement"].clone()],
            _ => return Err("a policy needs a Statement".into()),
        };
        let mut out = vec![];
        for s in statements {
            let deny = match s["Effect"].as_str() {
                Some("Allow") => false,
                Some("Deny") => true,
                other => return Err(format!("effect {other:?}")),
            };
            if s.get("Principal").is_some() || s.get("NotPrincipal").is_some() {
                return Err("a Principal: resource-based policies are not evaluated here".into());
            }
            let (actions, not_actions) = match (s.get("Action"), s.get("NotAction")) {
                (Some(a), None) => (strings(a), false),
                (None, Some(a)) => (strings(a), true),
                _ => return Err("a statement needs Action or NotAction".into()),
            };
            let (resources, not_resources) = match (s.get("Resource"), s.get("NotResource")) {
                (Some(r), None) => (strings(r), false),
                (None, Some(r)) => (strings(r), true),
                _ => return Err("a statement needs Resource or NotResource".into()),
            };
            if resources.iter().chain(&actions).any(|r| r.contains("${")) {
                return Err("policy variables are not evaluated here".into());
            }
            let mut conditions = vec![];
            for (operator, keys) in s["Condition"].as_object().into_iter().flatten() {
                let base = operator.split(':').next_back().unwrap_or(operator).trim_end_matches("IfExists");
                if !OPERATORS.contains(&base) {
                    return Err(format!("the condition operator {operator} is not evaluated here"));
                }
                if let Some((set, _)) = operator.split_once(':') {
                    if set != "ForAllValues" && set != "ForAnyValue" {
                        return Err(format!("the condition operator {operator} is not evaluated here"));
                    }
                }
                for (key, values) in keys.as_object().ok_or("a condition's keys are an object")? {
                    conditions.push(Condition {
                        operator: operator.clone(),
                        key: key.to_lowercase(),
                        values: strings(values),
                    });
                }
            }
            out.push(Statement { deny, actions, not_actions, resources, not_resources, conditions });
        }
        Ok(Self { statements: out })
    }

    /// Whether a statement of this policy of effect `deny` applies to `request`.
    fn applies(&self, deny: bool, request: &Request) -> bool {
        self.statements.iter().filter(|s| s.deny == deny).any(|s| s.matches(request))
    }
}

impl Statement {
    fn matches(&self, request: &Request) -> bool {
        let action = self.actions.iter().any(|a| glob(&a.to_lowercase(), &request.action.to_lowercase()));
        let resource = self.resources.iter().any(|r| resource_matches(r, &request.resource));
        action != self.not_actions && resource != self.not_resources && self.conditions.iter().all(|c| c.holds(request))
    }
}

/// `*` and `?` wildcards over the whole of `text`.
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// An ARN pattern against an ARN, part by part (`arn:partition:service:region:account:resource`).
fn arn_matches(pattern: &str, arn: &str) -> bool {
    let p: Vec<&str> = pattern.splitn(6, ':').collect();
    let a: Vec<&str> = arn.splitn(6, ':').collect();
    p.len() == 6 && a.len() == 6 && p.iter().zip(&a).all(|(p, a)| glob(p, a))
}

fn resource_matches(pattern: &str, resource: &str) -> bool {
    pattern == "*" || (resource != "*" && arn_matches(pattern, resource))
}

impl Condition {
    fn holds(&self, request: &Request) -> bool {
        let (set, operator) = match self.operator.split_once(':') {
            Some((set, op)) => (Some(set), op),
            None => (None, self.operator.as_str()),
        };
        let if_exists = operator.ends_with("IfExists");
        let operator = operator.trim_end_matches("IfExists");
        let present = request.context.get(&self.key).filter(|v| !v.is_empty());
        if operator == "Null" {
            let wants_absent = self.values.iter().any(|v| v == "true");
            return wants_absent == present.is_none();
        }
        let negated = operator.contains("Not");
        let matches_one = |value: &str| -> bool {
            self.values.iter().any(|p| match operator {
                "StringEquals" | "StringNotEquals" | "Bool" => p == value,
                "StringEqualsIgnoreCase" => p.eq_ignore_ascii_case(value),
                "StringLike" | "StringNotLike" => glob(p, value),
                "ArnEquals" | "ArnLike" | "ArnNotEquals" | "ArnNotLike" => arn_matches(p, value),
                _ => false,
            })
        };
        match (set, present) {
            (Some("ForAllValues"), None) => true,
            (Some("ForAnyValue"), None) => false,
            (_, None) => negated || if_exists,
            (Some("ForAllValues"), Some(values)) => values.iter().all(|v| matches_one(v) != negated),
            (Some(_), Some(values)) => values.iter().any(|v| matches_one(v) != negated),
            (None, Some(values)) => {
                // A single-valued key: its one value.
                let value = &values[0];
                matches_one(value) != negated
            }
        }
    }
}

/// What AWS answers to `request` made by a principal with `policies` and, if set, `boundary`.
pub fn evaluate(policies: &[Policy], boundary: Option<&Policy>, request: &Request) -> Decision {
    if policies.iter().chain(boundary).any(|p| p.applies(true, request)) {
        return Decision::ExplicitlyDenied;
    }
    if !policies.iter().any(|p| p.applies(false, request)) {
        return Decision::ImplicitlyDenied;
    }
    match boundary {
        Some(b) if !b.applies(false, request) => Decision::ImplicitlyDenied,
        _ => Decision::Allowed,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn policy(statements: Value) -> Policy {
        Policy::parse(&json!({ "Version": "2012-10-17", "Statement": statements })).unwrap()
    }

    #[test]
    fn deny_wins_allow_is_needed_and_the_boundary_intersects() {
        let p = policy(json!([
            { "Effect": "Allow", "Action": "s3:*", "Resource": "*" },
            { "Effect": "Deny", "Action": "s3:DeleteBucket", "Resource": "arn:aws:s3:::prod-*" },
        ]));
        let get = Request::new("s3:GetObject", "arn:aws:s3:::dev-x/k");
        assert_eq!(evaluate(std::slice::from_ref(&p), None, &get), Decision::Allowed);
        let delete = Request::new("S3:deletebucket", "arn:aws:s3:::prod-data");
        assert_eq!(
            evaluate(std::slice::from_ref(&p), None, &delete),
            Decision::ExplicitlyDenied,
            "actions ignore case"
        );
        let iam = Request::new("iam:CreateUser", "*");
        assert_eq!(evaluate(std::slice::from_ref(&p), None, &iam), Decision::ImplicitlyDenied);
        let boundary =
            policy(json!([{ "Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::dev-*/*" }]));
        assert_eq!(evaluate(std::slice::from_ref(&p), Some(&boundary), &get), Decision::Allowed);
        let put = Request::new("s3:PutObject", "arn:aws:s3:::dev-x/k");
        assert_eq!(evaluate(&[p], Some(&boundary), &put), Decision::ImplicitlyDenied, "outside the boundary");
    }

    #[test]
    fn arns_match_part_by_part() {
        // AWS's own example: the wildcard of one part does not reach into another.
        assert!(!arn_matches(
            "arn:aws:someservice:*:111122223333:finance/*",
            "arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt"
        ));
        assert!(arn_matches(
            "arn:aws:ecs:*:*:task-definition/dev-*-migrate:*",
            "arn:aws:ecs:eu-west-1:1:task-definition/dev-card-migrate:3"
        ));
        assert!(!arn_matches(
            "arn:aws:ecs:*:*:task-definition/dev-*-migrate:*",
            "arn:aws:ecs:eu-west-1:1:task-definition/dev-card:3"
        ));
        assert!(arn_matches("arn:aws:iam::*:role/dev-*", "arn:aws:iam::123:role/dev-a/b"), "`*` spans `/`");
        assert!(glob("a?c", "abc") && !glob("a?c", "abbc"));
    }

    #[test]
    fn conditions_and_their_missing_keys() {
        let p = policy(json!([{
            "Effect": "Allow", "Action": "iam:CreateRole", "Resource": "*",
            "Condition": {
                "StringEquals": { "iam:PermissionsBoundary": ["arn:aws:iam::1:policy/b"] },
                "ForAllValues:StringEquals": { "aws:TagKeys": ["platform:env", "Name"] },
            },
        }]));
        let bare = Request::new("iam:CreateRole", "arn:aws:iam::1:role/x");
        assert_eq!(
            evaluate(std::slice::from_ref(&p), None, &bare),
            Decision::ImplicitlyDenied,
            "no boundary: no match"
        );
        let bounded = bare.clone().with("iam:PermissionsBoundary", &["arn:aws:iam::1:policy/b"]);
        assert_eq!(
            evaluate(std::slice::from_ref(&p), None, &bounded),
            Decision::Allowed,
            "no tags: ForAllValues holds"
        );
        let tagged = bounded.clone().with("aws:TagKeys", &["platform:env", "owner"]);
        assert_eq!(evaluate(std::slice::from_ref(&p), None, &tagged), Decision::ImplicitlyDenied);
        let deny = policy(json!([{
            "Effect": "Deny", "Action": "iam:CreateRole", "Resource": "*",
            "Condition": { "StringNotEquals": { "iam:PermissionsBoundary": "arn:aws:iam::1:policy/b" } },
        }]));
        assert_eq!(
            evaluate(&[p.clone(), deny.clone()], None, &bare),
            Decision::ExplicitlyDenied,
            "negated: true when missing"
        );
        assert_eq!(evaluate(&[p, deny], None, &bounded), Decision::Allowed);
        let bool_policy = policy(json!([{
            "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*",
            "Condition": { "Bool": { "aws:SecureTransport": true }, "Null": { "aws:TokenIssueTime": "false" } },
        }]));
        let secure = Request::new("s3:GetObject", "arn:aws:s3:::b/k").with("aws:SecureTransport", &["true"]);
        assert_eq!(
            evaluate(std::slice::from_ref(&bool_policy), None, &secure),
            Decision::ImplicitlyDenied,
            "Null: the key must be there"
        );
        let session = secure.with("aws:TokenIssueTime", &["2026-12-01T00:00:00Z"]);
        assert_eq!(evaluate(&[bool_policy], None, &session), Decision::Allowed);
    }

    #[test]
    fn what_is_not_evaluated_is_refused() {
        let numeric = json!({ "Statement": [{ "Effect": "Allow", "Action": "*", "Resource": "*",
            "Condition": { "NumericLessThan": { "aws:MultiFactorAuthAge": "3600" } } }] });
        assert!(Policy::parse(&numeric).unwrap_err().contains("NumericLessThan"));
        let resource_policy =
            json!({ "Statement": [{ "Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*" }] });
        assert!(Policy::parse(&resource_policy).is_err());
    }
}
