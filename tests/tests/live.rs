//! The card stacks' lifecycle on a real AWS account: what only AWS itself can show (IAM as AWS
//! evaluates it, real rollouts and health checks, lifecycles in minutes, network interfaces that
//! linger). Opt-in, never in CI: it runs only when `PLATFORM_LIVE_AWS=ACCOUNT_ID/REGION` names the
//! account the credentials in the environment belong to (the standard AWS chain: profile, SSO,
//! environment), and refuses any other account. See the README's "Live suite" section for what it
//! creates and costs.
//!
//! It works in an environment of its own (`live`, or `PLATFORM_LIVE_ENV`), with states kept in
//! `target/live/ENV/` so that a run that fails or is killed leaves nothing untracked: every run
//! starts and ends by destroying what those states hold, then looks for anything still tagged
//! with the environment, adopts it at the address its tags name and destroys it too, and fails
//! naming whatever is left.
//!
//! The lifecycle: apply the card stacks (the first deploy as `scripts/ci/deploy` makes it:
//! image pushed, the migration task definition and security group first, migrations as a one-off task, then
//! the service, and a request through the load balancer); deploy a new image; deploy an image that
//! cannot start (the circuit breaker rolls it back: the apply fails naming the service, the
//! previous revision stays registered, and the next apply succeeds); grow the database's storage;
//! replace the target group (a new port); destroy everything.
//!
//! Needs `docker` (to build the card service's image).

// The suite reports its steps as it goes, for the person running it.
#![allow(clippy::print_stderr)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use platform::apply::{ApplyOptions, Outcome};
use platform::model::{Address, StackSpec};
use platform::provider::aws::AwsProvider;
use platform::provider::Provider;
use platform::state::local::LocalBackend;
use platform::Engine;
use platform_tests::workspace_root;

const VAR: &str = "PLATFORM_LIVE_AWS";

type Result<T> = std::result::Result<T, String>;

/// The live environment's settings: dev's, in a network of its own, with nothing kept after it.
fn environment(name: &str) -> stacks::Environment {
    let text = format!(
        r#"github_repository = "live/live"
[{name}]
protected = false
network_cidr = "10.99.0.0/16"
high_availability = false
backup_retention_days = 1
performance_insights = false
db_instance_class = "db.t4g.micro"
db_allocated_storage_gb = 20
db_maintenance_window = "sun:05:00-sun:06:00"
db_backup_window = "03:00-04:00"
db_apply_immediately = true
db_final_snapshot = false
log_retention_days = 1
images_kept = 10
untagged_image_days = 1
noncurrent_version_days = 1
flow_logs = true
access_logs = true
waf = true
tls_to_tasks = true
customer_managed_keys = true
close_default_security_group = true
db_logging = true
db_monitoring_interval_seconds = 60
force_destroy_data = true
service_desired_count = 1
ci_deploy_environments = []
ci_plan_environments = []
ci_plan_pull_requests = false
{domain}"#,
        // A public hosted zone of the account (PLATFORM_LIVE_DOMAIN): the service is then served
        // over HTTPS at card.DOMAIN, with a certificate ACM issues through a record in the zone.
        domain = std::env::var("PLATFORM_LIVE_DOMAIN").map(|d| format!("domain = \"{d}\"\n")).unwrap_or_default()
    );
    stacks::Environments::parse(&text).expect("the live environment").get(name).expect("defined").clone()
}

/// The stacks of the lifecycle, in the order they are applied.
struct Stacks {
    /// Only its permissions boundary is applied (the suite leaves the account's GitHub OIDC
    /// provider and CI roles alone).
    pipeline: StackSpec,
    foundation: StackSpec,
    dependencies: StackSpec,
    service: StackSpec,
}

