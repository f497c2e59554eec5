//! The pipeline of an environment, as a stack: the bucket the team's and CI's states live in, the
//! permissions boundary of the environment's service roles, and two roles CI assumes with
//! short-lived tokens from GitHub's OIDC provider (the `account` stack's; no long-lived keys): a
//! deploy role allowed exactly what deploying the environment's stacks calls
//! (`policies/documents/deploy-role.toml`, scoped to the environment's names), and a read-only
//! plan role (pull requests, drift checks) that takes no lock. Who may assume each is derived from
//! the environment's settings (`ci_deploy_environments`, `ci_plan_environments`,
//! `ci_plan_pull_requests`) and the repository (`github_repository`).
//!
//! It is applied from a workstation with administrator credentials, once per environment, after
//! the account stack; every other stack is then applied by CI with
//! `--state s3://<state_bucket>/states`.

use std::collections::BTreeMap;

use serde::Deserialize;

use platform::model::{Handle, Ref, Stack, StackError, StackSpec};
use platform::resources::iam::{quotas, Effect, ManagedPolicy, PolicyDocument, Role, Statement, Trust};
use platform::resources::{AccessLogs, Arn, Bucket, LogSource, ObjectLifecycle, Tags};
use platform::Address;

use crate::dependencies::INCOMPLETE_UPLOAD_DAYS;
use crate::Environment;

/// The stack's name.
pub const NAME: &str = "pipeline";

/// How long a deploy job's session lasts: three hours, its time limit.
pub const DEPLOY_SESSION_SECONDS: u32 = 3 * 3600;

/// The key prefix of the states in the state bucket: `s3://<state_bucket>/states`.
pub const STATE_PREFIX: &str = "states";

/// The pipeline stack and its handles.
#[derive(Debug, Clone)]
pub struct Pipeline {
    /// The checked stack.
    pub spec: StackSpec,
    /// The bucket holding the states.
    pub state_bucket: Handle<Bucket>,
    /// The bucket the environment's access logs go to, where it keeps them (`access_logs`): load
    /// balancers write under `lb/`, buckets' server access logs under `s3/`. An administrator's,
    /// like the rest of this stack: the deploy role cannot change it nor delete what it holds.
    pub access_logs: Option<Handle<Bucket>>,
    /// The role the deploy jobs assume.
    pub deploy_role: Handle<Role>,
    /// What it may do: `policies/documents/deploy-role.toml` and the pipeline's own statements, in
    /// managed policies attached to it (too large for IAM's inline quota).
    pub deploy_policies: Vec<Handle<ManagedPolicy>>,
    /// The role pull-request plans assume.
    pub plan_role: Handle<Role>,
    /// The permissions boundary every role of the environment's services carries.
    pub boundary: Handle<ManagedPolicy>,
}

/// One statement of a policy document kept as data (`policies/documents/*.toml`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentStatement {
    /// Its name (the statement's purpose).
    pub name: String,
    /// `Allow` (the default) or `Deny`.
    #[serde(default = "allow")]
    pub effect: Effect,
    /// Why no call of its own shows these actions (implicit authorizations, pipeline steps).
    #[serde(default)]
    pub reason: Option<String>,
    /// The actions.
    pub actions: Vec<String>,
    /// The resources, `{env}` standing for the environment's name.
    pub resources: Vec<String>,
    /// AWS conditions, every one of which must hold.
    #[serde(default)]
    pub conditions: Vec<DocumentCondition>,
}

/// A condition of a [`DocumentStatement`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentCondition {
    /// `StringEquals`, `ArnEquals`...
    pub operator: String,
    /// The condition key.
    pub key: String,
    /// The values, with the same placeholders as resources.
    pub values: Vec<String>,
}

fn allow() -> Effect {
    Effect::Allow
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    statement: Vec<DocumentStatement>,
}

