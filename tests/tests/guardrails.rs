//! The guardrails on the card stacks: compliant as declared in every environment; for each rule,
//! the compliant stacks with exactly that rule broken are reported with the rule's id and the
//! resource's address, and the engine refuses to plan or apply them before touching any state or
//! cloud; a waiver with a reason lets the plan proceed and is shown in it.

use std::sync::Arc;

use platform::policy::{check, RuleSet};
use platform::provider::memory::MemoryProvider;
use platform::{Address, EngineError, StackSpec};
use serde_json::{json, Value};
use stacks::{foundation, Environment, Environments};

fn environment(name: &str) -> Environment {
    Environments::builtin().get(name).unwrap().clone()
}

/// foundation, card-dependencies, card-service — as declared for `env`.
fn card_stacks_for(env: &Environment) -> Vec<StackSpec> {
    let foundation = foundation(env).unwrap();
    let mut specs = vec![foundation.spec.clone()];
    specs.extend(card_stacks::card_stacks(env, &foundation, "0.1.0").unwrap());
    specs
}

fn card_stacks(env: &str) -> Vec<StackSpec> {
    card_stacks_for(&environment(env))
}

fn stack<'a>(specs: &'a mut [StackSpec], name: &str) -> &'a mut StackSpec {
    specs.iter_mut().find(|s| s.name == name).unwrap()
}

/// The first resource of `type_name` in stack `name`: its address and its props, to break.
fn first<'a>(specs: &'a mut [StackSpec], name: &str, type_name: &str) -> (Address, &'a mut Value) {
    let r = stack(specs, name).resources.iter_mut().find(|r| r.type_name == type_name).unwrap();
    (r.address.clone(), &mut r.props)
}

/// The (rule, address) pairs that are violated.
fn violations(specs: &[StackSpec]) -> Vec<(String, String)> {
    let all: Vec<&StackSpec> = specs.iter().collect();
    let report = check(&all, &all, &RuleSet::builtin());
    let mut v: Vec<_> = report.violations().map(|f| (f.rule.clone(), f.address.to_string())).collect();
    v.dedup();
    v
}

fn engine() -> (platform::Engine, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let engine = platform::Engine::new(
        Arc::new(MemoryProvider::new()),
        Arc::new(platform::state::local::LocalBackend::new(dir.path())),
        platform::apply::ApplyOptions::default(),
    );
    (engine, dir)
}

/// Requires exactly `rule` broken at `address`, and the engine to refuse the stack.
async fn refused(specs: &[StackSpec], rule: &str, address: &Address) {
    assert_eq!(violations(specs), [(rule.to_string(), address.to_string())], "exactly that rule, at that address");
    let spec = specs.iter().find(|s| s.name == address.stack()).unwrap();
    let (engine, dir) = engine();
    match engine.prepare(spec, false, "apply").await {
        Err(EngineError::Guardrails { report, .. }) => {
            assert!(report.violations().any(|f| f.rule == rule && &f.address == address));
            let message = EngineError::Guardrails { stack: spec.name.clone(), env: "x".into(), report }.to_string();
            assert!(message.contains(&format!("[{rule}] {address}")), "{message}");
            assert!(message.contains("Fix: "), "says how to fix it: {message}");
        }
        Err(other) => panic!("refused for another reason: {other}"),
        Ok(_) => panic!("{rule}: the engine planned a stack that breaks it"),
    }
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none(), "no state was touched");
}

#[test]
fn the_card_stacks_pass_every_rule_in_every_environment() {
    let rules = RuleSet::builtin();
    for env in ["dev", "staging", "prod"] {
        let specs = card_stacks(env);
        let all: Vec<&StackSpec> = specs.iter().collect();
        let report = check(&all, &all, &rules);
        assert_eq!(report.findings, [], "{env}: nothing found, nothing waived");
        assert!(report.unused_waivers.is_empty() && report.unknown_waivers.is_empty());
    }
    // With a certificate, the HTTPS listeners are checked too.
    let mut with_certificate = environment("prod");
    with_certificate.settings.certificate_arn = Some("arn:aws:acm:us-east-1:123456789012:certificate/abc".into());
    assert_eq!(violations(&card_stacks_for(&with_certificate)), []);
}