fn build(environment: &stacks::Environment, image_tag: &str, port: u16) -> Stacks {
    let options = stacks::FoundationOptions { zones: 2, ..Default::default() };
    let foundation = stacks::foundation_with(environment, &options).expect("the foundation builds");
    let deps =
        stacks::dependencies(card_stacks::DEPENDENCIES, environment, &foundation, &card_stacks::dependencies_options())
            .expect("the dependencies build");
    let mut service_options = card_stacks::service_options(&foundation, &deps, image_tag);
    // Another port replaces the target group (and moves the listener, the service and the rules).
    service_options.port = port;
    service_options.environment.insert("PORT".into(), port.to_string().as_str().into());
    let service = stacks::service(card_stacks::SERVICE, environment, &foundation, &deps, &service_options)
        .expect("the service builds");
    Stacks {
        pipeline: foundation.pipeline.spec.clone(),
        foundation: foundation.spec,
        dependencies: deps.spec,
        service: service.spec,
    }
}

struct Live {
    config: SdkConfig,
    provider: Arc<AwsProvider>,
    backend: LocalBackend,
    environment: stacks::Environment,
}

impl Live {
    fn engine(&self, targets: Option<BTreeSet<Address>>) -> Engine {
        Engine::new(
            self.provider.clone(),
            Arc::new(self.backend.clone()),
            ApplyOptions { targets, ..ApplyOptions::default() },
        )
    }

    /// Applies `spec` (or only `targets` of it); the report's failures, if any.
    async fn apply(&self, spec: &StackSpec, targets: Option<BTreeSet<Address>>) -> Result<Vec<(Address, String)>> {
        let started = Instant::now();
        eprintln!("live: applying {}…", spec.name);
        let engine = self.engine(targets);
        let prepared =
            engine.prepare(spec, false, "apply").await.map_err(|e| format!("planning {}: {e}", spec.name))?;
        let report = engine
            .apply(prepared, &|event| {
                if let platform::apply::ApplyEvent::Progress { address, message, .. } = event {
                    eprintln!("live:   {address}: {message}");
                }
            })
            .await
            .map_err(|e| format!("applying {}: {e}", spec.name))?;
        eprintln!(
            "live: {} in {:.0?}:\n{}",
            spec.name,
            started.elapsed(),
            platform::render::report_text(&spec.name, &report)
        );
        Ok(report
            .results
            .iter()
            .filter_map(|r| match &r.outcome {
                Outcome::Failed { error } => Some((r.address.clone(), error.clone())),
                _ => None,
            })
            .collect())
    }

    async fn apply_ok(&self, spec: &StackSpec) -> Result<()> {
        let failed = self.apply(spec, None).await?;
        if !failed.is_empty() {
            return Err(format!("applying {} failed: {failed:?}", spec.name));
        }
        let engine = self.engine(None);
        let plan = engine.prepare(spec, false, "plan").await.map_err(|e| e.to_string())?.into_plan().await;
        let plan = plan.map_err(|e| e.to_string())?;
        if plan.has_changes() {
            return Err(format!("a plan right after applying is not empty:\n{}", platform::render::plan_text(&plan)));
        }
        Ok(())
    }

    fn state(&self, spec: &StackSpec) -> Option<platform::state::StackState> {
        self.backend.read_file(&spec.name, &spec.env).ok().flatten()
    }

    fn output(&self, spec: &StackSpec, name: &str) -> Result<String> {
        let state = self.state(spec).ok_or(format!("{} is not applied", spec.name))?;
        let value = state.outputs.get(name).ok_or(format!("{} has no output {name}", spec.name))?;
        Ok(value.as_str().map(str::to_string).unwrap_or_else(|| value.to_string()))
    }

