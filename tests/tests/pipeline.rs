//! The pipeline stack against the emulator, and its deploy role against what deploying really
//! calls: every call recorded while the card stacks are applied, changed, checked for drift and
//! destroyed, and every action the AWS provider's code names, is allowed; nothing else is, unless
//! the document says why no call shows it.

// Tests report what they measured (nextest shows it in the CI log).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::BTreeSet;

use platform::{Address, StackSpec};
use platform_tests::authorization::{authorizations, Account};
use platform_tests::iam::{evaluate, Decision, Policy, Request};
use platform_tests::{id_of, workspace_root, Harness};
use serde_json::{json, Value};
use stacks::foundation::discovery_domain;
use stacks::pipeline::{deploy_statements, pipeline};
use stacks::{foundation, Environments};

fn card(env: &str, image_tag: &str) -> Vec<StackSpec> {
    let environment = Environments::builtin().get(env).unwrap().clone();
    let foundation = foundation(&environment).unwrap();
    let mut specs = vec![foundation.spec.clone()];
    specs.extend(card_stacks::card_stacks(&environment, &foundation, image_tag).unwrap());
    specs
}

/// Every `api("service:Operation")` label in the AWS provider's code, as the IAM action that
/// authorizes it: what it can call. Left out, what the deploy role must never do: manage OIDC
/// providers and managed policies (the pipeline stack, applied by an administrator, is their only
/// user: the boundary among them) and remove a role's boundary.
fn provider_actions() -> BTreeSet<String> {
    let mut files = vec![];
    let mut dirs = vec![workspace_root().join("platform/src/provider/aws")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    let mut actions = BTreeSet::new();
    for path in files {
        let text = std::fs::read_to_string(path).unwrap();
        for part in text.split("api(\"").skip(1) {
            let action = part.split('"').next().unwrap();
            let Some((service, operation)) = action.split_once(':') else { continue };
            let administrators_only = operation.contains("OpenIDConnectProvider")
                || (service == "iam" && operation.contains("Policy") && !operation.contains("Role"))
                || operation == "DeleteRolePermissionsBoundary";
            if !administrators_only {
                actions.insert(platform_tests::iam_action(service, operation));
            }
        }
    }
    actions
}

#[tokio::test]
async fn the_deploy_role_allows_what_deploying_calls_and_nothing_more() {
    let mut h = Harness::new().await;
    // The pipeline stack is an administrator's, applied before: its calls are not the deploy role's.
    h.bootstrap(&Environments::builtin().get("staging").unwrap().clone()).await;
    let recorder = h.record_calls();
    let specs = card("staging", "v1");
    for spec in &specs {
        h.apply_converged(spec).await;
    }
    // The services' roles as IAM holds them, and the boundary they carry.
    let iam = aws_sdk_iam::Client::new(&h.config);
    let decode = |text: &str| -> Value {
        serde_json::from_str(&percent_encoding::percent_decode_str(text).decode_utf8().unwrap()).unwrap()
    };
    let mut role_statements = vec![];
    for role in ["execution-role", "task-role", "migration-role"] {
        let name = id_of(&h.state(&specs[2]), role);
        let got = iam.get_role().role_name(&name).send().await.unwrap();
        let bound = got.role().unwrap().permissions_boundary().and_then(|b| b.permissions_boundary_arn());
        assert!(
            bound.is_some_and(|b| b.ends_with(":policy/staging-pipeline-boundary")),
            "{name} is bounded: {bound:?}"
        );
        for policy in iam.list_role_policies().role_name(&name).send().await.unwrap().policy_names() {
            let doc = iam.get_role_policy().role_name(&name).policy_name(policy).send().await.unwrap();
            for statement in decode(doc.policy_document())["Statement"].as_array().unwrap() {
                role_statements.push((name.clone(), statement.clone()));
            }
        }
    }
    let database = h.state(&specs[1]).resources[&Address::new("card-dependencies", "db-instance")].outputs["arn"]
        .as_str()
        .unwrap()
        .to_string();
    let boundary_arn = h
        .state(&stacks::pipeline(&Environments::builtin().get("staging").unwrap().clone()).unwrap().spec)
        .outputs["boundary_arn"]
        .as_str()
        .unwrap()
        .to_string();
    let version = iam.get_policy().policy_arn(&boundary_arn).send().await.unwrap();
    let version = version.policy().unwrap().default_version_id().unwrap();
    let document = iam.get_policy_version().policy_arn(&boundary_arn).version_id(version).send().await.unwrap();
    let boundary = Policy::parse(&decode(document.policy_version().unwrap().document().unwrap())).unwrap();
    for spec in &specs {
        h.engine.drift(spec).await.unwrap();
    }
    // A new image: a new task definition revision, the service updated.
    let changed = card("staging", "v2");
    h.apply_converged(&changed[2]).await;
    for spec in changed.iter().rev() {
        h.destroy(spec).await;
    }
    let recorded = recorder.actions();

    // Each call as AWS authorizes it where the deploy role's statements are conditioned (EC2,
    // Cloud Map, roles, passed roles): every resource it names, with the tags and keys AWS sees.
    let pipeline_state =
        h.state(&stacks::pipeline(&Environments::builtin().get("staging").unwrap().clone()).unwrap().spec);
    let deploy_role = id_of(&pipeline_state, "deploy");
    let deploy = attached_policies(&iam, &deploy_role).await;
    let account = Account {
        id: boundary_arn.split(':').nth(4).unwrap().to_string(),
        region: h.config.region().unwrap().to_string(),
    };
    let authorized = authorizations(&recorder.wire_calls(), &account).unwrap();
    let refused: Vec<String> = authorized
        .checked
        .iter()
        .filter(|a| evaluate(&deploy, None, &a.request) != Decision::Allowed)
        .map(|a| format!("{}: {} on {} with {:?}", a.call, a.request.action, a.request.resource, a.request.context))
        .collect();
    let tagged_creates = authorized.checked.iter().filter(|a| a.request.action == "ec2:CreateTags").count();
    println!(
        "{} authorizations of EC2, Cloud Map and IAM calls evaluated with their resources and condition keys ({tagged_creates} EC2 creates tagged); left to the action-level check: {:?}",
        authorized.checked.len(),
        authorized.uncovered
    );
    assert!(tagged_creates > 0, "EC2 creates send their tags");
    assert!(refused.is_empty(), "the deploy role refuses calls deploying makes:\n{}", refused.join("\n"));

    let named = provider_actions();
    let statements = deploy_statements(Environments::builtin().get("staging").unwrap());
    let allowed: BTreeSet<String> = statements
        .iter()
        .filter(|s| s.effect == platform::resources::Effect::Allow)
        .flat_map(|s| s.actions.clone())
        .collect();
    let explained: BTreeSet<String> =
        statements.iter().filter(|s| s.reason.is_some()).flat_map(|s| s.actions.clone()).collect();

    // What AWS checks besides each action (another service acting with the caller's
    // permissions, tags at create, service-linked roles): a second list, from AWS's documentation.
    let implicit = stacks::pipeline::implicit_permissions();
    let called: BTreeSet<String> = recorded.union(&named).cloned().collect();
    let mut implied = BTreeSet::new();
    for entry in &implicit {
        assert!(entry.source.starts_with("https://docs.aws.amazon.com/"), "{}: cite AWS's documentation", entry.action);
        if called.contains(&entry.action) {
            implied.extend(entry.needs.iter().cloned());
        }
    }
    assert!(
        implied.contains("route53:ListHostedZonesByName") && implied.contains("iam:CreateServiceLinkedRole"),
        "creating the namespace and the load balancer imply Route 53 and service-linked role permissions: {implied:?}"
    );
    let missing: Vec<&String> = called.union(&implied).filter(|a| !allowed.contains(*a)).collect();
    let unused: Vec<&String> =
        allowed.iter().filter(|a| !called.contains(*a) && !implied.contains(*a) && !explained.contains(*a)).collect();
    println!(
        "deploy role: {} actions allowed; {} called while deploying, {} named by the provider, {} implied by AWS, {} explained; missing {missing:?}, unused {unused:?}",
        allowed.len(),
        recorded.len(),
        named.len(),
        implied.len(),
        explained.len()
    );
    assert!(missing.is_empty(), "deploying needs actions the deploy role does not allow: {missing:?}");

    // Every statement of the services' roles falls inside the permissions boundary they carry.
    let strings = |v: &Value| -> Vec<String> {
        match v {
            Value::String(s) => vec![s.clone()],
            Value::Array(items) => items.iter().filter_map(|i| i.as_str().map(str::to_string)).collect(),
            _ => vec![],
        }
    };
    let mut outside = vec![];
    for (role, statement) in &role_statements {
        for action in strings(&statement["Action"]) {
            for resource in strings(&statement["Resource"]) {
                let mut request = Request::new(&action, &resource);
                if resource.contains(":secret:rds!") {
                    // RDS tags each secret it manages with its instance (`aws:rds:primaryDBInstanceArn`).
                    request = request.with("aws:ResourceTag/aws:rds:primaryDBInstanceArn", &[&database]);
                }
                if resource.contains(":key/") {
                    // The environment's keys carry its tag; a role's use of one goes through the
                    // service its statement names (`kms:ViaService`), S3 in the region.
                    request = request.with("aws:ResourceTag/platform:env", &["staging"]);
                    if !statement["Condition"]["StringLike"]["kms:ViaService"].is_null() {
                        request = request.with("kms:ViaService", &["s3.us-east-1.amazonaws.com"]);
                    }
                }
                if evaluate(std::slice::from_ref(&boundary), None, &request) != Decision::Allowed {
                    outside.push(format!("{role} may {action} on {resource}"));
                }
            }
        }
    }
    println!("{} statements of the services' roles checked against their boundary", role_statements.len());
    assert!(outside.is_empty(), "the services' roles allow what their boundary does not: {outside:?}");
    assert!(unused.is_empty(), "the deploy role allows actions nothing calls: {unused:?}");
}

#[tokio::test]
async fn the_pipeline_stack_trusts_only_github_tokens_of_its_subjects() {
    let h = Harness::new().await;
    let prod = Environments::builtin().get("prod").unwrap().clone();
    let account = h.apply_converged(&stacks::account().unwrap().spec).await;
    let p = pipeline(&prod).unwrap();
    let state = h.apply_converged(&p.spec).await;
    let iam = aws_sdk_iam::Client::new(&h.config);

    let provider_arn = id_of(&account, "github");
    assert!(provider_arn.ends_with(":oidc-provider/token.actions.githubusercontent.com"), "{provider_arn}");
    let provider = iam.get_open_id_connect_provider().open_id_connect_provider_arn(&provider_arn).send().await.unwrap();
    assert_eq!(provider.client_id_list(), ["sts.amazonaws.com"]);
    assert!(provider.tags().iter().any(|t| t.key() == "platform:address" && t.value() == "account.github"));

    let role = iam.get_role().role_name(id_of(&state, "deploy")).send().await.unwrap();
    let trust = percent_encoding::percent_decode_str(role.role().unwrap().assume_role_policy_document().unwrap())
        .decode_utf8()
        .unwrap()
        .to_string();
    let trust: Value = serde_json::from_str(&trust).unwrap();
    assert_eq!(
        trust["Statement"][0],
        json!({
            "Effect": "Allow",
            "Principal": { "Federated": provider_arn },
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {
                "StringEquals": { "token.actions.githubusercontent.com:aud": "sts.amazonaws.com" },
                "StringLike": { "token.actions.githubusercontent.com:sub": ["repo:acme/card-platform:environment:prod"] },
            },
        })
    );
    let s3 = aws_sdk_s3::Client::new(&h.config);
    let bucket = id_of(&state, "state");
    let versioning = s3.get_bucket_versioning().bucket(&bucket).send().await.unwrap();
    assert_eq!(versioning.status().map(|s| s.as_str()), Some("Enabled"));

    // A trust widened outside platform is drift, and apply puts it back.
    let mut widened = trust.clone();
    widened["Statement"][0]["Condition"]["StringLike"]["token.actions.githubusercontent.com:sub"] =
        json!(["repo:acme/*"]);
    iam.update_assume_role_policy()
        .role_name(id_of(&state, "deploy"))
        .policy_document(widened.to_string())
        .send()
        .await
        .unwrap();
    let drift = h.engine.drift(&p.spec).await.unwrap();
    let drifted: Vec<&Address> = drift.drifted.iter().map(|d| &d.address).collect();
    assert_eq!(drifted, [&Address::new("pipeline", "deploy")]);
    let plan = h.plan(&p.spec).await;
    let change = plan.resources.iter().find(|r| r.address.name() == "deploy").unwrap();
    assert!(change.widens_access.is_empty(), "putting the trust back narrows it");
    h.apply_converged(&p.spec).await;

    // A new subject is a change in place, and it widens access.
    let mut rotated = prod.clone();
    rotated.settings.ci_deploy_environments.push("prod-eu".into());
    let p2 = pipeline(&rotated).unwrap();
    let plan = h.plan(&p2.spec).await;
    let change = plan.resources.iter().find(|r| r.address.name() == "deploy").unwrap();
    assert_eq!(change.action, platform::plan::Action::Update);
    assert!(
        change.widens_access.iter().any(|w| w.contains("prod-eu")),
        "a new subject is shown as widening access: {:?}",
        change.widens_access
    );
    h.apply_converged(&p2.spec).await;

    // The state and access-log buckets are protected: destroying them must be allowed by address
    // (prod keeps the access-log bucket while it holds logs).
    h.unbootstrap(&rotated).await;
    assert!(
        iam.get_open_id_connect_provider().open_id_connect_provider_arn(&provider_arn).send().await.is_ok(),
        "the provider is the account's: it outlives an environment's pipeline"
    );
}

#[tokio::test]
async fn environments_sharing_an_account_share_its_one_oidc_provider_and_outlive_each_other() {
    let h = Harness::new().await;
    let iam = aws_sdk_iam::Client::new(&h.config);
    let dev = Environments::builtin().get("dev").unwrap().clone();
    let prod = Environments::builtin().get("prod").unwrap().clone();
    h.bootstrap(&dev).await;
    let prod_pipeline = h.bootstrap(&prod).await;
    let providers = iam.list_open_id_connect_providers().send().await.unwrap();
    assert_eq!(providers.open_id_connect_provider_list().len(), 1, "one provider per account");

    // Destroying dev's pipeline leaves prod's deploys working: its deploy role, trusting the
    // provider, and the provider itself.
    h.unbootstrap(&dev).await;
    let provider = providers.open_id_connect_provider_list()[0].arn().unwrap().to_string();
    iam.get_open_id_connect_provider().open_id_connect_provider_arn(&provider).send().await.unwrap();
    let deploy = id_of(&h.state(&prod_pipeline), "deploy");
    let role = iam.get_role().role_name(&deploy).send().await.unwrap();
    let trust = percent_encoding::percent_decode_str(role.role().unwrap().assume_role_policy_document().unwrap())
        .decode_utf8()
        .unwrap()
        .to_string();
    assert!(trust.contains(&provider), "prod's deploy role trusts the account's provider: {trust}");
    assert!(!h.plan(&prod_pipeline).await.has_changes(), "prod's pipeline is untouched");
}

#[tokio::test]
async fn a_resource_of_another_environment_at_the_same_address_is_never_taken_over() {
    // As it was when each environment's pipeline declared the provider: dev's exists, tagged
    // `pipeline.github` in dev; prod's create finds it and must not adopt it.
    let h = Harness::new().await;
    let declare = |env: &str| {
        let mut s = platform::model::Stack::new("pipeline", &platform::model::Env::new(env).unwrap());
        s.add(
            "github",
            platform::resources::OidcProvider {
                url: stacks::account::GITHUB_ISSUER.into(),
                client_ids: vec!["sts.amazonaws.com".into()],
                thumbprints: vec!["6938fd4d98bab03faadb97b34396831e3780aea1".into()],
                tags: Default::default(),
            },
        );
        s.build().unwrap()
    };
    h.apply_converged(&declare("dev")).await;
    let prod = declare("prod");
    let prepared = h.engine.prepare(&prod, false, "apply").await.unwrap();
    let report = h.engine.apply(prepared, &|_| {}).await.unwrap();
    assert!(!report.is_success(), "prod does not take over dev's provider");
    let text = platform::render::report_text("pipeline", &report);
    assert!(text.contains("pipeline.github"), "{text}");
    let iam = aws_sdk_iam::Client::new(&h.config);
    let providers = iam.list_open_id_connect_providers().send().await.unwrap();
    let arn = providers.open_id_connect_provider_list()[0].arn().unwrap();
    let tags = iam.get_open_id_connect_provider().open_id_connect_provider_arn(arn).send().await.unwrap();
    assert!(tags.tags().iter().any(|t| t.key() == "platform:env" && t.value() == "dev"), "still dev's");
    assert!(h
        .backend
        .read_file("pipeline", &platform::model::Env::new("prod").unwrap())
        .unwrap()
        .is_none_or(|s| s.resources.is_empty()));
}

/// The managed policies attached to `role`, as IAM holds them (their default versions).
async fn attached_policies(iam: &aws_sdk_iam::Client, role: &str) -> Vec<Policy> {
    let decode = |text: &str| -> Value {
        serde_json::from_str(&percent_encoding::percent_decode_str(text).decode_utf8().unwrap()).unwrap()
    };
    let attached = iam.list_attached_role_policies().role_name(role).send().await.unwrap();
    let inline = iam.list_role_policies().role_name(role).send().await.unwrap();
    assert!(inline.policy_names().is_empty(), "{role} has no inline policy");
    let mut policies = vec![];
    for arn in attached.attached_policies().iter().filter_map(|p| p.policy_arn()) {
        let policy = iam.get_policy().policy_arn(arn).send().await.unwrap();
        let version = policy.policy().unwrap().default_version_id().unwrap();
        let document = iam.get_policy_version().policy_arn(arn).version_id(version).send().await.unwrap();
        policies.push(Policy::parse(&decode(document.policy_version().unwrap().document().unwrap())).unwrap());
    }
    assert!(policies.len() >= 2, "{role}: its policies are attached ({} found)", policies.len());
    policies
}

/// The deploy role's policies, its permissions boundary's ARN and the boundary's document,
/// as IAM holds them once the pipeline stack of `env` is applied; and the account.
async fn deployed_policies(h: &Harness, env: &str) -> (String, Vec<Policy>, String, Policy) {
    let environment = Environments::builtin().get(env).unwrap().clone();
    let state = h.bootstrap(&environment).await;
    let state = h.state(&state);
    let iam = aws_sdk_iam::Client::new(&h.config);
    let decode = |text: &str| -> Value {
        serde_json::from_str(&percent_encoding::percent_decode_str(text).decode_utf8().unwrap()).unwrap()
    };
    let role = id_of(&state, "deploy");
    let deploy = attached_policies(&iam, &role).await;
    let boundary_arn = id_of(&state, "boundary");
    let policy = iam.get_policy().policy_arn(&boundary_arn).send().await.unwrap();
    let version = policy.policy().unwrap().default_version_id().unwrap();
    let document = iam.get_policy_version().policy_arn(&boundary_arn).version_id(version).send().await.unwrap();
    let boundary = Policy::parse(&decode(document.policy_version().unwrap().document().unwrap())).unwrap();
    let account = boundary_arn.split(':').nth(4).unwrap().to_string();
    (account, deploy, boundary_arn, boundary)
}

#[tokio::test]
async fn the_deploy_role_cannot_escalate_or_reach_another_environment() {
    for (env, other) in [("dev", "prod"), ("prod", "dev")] {
        let h = Harness::new().await;
        let (account, deploy, boundary_arn, boundary) = deployed_policies(&h, env).await;
        let role = |name: &str| format!("arn:aws:iam::{account}:role/{name}");
        let b = boundary_arn.as_str();
        let admin = "arn:aws:iam::aws:policy/AdministratorAccess";
        let task_role = role(&format!("{env}-card-service-task-role"));
        let own = role(&format!("{env}-pipeline-deploy"));
        let definition = |family: &str| format!("arn:aws:ecs:us-east-1:{account}:task-definition/{family}:3");
        let new_role = role(&format!("{env}-card-service-x"));
        let ec2 = |resource: &str| format!("arn:aws:ec2:us-east-1:{account}:{resource}");
        let discovery = |resource: &str| format!("arn:aws:servicediscovery:us-east-1:{account}:{resource}");

        let denied: Vec<(&str, Request)> = vec![
            ("create a role without the boundary", Request::new("iam:CreateRole", &new_role)),
            (
                "create a role with another boundary",
                Request::new("iam:CreateRole", &new_role).with("iam:PermissionsBoundary", &[admin]),
            ),
            (
                "attach AdministratorAccess to a bounded role",
                Request::new("iam:AttachRolePolicy", &new_role)
                    .with("iam:PermissionsBoundary", &[b])
                    .with("iam:PolicyARN", &[admin]),
            ),
            ("put an inline policy on a role without the boundary", Request::new("iam:PutRolePolicy", &new_role)),
            (
                "remove a role's boundary",
                Request::new("iam:DeleteRolePermissionsBoundary", &new_role).with("iam:PermissionsBoundary", &[b]),
            ),
            ("change the boundary policy (a new version)", Request::new("iam:CreatePolicyVersion", b)),
            ("change the boundary policy (another default)", Request::new("iam:SetDefaultPolicyVersion", b)),
            ("delete the boundary policy", Request::new("iam:DeletePolicy", b)),
            (
                "change the deploy role's own policy",
                Request::new("iam:PutRolePolicy", &own).with("iam:PermissionsBoundary", &[b]),
            ),
            ("change the deploy role's own trust", Request::new("iam:UpdateAssumeRolePolicy", &own)),
            (
                "change one of the deploy role's policies (a new version)",
                Request::new(
                    "iam:CreatePolicyVersion",
                    &format!("arn:aws:iam::{account}:policy/{env}-pipeline-deploy-1"),
                ),
            ),
            (
                "attach a policy to the deploy role",
                Request::new("iam:AttachRolePolicy", &own)
                    .with("iam:PermissionsBoundary", &[b])
                    .with("iam:PolicyARN", &["arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"]),
            ),
            (
                "pass a role to EC2",
                Request::new("iam:PassRole", &task_role).with("iam:PassedToService", &["ec2.amazonaws.com"]),
            ),
            (
                "pass a role to Lambda",
                Request::new("iam:PassRole", &task_role).with("iam:PassedToService", &["lambda.amazonaws.com"]),
            ),
            (
                "pass the deploy role itself to a task",
                Request::new("iam:PassRole", &own).with("iam:PassedToService", &["ecs-tasks.amazonaws.com"]),
            ),
            (
                "run a task of the service's family (not a migration)",
                Request::new("ecs:RunTask", &definition(&format!("{env}-card-service-task"))),
            ),
            (
                "run a task with another environment's role as override",
                Request::new("iam:PassRole", &role(&format!("{other}-card-service-task-role")))
                    .with("iam:PassedToService", &["ecs-tasks.amazonaws.com"]),
            ),
            (
                "create a role in another environment",
                Request::new("iam:CreateRole", &role(&format!("{other}-card-service-x")))
                    .with("iam:PermissionsBoundary", &[b]),
            ),
            (
                "open another environment's database security group",
                Request::new("ec2:AuthorizeSecurityGroupIngress", &ec2("security-group/sg-0ther"))
                    .with("aws:ResourceTag/platform:env", &[other]),
            ),
            (
                "create a subnet in another environment's VPC",
                Request::new("ec2:CreateSubnet", &ec2("vpc/vpc-0ther"))
                    .with("aws:ResourceTag/platform:env", &[other])
                    .with("aws:RequestTag/platform:env", &[env]),
            ),
            (
                "create a security group tagged as another environment's",
                Request::new("ec2:CreateSecurityGroup", &ec2("security-group/sg-new"))
                    .with("aws:RequestTag/platform:env", &[other]),
            ),
            (
                "create a security group without tags",
                Request::new("ec2:CreateSecurityGroup", &ec2("security-group/sg-new")),
            ),
            (
                "take another environment's route table by re-tagging it",
                Request::new("ec2:CreateTags", &ec2("route-table/rtb-0ther"))
                    .with("aws:ResourceTag/platform:env", &[other])
                    .with("aws:RequestTag/platform:env", &[env]),
            ),
            (
                "take another environment's namespace by re-tagging it",
                Request::new("servicediscovery:TagResource", &discovery("namespace/ns-0ther"))
                    .with("aws:ResourceTag/platform:env", &[other])
                    .with("aws:RequestTag/platform:env", &[env]),
            ),
            (
                "add a service to another environment's namespace",
                Request::new("servicediscovery:CreateService", &discovery("namespace/ns-0ther"))
                    .with("aws:ResourceTag/platform:env", &[other])
                    .with("aws:RequestTag/platform:env", &[env]),
            ),
            (
                "delete another environment's discovery service",
                Request::new("servicediscovery:DeleteService", &discovery("service/srv-0ther"))
                    .with("aws:ResourceTag/platform:env", &[other]),
            ),
            (
                "write a record in a zone outside the namespace",
                Request::new("route53:ChangeResourceRecordSets", "arn:aws:route53:::hostedzone/Z0PUBLIC")
                    .with("route53:ChangeResourceRecordSetsNormalizedRecordNames", &["www.example.com"]),
            ),
            (
                "write a record in another environment's namespace",
                Request::new("route53:ChangeResourceRecordSets", "arn:aws:route53:::hostedzone/Z0OTHER").with(
                    "route53:ChangeResourceRecordSetsNormalizedRecordNames",
                    &[&format!("card-service.{}", discovery_domain(other))],
                ),
            ),
            (
                "write one record inside the namespace and one outside",
                Request::new("route53:ChangeResourceRecordSets", "arn:aws:route53:::hostedzone/Z0OWN").with(
                    "route53:ChangeResourceRecordSetsNormalizedRecordNames",
                    &[&format!("card-service.{}", discovery_domain(env)), "www.example.com"],
                ),
            ),
        ];
        let mut wrong = vec![];
        for (what, request) in &denied {
            let decision = evaluate(&deploy, None, request);
            if decision == Decision::Allowed {
                wrong.push(format!("{env}: {what} is allowed ({} on {})", request.action, request.resource));
            }
        }
        // What deploying does is still allowed: the denials are not a role that can do nothing.
        let allowed: Vec<(&str, Request)> = vec![
            ("create a bounded role", Request::new("iam:CreateRole", &new_role).with("iam:PermissionsBoundary", &[b])),
            (
                "put a policy on a bounded role",
                Request::new("iam:PutRolePolicy", &new_role).with("iam:PermissionsBoundary", &[b]),
            ),
            (
                "pass the task role to ECS tasks",
                Request::new("iam:PassRole", &task_role).with("iam:PassedToService", &["ecs-tasks.amazonaws.com"]),
            ),
            (
                "open the environment's own security group",
                Request::new("ec2:AuthorizeSecurityGroupIngress", &ec2("security-group/sg-0wn"))
                    .with("aws:ResourceTag/platform:env", &[env]),
            ),
            (
                "create a subnet in the environment's VPC (the VPC)",
                Request::new("ec2:CreateSubnet", &ec2("vpc/vpc-0wn"))
                    .with("aws:ResourceTag/platform:env", &[env])
                    .with("aws:RequestTag/platform:env", &[env]),
            ),
            (
                "create a subnet in the environment's VPC (the subnet)",
                Request::new("ec2:CreateSubnet", &ec2("subnet/subnet-new")).with("aws:RequestTag/platform:env", &[env]),
            ),
            (
                "tag a new subnet",
                Request::new("ec2:CreateTags", &ec2("subnet/subnet-new"))
                    .with("ec2:CreateAction", &["CreateSubnet"])
                    .with("aws:RequestTag/platform:env", &[env]),
            ),
            (
                "write a record in the environment's namespace",
                Request::new("route53:ChangeResourceRecordSets", "arn:aws:route53:::hostedzone/Z0OWN").with(
                    "route53:ChangeResourceRecordSetsNormalizedRecordNames",
                    &[&format!("card-service.{}", discovery_domain(env))],
                ),
            ),
            (
                "run the migrations",
                Request::new("ecs:RunTask", &definition(&format!("{env}-card-service-task-migrate"))),
            ),
        ];
        for (what, request) in &allowed {
            if evaluate(&deploy, None, request) != Decision::Allowed {
                wrong.push(format!("{env}: {what} is denied ({} on {})", request.action, request.resource));
            }
        }
        // A bounded role given `*:*` can do no more than the boundary: nothing in IAM, nothing of
        // another environment.
        let everything =
            Policy::parse(&json!({ "Statement": [{ "Effect": "Allow", "Action": "*", "Resource": "*" }] })).unwrap();
        let bounded = |request: &Request| evaluate(std::slice::from_ref(&everything), Some(&boundary), request);
        for request in [
            Request::new("iam:CreateUser", &format!("arn:aws:iam::{account}:user/x")),
            Request::new("iam:PutRolePolicy", &own),
            Request::new("s3:GetObject", &format!("arn:aws:s3:::{other}-card-dependencies-images/cards/1")),
            Request::new(
                "secretsmanager:GetSecretValue",
                &format!("arn:aws:secretsmanager:us-east-1:{account}:secret:{other}-x"),
            ),
        ] {
            if bounded(&request) == Decision::Allowed {
                wrong.push(format!("{env}: a bounded role with `*:*` may {} on {}", request.action, request.resource));
            }
        }
        let own_bucket = Request::new("s3:GetObject", &format!("arn:aws:s3:::{env}-card-dependencies-images/cards/1"));
        if bounded(&own_bucket) != Decision::Allowed {
            wrong.push(format!("{env}: the boundary does not allow the environment's own objects"));
        }
        println!("{env}: {} escalation attempts denied, {} deploy steps allowed", denied.len(), allowed.len());
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }
}

#[tokio::test]
async fn a_pipeline_applied_before_its_accounts_oidc_provider_is_refused_with_what_to_do() {
    let h = Harness::new().await;
    let environment = Environments::builtin().get("dev").unwrap().clone();
    let pipeline = stacks::pipeline(&environment).unwrap().spec;
    let prepared = h.engine.prepare(&pipeline, false, "apply").await.unwrap();
    let report = h.engine.apply(prepared, &|_| {}).await.unwrap();
    assert!(!report.is_success(), "IAM refuses a role trusting a provider the account does not have");
    let text = platform::render::report_text(&pipeline.name, &report);
    assert!(
        text.contains("MalformedPolicyDocument") && text.contains("create the provider first"),
        "the refusal says what to do: {text}"
    );
    // With the account's provider applied, the same stack applies (resuming where it stopped).
    h.apply_converged(&stacks::account().unwrap().spec).await;
    h.apply_converged(&pipeline).await;
}