#[tokio::test]
async fn rds_storage_encrypted() {
    let mut specs = card_stacks("dev");
    let (address, props) = first(&mut specs, "card-dependencies", "aws.rds.db_instance");
    props["storage_encrypted"] = json!(false);
    refused(&specs, "rds-storage-encrypted", &address).await;
}

#[tokio::test]
async fn rds_not_public() {
    let mut specs = card_stacks("dev");
    let (address, props) = first(&mut specs, "card-dependencies", "aws.rds.db_instance");
    props["publicly_accessible"] = json!(true);
    refused(&specs, "rds-not-public", &address).await;
}

#[tokio::test]
async fn rds_multi_az_in_staging_and_prod_only() {
    for env in ["staging", "prod"] {
        let mut specs = card_stacks(env);
        let (address, props) = first(&mut specs, "card-dependencies", "aws.rds.db_instance");
        props["multi_az"] = json!(false);
        refused(&specs, "rds-multi-az", &address).await;
    }
    let dev = card_stacks("dev");
    let db = dev[1].resources.iter().find(|r| r.type_name == "aws.rds.db_instance").unwrap();
    assert_eq!(db.props["multi_az"], false, "dev is single-zone, and that is allowed");
}

#[tokio::test]
async fn rds_deletion_protection_in_prod() {
    let mut specs = card_stacks("prod");
    let (address, props) = first(&mut specs, "card-dependencies", "aws.rds.db_instance");
    props["deletion_protection"] = json!(false);
    refused(&specs, "rds-deletion-protection", &address).await;
}

#[tokio::test]
async fn rds_backup_retention() {
    let mut specs = card_stacks("dev");
    let (address, props) = first(&mut specs, "card-dependencies", "aws.rds.db_instance");
    props["backup_retention_days"] = json!(3);
    refused(&specs, "rds-backup-retention", &address).await;
}

#[tokio::test]
async fn rds_managed_password() {
    let mut specs = card_stacks("dev");
    let (address, props) = first(&mut specs, "card-dependencies", "aws.rds.db_instance");
    props["manage_master_user_password"] = json!(false);
    refused(&specs, "rds-managed-password", &address).await;
}

/// The security group the load balancer of the card service uses.
fn load_balancer_group(specs: &mut [StackSpec]) -> (Address, &mut Value) {
    let (_, lb) = first(specs, "card-service", "aws.elbv2.load_balancer");
    let group = lb["security_groups"][0]["$ref"].as_str().unwrap().to_string();
    let r = stack(specs, "card-service").resources.iter_mut().find(|r| r.address.to_string() == group).unwrap();
    (r.address.clone(), &mut r.props)
}

#[tokio::test]
async fn no_open_ingress_except_web_ports_on_a_load_balancer() {
    let open = |port: i32| json!({"protocol": "tcp", "from_port": port, "to_port": port, "peer": {"cidr_ipv4": "0.0.0.0/0"}, "description": "open"});
    // The load balancer's group is open on 80 (and 443 with a certificate): allowed. 8080 is not.
    let mut specs = card_stacks("dev");
    let (address, group) = load_balancer_group(&mut specs);
    group["ingress"].as_array_mut().unwrap().push(open(8080));
    refused(&specs, "sg-no-open-ingress", &address).await;
    // Any other group: not even port 443.
    let mut specs = card_stacks("dev");
    let (lb_group, _) = load_balancer_group(&mut specs);
    let tasks = stack(&mut specs, "card-service")
        .resources
        .iter_mut()
        .find(|r| r.type_name == "aws.ec2.security_group" && r.address != lb_group)
        .unwrap();
    tasks.props["ingress"].as_array_mut().unwrap().push(open(443));
    let address = tasks.address.clone();
    refused(&specs, "sg-no-open-ingress", &address).await;
}

