//! The card stacks under AWS's behaviour as the emulator harness reproduces it (eventual
//! consistency, lifecycles that take time, rollouts and their circuit breaker, drains, network
//! interfaces that outlive their owners, impaired zones): applied and destroyed as one run, a
//! failed rollout, target and security groups replaced while the service keeps running, a region
//! with two zones.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use platform::apply::{ApplyOptions, ApplyReport, Outcome};
use platform::model::{Address, StackSpec};
use platform::state::StackState;
use platform_tests::{AwsBehaviour, Harness};

fn environment(name: &str) -> stacks::Environment {
    stacks::Environments::builtin().get(name).unwrap().clone()
}

/// The card stacks of `environment` running `image_tag`, the service listening on `port`.
fn card_stacks(environment: &stacks::Environment, image_tag: &str, port: u16) -> Vec<StackSpec> {
    let foundation = stacks::foundation(environment).unwrap();
    let deps =
        stacks::dependencies(card_stacks::DEPENDENCIES, environment, &foundation, &card_stacks::dependencies_options())
            .unwrap();
    let mut options = card_stacks::service_options(&foundation, &deps, image_tag);
    options.port = port;
    options.environment.insert("PORT".into(), port.to_string().as_str().into());
    let service = stacks::service(card_stacks::SERVICE, environment, &foundation, &deps, &options).unwrap();
    vec![foundation.spec, deps.spec, service.spec]
}

/// Applies (or destroys) `specs` as one run, as `apply --all` does; each stack's report.
async fn run(h: &Harness, specs: &[StackSpec], destroy: bool) -> Vec<(String, ApplyReport)> {
    let options = if destroy {
        let all: BTreeSet<Address> = specs
            .iter()
            .flat_map(|s| h.backend.read_file(&s.name, &s.env).ok().flatten())
            .flat_map(|s| s.resources.into_keys())
            .collect();
        ApplyOptions { allow_destroy: all, ..ApplyOptions::default() }
    } else {
        ApplyOptions::default()
    };
    let engine = h.engine_with(options);
    let prepared = engine.prepare_run(specs, destroy, if destroy { "destroy" } else { "apply" }).await.unwrap();
    let results = engine.apply_run(prepared, &|_, _| {}).await.unwrap();
    results.into_iter().map(|(name, report)| (name, report.unwrap())).collect()
}

fn failures(reports: &[(String, ApplyReport)]) -> Vec<(Address, String)> {
    reports
        .iter()
        .flat_map(|(_, r)| &r.results)
        .filter_map(|r| match &r.outcome {
            Outcome::Failed { error } => Some((r.address.clone(), error.clone())),
            _ => None,
        })
        .collect()
}

fn state(h: &Harness, spec: &StackSpec) -> StackState {
    h.state(spec)
}

/// Every stack plans no change.
async fn no_changes(h: &Harness, specs: &[StackSpec]) {
    for spec in specs {
        let plan = h.plan(spec).await;
        assert!(!plan.has_changes(), "{} plans changes:\n{}", spec.name, platform::render::plan_text(&plan));
    }
}

/// What the Resource Groups Tagging API lists as tagged with the environment and still exists:
/// AWS keeps records of some deleted resources for a while (ECS clusters and services stay
/// `INACTIVE`, NAT gateways `deleted`), and an instance's automated backups are kept on purpose
/// for their retention period; those are not left over.
async fn tagged(h: &Harness, env: &str) -> Vec<String> {
    let tagging = aws_sdk_resourcegroupstagging::Client::new(&h.config);
    let filter =
        aws_sdk_resourcegroupstagging::types::TagFilter::builder().key(platform::model::TAG_ENV).values(env).build();
    let out = tagging.get_resources().tag_filters(filter).send().await.unwrap();
    let (ecs, ec2) = (aws_sdk_ecs::Client::new(&h.config), aws_sdk_ec2::Client::new(&h.config));
    let mut left = vec![];
    for arn in out.resource_tag_mapping_list().iter().filter_map(|m| m.resource_arn()) {
        let gone = if arn.contains(":cluster/") {
            let out = ecs.describe_clusters().clusters(arn).send().await.unwrap();
            out.clusters().iter().all(|c| c.status() == Some("INACTIVE"))
        } else if let Some((_, rest)) = arn.split_once(":service/") {
            let cluster = rest.split('/').next().unwrap();
            let out = ecs.describe_services().cluster(cluster).services(arn).send().await.unwrap();
            out.services().iter().all(|s| s.status() == Some("INACTIVE"))
        } else if let Some((_, id)) = arn.split_once(":natgateway/") {
            let out = ec2.describe_nat_gateways().nat_gateway_ids(id).send().await.unwrap();
            out.nat_gateways().iter().all(|n| n.state() == Some(&aws_sdk_ec2::types::NatGatewayState::Deleted))
        } else {
            // `snapshot:rds:…` is an automated backup (a manual snapshot has no `rds:` prefix).
            arn.contains(":snapshot:rds:")
        };
        if !gone {
            left.push(arn.to_string());
        }
    }
    left
}