    /// Destroys what the states hold, then adopts and destroys whatever is still tagged with the
    /// environment; fails naming anything left.
    async fn clean_up(&self, stacks: &Stacks) -> Result<()> {
        for spec in [&stacks.service, &stacks.dependencies, &stacks.foundation, &stacks.pipeline] {
            self.destroy(spec).await?;
        }
        let leftovers = self.tagged().await?;
        if leftovers.is_empty() {
            return Ok(());
        }
        eprintln!(
            "live: {} resources still tagged with the environment; adopting and destroying them",
            leftovers.len()
        );
        for (arn, address) in &leftovers {
            let Some(spec) = [&stacks.service, &stacks.dependencies, &stacks.foundation, &stacks.pipeline]
                .into_iter()
                .find(|s| address.as_ref().is_some_and(|a| a.stack() == s.name))
            else {
                continue;
            };
            let address = address.as_ref().expect("found by its address");
            let Some(declared) = spec.resource(address) else { continue };
            let id = physical_id(&declared.type_name, arn);
            if let Err(err) = self.engine(None).import(spec, address, &id).await {
                eprintln!("live: cannot adopt {arn} at {address}: {err}");
            }
        }
        for spec in [&stacks.service, &stacks.dependencies, &stacks.foundation, &stacks.pipeline] {
            self.destroy(spec).await?;
        }
        let left = self.tagged().await?;
        if left.is_empty() {
            Ok(())
        } else {
            let arns: Vec<&str> = left.iter().map(|(arn, _)| arn.as_str()).collect();
            Err(format!("still tagged with the environment after clean-up (delete them by hand): {arns:?}"))
        }
    }

    async fn destroy(&self, spec: &StackSpec) -> Result<()> {
        let Some(state) = self.state(spec) else { return Ok(()) };
        if state.resources.is_empty() && state.deposed.is_empty() && state.pending.is_empty() {
            return Ok(());
        }
        eprintln!("live: destroying {}…", spec.name);
        let allowed: BTreeSet<Address> = state.resources.keys().cloned().collect();
        let engine = Engine::new(
            self.provider.clone(),
            Arc::new(self.backend.clone()),
            ApplyOptions { allow_destroy: allowed, ..ApplyOptions::default() },
        );
        let prepared =
            engine.prepare(spec, true, "destroy").await.map_err(|e| format!("destroying {}: {e}", spec.name))?;
        let report = engine.apply(prepared, &|_| {}).await.map_err(|e| e.to_string())?;
        if report.is_success() {
            Ok(())
        } else {
            Err(format!("destroying {} failed:\n{}", spec.name, platform::render::report_text(&spec.name, &report)))
        }
    }

    /// Resources tagged with the environment (by the Resource Groups Tagging API), with the
    /// address their `platform:address` tag names.
    async fn tagged(&self) -> Result<Vec<(String, Option<Address>)>> {
        let tagging = aws_sdk_resourcegroupstagging::Client::new(&self.config);
        let filter = aws_sdk_resourcegroupstagging::types::TagFilter::builder()
            .key(platform::model::TAG_ENV)
            .values(self.environment.env.as_str())
            .build();
        let mut found = vec![];
        let mut pages = tagging.get_resources().tag_filters(filter).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| format!("tag:GetResources: {e}"))?;
            for r in page.resource_tag_mapping_list() {
                // A deleted key waits out its window (7 days here) before KMS deletes it, still
                // tagged: it is gone as far as platform is concerned.
                let arn = r.resource_arn().unwrap_or_default();
                if arn.contains(":key/") {
                    let kms = aws_sdk_kms::Client::new(&self.config);
                    let key =
                        kms.describe_key().key_id(arn).send().await.map_err(|e| format!("kms:DescribeKey: {e}"))?;
                    if key.key_metadata().and_then(|k| k.key_state())
                        == Some(&aws_sdk_kms::types::KeyState::PendingDeletion)
                    {
                        continue;
                    }
                }
                let address = r
                    .tags()
                    .iter()
                    .find(|t| t.key() == platform::model::TAG_ADDRESS)
                    .and_then(|t| Address::parse(t.value()));
                found.push((r.resource_arn().unwrap_or_default().to_string(), address));
            }
        }
        Ok(found)
    }
}