#[tokio::test]
async fn database_groups_admit_only_groups() {
    // A range on the database's own group.
    let mut specs = card_stacks("dev");
    let (address, group) = first(&mut specs, "card-dependencies", "aws.ec2.security_group");
    group["ingress"].as_array_mut().unwrap().push(
        json!({"protocol": "tcp", "from_port": 5432, "to_port": 5432, "peer": {"cidr_ipv4": "10.0.0.0/16"}, "description": "office"}),
    );
    refused(&specs, "sg-database-from-groups-only", &address).await;
    // A grant from another stack, into the database's group, from a range: seen with the stack
    // that owns the group as context (as `platform check`, `plan` and `apply` do).
    let mut specs = card_stacks("dev");
    let (address, grant) = first(&mut specs, "card-service", "aws.ec2.security_group_grant");
    grant["peer"] = json!({"cidr_ipv4": "10.0.0.0/16"});
    assert_eq!(violations(&specs), [("sg-database-from-groups-only".to_string(), address.to_string())]);
}

/// The card service's listener for `protocol`.
fn listener<'a>(specs: &'a mut [StackSpec], protocol: &str) -> (Address, &'a mut Value) {
    let r = stack(specs, "card-service")
        .resources
        .iter_mut()
        .find(|r| r.type_name == "aws.elbv2.listener" && r.props["protocol"] == protocol)
        .unwrap();
    (r.address.clone(), &mut r.props)
}

#[tokio::test]
async fn load_balancers_with_a_certificate_use_modern_tls_and_redirect_http() {
    // In dev, where plain HTTP is allowed (so that only this rule is broken).
    let mut env = environment("dev");
    env.settings.certificate_arn = Some("arn:aws:acm:us-east-1:123456789012:certificate/abc".into());
    let mut specs = card_stacks_for(&env);
    let (address, props) = listener(&mut specs, "HTTPS");
    props["ssl_policy"] = json!("ELBSecurityPolicy-2016-08");
    refused(&specs, "lb-https", &address).await;

    let mut specs = card_stacks_for(&env);
    let target_group = first(&mut specs, "card-service", "aws.elbv2.target_group").0;
    let (address, props) = listener(&mut specs, "HTTP");
    props["action"] = json!({"forward": {"target_group": {"$ref": target_group.to_string(), "attr": "arn"}}});
    refused(&specs, "lb-https", &address).await;
}

/// Outside dev an internet-facing load balancer never forwards plain HTTP: an environment that
/// names no domain and no certificate breaks `lb-https-only`, with no waiver shipped.
#[tokio::test]
async fn internet_facing_load_balancers_serve_https_only_outside_dev() {
    for name in ["staging", "prod"] {
        let mut env = environment(name);
        assert!(env.domain.is_some(), "{name} names its domain");
        env.settings.domain = None;
        let specs = card_stacks_for(&env);
        refused(&specs, "lb-https-only", &Address::new("card-service", "http")).await;
    }
    let dev = card_stacks("dev");
    let http = dev[2].resources.iter().find(|r| r.address.name() == "http").unwrap();
    assert!(http.props["action"]["forward"].is_object(), "dev forwards plain HTTP, and that is allowed");
}

/// Outside dev every VPC records its traffic: an environment with flow logs off breaks
/// `vpc-flow-logs` at the VPC.
#[tokio::test]
async fn vpcs_record_their_traffic_outside_dev() {
    for name in ["staging", "prod"] {
        let mut env = environment(name);
        assert!(env.flow_logs, "{name} turns flow logs on");
        env.settings.flow_logs = false;
        refused(&card_stacks_for(&env), "vpc-flow-logs", &Address::new("foundation", "vpc")).await;
    }
    let dev = card_stacks("dev");
    assert!(dev[0].resources.iter().all(|r| r.type_name != "aws.ec2.flow_log"), "dev goes without, and may");
}