#[tokio::test]
async fn the_card_stacks_apply_in_dev_and_prod_as_aws_behaves_and_destroy_leaves_nothing() {
    for env in ["dev", "prod"] {
        let h = Harness::new().await;
        let environment = environment(env);
        h.bootstrap(&environment).await;
        let specs = card_stacks(&environment, "v1", 8080);
        let reports = run(&h, &specs, false).await;
        assert_eq!(failures(&reports), [], "{env}: the run succeeds");
        for spec in &specs {
            let state = state(&h, spec);
            let tainted: Vec<_> = state.resources.iter().filter(|(_, r)| r.tainted).map(|(a, _)| a).collect();
            assert!(tainted.is_empty(), "{env}: nothing is tainted: {tainted:?}");
            assert!(state.pending.is_empty() && state.deposed.is_empty(), "{env}: nothing left pending");
            assert!(state.resources.values().all(|r| !r.awaiting), "{env}: everything awaited");
        }
        no_changes(&h, &specs).await;

        // A zone in trouble moves no subnet, no NAT gateway, nothing.
        h.emulator.impair_zone("us-east-1b");
        no_changes(&h, &specs).await;

        let reports = run(&h, &specs, true).await;
        assert_eq!(failures(&reports), [], "{env}: destroy succeeds while interfaces linger and services drain");
        for spec in &specs {
            assert!(state(&h, spec).resources.is_empty(), "{env}: {} is empty", spec.name);
        }
        h.unbootstrap(&environment).await;
        // Outside dev the database leaves its final snapshot, the application role's secret is only
        // scheduled for deletion (restorable for 30 days) and the access logs stay, on purpose;
        // nothing else is left.
        let (snapshots, left): (Vec<String>, Vec<String>) =
            tagged(&h, env).await.into_iter().partition(|arn| arn.contains(":snapshot:") && arn.contains("-final-"));
        let (secrets, left): (Vec<String>, Vec<String>) = left.into_iter().partition(|arn| arn.contains(":secret:"));
        // Outside dev the access-log bucket keeps the logs it holds (S3 does not delete a bucket
        // that is not empty, and the environment does not force it).
        let (access_logs, left): (Vec<String>, Vec<String>) =
            left.into_iter().partition(|arn| arn.contains(&format!(":s3:::{env}-pipeline-access-logs-")));
        assert_eq!(
            access_logs.len(),
            usize::from(env != "dev"),
            "{env}: access logs kept outside dev: {access_logs:?}"
        );
        // Outside dev the keys wait out their deletion window (30 days), disabled: KMS deletes
        // them then (what they encrypted, snapshots included, stays readable until).
        let (keys, left): (Vec<String>, Vec<String>) = left.into_iter().partition(|arn| arn.contains(":key/"));
        assert_eq!(keys.len(), if env == "dev" { 0 } else { 2 }, "{env}: the foundation's key and the data key");
        let kms = aws_sdk_kms::Client::new(&h.config);
        for key in &keys {
            let described = kms.describe_key().key_id(key).send().await.unwrap();
            let metadata = described.key_metadata().unwrap();
            assert_eq!(metadata.key_state(), Some(&aws_sdk_kms::types::KeyState::PendingDeletion), "{key}");
            let window = metadata.deletion_date().unwrap().secs()
                - aws_smithy_types::DateTime::from(std::time::SystemTime::now()).secs();
            assert!(window > 29 * 86_400, "{key}: deleted after 30 days, not {window} s");
        }
        assert_eq!(left, Vec::<String>::new(), "{env}: nothing tagged with the environment is left");
        assert_eq!(snapshots.len(), usize::from(env != "dev"), "{env}: a final snapshot outside dev: {snapshots:?}");
        assert_eq!(secrets.len(), usize::from(env != "dev"), "{env}: a restorable secret outside dev: {secrets:?}");
        let secretsmanager = aws_sdk_secretsmanager::Client::new(&h.config);
        for secret in &secrets {
            let described = secretsmanager.describe_secret().secret_id(secret).send().await.unwrap();
            assert!(described.deleted_date().is_some(), "{secret} is scheduled for deletion");
        }
        let iam = aws_sdk_iam::Client::new(&h.config);
        let roles = iam.list_roles().send().await.unwrap();
        let left: Vec<&str> =
            roles.roles().iter().map(|r| r.role_name()).filter(|n| n.starts_with(&format!("{env}-"))).collect();
        assert!(left.is_empty(), "{env}: no role is left: {left:?}");
    }
}