/// The physical id platform records for a resource of `type_name`, from its ARN.
fn physical_id(type_name: &str, arn: &str) -> String {
    let after = |marker: &str| arn.split_once(marker).map(|(_, rest)| rest.to_string());
    let id = match type_name.split('.').nth(1) {
        Some("ec2" | "servicediscovery") => arn.rsplit('/').next().map(str::to_string),
        Some("rds") => after(":db:").or_else(|| after(":subgrp:")).or_else(|| after(":pg:")),
        Some("logs") => after(":log-group:").map(|n| n.trim_end_matches(":*").to_string()),
        Some("s3") => after(":::"),
        Some("iam") => after(":role/"),
        Some("ecr") => after(":repository/"),
        Some("kms") => after(":key/"),
        _ => None,
    };
    id.unwrap_or_else(|| arn.to_string())
}

fn run(command: &mut std::process::Command, what: &str) -> Result<()> {
    let status = command.status().map_err(|e| format!("{what}: {e}"))?;
    status.success().then_some(()).ok_or(format!("{what} failed ({status})"))
}

/// Builds the card service's image and pushes it to the foundation's repository as each of `tags`.
async fn push_image(live: &Live, repository: &str, tags: &[&str]) -> Result<()> {
    use base64::Engine as _;
    let ecr = aws_sdk_ecr::Client::new(&live.config);
    let token = ecr.get_authorization_token().send().await.map_err(|e| format!("ecr:GetAuthorizationToken: {e}"))?;
    let data = token.authorization_data().first().ok_or("no ECR authorization data")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(data.authorization_token().unwrap_or_default())
        .map_err(|e| e.to_string())?;
    let password = String::from_utf8_lossy(&decoded).split_once(':').map(|(_, p)| p.to_string()).unwrap_or_default();
    let registry = repository.split('/').next().unwrap_or_default();
    let mut login = std::process::Command::new("docker")
        .args(["login", "--username", "AWS", "--password-stdin", registry])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("docker login (is docker installed?): {e}"))?;
    {
        use std::io::Write;
        login.stdin.take().ok_or("docker login's stdin")?.write_all(password.as_bytes()).map_err(|e| e.to_string())?;
    }
    let status = login.wait().map_err(|e| e.to_string())?;
    if !status.success() {
        return Err("docker login failed".into());
    }
    let root = workspace_root();
    let first = format!("{repository}:{}", tags[0]);
    run(
        std::process::Command::new("docker")
            .args(["build", "-f", "card-service/Dockerfile", "-t", &first, "."])
            .current_dir(&root),
        "docker build",
    )?;
    for tag in tags {
        let image = format!("{repository}:{tag}");
        run(std::process::Command::new("docker").args(["tag", &first, &image]), "docker tag")?;
        run(std::process::Command::new("docker").args(["push", &image]), "docker push")?;
    }
    Ok(())
}

/// Runs the migration task as `scripts/ci/migrate` does: the stack's `migrate` task definition, as
/// a one-off task in the private subnets with the tasks' group (the migrations as the owner, then
/// the application role's credentials in its own secret).
async fn migrate(live: &Live, stacks: &Stacks) -> Result<()> {
    use aws_sdk_ecs::types::{AwsVpcConfiguration, LaunchType, NetworkConfiguration};
    let ecs = aws_sdk_ecs::Client::new(&live.config);
    let cluster = live.output(&stacks.foundation, "cluster_arn")?;
    let subnets: Vec<String> = serde_json::from_str(&live.output(&stacks.foundation, "private_subnet_ids")?)
        .map_err(|e| format!("private_subnet_ids: {e}"))?;
    let group = live.output(&stacks.service, "tasks_security_group_id")?;
    let arn = live.output(&stacks.service, "migration_task_definition_arn")?;
    let network = NetworkConfiguration::builder()
        .awsvpc_configuration(
            AwsVpcConfiguration::builder()
                .set_subnets(Some(subnets))
                .security_groups(group)
                .build()
                .map_err(|e| e.to_string())?,
        )
        .build();
    let ran = ecs
        .run_task()
        .cluster(&cluster)
        .task_definition(&arn)
        .launch_type(LaunchType::Fargate)
        .network_configuration(network)
        .send()
        .await
        .map_err(|e| format!("running the migrations: {e}"))?;
    let task = ran.tasks().first().and_then(|t| t.task_arn()).ok_or("no migration task")?.to_string();
    let deadline = Instant::now() + Duration::from_secs(15 * 60);
    loop {
        let out = ecs.describe_tasks().cluster(&cluster).tasks(&task).send().await.map_err(|e| e.to_string())?;
        let t = out.tasks().first().ok_or("the migration task is gone")?;
        if t.last_status() == Some("STOPPED") {
            let code = t.containers().first().and_then(|c| c.exit_code());
            return (code == Some(0)).then_some(()).ok_or(format!("the migrations failed (exit {code:?}): {t:?}"));
        }
        if Instant::now() > deadline {
            return Err("the migration task did not stop within 15 minutes".into());
        }
        tokio::time::sleep(Duration::from_secs(10)).await;
    }
}