/// Outside dev every load balancer and every service's bucket keeps access logs: an environment
/// with them off breaks `lb-access-logs` at the load balancer and `s3-access-logs` at the bucket;
/// the access-log bucket itself is waived, with its reason.
#[tokio::test]
async fn requests_are_recorded_in_access_logs_outside_dev() {
    for name in ["staging", "prod"] {
        let mut env = environment(name);
        assert!(env.access_logs, "{name} keeps access logs");
        let pipeline = stacks::pipeline(&env).unwrap().spec;
        let report = check(&[&pipeline], &[], &RuleSet::builtin());
        let waived: Vec<_> = report.waived().map(|f| (f.rule.as_str(), f.address.name().to_string())).collect();
        assert_eq!(
            waived,
            [("s3-access-logs", "access-logs".to_string()), ("kms-customer-managed-keys", "state".to_string())],
            "{name}"
        );
        assert!(report.passes(), "{name}: the pipeline stack keeps its own access logs");
        for (in_stack, resource, rule) in
            [("card-service", "lb", "lb-access-logs"), ("card-dependencies", "images", "s3-access-logs")]
        {
            let mut specs = card_stacks(name);
            let r = stack(&mut specs, in_stack).resources.iter_mut().find(|r| r.address.name() == resource).unwrap();
            r.props.as_object_mut().unwrap().remove("access_logs");
            refused(&specs, rule, &Address::new(in_stack, resource)).await;
        }
        env.settings.access_logs = false;
        let off = violations(&card_stacks_for(&env));
        assert_eq!(
            off,
            [
                ("s3-access-logs".to_string(), "card-dependencies.images".to_string()),
                ("lb-access-logs".to_string(), "card-service.lb".to_string())
            ],
            "{name}"
        );
    }
    let dev = environment("dev");
    assert!(stacks::pipeline(&dev).unwrap().access_logs.is_none(), "dev goes without, and may");
}

/// Outside dev every request from the internet passes AWS WAF first: a load balancer without the
/// web ACL, or a web ACL with a baseline group only counting, breaks `lb-waf`; a web ACL that logs nothing
/// breaks `waf-logging`; an environment with `waf` off breaks `lb-waf` at each load balancer.
#[tokio::test]
async fn internet_facing_load_balancers_sit_behind_a_logging_web_acl_outside_dev() {
    for name in ["staging", "prod"] {
        let mut env = environment(name);
        assert!(env.waf, "{name} has a web ACL");
        let mut specs = card_stacks(name);
        let service = stack(&mut specs, "card-service");
        service.resources.retain(|r| r.type_name != "aws.wafv2.web_acl_association");
        refused(&specs, "lb-waf", &Address::new("card-service", "lb")).await;

        let mut specs = card_stacks(name);
        let (_, acl) = first(&mut specs, "foundation", "aws.wafv2.web_acl");
        acl["rule_groups"][1]["count_only"] = json!(true);
        refused(&specs, "lb-waf", &Address::new("foundation", "web-acl")).await;

        let mut specs = card_stacks(name);
        stack(&mut specs, "foundation").resources.retain(|r| r.type_name != "aws.wafv2.logging_configuration");
        refused(&specs, "waf-logging", &Address::new("foundation", "web-acl")).await;

        env.settings.waf = false;
        assert_eq!(
            violations(&card_stacks_for(&env)),
            [("lb-waf".to_string(), "card-service.lb".to_string())],
            "{name}"
        );
    }
    let dev = card_stacks("dev");
    assert!(dev.iter().flat_map(|s| &s.resources).all(|r| !r.type_name.starts_with("aws.wafv2.")), "dev goes without");
}

