//! IAM: roles with inline policies built from typed statements, trusted by an AWS service or by
//! the web identities of an OIDC provider (CI such as GitHub Actions, without long-lived keys).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Arn, Name, Tags, Text};
use crate::access;
use crate::model::{outputs, NameStyle, Ref, Resource, TypeSchema};

/// Schema of [`Role`].
pub const ROLE: TypeSchema = TypeSchema {
    type_name: "aws.iam.role",
    name_style: NameStyle::Dashed { max_len: 64, lowercase: false },
    force_new: &["name"],
    sets: &["managed_policies"],
    documents: &["policies.*", "trust"],
    taggable: true,
    outputs: RoleOutputs::NAMES,
    widening: Some(role_widening),
    ..TypeSchema::BASE
};

/// Schema of [`OidcProvider`].
pub const OIDC_PROVIDER: TypeSchema = TypeSchema {
    type_name: "aws.iam.oidc_provider",
    // Identified by its URL: one provider per issuer and account.
    name_style: NameStyle::Tag,
    force_new: &["url"],
    sets: &["client_ids", "thumbprints"],
    taggable: true,
    outputs: OidcProviderOutputs::NAMES,
    ..TypeSchema::BASE
};

/// Schema of [`ManagedPolicy`].
pub const MANAGED_POLICY: TypeSchema = TypeSchema {
    type_name: "aws.iam.managed_policy",
    name_style: NameStyle::Dashed { max_len: 128, lowercase: false },
    force_new: &["name", "description"],
    documents: &["document"],
    taggable: true,
    outputs: ManagedPolicyOutputs::NAMES,
    widening: Some(managed_policy_widening),
    ..TypeSchema::BASE
};

/// A customer managed policy: a document of its own, attached to roles or set as their
/// permissions boundary. A change is a new default version (AWS keeps at most five,
/// <https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_managed-versioning.html>).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManagedPolicy {
    /// What it is for (fixed once created).
    pub description: String,
    /// The policy.
    pub document: PolicyDocument,
    /// User tags.
    pub tags: Tags,
}

impl Resource for ManagedPolicy {
    const SCHEMA: &'static TypeSchema = &MANAGED_POLICY;
    fn validate(&self, problems: &mut Vec<String>) {
        if self.description.len() > 1000 {
            problems.push("description: at most 1000 characters".into());
        }
        if self.document.statements.is_empty() {
            problems.push("document: a managed policy needs at least one statement".into());
        }
        for s in &self.document.statements {
            s.problems("document", problems);
        }
        let size = self.document.size();
        if size > quotas::MANAGED_POLICY {
            problems.push(format!(
                "document: {size} characters (at least: references count once resolved); IAM takes at most {} in a managed policy (split it into several)",
                quotas::MANAGED_POLICY
            ));
        }
    }
}

outputs! {
    /// What a managed policy records.
    ManagedPolicy => ManagedPolicyOutputs {
        /// The policy's ARN.
        arn: String => arn(Arn),
        /// The policy's name.
        name: String => name(Name),
    }
}

fn managed_policy_widening(before: Option<&Value>, after: &Value) -> Vec<String> {
    let as_policies = |props: &Value| serde_json::json!({ "policies": { "document": props["document"] } });
    let old = access::allowed(before.map(as_policies).as_ref());
    let new = access::allowed(Some(&as_policies(after)));
    new.difference(&old).map(|(action, resource)| format!("allows {action} on {resource}")).collect()
}

/// An OpenID Connect identity provider: roles can trust the tokens it issues (for example
/// GitHub Actions' `https://token.actions.githubusercontent.com`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OidcProvider {
    /// The issuer URL (`https://...`); the provider is identified by it.
    pub url: String,
    /// The audiences accepted (client ids), e.g. `sts.amazonaws.com`.
    pub client_ids: Vec<String>,
    /// SHA-1 thumbprints of the issuer's certificate chain (40 hex digits each). AWS no longer
    /// checks them for well-known issuers, but the API still takes at least one.
    pub thumbprints: Vec<String>,
    /// User tags.
    pub tags: Tags,
}