/// A request through the load balancer, as the deploy script's smoke test makes it.
async fn smoke_test(live: &Live, stacks: &Stacks) -> Result<()> {
    if let Ok(secure) = live.output(&stacks.service, "url") {
        // HTTPS at the service's name: plain HTTP there redirects to it (the redirect shows the
        // alias record resolves to the load balancer; the HTTPS listener exists only with the
        // issued certificate).
        let host = secure.trim_start_matches("https://");
        let url = format!("http://{host}/cards/00000000-0000-0000-0000-000000000000");
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?;
        let deadline = Instant::now() + Duration::from_secs(10 * 60);
        loop {
            match client.get(&url).send().await {
                Ok(r) if r.status() == reqwest::StatusCode::MOVED_PERMANENTLY => {
                    let location = r.headers().get("location").and_then(|l| l.to_str().ok()).unwrap_or_default();
                    if location.starts_with(&format!("https://{host}")) {
                        return Ok(());
                    }
                    return Err(format!("{url} redirected to {location}"));
                }
                Ok(r) if Instant::now() > deadline => return Err(format!("{url} answered {}", r.status())),
                Err(e) if Instant::now() > deadline => return Err(format!("{url}: {e}")),
                _ => tokio::time::sleep(Duration::from_secs(10)).await,
            }
        }
    }
    let dns = live.output(&stacks.service, "load_balancer_dns")?;
    let url = format!("http://{dns}/cards/00000000-0000-0000-0000-000000000000");
    let deadline = Instant::now() + Duration::from_secs(5 * 60);
    loop {
        match reqwest::get(&url).await {
            Ok(r) if r.status().is_success() => return Ok(()),
            Ok(r) if Instant::now() > deadline => return Err(format!("{url} answered {}", r.status())),
            Err(e) if Instant::now() > deadline => return Err(format!("{url}: {e}")),
            _ => tokio::time::sleep(Duration::from_secs(10)).await,
        }
    }
}