/// Outside dev the load balancer reaches the tasks over TLS: a plain HTTP target group breaks
/// `lb-tls-to-targets`, and so does an environment with `tls_to_tasks` off; the service is told
/// to serve TLS exactly where its target group speaks it.
#[tokio::test]
async fn load_balancers_reach_the_tasks_over_tls_outside_dev() {
    let serves_tls = |specs: &mut [StackSpec]| {
        let (_, task) = first(specs, "card-service", "aws.ecs.task_definition");
        task["containers"][0]["environment"].get(stacks::service::TLS_VARIABLE).cloned()
    };
    for name in ["staging", "prod"] {
        let mut env = environment(name);
        assert!(env.tls_to_tasks, "{name} encrypts to the tasks");
        let mut specs = card_stacks(name);
        assert_eq!(serves_tls(&mut specs), Some(json!("self-signed")), "{name}");
        let (address, group) = first(&mut specs, "card-service", "aws.elbv2.target_group");
        assert_eq!(group["protocol"], "HTTPS");
        assert_eq!(group["health_check"]["port"], 8081, "health checks on the health port");
        group["protocol"] = json!("HTTP");
        refused(&specs, "lb-tls-to-targets", &address).await;

        env.settings.tls_to_tasks = false;
        let mut specs = card_stacks_for(&env);
        assert_eq!(serves_tls(&mut specs), None);
        assert_eq!(violations(&specs), [("lb-tls-to-targets".to_string(), address.to_string())], "{name}");
    }
    let mut dev = card_stacks("dev");
    assert_eq!(serves_tls(&mut dev), None, "dev serves plain HTTP, and may");
}

/// Outside dev what holds data is encrypted with the account's own keys: an environment with
/// `customer_managed_keys` off breaks `kms-customer-managed-keys` at every log group, image
/// repository, data bucket and database (the access-log bucket excepted: AWS writes logs only to
/// SSE-S3), and a key whose rotation is turned off breaks `kms-key-rotation`.
#[tokio::test]
async fn data_is_encrypted_with_customer_managed_keys_outside_dev() {
    for name in ["staging", "prod"] {
        let mut env = environment(name);
        assert!(env.customer_managed_keys, "{name} has keys of its own");
        let mut specs = card_stacks(name);
        let (address, key) = first(&mut specs, "card-dependencies", "aws.kms.key");
        key["rotation_period_days"] = json!(null);
        refused(&specs, "kms-key-rotation", &address).await;

        env.settings.customer_managed_keys = false;
        let specs = card_stacks_for(&env);
        let flagged: std::collections::BTreeSet<String> = violations(&specs)
            .into_iter()
            .filter(|(rule, _)| rule == "kms-customer-managed-keys")
            .map(|(_, address)| address)
            .collect();
        for expected in [
            "foundation.logs",
            "foundation.flow-logs",
            "foundation.waf-logs",
            "foundation.card-service-images",
            "card-dependencies.images",
            "card-dependencies.db-instance",
            "card-dependencies.db-postgresql-log",
            "card-service.logs",
        ] {
            assert!(flagged.contains(expected), "{name}: {expected} not flagged: {flagged:?}");
        }
        assert!(!flagged.iter().any(|a| a.contains("access-logs")), "the access-log bucket stays SSE-S3");
        assert!(
            specs.iter().flat_map(|s| &s.resources).all(|r| r.type_name != "aws.kms.key"),
            "{name} without keys declares none"
        );
    }
    let dev = card_stacks("dev");
    assert!(dev.iter().flat_map(|s| &s.resources).all(|r| r.type_name != "aws.kms.key"), "dev goes without");
}