#[tokio::test]
async fn a_failed_rollout_fails_the_apply_naming_the_service_and_keeps_the_revision_it_rolled_back_to() {
    let h = Harness::new().await;
    let environment = environment("dev");
    h.bootstrap(&environment).await;
    let good = card_stacks(&environment, "v1", 8080);
    assert_eq!(failures(&run(&h, &good, false).await), []);
    let service = &good[2];
    let revision = |h: &Harness| platform_tests::id_of(&state(h, service), "task");
    let v1 = revision(&h);

    // The new image's tasks cannot start: the circuit breaker fails the deployment and rolls back.
    let repository = state(&h, &good[0]).outputs["card_service_repository_uri"].as_str().unwrap().to_string();
    h.emulator.fail_images(&[&format!("{repository}:broken")]);
    let broken = card_stacks(&environment, "broken", 8080);
    let reports = run(&h, &broken, false).await;
    let failed = failures(&reports);
    let address = Address::new(card_stacks::SERVICE, "service");
    let (_, error) = failed.iter().find(|(a, _)| *a == address).unwrap_or_else(|| panic!("{failed:?}"));
    assert!(error.contains("ECS deployment circuit breaker: task failed to start."), "AWS's reason: {error}");
    assert!(error.contains(&format!("rolled back to {v1}")), "{error}");
    let ecs = aws_sdk_ecs::Client::new(&h.config);
    let status = |arn: String| {
        let ecs = ecs.clone();
        async move {
            let out = ecs.describe_task_definition().task_definition(arn).send().await.ok()?;
            out.task_definition().and_then(|t| t.status()).map(|s| s.as_str().to_string())
        }
    };
    assert_eq!(
        status(v1.clone()).await.as_deref(),
        Some("ACTIVE"),
        "the revision it rolled back to is still registered"
    );
    let deposed: Vec<String> = state(&h, service).deposed.iter().map(|d| d.resource.physical_id.clone()).collect();
    assert_eq!(deposed, std::slice::from_ref(&v1), "and still recorded");
    let described = ecs.describe_services().cluster(state(&h, &good[0]).outputs["cluster_arn"].as_str().unwrap());
    let described = described.services(platform_tests::id_of(&state(&h, service), "service")).send().await.unwrap();
    assert_eq!(described.services()[0].task_definition(), Some(v1.as_str()), "the service runs it again");

    // The next apply with a good image succeeds; the old revisions go once it has rolled out.
    let fixed = card_stacks(&environment, "v2", 8080);
    assert_eq!(failures(&run(&h, &fixed, false).await), []);
    // Both the revision it rolled back to and the broken one are gone (deregistered, deleted).
    assert_ne!(status(v1.clone()).await.as_deref(), Some("ACTIVE"));
    let all = ecs.list_task_definitions().family_prefix("dev-card-service-task").send().await.unwrap();
    assert_eq!(all.task_definition_arns(), [revision(&h)], "only the running revision is left");
    assert!(state(&h, service).deposed.is_empty());
    no_changes(&h, &fixed).await;
}

/// What a service is attached to, checked again and again while an apply runs: every target
/// group and security group it names exists, and so does what its listener forwards to.
struct Watch {
    stop: Arc<AtomicBool>,
    broken: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<usize>,
}