async fn lifecycle(live: &Live) -> Result<()> {
    let env = &live.environment;
    let (port, moved) = (8080, 8090);
    let mut stacks = build(env, "live-1", port);
    let boundary = [Address::new(stacks::pipeline::NAME, "boundary")].into();
    let failed = live.apply(&stacks.pipeline, Some(boundary)).await?;
    if !failed.is_empty() {
        return Err(format!("applying the roles' permissions boundary failed: {failed:?}"));
    }
    live.apply_ok(&stacks.foundation).await?;
    let repository = live.output(&stacks.foundation, "card_service_repository_uri")?;
    push_image(live, &repository, &["live-1", "live-2"]).await?;
    live.apply_ok(&stacks.dependencies).await?;

    // 1. The first deploy: what the migrations need, the migrations, then the service.
    let first: BTreeSet<Address> =
        ["migrate", "tasks"].into_iter().map(|n| Address::new(card_stacks::SERVICE, n)).collect();
    let targets = platform::plan::targeted(&[&stacks.service], &first, false);
    let failed = live.apply(&stacks.service, Some(targets)).await?;
    if !failed.is_empty() {
        return Err(format!("the first deploy's task definition and group: {failed:?}"));
    }
    migrate(live, &stacks).await?;
    live.apply_ok(&stacks.service).await?;
    smoke_test(live, &stacks).await?;

    // 2. A new image.
    stacks = build(env, "live-2", port);
    live.apply_ok(&stacks.service).await?;
    smoke_test(live, &stacks).await?;
    let good = live.output(&stacks.service, "task_definition_arn")?;

    // 3. An image that cannot start: the circuit breaker rolls back; the apply fails naming the
    //    service and AWS's reason; the revision it rolled back to stays registered.
    let broken = build(env, "does-not-exist", port);
    let failed = live.apply(&broken.service, None).await?;
    let service = Address::new(card_stacks::SERVICE, "service");
    let reason = failed.iter().find(|(a, _)| *a == service).map(|(_, e)| e.clone());
    let reason = reason.ok_or(format!("the failed rollout was not reported on {service}: {failed:?}"))?;
    if !reason.contains("circuit breaker") && !reason.contains("failed") {
        return Err(format!("the failure does not give AWS's reason: {reason}"));
    }
    let ecs = aws_sdk_ecs::Client::new(&live.config);
    let kept = ecs.describe_task_definition().task_definition(&good).send().await.map_err(|e| e.to_string())?;
    let status = kept.task_definition().and_then(|t| t.status()).map(|s| s.as_str().to_string());
    if status.as_deref() != Some("ACTIVE") {
        return Err(format!("the revision rolled back to ({good}) is {status:?}, not ACTIVE"));
    }
    live.apply_ok(&stacks.service).await?;
    smoke_test(live, &stacks).await?;

    // 4. The database grows (20 GiB to 22 GiB): modified, awaited, usable while optimizing.
    let mut grown = env.clone();
    grown.settings.db_allocated_storage_gb = 22;
    let bigger = build(&grown, "live-2", port);
    live.apply_ok(&bigger.dependencies).await?;
    smoke_test(live, &stacks).await?;

    // 5. A new target group (another port): created before the old one goes, the service never
    //    without one.
    let moved = build(&grown, "live-2", moved);
    live.apply_ok(&moved.service).await?;
    smoke_test(live, &moved).await?;
    Ok(())
}

#[tokio::test]
async fn the_card_stacks_on_a_real_account() {
    let Some(target) = std::env::var(VAR).ok().filter(|v| !v.trim().is_empty()) else {
        eprintln!(
            "live suite skipped: it runs against a real AWS account only when {VAR}=ACCOUNT_ID/REGION names \
             the account of the credentials in the environment (see the README's \"Live suite\")"
        );
        return;
    };
    let (account, region) = target.split_once('/').expect("PLATFORM_LIVE_AWS is ACCOUNT_ID/REGION");
    let name = std::env::var("PLATFORM_LIVE_ENV").unwrap_or_else(|_| "live".into());
    let config = aws_config::defaults(BehaviorVersion::latest()).region(Region::new(region.to_string())).load().await;
    let provider = Arc::new(AwsProvider::new(&config));
    let identity = provider.identity().await.expect("the credentials in the environment work");
    assert_eq!(
        identity.account, account,
        "the credentials are for account {}, not the {account} {VAR} names: refusing to touch it",
        identity.account
    );
    let dir = workspace_root().join("target/live").join(&name);
    std::fs::create_dir_all(&dir).expect("target/live");
    let environment = environment(&name);
    let live = Live { config, provider, backend: LocalBackend::new(&dir), environment };
    let stacks = build(&live.environment, "live-1", 8080);
    eprintln!("live: account {account}, region {region}, environment `{name}`, states in {}", dir.display());
    live.clean_up(&stacks).await.expect("what an earlier run left is cleaned up first");
    let result = lifecycle(&live).await;
    let cleaned = live.clean_up(&build(&live.environment, "live-2", 8090)).await;
    result.expect("the lifecycle");
    cleaned.expect("everything is destroyed");
}