/// Outside dev every VPC's default security group is taken over with no rule: an environment
/// with it off breaks `vpc-default-security-group-closed` at the VPC, and so does a rule added
/// to the group.
#[tokio::test]
async fn default_security_groups_are_closed_outside_dev() {
    for name in ["staging", "prod"] {
        let mut env = environment(name);
        assert!(env.close_default_security_group, "{name} closes the default group");
        env.settings.close_default_security_group = false;
        refused(&card_stacks_for(&env), "vpc-default-security-group-closed", &Address::new("foundation", "vpc")).await;
        let mut specs = card_stacks(name);
        let group = specs[0].resources.iter_mut().find(|r| r.address.name() == "default-security-group").unwrap();
        let open = platform::resources::Rule::tcp(443, platform::resources::Peer::CidrIpv4("0.0.0.0/0".into()), "out");
        group.props["egress"] = serde_json::to_value(vec![open]).unwrap();
        refused(&specs, "vpc-default-security-group-closed", &Address::new("foundation", "vpc")).await;
    }
}

/// Outside dev every database publishes its log with queries logged, and has Enhanced
/// Monitoring: an environment with either off breaks its rule at the instance, and so does a
/// parameter group that stops logging statements.
#[tokio::test]
async fn databases_log_and_are_monitored_outside_dev() {
    let instance = Address::new("card-dependencies", "db-instance");
    for name in ["staging", "prod"] {
        let mut env = environment(name);
        assert!(env.db_logging && env.db_monitoring_interval_seconds > 0, "{name} logs and monitors its databases");
        env.settings.db_logging = false;
        refused(&card_stacks_for(&env), "rds-logging", &instance).await;
        let mut env = environment(name);
        env.settings.db_monitoring_interval_seconds = 0;
        refused(&card_stacks_for(&env), "rds-enhanced-monitoring", &instance).await;
        let mut specs = card_stacks(name);
        let deps = stack(&mut specs, "card-dependencies");
        let group = deps.resources.iter_mut().find(|r| r.address.name() == "db-parameters").unwrap();
        group.props["parameters"]["log_statement"] = json!("none");
        refused(&specs, "rds-logging", &instance).await;
    }
    let mut dev = card_stacks("dev");
    let deps = stack(&mut dev, "card-dependencies");
    assert!(deps.resources.iter().all(|r| r.type_name != "aws.rds.db_parameter_group"), "dev goes without, and may");
}

#[tokio::test]
async fn load_balancers_drop_invalid_headers() {
    let mut specs = card_stacks("dev");
    let (address, props) = first(&mut specs, "card-service", "aws.elbv2.load_balancer");
    props["drop_invalid_header_fields"] = json!(false);
    refused(&specs, "lb-drop-invalid-headers", &address).await;
}

#[tokio::test]
async fn secrets_only_through_ecs_secrets() {
    let mut specs = card_stacks("dev");
    let (address, props) = first(&mut specs, "card-service", "aws.ecs.task_definition");
    props["containers"][0]["environment"]["DB_PASSWORD"] = json!("hunter2hunter2");
    refused(&specs, "ecs-secrets-not-in-environment", &address).await;
    // A value that is a credential, under an innocent name.
    let mut specs = card_stacks("dev");
    let (address, props) = first(&mut specs, "card-service", "aws.ecs.task_definition");
    props["containers"][0]["environment"]["DB"] = json!("postgres://cards:s3cret@db.internal:5432/cards");
    refused(&specs, "ecs-secrets-not-in-environment", &address).await;
}

#[tokio::test]
async fn containers_are_read_only_unprivileged_and_not_root() {
    for (attribute, value) in
        [("readonly_root_filesystem", json!(false)), ("privileged", json!(true)), ("user", json!("root"))]
    {
        let mut specs = card_stacks("dev");
        let (address, props) = first(&mut specs, "card-service", "aws.ecs.task_definition");
        props["containers"][0][attribute] = value;
        refused(&specs, "ecs-container-hardening", &address).await;
    }
}