fn statements_of(text: &str, environment: &Environment) -> Vec<DocumentStatement> {
    let env = environment.env.as_str();
    let doc: Document = toml::from_str(text).expect("the policy documents are valid");
    let names_domain = |s: &DocumentStatement| {
        s.resources.iter().chain(s.conditions.iter().flat_map(|c| &c.values)).any(|t| t.contains("{domain}"))
    };
    doc.statement
        .into_iter()
        .filter(|s| environment.domain.is_some() || !names_domain(s))
        .map(|mut s| {
            let discovery = crate::foundation::discovery_domain(env);
            let domain = environment.domain.clone().unwrap_or_default();
            let fill = |text: &String| {
                text.replace("{discovery_domain}", &discovery).replace("{domain}", &domain).replace("{env}", env)
            };
            s.resources = s.resources.iter().map(fill).collect();
            for c in &mut s.conditions {
                c.values = c.values.iter().map(fill).collect();
            }
            s
        })
        .collect()
}

/// The statements of `policies/documents/deploy-role.toml` for `environment`.
pub fn deploy_statements(environment: &Environment) -> Vec<DocumentStatement> {
    statements_of(policies::DEPLOY_ROLE, environment)
}

/// The statements of `policies/documents/role-boundary.toml` for `environment`.
pub fn boundary_statements(environment: &Environment) -> Vec<DocumentStatement> {
    statements_of(policies::ROLE_BOUNDARY, environment)
}

/// An operation's permissions beyond its own action (`policies/documents/implicit-permissions.toml`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImplicitPermissions {
    /// The operation, as the IAM action that authorizes it.
    pub action: String,
    /// What else AWS checks on the caller.
    pub needs: Vec<String>,
    /// Where AWS documents it.
    pub source: String,
}

/// Every entry of `policies/documents/implicit-permissions.toml`.
pub fn implicit_permissions() -> Vec<ImplicitPermissions> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        call: Vec<ImplicitPermissions>,
    }
    let file: File = toml::from_str(policies::IMPLICIT_PERMISSIONS).expect("implicit-permissions.toml is valid");
    file.call
}

/// A value of a document: `arn:{partition}:…` is an ARN in the account's partition (known when
/// the stack is applied), `{boundary}` the environment's permissions boundary, anything else is
/// taken as written (`*`).
fn resource(text: &str, boundary: &Ref<Arn>) -> Ref<Arn> {
    if text == "{boundary}" {
        return boundary.clone();
    }
    match text.strip_prefix("arn:{partition}:") {
        Some(rest) => Ref::arn(rest),
        None => text.into(),
    }
}

/// A document's statements as policy statements.
fn policy(statements: &[DocumentStatement], boundary: &Ref<Arn>) -> Vec<Statement> {
    statements
        .iter()
        .map(|d| {
            let actions: Vec<&str> = d.actions.iter().map(String::as_str).collect();
            let resources = d.resources.iter().map(|r| resource(r, boundary)).collect();
            let mut statement = Statement::allow(&actions, resources);
            statement.effect = d.effect;
            d.conditions.iter().fold(statement, |s, c| {
                s.when(&c.operator, &c.key, c.values.iter().map(|v| resource(v, boundary)).collect())
            })
        })
        .collect()
}

/// The longest text a reference in the pipeline's policies can become once applied, so that a
/// document's size is bounded before apply: the longest partition (`aws-us-gov`), a 12-digit
/// account, the longest bucket (63) and policy (128) names; anything else as long as an ARN gets
/// (2048).
fn longest(address: &Address, attribute: &str) -> String {
    match (address.stack(), address.name(), attribute) {
        (_, "partition", _) => "aws-us-gov".into(),
        (_, "account", _) => "123456789012".into(),
        (_, "state", "arn") => format!("arn:aws-us-gov:s3:::{}", "x".repeat(63)),
        (_, "boundary", "arn") => format!("arn:aws-us-gov:iam::123456789012:policy/{}", "x".repeat(128)),
        _ => "x".repeat(2048),
    }
}

/// `statements` in as few documents as fit IAM's quota for a managed policy each, in order.
fn packed(statements: Vec<Statement>) -> Vec<PolicyDocument> {
    let mut documents: Vec<PolicyDocument> = vec![];
    for statement in statements {
        let fits = documents.last().is_some_and(|last| {
            let mut grown = last.clone();
            grown.statements.push(statement.clone());
            grown.size_with(&longest) <= quotas::MANAGED_POLICY
        });
        match documents.last_mut() {
            Some(last) if fits => last.statements.push(statement),
            _ => documents.push(PolicyDocument { statements: vec![statement] }),
        }
    }
    documents
}