impl Watch {
    fn start(h: &Harness, cluster: String, service: String, listener: String) -> Self {
        let (ecs, elb, ec2) = (
            aws_sdk_ecs::Client::new(&h.config),
            aws_sdk_elasticloadbalancingv2::Client::new(&h.config),
            aws_sdk_ec2::Client::new(&h.config),
        );
        let stop = Arc::new(AtomicBool::new(false));
        let broken = Arc::new(Mutex::new(vec![]));
        let (s, b) = (stop.clone(), broken.clone());
        let task = tokio::spawn(async move {
            let mut looks = 0;
            while !s.load(Ordering::SeqCst) {
                looks += 1;
                let out = ecs.describe_services().cluster(&cluster).services(&service).send().await.unwrap();
                let svc = &out.services()[0];
                let groups = svc.load_balancers().iter().filter_map(|l| l.target_group_arn()).collect::<Vec<_>>();
                if groups.is_empty() {
                    b.lock().unwrap().push("the service has no target group".into());
                }
                for tg in groups {
                    if elb.describe_target_groups().target_group_arns(tg).send().await.is_err() {
                        b.lock().unwrap().push(format!("the service's target group {tg} does not exist"));
                    }
                }
                let vpc = svc.network_configuration().and_then(|n| n.awsvpc_configuration());
                let sgs = vpc.map(|v| v.security_groups().to_vec()).unwrap_or_default();
                if sgs.is_empty() {
                    b.lock().unwrap().push("the service has no security group".into());
                }
                for sg in sgs {
                    if ec2.describe_security_groups().group_ids(&sg).send().await.is_err() {
                        b.lock().unwrap().push(format!("the service's security group {sg} does not exist"));
                    }
                }
                let listeners = elb.describe_listeners().listener_arns(&listener).send().await.unwrap();
                for action in listeners.listeners()[0].default_actions() {
                    if let Some(tg) = action.target_group_arn() {
                        if elb.describe_target_groups().target_group_arns(tg).send().await.is_err() {
                            b.lock().unwrap().push(format!("the listener forwards to {tg}, which does not exist"));
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            looks
        });
        Self { stop, broken, task }
    }

    async fn finish(self) -> (usize, Vec<String>) {
        self.stop.store(true, Ordering::SeqCst);
        let looks = self.task.await.unwrap();
        (looks, self.broken.lock().unwrap().clone())
    }
}

#[tokio::test]
async fn a_new_target_group_and_a_new_security_group_take_over_without_a_moment_without_one() {
    let h = Harness::new().await;
    let environment = environment("dev");
    h.bootstrap(&environment).await;
    let before = card_stacks(&environment, "v1", 8080);
    assert_eq!(failures(&run(&h, &before, false).await), []);
    let service = &before[2];
    let old = state(&h, service);
    let (old_tg, old_sg) = (platform_tests::id_of(&old, "targets"), platform_tests::id_of(&old, "tasks"));
    let cluster = state(&h, &before[0]).outputs["cluster_arn"].as_str().unwrap().to_string();
    let watch = Watch::start(&h, cluster, platform_tests::id_of(&old, "service"), platform_tests::id_of(&old, "http"));

    // Another port: a new target group (its port cannot change) and a new tasks group (its
    // description says what it lets in, and cannot change either).
    let after = card_stacks(&environment, "v1", 8090);
    let plan = h.plan(&after[2]).await;
    for name in ["targets", "tasks"] {
        let change = plan.change(&Address::new(card_stacks::SERVICE, name)).unwrap();
        assert_eq!(change.action, platform::plan::Action::Replace, "{name}");
    }
    let service_change = plan.change(&Address::new(card_stacks::SERVICE, "service")).unwrap();
    assert_eq!(service_change.action, platform::plan::Action::Update, "the service itself is kept");
    assert_eq!(failures(&run(&h, &after, false).await), []);
    let (looks, broken) = watch.finish().await;
    assert!(looks > 5, "the watch looked while the apply ran ({looks} times)");
    assert_eq!(broken, Vec::<String>::new(), "never without a target group or a security group");

    let new = state(&h, service);
    assert_ne!(platform_tests::id_of(&new, "targets"), old_tg);
    assert_ne!(platform_tests::id_of(&new, "tasks"), old_sg);
    assert_eq!(platform_tests::id_of(&new, "service"), platform_tests::id_of(&old, "service"));
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&h.config);
    assert!(elb.describe_target_groups().target_group_arns(&old_tg).send().await.is_err(), "the old one is gone");
    let ec2 = aws_sdk_ec2::Client::new(&h.config);
    assert!(ec2.describe_security_groups().group_ids(&old_sg).send().await.is_err(), "the old one is gone");
    assert!(new.deposed.is_empty());
    no_changes(&h, &after).await;
}

#[tokio::test]
async fn a_region_with_two_zones_takes_three_zones_of_subnets_round_its_zones() {
    let h = Harness::with(AwsBehaviour::strict().zones(&["us-east-1a", "us-east-1b"])).await;
    let environment = environment("prod");
    let foundation = stacks::foundation(&environment).unwrap().spec;
    h.bootstrap(&environment).await;
    h.apply_converged(&foundation).await;
    let state = state(&h, &foundation);
    let zone =
        |name: &str| state.resources[&Address::new("foundation", name)].outputs["availability_zone_name"].clone();
    assert_eq!(zone("public-a"), "us-east-1a");
    assert_eq!(zone("public-b"), "us-east-1b");
    assert_eq!(zone("public-c"), "us-east-1a", "the third position is the first zone again");
    no_changes(&h, std::slice::from_ref(&foundation)).await;
}