/// The role of the card service's tasks (the one whose policies mention S3).
fn task_role(specs: &mut [StackSpec]) -> (Address, &mut Value) {
    let r = stack(specs, "card-service")
        .resources
        .iter_mut()
        .find(|r| r.type_name == "aws.iam.role" && r.props["policies"].to_string().contains("s3:GetObject"))
        .unwrap();
    (r.address.clone(), &mut r.props)
}

fn add_statement(role: &mut Value, actions: &[&str], resources: &[&str]) {
    let policy = role["policies"].as_object_mut().unwrap().values_mut().next().unwrap();
    policy["statements"]
        .as_array_mut()
        .unwrap()
        .push(json!({"effect": "Allow", "actions": actions, "resources": resources}));
}

#[tokio::test]
async fn iam_has_no_wildcards() {
    let mut specs = card_stacks("dev");
    let (address, role) = task_role(&mut specs);
    add_statement(role, &["s3:*"], &["arn:aws:s3:::x/*"]);
    refused(&specs, "iam-no-wildcards", &address).await;
    let mut specs = card_stacks("dev");
    let (address, role) = task_role(&mut specs);
    add_statement(role, &["s3:GetObject"], &["*"]);
    refused(&specs, "iam-no-wildcards", &address).await;
    // Actions AWS only allows on `*` are fine there (the execution role's ecr:GetAuthorizationToken).
    let mut specs = card_stacks("dev");
    let (_, role) = task_role(&mut specs);
    add_statement(role, &["ec2:DescribeSubnets"], &["*"]);
    assert_eq!(violations(&specs), []);
}

#[tokio::test]
async fn iam_attaches_no_admin_or_full_access_policies() {
    for policy in ["arn:aws:iam::aws:policy/AdministratorAccess", "arn:aws:iam::aws:policy/AmazonS3FullAccess"] {
        let mut specs = card_stacks("dev");
        let (address, role) = task_role(&mut specs);
        role["managed_policies"].as_array_mut().unwrap().push(json!(policy));
        refused(&specs, "iam-no-admin-managed-policies", &address).await;
    }
}

#[tokio::test]
async fn iam_pass_role_is_scoped() {
    let mut specs = card_stacks("dev");
    let (address, role) = task_role(&mut specs);
    add_statement(role, &["iam:PassRole"], &["*"]);
    refused(&specs, "iam-pass-role-scoped", &address).await;
}

#[tokio::test]
async fn buckets_are_private_encrypted_and_tls_only() {
    for (attribute, value) in [("block_public_access", json!(false)), ("enforce_tls", json!(false))] {
        let mut specs = card_stacks("dev");
        let (address, props) = first(&mut specs, "card-dependencies", "aws.s3.bucket");
        props[attribute] = value;
        refused(&specs, "s3-secure-bucket", &address).await;
    }
    let mut specs = card_stacks("dev");
    let (address, props) = first(&mut specs, "card-dependencies", "aws.s3.bucket");
    props.as_object_mut().unwrap().remove("encryption");
    refused(&specs, "s3-secure-bucket", &address).await;
}

#[tokio::test]
async fn buckets_expire_old_versions_and_abort_incomplete_uploads() {
    let mut specs = card_stacks("prod");
    let (address, props) = first(&mut specs, "card-dependencies", "aws.s3.bucket");
    props.as_object_mut().unwrap().remove("lifecycle");
    refused(&specs, "s3-versions-expire", &address).await;
    let mut specs = card_stacks("prod");
    let (address, props) = first(&mut specs, "card-dependencies", "aws.s3.bucket");
    props["lifecycle"]["expire"]["incomplete_upload_days"] = json!(0);
    refused(&specs, "s3-versions-expire", &address).await;
}

#[tokio::test]
async fn log_groups_have_a_retention() {
    let mut specs = card_stacks("dev");
    let (address, props) = first(&mut specs, "foundation", "aws.logs.log_group");
    props["retention_in_days"] = json!(0);
    refused(&specs, "logs-retention", &address).await;
}

