//! The card service's three stacks in production against the emulator: the security groups chained
//! load balancer → tasks → database, roles allowing exactly what the service needs, credentials as
//! ECS secrets, the service registered with its target group and Cloud Map, everything tagged, no
//! change planned right after apply, and a new image deployed as one new task definition revision.

use std::collections::{BTreeMap, BTreeSet};

use platform::plan::Action;
use platform::{Address, StackSpec};
use platform_tests::{id_of, Harness};
use serde_json::{json, Value};
use stacks::{foundation, Environments};

fn card(image_tag: &str) -> Vec<StackSpec> {
    let prod = Environments::builtin().get("prod").unwrap().clone();
    let foundation = foundation(&prod).unwrap();
    let mut specs = vec![foundation.spec.clone()];
    specs.extend(card_stacks::card_stacks(&prod, &foundation, image_tag).unwrap());
    specs
}

/// Ingress of a group as (port, peer) pairs.
async fn ingress(ec2: &aws_sdk_ec2::Client, group: &str) -> BTreeSet<(i32, String)> {
    let out = ec2.describe_security_groups().group_ids(group).send().await.unwrap();
    let mut rules = BTreeSet::new();
    for p in out.security_groups()[0].ip_permissions() {
        let port = p.from_port().unwrap();
        rules.extend(p.ip_ranges().iter().map(|r| (port, r.cidr_ip().unwrap().to_string())));
        rules.extend(p.ipv6_ranges().iter().map(|r| (port, r.cidr_ipv6().unwrap().to_string())));
        rules.extend(p.user_id_group_pairs().iter().map(|g| (port, g.group_id().unwrap().to_string())));
    }
    rules
}

async fn role_policies(iam: &aws_sdk_iam::Client, role: &str) -> Vec<Value> {
    let names = iam.list_role_policies().role_name(role).send().await.unwrap();
    let mut statements = vec![];
    for name in names.policy_names() {
        let doc = iam.get_role_policy().role_name(role).policy_name(name).send().await.unwrap();
        let text = percent_encoding::percent_decode_str(doc.policy_document()).decode_utf8().unwrap().to_string();
        let doc: Value = serde_json::from_str(&text).unwrap();
        statements.extend(doc["Statement"].as_array().unwrap().iter().cloned());
    }
    statements
}