impl Resource for OidcProvider {
    const SCHEMA: &'static TypeSchema = &OIDC_PROVIDER;
    fn validate(&self, problems: &mut Vec<String>) {
        let host = self.url.strip_prefix("https://").unwrap_or("");
        if host.is_empty() || host.contains(['?', '#', ' ']) || host.len() > 255 {
            problems.push(format!("url: `{}` is not an https issuer URL", self.url));
        }
        if self.client_ids.is_empty() {
            problems.push("client_ids: at least one audience is needed".into());
        }
        if self.thumbprints.is_empty() || self.thumbprints.len() > 5 {
            problems.push("thumbprints: one to five are needed".into());
        }
        for t in &self.thumbprints {
            if t.len() != 40 || !t.chars().all(|c| c.is_ascii_hexdigit()) {
                problems.push(format!("thumbprints: `{t}` is not a SHA-1 thumbprint (40 hex digits)"));
            }
        }
    }
}

outputs! {
    /// What an OIDC provider records.
    OidcProvider => OidcProviderOutputs {
        /// The provider's ARN (`arn:aws:iam::ACCOUNT:oidc-provider/HOST/PATH`).
        arn: String => arn(Arn),
    }
}

/// Who may assume a role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trust {
    /// One AWS service principal, e.g. `ecs-tasks.amazonaws.com`.
    Service(String),
    /// The web identities of an OIDC provider (`sts:AssumeRoleWithWebIdentity`): tokens for
    /// `audience` whose subject matches one of `subjects` (patterns with `*`, e.g.
    /// `repo:acme/cards:ref:refs/heads/main` or `repo:acme/cards:environment:prod`).
    WebIdentity {
        /// The provider's ARN.
        provider: Ref<Arn>,
        /// The audience the token must carry (`sts.amazonaws.com` for GitHub Actions).
        audience: String,
        /// The subjects allowed.
        subjects: Vec<String>,
    },
    /// One AWS service principal acting for this account only: the trust also requires the
    /// request's `aws:SourceAccount` to be `account` and its `aws:SourceArn` to match
    /// `source_arn`, so the service cannot be made to assume the role for another account's
    /// resources (the cross-service confused deputy,
    /// <https://docs.aws.amazon.com/IAM/latest/UserGuide/confused-deputy.html>). Only for
    /// services documented to send both keys when they assume a role (ECS tasks:
    /// <https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-iam-roles.html>): a
    /// condition the service does not satisfy stops it from ever assuming the role.
    ServiceFor {
        /// The service principal, e.g. `ecs-tasks.amazonaws.com`.
        service: String,
        /// The account (`Ref::account()`).
        account: Ref<Text>,
        /// An ARN pattern the acting resource's ARN must match (`arn:aws:ecs:*:ACCOUNT:*`).
        source_arn: Ref<Arn>,
    },
    /// A trust policy in AWS's JSON form that is none of the above: how a trust changed
    /// outside platform reads back (and shows as drift). Stacks declare one of the forms above.
    Document(String),
}

/// Whether a statement allows or denies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Effect {
    /// Allow.
    Allow,
    /// Deny.
    Deny,
}

/// One statement of a policy: these actions on these resources. A statement names either
/// `actions` or `not_actions` (every action but those), and either `resources` or
/// `not_resources`, as AWS's `Action`/`NotAction` and `Resource`/`NotResource`
/// (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notaction.html>).
/// Read back from AWS whole, so any element changed by hand is drift.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Statement {
    /// The statement's id (`Sid`), if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Allow or deny.
    pub effect: Effect,
    /// Actions, e.g. `s3:GetObject`.
    #[serde(default)]
    pub actions: Vec<String>,
    /// Every action but these (`NotAction`), in place of `actions`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_actions: Vec<String>,
    /// Resource ARNs (references, possibly with a suffix such as `/cards/*`), or `*` where the
    /// actions cannot be scoped to a resource.
    #[serde(default)]
    pub resources: Vec<Ref<Arn>>,
    /// Every resource but these (`NotResource`), in place of `resources`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_resources: Vec<Ref<Arn>>,
    /// When it applies: every condition must hold (AWS ANDs them), sorted by operator and key.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// A condition of a statement: `operator` applied to the request's value of `key`, holding when
/// any of `values` matches (AWS ORs a key's values)
/// (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition.html>).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Condition {
    /// `StringEquals`, `StringLike`, `ArnLike`, `Bool`, `ForAllValues:StringEquals`...
    pub operator: String,
    /// The condition key: `iam:PermissionsBoundary`, `aws:ResourceTag/platform:env`...
    pub key: String,
    /// The values (references where they are ARNs of the account).
    pub values: Vec<Ref<Arn>>,
}