#[tokio::test]
async fn repositories_scan_on_push_and_keep_tags_immutable() {
    let mut specs = card_stacks("dev");
    let (address, props) = first(&mut specs, "foundation", "aws.ecr.repository");
    props["scan_on_push"] = json!(false);
    refused(&specs, "ecr-scan-on-push", &address).await;
    let mut specs = card_stacks("dev");
    let (address, props) = first(&mut specs, "foundation", "aws.ecr.repository");
    props["image_tag_mutability"] = json!("MUTABLE");
    refused(&specs, "ecr-immutable-tags", &address).await;
}

#[tokio::test]
async fn repositories_expire_old_images() {
    let mut specs = card_stacks("prod");
    let (address, props) = first(&mut specs, "foundation", "aws.ecr.repository");
    props.as_object_mut().unwrap().remove("lifecycle");
    refused(&specs, "ecr-lifecycle-policy", &address).await;
    let mut specs = card_stacks("prod");
    let (address, props) = first(&mut specs, "foundation", "aws.ecr.repository");
    props["lifecycle"]["expire"]["keep"] = json!(0);
    refused(&specs, "ecr-lifecycle-policy", &address).await;
}

#[tokio::test]
async fn services_have_a_health_check_used_by_the_load_balancer_and_the_container() {
    let mut specs = card_stacks("dev");
    let (_, task) = first(&mut specs, "card-service", "aws.ecs.task_definition");
    task["containers"][0]["health_check"] = Value::Null;
    let address = first(&mut specs, "card-service", "aws.ecs.service").0;
    refused(&specs, "service-health-check", &address).await;
    // The load balancer checking a port the container does not expose.
    let mut specs = card_stacks("dev");
    let (_, group) = first(&mut specs, "card-service", "aws.elbv2.target_group");
    group["health_check"]["port"] = json!(9999);
    let address = first(&mut specs, "card-service", "aws.ecs.service").0;
    refused(&specs, "service-health-check", &address).await;
}

#[tokio::test]
async fn a_waiver_with_a_reason_lets_the_plan_proceed_and_shows_in_it() {
    let mut specs = card_stacks("staging");
    let (address, props) = first(&mut specs, "card-dependencies", "aws.rds.db_instance");
    props["multi_az"] = json!(false);
    let reason = "staging runs single-zone until the load tests in January";
    stack(&mut specs, "card-dependencies").waivers.push(platform::model::Waiver {
        rule: "rds-multi-az".into(),
        address: address.clone(),
        reason: reason.into(),
    });
    assert_eq!(violations(&specs), []);
    let deps = specs.iter().find(|s| s.name == "card-dependencies").unwrap();
    // The engine plans it (the upstream foundation state is needed: plan the foundation first).
    let (engine, _dir) = engine();
    // The foundation uses the pipeline stack (its flow log's role carries the boundary).
    let pipeline = stacks::pipeline(&environment("staging")).unwrap().spec;
    let prepared = engine.prepare(&pipeline, false, "apply").await.unwrap();
    engine.apply(prepared, &|_| {}).await.unwrap();
    let foundation = &specs[0];
    let prepared = engine.prepare(foundation, false, "apply").await.unwrap();
    engine.apply(prepared, &|_| {}).await.unwrap();
    let prepared = engine.prepare(deps, false, "plan").await.expect("a waived rule does not stop the plan");
    assert_eq!(prepared.plan.waived.len(), 1);
    assert_eq!(prepared.plan.waived[0].rule, "rds-multi-az");
    let text = platform::render::plan_text(&prepared.plan);
    assert!(text.contains(&format!("! rds-multi-az on {address}")), "{text}");
    assert!(text.contains(reason), "{text}");
    let json = serde_json::to_value(&prepared.plan).unwrap();
    assert_eq!(json["waived"][0]["waived"], reason);
}