/// Whether an action only reads (plans and drift checks need nothing else).
fn reads(action: &str) -> bool {
    let name = action.split_once(':').map(|(_, n)| n).unwrap_or(action);
    ["Describe", "Get", "List"].iter().any(|p| name.starts_with(p)) && action != "ecr:GetAuthorizationToken"
}

/// The prefixes load balancers write access logs under, and S3 server access logs, in the
/// access-log bucket.
pub(crate) const LOAD_BALANCER_LOGS: &str = "lb";
const BUCKET_LOGS: &str = "s3/";

/// Where the bucket `name` has S3 write its server access logs: `s3/NAME/` of `bucket`.
pub(crate) fn bucket_logs(bucket: &Handle<Bucket>, name: &str) -> AccessLogs {
    AccessLogs { bucket: bucket.name(), prefix: format!("{BUCKET_LOGS}{name}/") }
}

/// The access-log bucket: private, TLS only, encrypted with S3-managed keys (the only encryption
/// load balancers write to), unversioned (logs are written once, under keys of their own), its
/// objects expired after the environment's log retention, and only Elastic Load Balancing and S3
/// logging of this account may write to it, each under its prefix. Protected like data.
fn access_log_bucket(s: &mut Stack, environment: &Environment) -> Handle<Bucket> {
    let bucket = s.add(
        "access-logs",
        Bucket {
            versioning: false,
            lifecycle: Some(ObjectLifecycle::Expire {
                current_days: Some(environment.log_retention_days),
                noncurrent_days: 1,
                incomplete_upload_days: INCOMPLETE_UPLOAD_DAYS,
            }),
            log_sources: vec![
                LogSource::LoadBalancers { prefix: LOAD_BALANCER_LOGS.into() },
                LogSource::S3ServerAccess { prefix: BUCKET_LOGS.into() },
            ],
            force_destroy: environment.force_destroy_data,
            ..Bucket::default()
        },
    );
    s.protect(&bucket, environment.protected);
    s.waive(
        &bucket,
        "s3-access-logs",
        "the access-log bucket itself: logging the requests to it would log each log delivery, without end",
    );
    s.output("access_log_bucket", bucket.name());
    bucket
}