impl Statement {
    /// Allows `actions` on `resources`.
    pub fn allow(actions: &[&str], resources: Vec<Ref<Arn>>) -> Self {
        Self {
            sid: None,
            effect: Effect::Allow,
            actions: actions.iter().map(|a| a.to_string()).collect(),
            not_actions: vec![],
            resources,
            not_resources: vec![],
            conditions: vec![],
        }
    }

    /// Denies `actions` on `resources`.
    pub fn deny(actions: &[&str], resources: Vec<Ref<Arn>>) -> Self {
        Self { effect: Effect::Deny, ..Self::allow(actions, resources) }
    }

    /// Problems with this statement's shape, for a policy described by `what`: AWS takes one of
    /// `Action`/`NotAction` and one of `Resource`/`NotResource`, each not empty.
    fn problems(&self, what: &str, problems: &mut Vec<String>) {
        if self.actions.is_empty() == self.not_actions.is_empty() {
            problems.push(format!("{what}: every statement needs either actions or not_actions"));
        }
        if self.resources.is_empty() == self.not_resources.is_empty() {
            problems.push(format!("{what}: every statement needs either resources or not_resources"));
        }
        // An allow of "everything but" grows with every action and resource AWS adds, and no
        // guardrail could judge it: declared allows name what they allow. (Read back from AWS,
        // such a statement is drift.)
        if self.effect == Effect::Allow && !(self.not_actions.is_empty() && self.not_resources.is_empty()) {
            problems.push(format!(
                "{what}: an Allow statement names its actions and resources (not_actions and not_resources only in Deny statements)"
            ));
        }
        for a in self.actions.iter().chain(&self.not_actions) {
            if a != "*" && !a.contains(':') {
                problems.push(format!("{what}: `{a}` is not an action (service:Action)"));
            }
        }
    }

    /// This statement, applying only when `operator` holds for `key` and one of `values`.
    pub fn when(mut self, operator: &str, key: &str, values: Vec<Ref<Arn>>) -> Self {
        self.conditions.push(Condition { operator: operator.into(), key: key.into(), values });
        self.conditions.sort_by(|a, b| (&a.operator, &a.key).cmp(&(&b.operator, &b.key)));
        self
    }
}

/// A policy document.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PolicyDocument {
    /// Its statements.
    pub statements: Vec<Statement>,
}

/// IAM's quotas on policy sizes, in characters of the JSON document without whitespace
/// (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html>): AWS refuses a
/// larger policy (`LimitExceeded`).
pub mod quotas {
    /// All the inline policies of one role together.
    pub const ROLE_INLINE_POLICIES: usize = 10_240;
    /// One managed policy.
    pub const MANAGED_POLICY: usize = 6_144;
    /// Managed policies attached to one role (the default quota; it can be raised to 20).
    pub const ROLE_MANAGED_POLICIES: usize = 10;
}

impl PolicyDocument {
    /// The document in AWS's JSON form (compact: no whitespace), as a provider sends it. A
    /// reference not resolved yet is written empty, so before apply its length is a lower bound.
    pub fn to_aws_json(&self) -> String {
        self.to_aws_json_with(&|_, _| String::new())
    }

    /// [`PolicyDocument::to_aws_json`] with each reference not resolved yet replaced by
    /// `resolve(address, attribute)` (see [`Ref::text_with`]).
    pub fn to_aws_json_with(&self, resolve: &dyn Fn(&crate::Address, &str) -> String) -> String {
        let statements: Vec<serde_json::Value> = self
            .statements
            .iter()
            .map(|s| {
                let texts = |refs: &[Ref<Arn>]| refs.iter().map(|r| r.text_with(resolve)).collect::<Vec<String>>();
                let mut statement = serde_json::json!({ "Effect": s.effect });
                if let Some(sid) = &s.sid {
                    statement["Sid"] = sid.as_str().into();
                }
                match s.not_actions.is_empty() {
                    true => statement["Action"] = serde_json::json!(s.actions),
                    false => statement["NotAction"] = serde_json::json!(s.not_actions),
                }
                match s.not_resources.is_empty() {
                    true => statement["Resource"] = serde_json::json!(texts(&s.resources)),
                    false => statement["NotResource"] = serde_json::json!(texts(&s.not_resources)),
                }
                if !s.conditions.is_empty() {
                    let mut conditions = serde_json::Map::new();
                    for c in &s.conditions {
                        let values: Vec<String> = c.values.iter().map(|v| v.text_with(resolve)).collect();
                        let operator = conditions.entry(c.operator.clone()).or_insert_with(|| serde_json::json!({}));
                        operator[c.key.as_str()] = serde_json::json!(values);
                    }
                    statement["Condition"] = serde_json::Value::Object(conditions);
                }
                statement
            })
            .collect();
        serde_json::json!({ "Version": "2012-10-17", "Statement": statements }).to_string()
    }

