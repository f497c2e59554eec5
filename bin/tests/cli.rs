//! The `platform` binary end to end against the emulator, as a user runs it.

// Tests report what they measured (nextest shows it in the CI log).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::Path;
use std::process::{Command, Output};

use platform::model::Env;
use platform::state::local::LocalBackend;
use platform::state::StateBackend;
use platform_tests::Emulator;

fn platform(dir: &Path, emulator: Option<&Emulator>, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_platform"));
    cmd.current_dir(dir).args(args).env_remove("AWS_PROFILE").env_remove("PLATFORM_STATE");
    match emulator {
        Some(e) => {
            cmd.envs(e.env());
        }
        // No endpoint at all: these runs must fail before any AWS call.
        None => {
            cmd.env("AWS_ENDPOINT_URL", "http://127.0.0.1:9").env("AWS_REGION", "us-east-1");
        }
    }
    cmd.output().expect("the platform binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn apply_plan_output_and_destroy_the_foundation() {
    let emulator = Emulator::start();
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| platform(dir.path(), Some(&emulator), args);

    // Before apply, a detailed plan exits 2.
    let plan = run(&["plan", "--stack", "foundation", "--env", "dev", "--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(2), "{}", text(&plan.stderr));
    assert!(text(&plan.stdout).contains("25 to create, 0 to update, 0 to replace, 0 to delete."));

    let apply = run(&["apply", "--stack", "foundation", "--env", "dev", "--yes"]);
    assert!(apply.status.success(), "{}\n{}", text(&apply.stdout), text(&apply.stderr));
    let stdout = text(&apply.stdout);
    assert!(stdout.contains("Stack `foundation`: 25 done, 0 failed, 0 skipped."), "{stdout}");
    assert!(stdout.contains("vpc_id = \"vpc-"), "{stdout}");
    assert!(text(&apply.stderr).contains("created foundation.vpc [vpc-"), "progress is shown");

    // Right after, nothing to change.
    let plan = run(&["plan", "--stack", "foundation", "--env", "dev", "--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(0), "{}\n{}", text(&plan.stdout), text(&plan.stderr));
    assert!(text(&plan.stdout).contains("No changes. 25 resources up to date."));

    let json = run(&["plan", "--stack", "foundation", "--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(doc["format_version"], 1);
    assert_eq!(doc["plans"][0]["resources"].as_array().unwrap().len(), 25);
    assert!(doc["plans"][0]["resources"].as_array().unwrap().iter().all(|r| r["action"] == "no-op"));

    let output = run(&["output", "--stack", "foundation", "--env", "dev", "--json"]);
    let outputs: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(outputs["private_subnet_ids"].as_array().unwrap().len(), 3);
    assert!(outputs["cluster_arn"].as_str().unwrap().ends_with("cluster/dev-foundation-cluster"));

    // Another environment is another set of resources, in the same account.
    // The pipeline stack first, as an administrator applies it: the services' roles carry its
    // permissions boundary.
    // Staging serves HTTPS at names in its public zone, which a person makes first.
    emulator.public_zone("staging.acme.example").await;
    assert!(run(&["apply", "--stack", "account", "--env", "staging", "--yes"]).status.success());
    let pipeline = run(&["apply", "--stack", "pipeline", "--env", "staging", "--yes"]);
    assert!(pipeline.status.success(), "{}", text(&pipeline.stderr));
    let staging = run(&["apply", "--all", "--env", "staging", "--yes", "--var", "image_tag=v1"]);
    assert!(staging.status.success(), "{}", text(&staging.stderr));

    let destroy = run(&["destroy", "--stack", "foundation", "--env", "dev", "--yes"]);
    assert!(destroy.status.success(), "{}\n{}", text(&destroy.stdout), text(&destroy.stderr));

    // Nothing tagged for the stack and environment is left.
    let config = emulator.sdk_config().await;
    let tagging = aws_sdk_resourcegroupstagging::Client::new(&config);
    let tagged = |env: &'static str| {
        tagging
            .get_resources()
            .tag_filters(
                aws_sdk_resourcegroupstagging::types::TagFilter::builder()
                    .key("platform:stack")
                    .values("foundation")
                    .build(),
            )
            .tag_filters(
                aws_sdk_resourcegroupstagging::types::TagFilter::builder().key("platform:env").values(env).build(),
            )
            .send()
    };
    let left = tagged("dev").await.unwrap();
    // Deleted ECS clusters and NAT gateways stay visible for a while (INACTIVE, deleted; on AWS and
    // in the emulator), tags included: they count as deleted.
    let ecs = aws_sdk_ecs::Client::new(&config);
    let ec2 = aws_sdk_ec2::Client::new(&config);
    for mapping in left.resource_tag_mapping_list() {
        let arn = mapping.resource_arn().unwrap();
        if arn.contains(":cluster/") {
            let clusters = ecs.describe_clusters().clusters(arn).send().await.unwrap();
            assert_eq!(clusters.clusters()[0].status(), Some("INACTIVE"), "left behind: {arn}");
        } else if let Some(id) = arn.split("natgateway/").nth(1) {
            let nats = ec2.describe_nat_gateways().nat_gateway_ids(id).send().await.unwrap();
            assert_eq!(nats.nat_gateways()[0].state().map(|s| s.as_str()), Some("deleted"), "left behind: {arn}");
        } else {
            panic!("left behind: {arn}");
        }
    }
    assert!(!tagged("staging").await.unwrap().resource_tag_mapping_list().is_empty(), "staging is untouched");
    // The tagging API does not list ECR repositories or Cloud Map namespaces: check them directly.
    let ecr = aws_sdk_ecr::Client::new(&config);
    let repos = ecr.describe_repositories().send().await.unwrap();
    let names: Vec<_> = repos.repositories().iter().filter_map(|r| r.repository_name()).collect();
    assert_eq!(names, ["staging-foundation-card-service-images"]);
    let sd = aws_sdk_servicediscovery::Client::new(&config);
    let namespaces = sd.list_namespaces().send().await.unwrap();
    let names: Vec<_> = namespaces.namespaces().iter().filter_map(|n| n.name()).collect();
    assert_eq!(names, ["staging.platform.internal"]);

    let state =
        LocalBackend::new(dir.path().join(".platform/state")).read_file("foundation", &Env::new("dev").unwrap());
    assert!(state.unwrap().unwrap().resources.is_empty());
}

#[tokio::test]
async fn a_second_apply_while_the_lock_is_held_is_refused_at_once_naming_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    let backend = LocalBackend::new(dir.path().join(".platform/state"));
    let _held = backend.lock("foundation", &Env::new("dev").unwrap(), "apply").await.unwrap();
    let out = platform(dir.path(), None, &["apply", "--stack", "foundation", "--env", "dev", "--yes"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default();
    assert!(
        stderr.contains(&format!("is locked by pid {} on host {host}, running `apply` since", std::process::id())),
        "{stderr}"
    );
    // Another environment is not locked.
    let other = platform(dir.path(), None, &["output", "--stack", "foundation", "--env", "prod"]);
    assert!(text(&other.stderr).contains("has not been applied in `prod`"));
}

#[test]
fn bad_input_is_refused_with_a_clear_error_before_any_aws_call() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["plan"], "error: name the stacks with --stack NAME or use --all (stacks: account, pipeline, foundation, card-dependencies, card-service)\n"),
        (&["plan", "--stack", "nope"], "error: there is no stack `nope` (stacks: account, pipeline, foundation, card-dependencies, card-service)\n"),
        (
            &["apply", "--stack", "foundation", "--env", "Prod"],
            "error: there is no environment `Prod` (environments: dev, prod, staging; they are defined in stacks/environments.toml)\n",
        ),
    ];
    for (args, expected) in cases {
        let out = platform(dir.path(), None, args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert_eq!(text(&out.stderr), *expected, "{args:?}");
    }
    assert!(!dir.path().join(".platform").exists(), "nothing was written");
}

#[tokio::test]
async fn apply_without_yes_and_without_a_terminal_refuses_and_changes_nothing() {
    let emulator = Emulator::start();
    let dir = tempfile::tempdir().unwrap();
    let out = platform(dir.path(), Some(&emulator), &["apply", "--stack", "foundation"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("standard input is not a terminal; pass --yes"), "{}", text(&out.stderr));
    let state =
        LocalBackend::new(dir.path().join(".platform/state")).read_file("foundation", &Env::new("dev").unwrap());
    assert!(state.unwrap().is_none(), "nothing was applied");
}

#[tokio::test]
async fn aws_errors_print_their_whole_cause_chain() {
    let dir = tempfile::tempdir().unwrap();
    // Record a resource, then plan with an endpoint where nothing listens.
    let backend = LocalBackend::new(dir.path().join(".platform/state"));
    let env = Env::new("dev").unwrap();
    {
        let lock = backend.lock("foundation", &env, "test").await.unwrap();
        let mut state = platform::state::StackState::new("foundation", &env);
        state.resources.insert(
            platform::Address::new("foundation", "vpc"),
            platform::state::ResourceState {
                type_name: "aws.ec2.vpc".into(),
                physical_id: "vpc-123".into(),
                name: None,
                props: serde_json::json!({}),
                outputs: Default::default(),
                dependencies: Default::default(),
                tainted: false,
                protected: false,
                awaiting: false,
            },
        );
        lock.save(&mut state).await.unwrap();
    }
    let out = Command::new(env!("CARGO_BIN_EXE_platform"))
        .current_dir(dir.path())
        .args(["plan", "--stack", "foundation"])
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "x")
        .env("AWS_SECRET_ACCESS_KEY", "x")
        .env("AWS_MAX_ATTEMPTS", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    // Nothing is read before the account is known: the credentials (or the endpoint) are what fails,
    // with what to do about it, and the whole chain of causes.
    assert!(
        stderr.starts_with("error: cannot plan stack `foundation` (dev): no usable AWS credentials or no way to reach AWS. Configure credentials"),
        "{stderr}"
    );
    assert!(stderr.contains("caused by: sts:GetCallerIdentity failed: dispatch failure"), "{stderr}");
    assert!(
        stderr.contains("Connection refused")
            || stderr.contains("connection refused")
            || stderr.contains("error trying to connect"),
        "{stderr}"
    );
}

#[test]
fn the_catalog_is_listed() {
    let dir = tempfile::tempdir().unwrap();
    let out = platform(dir.path(), None, &["stacks"]);
    insta::assert_snapshot!(text(&out.stdout), @r"
    account            the AWS account's GitHub OIDC provider, once per account whatever the environment (an administrator's, applied first; not in --all)
    pipeline           CI: the state bucket, the deploy and plan roles, the services' permissions boundary (an administrator's, applied after the account; not in --all)
    foundation         network, container registry, ECS cluster, service discovery and shared logs
    card-dependencies  the card service's PostgreSQL database and image bucket (uses foundation)
    card-service       the card service: load balancer, security groups, roles, task definition, ECS service (uses card-dependencies, foundation, pipeline)

    environments: dev, prod, staging
    ");
}

#[tokio::test]
async fn creates_a_killed_run_left_unfinished_are_adopted_or_made_again() {
    let emulator = Emulator::start();
    let dir = tempfile::tempdir().unwrap();
    let backend = LocalBackend::new(dir.path().join(".platform/state"));
    let env = Env::new("dev").unwrap();
    // A run was killed during two creates: the VPC's call had gone through (it exists, tagged as
    // the create call tags it), the log group's had not.
    let ec2 = aws_sdk_ec2::Client::new(&emulator.sdk_config().await);
    let tag = |k: &str, v: &str| aws_sdk_ec2::types::Tag::builder().key(k).value(v).build();
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.0.0.0/16")
        .tag_specifications(
            aws_sdk_ec2::types::TagSpecification::builder()
                .resource_type(aws_sdk_ec2::types::ResourceType::Vpc)
                .tags(tag("platform:address", "foundation.vpc"))
                .tags(tag("platform:env", "dev"))
                .tags(tag("platform:stack", "foundation"))
                .tags(tag("Name", "dev-foundation-vpc"))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let vpc_id = vpc.vpc().unwrap().vpc_id().unwrap().to_string();
    {
        let lock = backend.lock("foundation", &env, "apply").await.unwrap();
        let mut state = platform::state::StackState::new("foundation", &env);
        for (name, type_name) in [("vpc", "aws.ec2.vpc"), ("logs", "aws.logs.log_group")] {
            state.pending.push(platform::state::PendingOperation {
                address: platform::Address::new("foundation", name),
                operation: "create".into(),
                type_name: type_name.into(),
                name: Some(if name == "logs" {
                    "/platform/dev/foundation/logs".into()
                } else {
                    format!("dev-foundation-{name}")
                }),
                physical_id: None,
                started_at: "2026-11-30T10:00:00Z".into(),
                props: None,
                token: None,
            });
        }
        lock.save(&mut state).await.unwrap();
    }
    let out = platform(dir.path(), Some(&emulator), &["plan", "--stack", "foundation"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("foundation.vpc: it had been created ({vpc_id}); adopted into the state")),
        "{stderr}"
    );
    assert!(stderr.contains("foundation.logs: it had not been created; it is created again"), "{stderr}");
    let stdout = text(&out.stdout);
    assert!(!stdout.contains("+ foundation.vpc "), "the adopted VPC is not created again:\n{stdout}");
    assert!(stdout.contains("+ foundation.logs "), "{stdout}");
    // A plan writes nothing: the pending operations are still recorded.
    assert_eq!(backend.read_file("foundation", &env).unwrap().unwrap().pending.len(), 2);

    let out = platform(dir.path(), Some(&emulator), &["apply", "--stack", "foundation", "--yes"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let state = backend.read_file("foundation", &env).unwrap().unwrap();
    assert!(state.pending.is_empty());
    assert_eq!(state.resources[&platform::Address::new("foundation", "vpc")].physical_id, vpc_id);
    let vpcs = ec2
        .describe_vpcs()
        .filters(aws_sdk_ec2::types::Filter::builder().name("tag:platform:address").values("foundation.vpc").build())
        .send()
        .await
        .unwrap();
    assert_eq!(vpcs.vpcs().len(), 1, "no second VPC");
    let out = platform(dir.path(), Some(&emulator), &["plan", "--stack", "foundation", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
}

#[tokio::test]
async fn no_secret_appears_in_the_state_the_plan_or_the_logs() {
    let emulator = Emulator::start();
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_platform"));
        cmd.current_dir(dir.path()).args(args).envs(emulator.env()).env("PLATFORM_LOG", "debug");
        cmd.output().unwrap()
    };
    let mut seen = String::new();
    for args in [
        &["apply", "--stack", "account", "--env", "dev", "--yes"][..],
        &["apply", "--stack", "pipeline", "--env", "dev", "--yes"][..],
        &["apply", "--all", "--env", "dev", "--yes", "--var", "image_tag=v1"][..],
        &["plan", "--all", "--env", "dev"][..],
        &["plan", "--all", "--env", "dev", "--json"][..],
        &["output", "--env", "dev", "--json"][..],
    ] {
        let out = run(args);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        seen.push_str(&text(&out.stdout));
        seen.push_str(&text(&out.stderr));
    }
    for entry in std::fs::read_dir(dir.path().join(".platform/state/dev")).unwrap() {
        seen.push_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap());
    }
    assert!(seen.contains("DEBUG"), "the logs were on");

    // The master credentials RDS keeps in Secrets Manager.
    let state = LocalBackend::new(dir.path().join(".platform/state"))
        .read_file("card-dependencies", &Env::new("dev").unwrap())
        .unwrap()
        .unwrap();
    let arn = state.outputs["db_secret_arn"].as_str().unwrap().to_string();
    let secrets = aws_sdk_secretsmanager::Client::new(&emulator.sdk_config().await);
    let value = secrets.get_secret_value().secret_id(&arn).send().await.unwrap();
    let secret: serde_json::Value = serde_json::from_str(value.secret_string().unwrap()).unwrap();
    let password = secret["password"].as_str().unwrap();
    assert!(password.len() >= 8);
    assert!(!seen.contains(password), "the master password leaked");
    assert!(!seen.contains(value.secret_string().unwrap()));
    assert!(seen.contains(&arn), "the secret is referred to by its ARN only");
}

#[test]
fn production_dependencies_are_applied_in_order_and_protected_from_destroy() {
    let emulator = Emulator::start();
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| platform(dir.path(), Some(&emulator), args);
    // The foundation's flow log role carries the boundary the pipeline stack owns.
    assert!(run(&["apply", "--stack", "account", "--env", "prod", "--yes"]).status.success());
    assert!(run(&["apply", "--stack", "pipeline", "--env", "prod", "--yes"]).status.success());

    // Planned together before they exist, the dependencies see the foundation's ids as unknown.
    let plan = run(&["plan", "--stack", "foundation", "--stack", "card-dependencies", "--env", "prod"]);
    assert!(plan.status.success(), "{}", text(&plan.stderr));
    assert!(text(&plan.stdout).contains("subnets = [(known after apply), (known after apply), (known after apply)]"));
    // Alone, the dependencies need the foundation applied first.
    let alone = run(&["plan", "--stack", "card-dependencies", "--env", "prod"]);
    assert_eq!(alone.status.code(), Some(1));
    assert!(text(&alone.stderr).contains("uses stack `foundation`, which has not been applied in `prod`"));

    let apply = run(&["apply", "--stack", "foundation", "--stack", "card-dependencies", "--env", "prod", "--yes"]);
    assert!(apply.status.success(), "{}\n{}", text(&apply.stdout), text(&apply.stderr));
    let stderr = text(&apply.stderr);
    assert!(stderr.contains("available: card-dependencies.db-instance"), "the database is awaited: {stderr}");
    let plan =
        run(&["plan", "--stack", "foundation", "--stack", "card-dependencies", "--env", "prod", "--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan.stdout));

    // The foundation cannot go while the dependencies use it.
    let destroy = run(&["destroy", "--stack", "foundation", "--env", "prod", "--yes"]);
    assert_eq!(destroy.status.code(), Some(1));
    assert!(text(&destroy.stderr).contains(
        "stack `foundation` is used by stack `card-dependencies`, which is still applied in `prod`: destroy `card-dependencies` first"
    ));
    // The data cannot go without naming it.
    let destroy = run(&["destroy", "--all", "--env", "prod", "--yes"]);
    assert_eq!(destroy.status.code(), Some(1));
    let stderr = text(&destroy.stderr);
    // The keys too: what they encrypted would be unreadable once they are deleted.
    assert!(
        stderr.contains(
            "card-dependencies.db-instance (delete), card-dependencies.images (delete), \
             card-dependencies.data-key (delete), foundation.key (delete)"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("--allow-destroy card-dependencies.db-instance --allow-destroy card-dependencies.images"));
    let plan =
        run(&["plan", "--stack", "foundation", "--stack", "card-dependencies", "--env", "prod", "--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(0), "nothing was destroyed");

    // Named explicitly, they go (deletion protection lifted, a final snapshot taken).
    let destroy = run(&[
        "destroy",
        "--all",
        "--env",
        "prod",
        "--yes",
        "--allow-destroy",
        "card-dependencies.db-instance",
        "--allow-destroy",
        "card-dependencies.images",
        "--allow-destroy",
        "card-dependencies.data-key",
        "--allow-destroy",
        "foundation.key",
    ]);
    assert!(destroy.status.success(), "{}\n{}", text(&destroy.stdout), text(&destroy.stderr));
}

#[tokio::test]
async fn the_whole_card_service_deploys_in_order_and_a_new_image_is_one_revision_of_each_task() {
    let emulator = Emulator::start();
    // Prod serves HTTPS at names in its public zone, which a person makes first.
    emulator.public_zone("prod.acme.example").await;
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| platform(dir.path(), Some(&emulator), args);

    let first = run(&["plan", "--all", "--env", "prod"]);
    assert_eq!(first.status.code(), Some(1));
    assert!(text(&first.stderr).contains("name the image with --var image_tag=TAG"));

    // The card service's roles carry the boundary the pipeline stack owns: an administrator
    // applies it first.
    let before = run(&["plan", "--all", "--env", "prod", "--var", "image_tag=v1"]);
    assert_eq!(before.status.code(), Some(1));
    assert!(
        text(&before.stderr).contains("uses stack `pipeline`, which has not been applied in `prod`"),
        "{}",
        text(&before.stderr)
    );
    assert!(run(&["apply", "--stack", "account", "--env", "prod", "--yes"]).status.success());
    let pipeline = run(&["apply", "--stack", "pipeline", "--env", "prod", "--yes"]);
    assert!(pipeline.status.success(), "{}", text(&pipeline.stderr));
    let apply = run(&["apply", "--all", "--env", "prod", "--yes", "--var", "image_tag=v1"]);
    assert!(apply.status.success(), "{}\n{}", text(&apply.stdout), text(&apply.stderr));
    let stdout = text(&apply.stdout);
    let order: Vec<usize> = ["Stack `foundation`:", "Stack `card-dependencies`:", "Stack `card-service`:"]
        .iter()
        .map(|s| stdout.find(s).unwrap_or_else(|| panic!("{s} in {stdout}")))
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "applied in dependency order");

    // The recorded image is kept when no tag is given.
    let plan = run(&["plan", "--all", "--env", "prod", "--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(0), "{}\n{}", text(&plan.stdout), text(&plan.stderr));

    let plan = run(&["plan", "--all", "--env", "prod", "--detailed-exitcode", "--var", "image_tag=v2"]);
    assert_eq!(plan.status.code(), Some(2));
    let stdout = text(&plan.stdout);
    assert!(stdout.contains("will be replaced because containers[0].image cannot change in place"), "{stdout}");
    // The service's task definition and the migration task's, and the service.
    assert!(stdout.contains("0 to create, 1 to update, 2 to replace, 0 to delete."), "{stdout}");

    let bad = run(&["plan", "--all", "--env", "prod", "--var", "image_tag=-x"]);
    assert!(text(&bad.stderr).contains("is not an image tag"));
    let bad = run(&["plan", "--all", "--env", "prod", "--var", "colour=blue"]);
    assert!(text(&bad.stderr).contains("unknown variable `colour=blue`"));
}

#[test]
fn a_deployment_the_circuit_breaker_rolls_back_fails_the_apply_naming_the_service_and_why() {
    let emulator = Emulator::start();
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| platform(dir.path(), Some(&emulator), args);
    assert!(run(&["apply", "--stack", "account", "--yes"]).status.success());
    assert!(run(&["apply", "--stack", "pipeline", "--yes"]).status.success());
    let apply = run(&["apply", "--all", "--yes", "--var", "image_tag=v1"]);
    assert!(apply.status.success(), "{}\n{}", text(&apply.stdout), text(&apply.stderr));
    // The rollout was awaited, and said how it went while it did.
    assert!(
        text(&apply.stderr).contains("waiting for card-service.service: deployment ecs-svc/"),
        "{}",
        text(&apply.stderr)
    );

    let output = run(&["output", "--stack", "foundation", "--json"]);
    let outputs: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let repository = outputs["card_service_repository_uri"].as_str().unwrap();
    emulator.fail_images(&[&format!("{repository}:broken")]);
    let broken = run(&["apply", "--all", "--yes", "--var", "image_tag=broken"]);
    assert_eq!(broken.status.code(), Some(1), "{}\n{}", text(&broken.stdout), text(&broken.stderr));
    let all = format!("{}{}", text(&broken.stdout), text(&broken.stderr));
    let line = all
        .lines()
        .find(|l| l.contains("card-service.service") && l.contains("failed"))
        .unwrap_or_else(|| panic!("{all}"));
    assert!(line.contains("ECS deployment circuit breaker: task failed to start."), "AWS's reason: {line}");
    assert!(all.contains("stack `card-service` was not fully applied"), "{all}");

    let fixed = run(&["apply", "--all", "--yes", "--var", "image_tag=v2"]);
    assert!(fixed.status.success(), "{}\n{}", text(&fixed.stdout), text(&fixed.stderr));
    let plan = run(&["plan", "--all", "--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(0), "{}\n{}", text(&plan.stdout), text(&plan.stderr));
}

#[test]
fn check_runs_the_guardrails_alone_and_the_card_stacks_pass_them_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    for env in ["dev", "staging", "prod"] {
        let out = platform(dir.path(), None, &["check", "--all", "--env", env]);
        assert!(out.status.success(), "{env}: {}{}", text(&out.stdout), text(&out.stderr));
        let stdout = text(&out.stdout);
        assert!(stdout.starts_with("Guardrails for `foundation`, `card-dependencies`, `card-service`"), "{stdout}");
        assert!(stdout.ends_with("0 violations, 0 waived.\n"), "{stdout}");
    }
    let out = platform(dir.path(), None, &["check", "--stack", "card-service", "--env", "prod", "--json"]);
    assert!(out.status.success());
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["passed"], true);
    assert_eq!(doc["stacks"], serde_json::json!(["card-service"]));
    assert!(doc["rules"].as_array().unwrap().iter().any(|r| r == "iam-pass-role-scoped"));
    assert_eq!(doc["report"]["findings"], serde_json::json!([]));
    assert!(!dir.path().join("dev").exists(), "checking reads and writes no state");
}

#[test]
fn graph_draws_resources_their_dependencies_and_the_stacks_used() {
    let dir = tempfile::tempdir().unwrap();
    let out = platform(dir.path(), None, &["graph", "--stack", "card-service", "--env", "prod"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let dot = text(&out.stdout);
    assert!(dot.starts_with("digraph platform {"), "{dot}");
    for stack in ["foundation (prod)", "card-dependencies (prod)", "card-service (prod)"] {
        assert!(dot.contains(&format!("label=\"{stack}\"")), "the stacks used are drawn too: {stack}");
    }
    assert!(dot.contains("\"card-service.service\" -> \"card-service.task\";"), "{dot}");
    assert!(dot.contains("\"card-service.db-access\" -> \"card-dependencies.db\" [style=dashed];"), "{dot}");
    let out = platform(dir.path(), None, &["graph", "--all", "--format", "mermaid"]);
    let mermaid = text(&out.stdout);
    assert!(mermaid.starts_with("flowchart LR\n"), "{mermaid}");
    assert!(mermaid.contains("card_service_service --> card_service_task"), "{mermaid}");
    assert!(mermaid.contains(" -.-> card_dependencies_db"), "{mermaid}");
}

#[test]
fn a_saved_plan_is_applied_exactly_and_refused_once_stale() {
    let emulator = Emulator::start();
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| platform(dir.path(), Some(&emulator), args);

    let out = run(&["plan", "--stack", "foundation", "--out", "first.plan"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("apply exactly it with: platform apply first.plan"));
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("first.plan")).unwrap()).unwrap();
    assert_eq!(saved["kind"], "platform-saved-plan");
    assert_eq!(saved["stacks"], serde_json::json!(["foundation"]));

    // Applied as saved, without asking (it was reviewed), and to the end.
    let out = run(&["apply", "first.plan"]);
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
    assert!(text(&out.stdout).contains("Stack `foundation`: 25 done, 0 failed"), "{}", text(&out.stdout));
    // The same file again: the state moved on since it was made.
    let out = run(&["apply", "first.plan"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("the saved plan of stack `foundation` is stale: it was made against state serial 0"), "{err}");

    // A plan of the deployed stack, then someone else applies (here: destroys) it first.
    assert!(run(&["plan", "--stack", "foundation", "--out", "second.plan"]).status.success());
    assert!(run(&["destroy", "--stack", "foundation", "--yes"]).status.success());
    let out = run(&["apply", "second.plan"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("is stale") && err.contains("Nothing was changed; make a new plan"), "{err}");

    // Not a plan, and a plan with stack options: clear errors.
    std::fs::write(dir.path().join("junk.plan"), "{}").unwrap();
    let out = run(&["apply", "junk.plan"]);
    assert!(text(&out.stderr).contains("junk.plan is not a plan saved by `platform plan --out`"));
    let out = run(&["apply", "second.plan", "--all"]);
    assert_eq!(out.status.code(), Some(2), "clap refuses --all with a plan file");
}

#[test]
fn plans_render_as_markdown_for_pull_requests() {
    let emulator = Emulator::start();
    let dir = tempfile::tempdir().unwrap();
    for stack in ["account", "pipeline"] {
        assert!(platform(dir.path(), Some(&emulator), &["apply", "--stack", stack, "--yes"]).status.success());
    }
    let out =
        platform(dir.path(), Some(&emulator), &["plan", "--all", "--var", "image_tag=1.0.0", "--format", "markdown"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let md = text(&out.stdout);
    assert!(md.starts_with("## platform plan: `dev`\n\n**"), "{md}");
    assert!(md.contains(" to add, 0 to change, 0 to replace, 0 to destroy** in 3 stacks."), "{md}");
    assert!(md.contains("| + create | `foundation.vpc` | `aws.ec2.vpc` |"), "{md}");
    assert!(md.contains("### Changes that widen access"), "{md}");
    assert!(md.contains("| `card-service.lb` | internet-facing load balancer |"), "{md}");
    assert!(md.contains("new ingress on tcp port 80 from 0.0.0.0/0 (the whole internet)"), "{md}");
    assert!(md.contains("allows s3:GetObject on "), "{md}");
}

/// The physical id recorded for `address` in `dir`'s state of `env`.
fn recorded_id(dir: &Path, env: &str, address: &str) -> String {
    let stack = address.split('.').next().unwrap();
    let path = dir.join(".platform/state").join(env).join(format!("{stack}.json"));
    let state: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    state["resources"][address]["physical_id"].as_str().unwrap_or_else(|| panic!("{address} is recorded")).to_string()
}

#[tokio::test]
async fn drift_finds_changes_made_outside_and_apply_brings_the_cloud_back() {
    let emulator = Emulator::start();
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| platform(dir.path(), Some(&emulator), args);
    emulator.public_zone("prod.acme.example").await;
    assert!(run(&["apply", "--stack", "account", "--env", "prod", "--yes"]).status.success());
    assert!(run(&["apply", "--stack", "pipeline", "--env", "prod", "--yes"]).status.success());
    let apply = run(&["apply", "--all", "--env", "prod", "--yes", "--var", "image_tag=1.0.0"]);
    assert!(apply.status.success(), "{}\n{}", text(&apply.stdout), text(&apply.stderr));
    let drift = run(&["drift", "--all", "--env", "prod"]);
    assert_eq!(drift.status.code(), Some(0), "no drift right after apply:\n{}", text(&drift.stdout));

    // Changes made outside platform.
    let config = emulator.sdk_config().await;
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let tasks = recorded_id(dir.path(), "prod", "card-service.tasks");
    ec2.authorize_security_group_ingress()
        .group_id(&tasks)
        .ip_permissions(
            aws_sdk_ec2::types::IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(22)
                .to_port(22)
                .ip_ranges(aws_sdk_ec2::types::IpRange::builder().cidr_ip("0.0.0.0/0").build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    let ecs = aws_sdk_ecs::Client::new(&config);
    let cluster = recorded_id(dir.path(), "prod", "foundation.cluster");
    let service = recorded_id(dir.path(), "prod", "card-service.service");
    ecs.update_service().cluster(&cluster).service(&service).desired_count(7).send().await.unwrap();
    let logs = aws_sdk_cloudwatchlogs::Client::new(&config);
    let group = recorded_id(dir.path(), "prod", "card-service.logs");
    logs.delete_retention_policy().log_group_name(&group).send().await.unwrap();
    let iam = aws_sdk_iam::Client::new(&config);
    let role = recorded_id(dir.path(), "prod", "card-service.task-role");
    let extra = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","NotAction":"iam:*","Resource":"*"}]}"#;
    iam.put_role_policy().role_name(&role).policy_name("hand-made").policy_document(extra).send().await.unwrap();
    // A condition added by hand to a declared statement (here one that would let the role read
    // card images only from one address) is drift too: statements are compared whole.
    let grants = iam.get_role_policy().role_name(&role).policy_name("grants").send().await.unwrap();
    let grants = percent_encoding::percent_decode_str(grants.policy_document()).decode_utf8().unwrap();
    let mut conditioned: serde_json::Value = serde_json::from_str(&grants).unwrap();
    conditioned["Statement"][0]["Condition"] = serde_json::json!({"IpAddress": {"aws:SourceIp": "203.0.113.7/32"}});
    let conditioned = conditioned.to_string();
    iam.put_role_policy().role_name(&role).policy_name("grants").policy_document(conditioned).send().await.unwrap();
    let s3 = aws_sdk_s3::Client::new(&config);
    let bucket = recorded_id(dir.path(), "prod", "card-dependencies.images");
    s3.delete_public_access_block().bucket(&bucket).send().await.unwrap();

    let drift = run(&["drift", "--all", "--env", "prod", "--json"]);
    assert_eq!(drift.status.code(), Some(2), "{}", text(&drift.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&drift.stdout).unwrap();
    let mut found: Vec<(String, Vec<String>)> = doc["reports"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["drifted"].as_array().unwrap().clone())
        .map(|d| {
            assert_eq!(d["status"], "changed");
            assert!(!d["physical_id"].as_str().unwrap().is_empty(), "named so a person can find it");
            let paths = d["changes"].as_array().unwrap().iter().map(|c| c["path"].as_str().unwrap().to_string());
            (d["address"].as_str().unwrap().to_string(), paths.collect())
        })
        .collect();
    found.sort();
    let expected = |address: &str, path: &str| (address.to_string(), vec![path.to_string()]);
    assert_eq!(
        found,
        [
            expected("card-dependencies.images", "block_public_access"),
            expected("card-service.logs", "retention_in_days"),
            expected("card-service.service", "desired_count"),
            (
                "card-service.task-role".to_string(),
                vec!["policies.grants.statements[0].conditions".to_string(), "policies.hand-made".to_string()]
            ),
            expected("card-service.tasks", "ingress"),
        ]
    );
    let reports = doc["reports"].as_array().unwrap();
    let tasks_drift =
        reports.iter().flat_map(|r| r["drifted"].as_array().unwrap()).find(|d| d["address"] == "card-service.tasks");
    let added = &tasks_drift.unwrap()["changes"][0]["added"][0];
    assert_eq!((added["from_port"].as_i64(), added["peer"]["cidr_ipv4"].as_str()), (Some(22), Some("0.0.0.0/0")));
    let role_drift = reports
        .iter()
        .flat_map(|r| r["drifted"].as_array().unwrap())
        .find(|d| d["address"] == "card-service.task-role")
        .unwrap();
    let described = role_drift["changes"].to_string();
    assert!(described.contains("aws:SourceIp") && described.contains("203.0.113.7/32"), "{described}");
    assert!(described.contains("not_actions") && described.contains("iam:*"), "{described}");
    let markdown = run(&["drift", "--all", "--env", "prod", "--format", "markdown"]);
    assert_eq!(markdown.status.code(), Some(2));
    assert!(text(&markdown.stdout).contains("**5 drifted, "), "{}", text(&markdown.stdout));

    // Apply brings the cloud back to the declarations; drift then finds nothing.
    let apply = run(&["apply", "--all", "--env", "prod", "--yes"]);
    assert!(apply.status.success(), "{}\n{}", text(&apply.stdout), text(&apply.stderr));
    let drift = run(&["drift", "--all", "--env", "prod"]);
    assert_eq!(drift.status.code(), Some(0), "{}", text(&drift.stdout));
}

/// `platform` with `args` in `dir`, pointed at `emulator` only (no profile, no shared state).
fn command(dir: &Path, emulator: &Emulator, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_platform"));
    cmd.current_dir(dir).args(args).env_remove("AWS_PROFILE").env_remove("PLATFORM_STATE").envs(emulator.env());
    cmd
}

/// Starts `platform` without waiting for it.
fn spawn_platform(dir: &Path, emulator: &Emulator, args: &[&str]) -> std::process::Child {
    command(dir, emulator, args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the platform binary starts")
}

/// Two applies of the same stack and environment started at once: exactly one proceeds, the
/// other is refused naming the winner; then the stack plans as no change.
fn two_applies_at_once(emulator: &Emulator, state: &str) {
    let dir = tempfile::tempdir().unwrap();
    let args = ["apply", "--stack", "foundation", "--env", "dev", "--yes", "--state", state];
    let first = spawn_platform(dir.path(), emulator, &args);
    let second = spawn_platform(dir.path(), emulator, &args);
    let pids = [first.id(), second.id()];
    let outs = [first.wait_with_output().unwrap(), second.wait_with_output().unwrap()];
    let winners: Vec<usize> = (0..2).filter(|&i| outs[i].status.success()).collect();
    assert_eq!(
        winners.len(),
        1,
        "exactly one apply proceeds: {:?}",
        outs.iter().map(|o| text(&o.stderr)).collect::<Vec<_>>()
    );
    let (winner, loser) = (winners[0], 1 - winners[0]);
    let stderr = text(&outs[loser].stderr);
    assert_eq!(outs[loser].status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("stack `foundation` (dev) is locked by pid {} on host", pids[winner])),
        "the refused apply names the one that proceeds: {stderr}"
    );
    assert!(stderr.contains("running `apply` since"), "{stderr}");
    println!("{state}: apply {} proceeded; apply {} was refused: {}", pids[winner], pids[loser], stderr.trim());
    let plan = platform(
        dir.path(),
        Some(emulator),
        &["plan", "--stack", "foundation", "--env", "dev", "--detailed-exitcode", "--state", state],
    );
    assert_eq!(plan.status.code(), Some(0), "{}{}", text(&plan.stdout), text(&plan.stderr));
}

#[test]
fn of_two_applies_started_at_once_exactly_one_proceeds_over_local_state() {
    let emulator = Emulator::start();
    two_applies_at_once(&emulator, ".platform/state");
}

#[tokio::test]
async fn of_two_applies_started_at_once_exactly_one_proceeds_over_s3_state() {
    let emulator = Emulator::start();
    let s3 = aws_sdk_s3::Client::new(&emulator.sdk_config().await);
    s3.create_bucket().bucket("acme-platform-state").send().await.unwrap();
    two_applies_at_once(&emulator, "s3://acme-platform-state/cards");
    // The state is in the bucket, the lock is gone.
    let listed = s3.list_objects_v2().bucket("acme-platform-state").send().await.unwrap();
    let keys: Vec<_> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["cards/dev/foundation.json"]);
}

#[tokio::test]
async fn a_lock_left_in_s3_by_a_dead_run_is_shown_with_its_age_and_removed_by_force_unlock() {
    let emulator = Emulator::start();
    let dir = tempfile::tempdir().unwrap();
    let s3 = aws_sdk_s3::Client::new(&emulator.sdk_config().await);
    s3.create_bucket().bucket("acme-platform-state").send().await.unwrap();
    let state = "s3://acme-platform-state/cards";
    let run = |args: &[&str]| {
        let mut args = args.to_vec();
        args.extend(["--state", state]);
        platform(dir.path(), Some(&emulator), &args)
    };
    // A run killed an hour ago left its lock object.
    let stale = serde_json::json!({
        "id": "0b5e2c1a-0000-4000-8000-000000000001", "pid": 4242, "host": "ci-runner-7",
        "operation": "apply", "started_at": humantime::format_rfc3339_seconds(std::time::SystemTime::now() - std::time::Duration::from_secs(3600)).to_string(),
    });
    s3.put_object()
        .bucket("acme-platform-state")
        .key("cards/dev/foundation.lock")
        .body(serde_json::to_vec(&stale).unwrap().into())
        .send()
        .await
        .unwrap();
    let out = run(&["plan", "--stack", "foundation"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("is locked by pid 4242 on host ci-runner-7, running `apply` since"), "{stderr}");
    assert!(stderr.contains(" (1h"), "the lock's age is shown: {stderr}");
    assert!(stderr.contains(" ago), lock id 0b5e2c1a-0000-4000-8000-000000000001"), "{stderr}");
    assert!(stderr.contains("platform force-unlock"), "{stderr}");

    let out = run(&["force-unlock", "no-such-lock"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("no lock with id no-such-lock in s3://acme-platform-state/cards"));

    let out = run(&["force-unlock", "0b5e2c1a-0000-4000-8000-000000000001"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with(
            "Removed lock 0b5e2c1a-0000-4000-8000-000000000001 of stack `foundation` (dev), held by pid 4242 on host ci-runner-7"
        ),
        "{}",
        text(&out.stdout)
    );
    let out = run(&["plan", "--stack", "foundation", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}

#[test]
fn a_state_url_that_cannot_be_used_is_refused_before_any_aws_call() {
    let dir = tempfile::tempdir().unwrap();
    let out = platform(dir.path(), None, &["plan", "--stack", "foundation", "--state", "gs://bucket/state"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "error: state location `gs://bucket/state` is not valid: `gs://` is not supported; use a directory or s3://bucket/prefix\n"
    );
}

#[tokio::test]
async fn import_brings_an_existing_resource_under_management_and_refuses_what_cannot_be() {
    let emulator = Emulator::start();
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| platform(dir.path(), Some(&emulator), args);
    // A log group made by hand, with another retention than the declaration's.
    let logs = aws_sdk_cloudwatchlogs::Client::new(&emulator.sdk_config().await);
    logs.create_log_group().log_group_name("/platform/dev/foundation/logs").send().await.unwrap();
    logs.put_retention_policy()
        .log_group_name("/platform/dev/foundation/logs")
        .retention_in_days(7)
        .send()
        .await
        .unwrap();

    let out = run(&["import", "foundation.logs", "/platform/dev/foundation/logs"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout)
        .starts_with("Imported foundation.logs (/platform/dev/foundation/logs) into `foundation` in `dev`."));
    let state =
        LocalBackend::new(dir.path().join(".platform/state")).read_file("foundation", &Env::new("dev").unwrap());
    let state = state.unwrap().unwrap();
    assert_eq!(
        state.resources[&platform::Address::new("foundation", "logs")].physical_id,
        "/platform/dev/foundation/logs"
    );
    // Tagged as platform's.
    let arn =
        state.resources[&platform::Address::new("foundation", "logs")].outputs["arn"].as_str().unwrap().to_string();
    let tags = logs.list_tags_for_resource().resource_arn(&arn).send().await.unwrap();
    assert_eq!(tags.tags().unwrap().get("platform:address").map(String::as_str), Some("foundation.logs"));
    // The next plan shows how it differs from the declaration, and creates the rest.
    let plan = run(&["plan", "--stack", "foundation"]);
    let stdout = text(&plan.stdout);
    assert!(stdout.contains("~ foundation.logs (aws.logs.log_group)"), "{stdout}");
    assert!(stdout.contains("retention_in_days: 7 -> 30"), "{stdout}");
    assert!(!stdout.contains("+ foundation.logs "), "{stdout}");

    let refused = |args: &[&str], expected: &str| {
        let out = run(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let stderr = text(&out.stderr);
        assert!(stderr.starts_with(expected), "{args:?}: {stderr}");
    };
    refused(
        &["import", "foundation.logs", "/platform/dev/foundation/logs"],
        "error: cannot import foundation.logs: it already manages /platform/dev/foundation/logs",
    );
    refused(
        &["import", "foundation.vpc", "vpc-0000000000000000"],
        "error: cannot import foundation.vpc: there is no aws.ec2.vpc with id `vpc-0000000000000000`",
    );
    refused(
        &["import", "foundation.nope", "x"],
        "error: cannot import foundation.nope: stack `foundation` declares no resource `nope`",
    );
}

/// Like [`platform`], with more variables in its environment.
fn platform_with(dir: &Path, emulator: &Emulator, args: &[&str], vars: &[(&str, &str)]) -> Output {
    command(dir, emulator, args).envs(vars.iter().copied()).output().expect("the platform binary runs")
}

#[tokio::test]
async fn plans_name_the_account_diff_documents_by_line_and_target_what_an_incident_needs() {
    let emulator = Emulator::start();
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| platform(dir.path(), Some(&emulator), args);
    assert!(run(&["apply", "--stack", "account", "--yes"]).status.success());
    assert!(run(&["apply", "--stack", "pipeline", "--yes"]).status.success());
    let apply = run(&["apply", "--all", "--yes", "--var", "image_tag=1.0.0"]);
    assert!(apply.status.success(), "{}\n{}", text(&apply.stdout), text(&apply.stderr));
    assert!(
        text(&apply.stdout).starts_with("AWS account 123456789012 (aws), region us-east-1, environment `dev`, as arn:"),
        "the account, region and environment head the run:\n{}",
        text(&apply.stdout)
    );

    // The task role's policy is changed by hand, and the shared log group loses its retention.
    let config = emulator.sdk_config().await;
    let role = recorded_id(dir.path(), "dev", "card-service.task-role");
    let bucket = recorded_id(dir.path(), "dev", "card-dependencies.images");
    let widened = serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Action": ["s3:GetObject", "s3:PutObject"], "Resource": [format!("arn:aws:s3:::{bucket}/cards/*")]}]});
    aws_sdk_iam::Client::new(&config)
        .put_role_policy()
        .role_name(&role)
        .policy_name("grants")
        .policy_document(widened.to_string())
        .send()
        .await
        .unwrap();
    let logs = recorded_id(dir.path(), "dev", "foundation.logs");
    aws_sdk_cloudwatchlogs::Client::new(&config).delete_retention_policy().log_group_name(&logs).send().await.unwrap();

    // The policy's change reads as a line diff of the document.
    let full = run(&["plan", "--all", "--detailed-exitcode"]);
    assert_eq!(full.status.code(), Some(2), "{}", text(&full.stderr));
    let stdout = text(&full.stdout);
    assert!(stdout.contains("      ~ policies.grants:\n"), "{stdout}");
    let removed: Vec<&str> = stdout.lines().filter(|l| l.trim_start().starts_with('-')).collect();
    assert!(removed.iter().any(|l| l.contains("\"s3:PutObject\"")), "the hand-added action goes:\n{stdout}");
    assert!(stdout.contains("~ foundation.logs"), "{stdout}");
    assert!(!stdout.contains('\u{1b}'), "no colours when the output is not a terminal");
    let coloured = platform_with(dir.path(), &emulator, &["plan", "--all"], &[("CLICOLOR_FORCE", "1")]);
    assert!(text(&coloured.stdout).contains("\u{1b}["), "colours when asked for");
    let plain = platform_with(dir.path(), &emulator, &["plan", "--all"], &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]);
    assert!(!text(&plain.stdout).contains('\u{1b}'), "NO_COLOR wins");

    // Targeting the service plans it and what it depends on (its task definition, roles, groups,
    // the listener it waits for, the cluster and subnets...), and nothing else: not the shared log
    // group's drift, nor the routing.
    let targeted = run(&["plan", "--target", "card-service.service", "--detailed-exitcode", "--json"]);
    assert_eq!(targeted.status.code(), Some(2), "{}", text(&targeted.stderr));
    assert!(text(&targeted.stderr).contains("warning: this run is partial (--target card-service.service)"));
    let doc: serde_json::Value = serde_json::from_slice(&targeted.stdout).unwrap();
    let planned: Vec<String> = doc["plans"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["resources"].as_array().unwrap().clone())
        .map(|r| r["address"].as_str().unwrap().to_string())
        .collect();
    for needed in ["card-service.service", "card-service.task", "card-service.task-role", "foundation.cluster"] {
        assert!(planned.contains(&needed.to_string()), "{needed} in {planned:?}");
    }
    for unrelated in ["foundation.logs", "foundation.nat-a", "foundation.internet-gateway", "foundation.public-routes"]
    {
        assert!(!planned.contains(&unrelated.to_string()), "{unrelated} not in {planned:?}");
    }
    // Of the pipeline stack, only the boundary the service's roles carry.
    assert!(planned.contains(&"pipeline.boundary".to_string()), "{planned:?}");
    for unrelated in ["pipeline.deploy", "pipeline.state", "pipeline.github"] {
        assert!(!planned.contains(&unrelated.to_string()), "{unrelated} not in {planned:?}");
    }
    assert!(doc["plans"][0]["targets"].is_array(), "the plan says it is partial");

    // Applying it fixes the role only; the rest waits for a full apply.
    let fixed = run(&["apply", "--target", "card-service.service", "--yes"]);
    assert!(fixed.status.success(), "{}\n{}", text(&fixed.stdout), text(&fixed.stderr));
    let after = run(&["plan", "--all"]);
    let stdout = text(&after.stdout);
    assert!(!stdout.contains("policies.grants"), "{stdout}");
    assert!(stdout.contains("~ foundation.logs"), "left as it was:\n{stdout}");
}