/// The pipeline stack of `environment`.
pub fn pipeline(environment: &Environment) -> Result<Pipeline, StackError> {
    let env = environment.env.as_str();
    let mut s = Stack::new(NAME, &environment.env);
    // Every apply writes a version of a state: old ones are kept a year (history to recover
    // from), then expire.
    let lifecycle = ObjectLifecycle::Expire {
        current_days: None,
        noncurrent_days: 365,
        incomplete_upload_days: INCOMPLETE_UPLOAD_DAYS,
    };
    let access_logs = environment.access_logs.then(|| access_log_bucket(&mut s, environment));
    let state_name = s.name_for::<Bucket>("state").expect("buckets have names");
    let state_bucket = s.add(
        "state",
        Bucket {
            force_destroy: false,
            versioning: true,
            lifecycle: Some(lifecycle),
            access_logs: access_logs.as_ref().map(|b| bucket_logs(b, &state_name)),
            ..Bucket::default()
        },
    );
    // Every state of the environment is in it.
    s.protect(&state_bucket, true);
    if environment.customer_managed_keys {
        s.waive(
            &state_bucket,
            "kms-customer-managed-keys",
            "the state bucket holds no secret (platform records none in a state) and is read by every plan, \
             CI's plan role included, before any stack exists to declare a key: SSE-S3 until the pipeline \
             stack declares a key of its own with grants for its roles",
        );
    }
    // GitHub's OIDC provider is the account's (the `account` stack), found by its URL.
    let github = crate::account::github_provider_arn();
    // What any role the deploy role creates may ever do: administrators own it, the deploy role
    // cannot change it, and every role the deploy role makes must carry it.
    let boundary = s.add(
        "boundary",
        ManagedPolicy {
            description: format!("The permissions boundary of every role of {env}'s services"),
            document: PolicyDocument { statements: policy(&boundary_statements(environment), &"*".into()) },
            tags: Tags::new(),
        },
    );
    let boundary_arn = boundary.arn();
    let states = state_bucket.arn().with_suffix(&format!("/{STATE_PREFIX}/*"));
    let mut deploy: Vec<Statement> = policy(&deploy_statements(environment), &boundary_arn);
    // The deploy role manages the roles of its environment, but never the pipeline's own: it
    // could otherwise widen itself.
    let own_roles = Ref::arn(&format!("iam::*:role/{env}-{NAME}-*"));
    let mut role_actions: Vec<String> = deploy_statements(environment)
        .into_iter()
        .filter(|d| d.effect == Effect::Allow)
        .flat_map(|d| d.actions)
        .filter(|a| a.starts_with("iam:"))
        .collect();
    role_actions.sort();
    role_actions.dedup();
    deploy.push(Statement { actions: role_actions, ..Statement::deny(&[], vec![own_roles]) });
    // Nor the state bucket's configuration or object history: only the states' current versions.
    let state_objects = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket"];
    let bucket_actions: Vec<String> = deploy_statements(environment)
        .into_iter()
        .flat_map(|d| d.actions)
        .filter(|a| a.starts_with("s3:") && !state_objects.contains(&a.as_str()))
        .collect();
    deploy.push(Statement {
        actions: bucket_actions,
        ..Statement::deny(&[], vec![state_bucket.arn(), state_bucket.arn().with_suffix("/*")])
    });
    deploy.push(Statement::allow(&["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], vec![states.clone()]));
    deploy.push(Statement::allow(&["s3:ListBucket"], vec![state_bucket.arn()]));
    // Larger than IAM takes inline (10,240 characters for all of a role's inline policies): in
    // managed policies of 6,144 at most each, attached to the role.
    let parts = packed(deploy);
    let count = parts.len();
    let deploy_policies: Vec<Handle<ManagedPolicy>> = parts
        .into_iter()
        .enumerate()
        .map(|(i, document)| {
            let policy = ManagedPolicy {
                description: format!("What {env}'s deploy role may do ({} of {count})", i + 1),
                document,
                tags: Tags::new(),
            };
            s.add(&format!("deploy-{}", i + 1), policy)
        })
        .collect();
    let deploy_role = s.add(
        "deploy",
        Role {
            trust: Trust::WebIdentity {
                provider: github.clone(),
                audience: "sts.amazonaws.com".into(),
                subjects: environment.ci_deploy_subjects(),
            },
            policies: BTreeMap::new(),
            managed_policies: deploy_policies.iter().map(|p| p.arn()).collect(),
            permissions_boundary: None,
            // A first deploy of prod (a Multi-AZ database, NAT gateways, a rollout) takes well over
            // the default hour; the deploy job asks for as long (`role-duration-seconds`,
            // .github/workflows/deploy.yml).
            max_session_seconds: Some(DEPLOY_SESSION_SECONDS),
            tags: Tags::new(),
        },
    );
    // Plans and drift checks only read: the environment's states (never a lock: they run with
    // `--no-lock`, so a pull request can neither block a deploy nor write anything) and what the
    // stacks hold.
    let reading: Vec<DocumentStatement> = deploy_statements(environment)
        .into_iter()
        .filter(|d| d.reason.is_none() && d.effect == Effect::Allow && d.conditions.is_empty())
        .filter_map(|mut d| {
            d.actions.retain(|a| reads(a));
            (!d.actions.is_empty()).then_some(d)
        })
        .collect();
    let mut plan = policy(&reading, &boundary_arn);
    plan.push(Statement::allow(&["s3:GetObject"], vec![states]));
    let plan_role = s.add(
        "plan",
        Role {
            trust: Trust::WebIdentity {
                provider: github.clone(),
                audience: "sts.amazonaws.com".into(),
                subjects: environment.ci_plan_subjects(),
            },
            policies: [("plan".to_string(), PolicyDocument { statements: plan })].into(),
            managed_policies: vec![],
            permissions_boundary: None,
            max_session_seconds: None,
            tags: Tags::new(),
        },
    );
    s.output("state_bucket", state_bucket.name());
    s.output("deploy_role_arn", deploy_role.arn());
    s.output("plan_role_arn", plan_role.arn());
    s.output("boundary_arn", boundary.arn());
    Ok(Pipeline { spec: s.build()?, state_bucket, access_logs, deploy_role, deploy_policies, plan_role, boundary })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Environments;

    #[test]
    fn the_deploy_role_is_scoped_to_its_environment_and_the_plan_role_only_reads() {
        let prod = Environments::builtin().get("prod").unwrap().clone();
        let p = pipeline(&prod).unwrap();
        let props = |name: &str| p.spec.resources.iter().find(|r| r.address.name() == name).unwrap().props.clone();
        let deploy = props("deploy");
        assert_eq!(
            deploy["trust"]["web_identity"]["subjects"],
            serde_json::json!(["repo:acme/card-platform:environment:prod"])
        );
        // Too large for IAM's inline quota: managed policies, each within IAM's quota even with
        // the longest values its references can take.
        assert_eq!(deploy["policies"], serde_json::json!({}));
        assert!(p.deploy_policies.len() >= 2, "{} parts", p.deploy_policies.len());
        assert_eq!(deploy["managed_policies"].as_array().unwrap().len(), p.deploy_policies.len());
        let documents: Vec<PolicyDocument> = p
            .deploy_policies
            .iter()
            .map(|h| {
                let props = p.spec.resources.iter().find(|r| &r.address == h.address()).unwrap().props.clone();
                serde_json::from_value(props["document"].clone()).unwrap()
            })
            .collect();
        for document in &documents {
            assert!(document.size_with(&longest) <= quotas::MANAGED_POLICY, "{}", document.size_with(&longest));
        }
        let statements: Vec<serde_json::Value> = documents
            .iter()
            .flat_map(|d| serde_json::to_value(&d.statements).unwrap().as_array().unwrap().clone())
            .collect();
        let text = serde_json::to_string(&statements).unwrap();
        // ARNs are in the account's partition, known when the stack is applied.
        let partition = r#"{"$ref":"aws.partition","attr":"value"}"#;
        assert!(text.contains(&format!(r#"["arn:",{partition},":iam::*:role/prod-*"]"#)), "{text}");
        assert!(!text.contains("arn:aws:"), "no partition is written in: {text}");
        assert!(!text.contains("{env}") && !text.contains("{partition}") && !text.contains("role/dev-"), "{text}");
        // It cannot change the pipeline's own roles (and so widen itself).
        let deny = statements
            .iter()
            .find(|s| s["effect"] == "Deny" && s["resources"].to_string().contains("role/prod-pipeline-"))
            .unwrap();
        let partition = serde_json::json!({"$ref": "aws.partition", "attr": "value"});
        assert_eq!(
            deny["resources"],
            serde_json::json!([{"$join": ["arn:", partition, ":iam::*:role/prod-pipeline-*"]}])
        );
        for action in ["iam:PutRolePolicy", "iam:AttachRolePolicy", "iam:UpdateAssumeRolePolicy", "iam:PassRole"] {
            assert!(deny["actions"].as_array().unwrap().contains(&serde_json::json!(action)), "{action}");
        }
        // Nor the pipeline's buckets, nor delete an access log.
        let buckets = statements
            .iter()
            .find(|s| s["effect"] == "Deny" && s["resources"].to_string().contains(":s3:::prod-pipeline-*"))
            .unwrap();
        for action in ["s3:PutBucketPolicy", "s3:DeleteBucket", "s3:PutBucketLogging", "s3:PutLifecycleConfiguration"] {
            assert!(buckets["actions"].as_array().unwrap().contains(&serde_json::json!(action)), "{action}");
        }
        let logs = statements
            .iter()
            .find(|s| s["effect"] == "Deny" && s["resources"].to_string().contains("prod-pipeline-access-logs-*/*"))
            .unwrap();
        assert!(logs["actions"].as_array().unwrap().contains(&serde_json::json!("s3:DeleteObject")));
        let plan = props("plan")["policies"]["plan"]["statements"].clone();
        for statement in plan.as_array().unwrap() {
            for action in statement["actions"].as_array().unwrap() {
                let action = action.as_str().unwrap();
                assert!(reads(action) || action == "s3:GetObject", "the plan role may {action}");
            }
        }
    }

    #[test]
    fn every_environment_builds_a_pipeline_that_passes_the_guardrails() {
        for env in ["dev", "staging", "prod"] {
            let environment = Environments::builtin().get(env).unwrap().clone();
            let p = pipeline(&environment).unwrap();
            let report = platform::policy::check(&[&p.spec], &[], &platform::policy::RuleSet::builtin());
            assert!(report.passes(), "{env}: {}", platform::render::guardrail_violations(&report));
        }
    }
}