    /// The characters IAM counts against its size quotas (whitespace is not counted); a lower
    /// bound before apply.
    pub fn size(&self) -> usize {
        self.size_with(&|_, _| String::new())
    }

    /// [`PolicyDocument::size`] with references replaced by `resolve` (their longest values
    /// give an upper bound before apply).
    pub fn size_with(&self, resolve: &dyn Fn(&crate::Address, &str) -> String) -> usize {
        self.to_aws_json_with(resolve).chars().filter(|c| !c.is_whitespace()).count()
    }
}

/// A role assumable by one AWS service or by the web identities of an OIDC provider, with inline
/// policies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Role {
    /// Who may assume it; the trust policy allows exactly that.
    pub trust: Trust,
    /// Inline policies by name.
    pub policies: BTreeMap<String, PolicyDocument>,
    /// ARNs of managed policies attached to it.
    pub managed_policies: Vec<Ref<Arn>>,
    /// A managed policy bounding what the role can ever do, whatever its own policies allow
    /// (<https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_boundaries.html>).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions_boundary: Option<Ref<Arn>>,
    /// The longest session its assumers may ask for, in seconds: one to twelve hours (AWS's
    /// default, one hour, when not set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_session_seconds: Option<u32>,
    /// User tags.
    pub tags: Tags,
}

impl Resource for Role {
    const SCHEMA: &'static TypeSchema = &ROLE;
    fn validate(&self, problems: &mut Vec<String>) {
        match &self.trust {
            Trust::Document(_) => {
                problems.push("trust: declare a service or a web identity trust, not a policy document".into());
            }
            Trust::Service(service) if !service.ends_with(".amazonaws.com") => {
                problems.push(format!("trust: `{service}` is not a service principal"));
            }
            Trust::Service(_) => {}
            Trust::ServiceFor { service, .. } if !service.ends_with(".amazonaws.com") => {
                problems.push(format!("trust: `{service}` is not a service principal"));
            }
            Trust::ServiceFor { .. } => {}
            Trust::WebIdentity { audience, subjects, .. } => {
                if audience.is_empty() {
                    problems.push("trust: a web identity trust needs an audience".into());
                }
                if subjects.is_empty() || subjects.iter().any(|s| s.is_empty() || s == "*") {
                    problems.push(
                        "trust: a web identity trust needs subjects, none of them `*` (any repository could assume the role)"
                            .into(),
                    );
                }
            }
        }
        if let Some(seconds) = self.max_session_seconds {
            if !(3601..=43200).contains(&seconds) {
                problems.push(format!(
                    "max_session_seconds: {seconds} is not more than one hour and at most twelve (3601 to 43200; leave it out for AWS's default, one hour)"
                ));
            }
        }
        let inline: usize = self.policies.values().map(PolicyDocument::size).sum();
        if inline > quotas::ROLE_INLINE_POLICIES {
            problems.push(format!(
                "policies: {inline} characters (at least: references count once resolved); IAM takes at most {} in a role's inline policies together (move statements into managed policies)",
                quotas::ROLE_INLINE_POLICIES
            ));
        }
        if self.managed_policies.len() > quotas::ROLE_MANAGED_POLICIES {
            problems.push(format!(
                "managed_policies: {} attached; IAM attaches at most {} to a role by default",
                self.managed_policies.len(),
                quotas::ROLE_MANAGED_POLICIES
            ));
        }
        for (name, doc) in &self.policies {
            let ok = !name.is_empty()
                && name.len() <= 128
                && name.chars().all(|c| c.is_ascii_alphanumeric() || "+=,.@-_".contains(c));
            if !ok {
                problems.push(format!("policies: `{name}` is not a valid policy name"));
            }
            for s in &doc.statements {
                s.problems(&format!("policies.{name}"), problems);
            }
        }
    }
}