#[tokio::test]
async fn the_card_service_in_production() {
    let h = Harness::new().await;
    h.bootstrap(&Environments::builtin().get("prod").unwrap().clone()).await;
    let specs = card("v1");
    let mut states = vec![];
    for spec in &specs {
        states.push(h.apply_converged(spec).await);
    }
    let [foundation, deps, service] = &states[..] else { panic!("three stacks") };
    let ec2 = aws_sdk_ec2::Client::new(&h.config);

    // Security groups chained: internet → load balancer → tasks → database, nothing else.
    let (lb_group, tasks, db) = (id_of(service, "lb-group"), id_of(service, "tasks"), id_of(deps, "db"));
    let anywhere = "0.0.0.0/0".to_string();
    // Prod serves HTTPS (port 443) and redirects HTTP (port 80).
    assert_eq!(ingress(&ec2, &lb_group).await, BTreeSet::from([(80, anywhere.clone()), (443, anywhere.clone())]));
    assert_eq!(ingress(&ec2, &tasks).await, BTreeSet::from([(8080, lb_group.clone()), (8081, lb_group.clone())]));
    assert_eq!(ingress(&ec2, &db).await, BTreeSet::from([(5432, tasks.clone())]));

    // Roles: trusted by ECS tasks only, allowed exactly what the service needs.
    let iam = aws_sdk_iam::Client::new(&h.config);
    let output = |state: &platform::state::StackState, address: &str, attr: &str| {
        let (stack, name) = address.split_once('.').unwrap();
        assert_eq!(state.stack, stack);
        state.resources[&Address::new(stack, name)].outputs[attr].as_str().unwrap().to_string()
    };
    let repository = output(foundation, "foundation.card-service-images", "arn");
    let master = output(deps, "card-dependencies.db-instance", "master_user_secret_arn");
    let secret = output(deps, "card-dependencies.db-app-credentials", "arn");
    let bucket = output(deps, "card-dependencies.images", "arn");
    let logs = output(service, "card-service.logs", "arn");
    for role in ["prod-card-service-execution-role", "prod-card-service-task-role", "prod-card-service-migration-role"]
    {
        let got = iam.get_role().role_name(role).send().await.unwrap();
        let trust = percent_encoding::percent_decode_str(got.role().unwrap().assume_role_policy_document().unwrap())
            .decode_utf8()
            .unwrap()
            .to_string();
        let trust: Value = serde_json::from_str(&trust).unwrap();
        assert_eq!(trust["Statement"][0]["Principal"], json!({"Service": "ecs-tasks.amazonaws.com"}));
        assert_eq!(trust["Statement"].as_array().unwrap().len(), 1);
        // The task role is assumed for this account's tasks only (confused deputy); the
        // execution role keeps the service's plain trust.
        let condition = &trust["Statement"][0]["Condition"];
        match !role.ends_with("execution-role") {
            true => assert_eq!(
                condition,
                &json!({"StringEquals": {"aws:SourceAccount": "123456789012"},
                        "ArnLike": {"aws:SourceArn": "arn:aws:ecs:*:123456789012:*"}})
            ),
            false => assert!(condition.is_null(), "{condition}"),
        }
        let attached = iam.list_attached_role_policies().role_name(role).send().await.unwrap();
        assert!(attached.attached_policies().is_empty(), "no managed policy on {role}");
        assert!(got.role().unwrap().tags().iter().any(|t| t.key() == "platform:env" && t.value() == "prod"));
    }
    assert_eq!(
        role_policies(&iam, "prod-card-service-execution-role").await,
        [
            json!({"Effect": "Allow", "Action": ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"], "Resource": [repository]}),
            json!({"Effect": "Allow", "Action": ["ecr:GetAuthorizationToken"], "Resource": ["*"]}),
            json!({"Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"], "Resource": [format!("{logs}:log-stream:*")]}),
        ]
    );
    // The code reads the application role's secret itself, at run time and again after a
    // rotation; never the owner's.
    assert_eq!(
        role_policies(&iam, "prod-card-service-task-role").await,
        [
            json!({"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": [format!("{bucket}/cards/*")]}),
            // The images are SSE-KMS: reading one (or signing a URL that does) decrypts with the
            // bucket's key, through S3 only.
            json!({"Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": [output(deps, "card-dependencies.data-key", "arn")],
                   "Condition": {"StringLike": {"kms:ViaService": ["s3.*"]}}}),
            json!({"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"], "Resource": [secret.clone()]}),
        ]
    );
    // The migration task reads the owner's secret and keeps the application role's.
    assert_eq!(
        role_policies(&iam, "prod-card-service-migration-role").await,
        [
            json!({"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"], "Resource": [master.clone()]}),
            json!({"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage"], "Resource": [secret.clone()]}),
        ]
    );
    let secrets = aws_sdk_secretsmanager::Client::new(&h.config);
    let declared = secrets.describe_secret().secret_id(&secret).send().await.unwrap();
    assert!(declared.version_ids_to_stages().is_none_or(|v| v.is_empty()), "declared without a value");

    // The task: the secret named by its ARN (the code reads it), nothing secret in the definition;
    // hardened container.
    let ecs = aws_sdk_ecs::Client::new(&h.config);
    let task = ecs.describe_task_definition().task_definition(id_of(service, "task")).send().await.unwrap();
    let container = &task.task_definition().unwrap().container_definitions()[0];
    assert!(container.secrets().is_empty());
    let secret_arn = container.environment().iter().find(|kv| kv.name() == Some("DB_SECRET_ARN"));
    assert_eq!(secret_arn.and_then(|kv| kv.value()), Some(secret.as_str()));
    assert!(container.environment().iter().all(|kv| !kv.name().unwrap().contains("PASSWORD")));
    assert_eq!(container.readonly_root_filesystem(), Some(true));
    assert_eq!(container.user(), Some("10001"));
    assert_eq!(container.privileged(), Some(false));
    assert!(container.image().unwrap().ends_with("/prod-foundation-card-service-images:v1"));
    assert!(container.health_check().is_some());
    // The migration task: the same image, its own role, the owner's secret and the application
    // role's, run by the pipeline as the family the deploy role may run.
    let migrate = ecs.describe_task_definition().task_definition(id_of(service, "migrate")).send().await.unwrap();
    let migrate = migrate.task_definition().unwrap();
    assert_eq!(migrate.family(), Some("prod-card-service-migrate"));
    assert_eq!(migrate.task_role_arn().map(|a| a.ends_with("role/prod-card-service-migration-role")), Some(true));
    let container = &migrate.container_definitions()[0];
    assert_eq!(container.command(), ["migrate"]);
    assert!(container.image().unwrap().ends_with("/prod-foundation-card-service-images:v1"));
    let variable =
        |name: &str| container.environment().iter().find(|kv| kv.name() == Some(name)).and_then(|kv| kv.value());
    assert_eq!(variable("DB_SECRET_ARN"), Some(master.as_str()));
    assert_eq!(variable("DB_APP_SECRET_ARN"), Some(secret.as_str()));

    // The service: two tasks in the private subnets, behind the target group, named in Cloud Map.
    let cluster = output(foundation, "foundation.cluster", "arn");
    let described = ecs.describe_services().cluster(&cluster).services(id_of(service, "service")).send().await.unwrap();
    let svc = &described.services()[0];
    assert_eq!(svc.desired_count(), 2);
    assert_eq!(svc.load_balancers()[0].target_group_arn(), Some(id_of(service, "targets").as_str()));
    assert_eq!(
        svc.service_registries()[0].registry_arn(),
        Some(output(service, "card-service.discovery", "arn").as_str())
    );
    let network = svc.network_configuration().unwrap().awsvpc_configuration().unwrap();
    assert_eq!(network.assign_public_ip().map(|a| a.as_str()), Some("DISABLED"));
    assert_eq!(network.security_groups(), std::slice::from_ref(&tasks));
    // Emulator difference: it accepts the deployment configuration but does not report it back, so
    // the circuit breaker is checked in what was applied.
    let applied = &service.resources[&Address::new("card-service", "service")].props;
    assert_eq!(
        (&applied["circuit_breaker_rollback"], &applied["minimum_healthy_percent"], &applied["maximum_percent"]),
        (&json!(true), &json!(100), &json!(200))
    );
    let sd = aws_sdk_servicediscovery::Client::new(&h.config);
    let discovery = sd.get_service().id(id_of(service, "discovery")).send().await.unwrap();
    assert_eq!(discovery.service().unwrap().name(), Some("card"));
    assert_eq!(service.outputs["discovery_name"], "card.prod.platform.internal");

    // The load balancer: internet-facing in the public subnets, invalid headers dropped, protected.
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&h.config);
    let lb = id_of(service, "lb");
    let attributes = elb.describe_load_balancer_attributes().load_balancer_arn(&lb).send().await.unwrap();
    let attribute = |k: &str| {
        attributes.attributes().iter().find(|a| a.key() == Some(k)).and_then(|a| a.value()).map(str::to_string)
    };
    assert_eq!(attribute("routing.http.drop_invalid_header_fields.enabled").as_deref(), Some("true"));
    assert_eq!(attribute("deletion_protection.enabled").as_deref(), Some("true"));
    // HTTPS with the certificate requested for card.prod.acme.example, issued once its validation
    // record was in the environment's zone; HTTP redirects; the name resolves to the load balancer.
    let listeners = elb.describe_listeners().load_balancer_arn(&lb).send().await.unwrap();
    let by_port = |port: i32| listeners.listeners().iter().find(|l| l.port() == Some(port)).unwrap().clone();
    let (https, http) = (by_port(443), by_port(80));
    assert_eq!(listeners.listeners().len(), 2);
    let certificate = id_of(service, "certificate");
    assert_eq!(https.certificates()[0].certificate_arn(), Some(certificate.as_str()));
    assert_eq!(https.ssl_policy(), Some(platform::resources::TLS12_POLICY));
    let redirect = http.default_actions()[0].redirect_config().unwrap();
    assert_eq!((redirect.protocol(), redirect.port()), (Some("HTTPS"), Some("443")));
    let acm = aws_sdk_acm::Client::new(&h.config);
    let described = acm.describe_certificate().certificate_arn(&certificate).send().await.unwrap();
    let detail = described.certificate().unwrap();
    assert_eq!(detail.domain_name(), Some("card.prod.acme.example"));
    assert_eq!(detail.status(), Some(&aws_sdk_acm::types::CertificateStatus::Issued));
    let route53 = aws_sdk_route53::Client::new(&h.config);
    let zone = h.public_zone("prod.acme.example").await;
    let records = route53.list_resource_record_sets().hosted_zone_id(&zone).send().await.unwrap();
    let record = |name: &str, kind: &str| {
        records
            .resource_record_sets()
            .iter()
            .find(|r| r.name().trim_end_matches('.') == name && r.r#type().as_str() == kind)
            .unwrap_or_else(|| panic!("{kind} {name} in {records:?}"))
            .clone()
    };
    let alias = record("card.prod.acme.example", "A");
    let lb_described = elb.describe_load_balancers().load_balancer_arns(&lb).send().await.unwrap();
    let lb_described = &lb_described.load_balancers()[0];
    let alias_target = alias.alias_target().unwrap();
    assert_eq!(
        alias_target.dns_name().trim_end_matches('.').to_lowercase(),
        lb_described.dns_name().unwrap().to_lowercase()
    );
    assert_eq!(Some(alias_target.hosted_zone_id()), lb_described.canonical_hosted_zone_id());
    let validation = detail.domain_validation_options()[0].resource_record().unwrap();
    let cname = record(validation.name().trim_end_matches('.'), "CNAME");
    assert_eq!(cname.resource_records()[0].value().trim_end_matches('.'), validation.value().trim_end_matches('.'));
    assert_eq!(service.outputs["url"], "https://card.prod.acme.example");

    // The VPC's default security group: taken over (tagged) and left with no rule.
    let default = ec2
        .describe_security_groups()
        .filters(aws_sdk_ec2::types::Filter::builder().name("vpc-id").values(id_of(foundation, "vpc")).build())
        .filters(aws_sdk_ec2::types::Filter::builder().name("group-name").values("default").build())
        .send()
        .await
        .unwrap();
    let [default] = default.security_groups() else { panic!("one default group: {default:?}") };
    assert_eq!(default.group_id(), Some(id_of(foundation, "default-security-group").as_str()));
    assert!(default.ip_permissions().is_empty() && default.ip_permissions_egress().is_empty(), "{default:?}");
    assert!(default.tags().iter().any(|t| t.key() == Some("platform:env") && t.value() == Some("prod")));

    // The VPC's flow log: all traffic, into the foundation's flow-log group, through its role
    // (which only VPC Flow Logs of this account may assume).
    let flow_logs = ec2
        .describe_flow_logs()
        .filter(aws_sdk_ec2::types::Filter::builder().name("resource-id").values(id_of(foundation, "vpc")).build())
        .send()
        .await
        .unwrap();
    let [flow_log] = flow_logs.flow_logs() else { panic!("one flow log: {flow_logs:?}") };
    assert_eq!(flow_log.traffic_type().map(|t| t.as_str()), Some("ALL"));
    assert_eq!(flow_log.log_group_name(), Some("/platform/prod/foundation/flow-logs"));
    assert_eq!(flow_log.deliver_logs_status(), Some("SUCCESS"));
    assert_eq!(flow_log.max_aggregation_interval(), Some(60));
    let role = iam.get_role().role_name("prod-foundation-flow-logs-role").send().await.unwrap();
    let trust = percent_encoding::percent_decode_str(role.role().unwrap().assume_role_policy_document().unwrap())
        .decode_utf8()
        .unwrap()
        .to_string();
    let trust: Value = serde_json::from_str(&trust).unwrap();
    assert_eq!(trust["Statement"][0]["Principal"], json!({"Service": "vpc-flow-logs.amazonaws.com"}));
    assert_eq!(
        trust["Statement"][0]["Condition"],
        json!({"StringEquals": {"aws:SourceAccount": "123456789012"},
               "ArnLike": {"aws:SourceArn": "arn:aws:ec2:*:123456789012:vpc-flow-log/*"}})
    );
    // The database: its log published into a group of the stack's own (created first, with the
    // environment's retention), queries logged through a parameter group of its own, Enhanced
    // Monitoring every minute through a role only RDS monitoring may assume for this instance.
    let rds = aws_sdk_rds::Client::new(&h.config);
    let instance = rds.describe_db_instances().db_instance_identifier(id_of(deps, "db-instance")).send().await.unwrap();
    let instance = &instance.db_instances()[0];
    assert_eq!(instance.enabled_cloudwatch_logs_exports(), ["postgresql", "upgrade"]);
    assert_eq!(instance.monitoring_interval(), Some(60));
    assert_eq!(instance.monitoring_role_arn(), Some(output(deps, "card-dependencies.db-monitoring", "arn").as_str()));
    let group = instance.db_parameter_groups()[0].db_parameter_group_name().unwrap();
    assert_eq!(group, "prod-card-dependencies-db-parameters");
    let parameters = rds.describe_db_parameters().db_parameter_group_name(group).source("user").send().await.unwrap();
    let parameters: BTreeMap<&str, &str> =
        parameters.parameters().iter().filter_map(|p| Some((p.parameter_name()?, p.parameter_value()?))).collect();
    for (name, value) in
        [("log_statement", "ddl"), ("log_min_duration_statement", "1000"), ("log_parameter_max_length", "0")]
    {
        assert_eq!(parameters.get(name), Some(&value), "{name} in {parameters:?}");
    }
    let logs = aws_sdk_cloudwatchlogs::Client::new(&h.config);
    let prefix = "/aws/rds/instance/prod-card-dependencies-db-instance/";
    let groups = logs.describe_log_groups().log_group_name_prefix(prefix).send().await.unwrap();
    let groups: Vec<(String, Option<i32>)> =
        groups.log_groups().iter().map(|g| (g.log_group_name().unwrap().to_string(), g.retention_in_days())).collect();
    assert_eq!(groups, [(format!("{prefix}postgresql"), Some(365)), (format!("{prefix}upgrade"), Some(365))]);
    let role = iam.get_role().role_name("prod-card-dependencies-db-monitoring").send().await.unwrap();
    let trust = percent_encoding::percent_decode_str(role.role().unwrap().assume_role_policy_document().unwrap())
        .decode_utf8()
        .unwrap()
        .to_string();
    let trust: Value = serde_json::from_str(&trust).unwrap();
    assert_eq!(trust["Statement"][0]["Principal"], json!({"Service": "monitoring.rds.amazonaws.com"}));
    assert_eq!(
        trust["Statement"][0]["Condition"]["ArnLike"],
        json!({"aws:SourceArn": "arn:aws:rds:*:123456789012:db:prod-card-dependencies-db-instance"})
    );

    // Access logs: the load balancer's and the images bucket's, into the pipeline stack's
    // access-log bucket, each under its prefix.
    let pipeline = h.state(&stacks::pipeline(&Environments::builtin().get("prod").unwrap().clone()).unwrap().spec);
    let log_bucket = id_of(&pipeline, "access-logs");
    let attributes =
        elb.describe_load_balancer_attributes().load_balancer_arn(id_of(service, "lb")).send().await.unwrap();
    let attribute = |k: &str| {
        attributes.attributes().iter().find(|a| a.key() == Some(k)).and_then(|a| a.value()).unwrap_or_default()
    };
    assert_eq!(
        (attribute("access_logs.s3.enabled"), attribute("access_logs.s3.bucket"), attribute("access_logs.s3.prefix")),
        ("true", log_bucket.as_str(), "lb/prod-card-service-lb")
    );
    let s3 = aws_sdk_s3::Client::new(&h.config);
    let logging = s3.get_bucket_logging().bucket(id_of(deps, "images")).send().await.unwrap();
    let logging = logging.logging_enabled().expect("the images bucket logs its requests");
    assert_eq!(
        (logging.target_bucket(), logging.target_prefix()),
        (log_bucket.as_str(), "s3/prod-card-dependencies-images/")
    );

    // AWS WAF: the foundation's web ACL in front of the load balancer, logging into its
    // aws-waf-logs- group with credentials redacted.
    let waf = aws_sdk_wafv2::Client::new(&h.config);
    let web_acl = output(foundation, "foundation.web-acl", "arn");
    let front = waf.get_web_acl_for_resource().resource_arn(id_of(service, "lb")).send().await.unwrap();
    let front = front.web_acl().expect("a web ACL in front of the load balancer");
    assert_eq!(front.arn(), web_acl);
    let groups: Vec<&str> = front
        .rules()
        .iter()
        .filter(|r| r.override_action().is_some_and(|o| o.none().is_some()))
        .filter_map(|r| r.statement()?.managed_rule_group_statement().map(|g| g.name()))
        .collect();
    assert_eq!(groups, platform::resources::wafv2::BASELINE_RULE_GROUPS);
    let logging = waf.get_logging_configuration().resource_arn(&web_acl).send().await.unwrap();
    let logging = logging.logging_configuration().unwrap();
    assert_eq!(logging.log_destination_configs(), [output(foundation, "foundation.waf-logs", "arn")]);
    assert!(logging.log_destination_configs()[0].ends_with(":log-group:aws-waf-logs-prod-foundation"));
    assert_eq!(logging.redacted_fields().len(), 2);

    let tg = elb.describe_target_groups().target_group_arns(id_of(service, "targets")).send().await.unwrap();
    let tg = &tg.target_groups()[0];
    assert_eq!((tg.health_check_path(), tg.health_check_port()), (Some("/health/live"), Some("8081")));
    // TLS to the tasks: the target group speaks HTTPS to the API port, health checks HTTP.
    assert_eq!(tg.protocol().map(|p| p.as_str()), Some("HTTPS"));
    assert_eq!(tg.health_check_protocol().map(|p| p.as_str()), Some("HTTP"));

    // Customer-managed keys: the foundation's encrypts every log group and the image repository,
    // the dependencies' the bucket, the database's storage and Performance Insights; both rotate.
    let kms = aws_sdk_kms::Client::new(&h.config);
    let (logs_key, data_key) =
        (output(foundation, "foundation.key", "arn"), output(deps, "card-dependencies.data-key", "arn"));
    for key in [&logs_key, &data_key] {
        let rotation = kms.get_key_rotation_status().key_id(key).send().await.unwrap();
        assert_eq!((rotation.key_rotation_enabled(), rotation.rotation_period_in_days()), (true, Some(365)));
    }
    for prefix in ["/platform/prod/", "/aws/rds/instance/prod-", "aws-waf-logs-prod-"] {
        let groups = logs.describe_log_groups().log_group_name_prefix(prefix).send().await.unwrap();
        assert!(!groups.log_groups().is_empty(), "{prefix}");
        for group in groups.log_groups() {
            assert_eq!(group.kms_key_id(), Some(logs_key.as_str()), "{:?}", group.log_group_name());
        }
    }
    let ecr = aws_sdk_ecr::Client::new(&h.config);
    let repository =
        ecr.describe_repositories().repository_names(id_of(foundation, "card-service-images")).send().await;
    let encryption = repository.unwrap().repositories()[0].encryption_configuration().cloned().unwrap();
    assert_eq!(encryption.kms_key(), Some(logs_key.as_str()));
    let encryption = s3.get_bucket_encryption().bucket(id_of(deps, "images")).send().await.unwrap();
    let rule = &encryption.server_side_encryption_configuration().unwrap().rules()[0];
    assert_eq!(rule.apply_server_side_encryption_by_default().unwrap().kms_master_key_id(), Some(data_key.as_str()));
    assert_eq!(instance.kms_key_id(), Some(data_key.as_str()));
    assert_eq!(instance.performance_insights_enabled(), Some(true));
    assert_eq!(instance.performance_insights_kms_key_id(), Some(data_key.as_str()));

    // Everything is tagged.
    let tagging = aws_sdk_resourcegroupstagging::Client::new(&h.config);
    let tagged = tagging
        .get_resources()
        .tag_filters(
            aws_sdk_resourcegroupstagging::types::TagFilter::builder()
                .key("platform:stack")
                .values("card-service")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let arns: BTreeSet<&str> = tagged.resource_tag_mapping_list().iter().filter_map(|m| m.resource_arn()).collect();
    for name in ["lb", "targets", "service", "logs"] {
        let arn = output(service, &format!("card-service.{name}"), "arn");
        assert!(arns.contains(arn.as_str()), "{name} is tagged ({arn} in {arns:?})");
    }

    // A new image: a new revision of the service's task definition and of the migration task's,
    // one service update, nothing else.
    let next = card("v2");
    let plan = h.plan(&next[2]).await;
    let changed: Vec<(&str, Action)> =
        plan.resources.iter().filter(|r| r.action != Action::NoOp).map(|r| (r.address.name(), r.action)).collect();
    assert_eq!(changed, [("migrate", Action::Replace), ("task", Action::Replace), ("service", Action::Update)]);
    let state = h.apply_converged(&next[2]).await;
    let revision = ecs.describe_task_definition().task_definition(id_of(&state, "task")).send().await.unwrap();
    assert_eq!(revision.task_definition().unwrap().revision(), 2);
    // The old revision is deregistered and deleted (once the service has rolled out the new one).
    let old = ecs.describe_task_definition().task_definition(id_of(service, "task")).send().await;
    let status = old.ok().and_then(|o| o.task_definition().and_then(|t| t.status()).map(|s| s.as_str().to_string()));
    assert!(matches!(status.as_deref(), None | Some("DELETE_IN_PROGRESS")), "the old revision is gone: {status:?}");
    for spec in &next[..2] {
        assert!(!h.plan(spec).await.has_changes());
    }
}

fn dev_card(image_tag: &str, desired: u32, grants: bool) -> Vec<StackSpec> {
    let mut dev = Environments::builtin().get("dev").unwrap().clone();
    dev.settings.service_desired_count = desired;
    let foundation = foundation(&dev).unwrap();
    let mut specs = vec![foundation.spec.clone()];
    let mut built = card_stacks::card_stacks(&dev, &foundation, image_tag).unwrap();
    if !grants {
        // The same service without its bucket grant: its task role loses the policy.
        let deps =
            stacks::dependencies(card_stacks::DEPENDENCIES, &dev, &foundation, &card_stacks::dependencies_options())
                .unwrap();
        let options =
            stacks::ServiceOptions { grants: vec![], ..card_stacks::service_options(&foundation, &deps, image_tag) };
        built[1] = stacks::service(card_stacks::SERVICE, &dev, &foundation, &deps, &options).unwrap().spec;
    }
    specs.extend(built);
    specs
}

#[tokio::test]
async fn service_resources_update_in_place_and_are_deleted() {
    let h = Harness::new().await;
    h.bootstrap(&Environments::builtin().get("dev").unwrap().clone()).await;
    let specs = dev_card("v1", 1, true);
    for spec in &specs {
        h.apply_converged(spec).await;
    }
    let state = h.state(&specs[2]);
    let ecs = aws_sdk_ecs::Client::new(&h.config);
    let iam = aws_sdk_iam::Client::new(&h.config);

    // More tasks and no bucket grant: the service and the task role change in place.
    let changed = dev_card("v1", 3, false);
    let plan = h.plan(&changed[2]).await;
    let actions: Vec<(&str, Action)> =
        plan.resources.iter().filter(|r| r.action != Action::NoOp).map(|r| (r.address.name(), r.action)).collect();
    assert_eq!(actions, [("task-role", Action::Update), ("service", Action::Update)]);
    h.apply_converged(&changed[2]).await;
    let cluster = h.state(&specs[0]).resources[&Address::new("foundation", "cluster")].physical_id.clone();
    let described = ecs.describe_services().cluster(&cluster).services(id_of(&state, "service")).send().await.unwrap();
    assert_eq!(described.services()[0].desired_count(), 3);
    let policies = iam.list_role_policies().role_name(id_of(&state, "task-role")).send().await.unwrap();
    let statements = role_policies(&iam, &id_of(&state, "task-role")).await;
    assert_eq!(policies.policy_names(), ["grants"], "the database secret only");
    assert!(statements.iter().all(|s| s["Action"] == json!(["secretsmanager:GetSecretValue"])), "{statements:?}");

    // Destroying the service stack removes its grant from the database's group, and nothing else there.
    h.destroy(&changed[2]).await;
    let ec2 = aws_sdk_ec2::Client::new(&h.config);
    let db = id_of(&h.state(&specs[1]), "db");
    assert!(ingress(&ec2, &db).await.is_empty());
    assert!(iam.get_role().role_name(id_of(&state, "execution-role")).send().await.is_err());
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&h.config);
    assert!(elb.describe_load_balancers().load_balancer_arns(id_of(&state, "lb")).send().await.is_err());
    let described = ecs.describe_services().cluster(&cluster).services(id_of(&state, "service")).send().await.unwrap();
    assert!(described.services().iter().all(|s| s.status() != Some("ACTIVE")));
    assert!(!h.plan(&specs[1]).await.has_changes(), "the dependencies are untouched");
}