outputs! {
    /// What a role records.
    Role => RoleOutputs {
        /// The role's ARN.
        arn: String => arn(Arn),
        /// The role's name.
        name: String => name(Name),
    }
}

fn role_widening(before: Option<&Value>, after: &Value) -> Vec<String> {
    let mut out = vec![];
    let old = access::allowed(before);
    for (action, resource) in access::allowed(Some(after)).difference(&old) {
        out.push(format!("allows {action} on {resource}"));
    }
    let old = access::list(before, "managed_policies");
    for policy in access::list(Some(after), "managed_policies").iter().filter(|p| !old.contains(p)) {
        out.push(format!("attaches the managed policy {}", access::text(policy)));
    }
    if before.is_some_and(|b| !b["permissions_boundary"].is_null()) && after["permissions_boundary"].is_null() {
        out.push("loses its permissions boundary".into());
    }
    if let Some(who) = access::newly_trusted(before.map(|b| &b["trust"]), &after["trust"]) {
        out.push(format!("can now be assumed by {who}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statements(buckets: usize) -> PolicyDocument {
        let resources = (0..buckets).map(|i| Ref::existing(format!("arn:aws:s3:::bucket-{i:020}"))).collect();
        PolicyDocument { statements: vec![Statement::allow(&["s3:GetObject"], resources)] }
    }

    fn problems(resource: &impl Resource) -> Vec<String> {
        let mut problems = vec![];
        resource.validate(&mut problems);
        problems
    }

    #[test]
    fn policies_larger_than_iam_takes_are_refused_before_any_call() {
        let document = statements(10);
        assert_eq!(document.size(), document.to_aws_json().len());
        let role = |policies: BTreeMap<String, PolicyDocument>| Role {
            trust: Trust::Service("ecs-tasks.amazonaws.com".into()),
            policies,
            managed_policies: vec![],
            permissions_boundary: None,
            max_session_seconds: None,
            tags: Tags::new(),
        };
        // Two policies of about 6,000 characters: each fits, together they do not.
        let half = statements(150);
        assert!((5_000..quotas::ROLE_INLINE_POLICIES / 2 + 2_000).contains(&half.size()), "{}", half.size());
        assert!(problems(&role([("a".into(), half.clone())].into())).is_empty());
        let both = problems(&role([("a".into(), half.clone()), ("b".into(), half.clone())].into()));
        assert!(both.iter().any(|p| p.contains("10240")), "{both:?}");

        let managed = |document| ManagedPolicy { description: String::new(), document, tags: Tags::new() };
        assert!(problems(&managed(statements(100))).is_empty());
        let big = problems(&managed(half));
        assert!(big.iter().any(|p| p.contains("6144")), "{big:?}");
    }

    #[test]
    fn allows_name_what_they_allow() {
        let role = |statement: Statement| Role {
            trust: Trust::Service("ecs-tasks.amazonaws.com".into()),
            policies: [("p".into(), PolicyDocument { statements: vec![statement] })].into(),
            managed_policies: vec![],
            permissions_boundary: None,
            max_session_seconds: None,
            tags: Tags::new(),
        };
        let everything_but = Statement { actions: vec![], not_actions: vec!["iam:*".into()], ..statement_on_all() };
        let refused = problems(&role(everything_but.clone()));
        assert!(refused.iter().any(|p| p.contains("not_actions and not_resources only in Deny")), "{refused:?}");
        assert!(problems(&role(Statement { effect: Effect::Deny, ..everything_but })).is_empty());
        let elsewhere =
            Statement { resources: vec![], not_resources: vec!["arn:aws:s3:::mine".into()], ..statement_on_all() };
        assert!(!problems(&role(elsewhere)).is_empty());
    }

    fn statement_on_all() -> Statement {
        Statement::allow(&["s3:GetObject"], vec!["*".into()])
    }

    #[test]
    fn references_count_as_what_they_resolve_to() {
        let bucket = Ref::<Arn>::output(crate::Address::new("s", "bucket"), "arn");
        let document = PolicyDocument { statements: vec![Statement::allow(&["s3:GetObject"], vec![bucket])] };
        let unresolved = document.size();
        let longest = document.size_with(&|_, _| "arn:aws-us-gov:s3:::".to_string() + &"x".repeat(63));
        assert_eq!(longest, unresolved + 83);
    }
}
