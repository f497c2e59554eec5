//! The emulator's AWS behaviours (`scripts/emulator_aws.py`), checked through the AWS SDK directly:
//! eventual consistency, lifecycles, network interfaces that outlive their owners, and zones; and
//! the corrections of `scripts/emulator-server.py` where they make the emulator as strict as AWS.
//! Each test starts its own emulator with a short AWS minute and polls with deadlines.

use std::fmt::Debug;
use std::future::Future;
use std::time::{Duration, Instant};

use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::types::{DomainType, Filter};
use aws_sdk_ecs::types::{
    AwsVpcConfiguration, Compatibility, ContainerDefinition, DeploymentCircuitBreaker, DeploymentConfiguration,
    DeploymentRolloutState, LaunchType, NetworkConfiguration, NetworkMode, ServiceRegistry,
};
use platform_tests::{AwsBehaviour, Emulator, Harness};

/// How long any state may take to show, at most (machines under load included).
const DEADLINE: Duration = Duration::from_secs(30);

/// The error code and message of a call AWS refuses.
fn refused<T: Debug, E: ProvideErrorMetadata + Debug, R: Debug>(result: Result<T, SdkError<E, R>>) -> (String, String) {
    let error = result.expect_err("AWS refuses this call");
    (error.code().unwrap_or_default().to_string(), error.message().unwrap_or_default().to_string())
}

/// Polls `read` until it answers `Some`, within the deadline.
async fn eventually<T, F, Fut>(what: &str, mut read: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(value) = read().await {
            return value;
        }
        assert!(Instant::now() < deadline, "{what}: not within {DEADLINE:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls the state `read` answers until it is `last`, and returns the distinct states seen, in order.
async fn states<F, Fut>(what: &str, last: &str, mut read: F) -> Vec<String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = String>,
{
    let deadline = Instant::now() + DEADLINE;
    let mut seen: Vec<String> = vec![];
    loop {
        let state = read().await;
        if seen.last() != Some(&state) {
            seen.push(state.clone());
        }
        if state == last {
            break;
        }
        assert!(Instant::now() < deadline, "{what}: not {last} within {DEADLINE:?} (seen {seen:?})");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    seen
}

/// A VPC with two subnets (zones a and b), a security group and an internet gateway attached,
/// created as the observer (which eventual consistency never refuses).
struct Network {
    vpc: String,
    subnets: [String; 2],
    group: String,
    gateway: String,
}

async fn network(ec2: &aws_sdk_ec2::Client, cidr: u8) -> Network {
    let vpc = ec2.create_vpc().cidr_block(format!("10.{cidr}.0.0/16")).send().await.unwrap();
    let vpc = vpc.vpc().unwrap().vpc_id().unwrap().to_string();
    let mut subnets = vec![];
    for (i, zone) in ["us-east-1a", "us-east-1b"].iter().enumerate() {
        let subnet = ec2
            .create_subnet()
            .vpc_id(&vpc)
            .cidr_block(format!("10.{cidr}.{}.0/24", i + 1))
            .availability_zone(*zone)
            .send()
            .await
            .unwrap();
        subnets.push(subnet.subnet().unwrap().subnet_id().unwrap().to_string());
    }
    let group = ec2.create_security_group().group_name("tasks").description("tasks").vpc_id(&vpc).send().await.unwrap();
    let gateway = ec2.create_internet_gateway().send().await.unwrap();
    let gateway = gateway.internet_gateway().unwrap().internet_gateway_id().unwrap().to_string();
    ec2.attach_internet_gateway().internet_gateway_id(&gateway).vpc_id(&vpc).send().await.unwrap();
    Network {
        vpc,
        subnets: [subnets[0].clone(), subnets[1].clone()],
        group: group.group_id().unwrap().to_string(),
        gateway,
    }
}

/// The ARN of a new load balancer `web` in `net`'s two subnets.
async fn load_balancer(elb: &aws_sdk_elasticloadbalancingv2::Client, net: &Network) -> String {
    let created = elb
        .create_load_balancer()
        .name("web")
        .subnets(&net.subnets[0])
        .subnets(&net.subnets[1])
        .security_groups(&net.group)
        .send()
        .await
        .unwrap();
    created.load_balancers()[0].load_balancer_arn().unwrap().to_string()
}

/// The network interfaces with `name` = `value` (a DescribeNetworkInterfaces filter).
async fn interfaces(ec2: &aws_sdk_ec2::Client, name: &str, value: &str) -> Vec<aws_sdk_ec2::types::NetworkInterface> {
    let filter = Filter::builder().name(name).values(value).build();
    ec2.describe_network_interfaces().filters(filter).send().await.unwrap().network_interfaces().to_vec()
}

#[tokio::test]
async fn eventual_consistency_hides_new_resources_once_and_never_from_the_observer() {
    // A window of 100 AWS minutes (10 s): long enough that no call of this test misses it.
    let emulator = Emulator::start_with(AwsBehaviour::lenient().consistency(true).duration("consistency", 100.0));
    let ec2 = aws_sdk_ec2::Client::new(&emulator.sdk_config().await);
    let observer = aws_sdk_ec2::Client::new(&emulator.observer_config().await);

    let vpc = ec2.create_vpc().cidr_block("10.0.0.0/16").send().await.unwrap();
    let vpc = vpc.vpc().unwrap().vpc_id().unwrap().to_string();
    // The observer sees it at once, and looking does not use up the engine's NotFound.
    let seen = observer.describe_vpcs().vpc_ids(&vpc).send().await.unwrap();
    assert_eq!(seen.vpcs().len(), 1);
    let modify = || {
        ec2.modify_vpc_attribute()
            .vpc_id(&vpc)
            .enable_dns_hostnames(aws_sdk_ec2::types::AttributeBooleanValue::builder().value(true).build())
            .send()
    };
    let error = modify().await.expect_err("the first mutation right after the create does not find it");
    assert_eq!(error.raw_response().map(|r| r.status().as_u16()), Some(400));
    assert_eq!(error.code(), Some("InvalidVpcID.NotFound"));
    assert_eq!(error.message(), Some(format!("The vpc ID '{vpc}' does not exist").as_str()));
    modify().await.expect("once per resource: the retry finds it");

    // A describe with filters right after the create leaves the new subnet out, once.
    let subnet = ec2.create_subnet().vpc_id(&vpc).cidr_block("10.0.1.0/24").send().await.unwrap();
    let subnet = subnet.subnet().unwrap().subnet_id().unwrap().to_string();
    let by_vpc = Filter::builder().name("vpc-id").values(&vpc).build();
    let listed = |client: aws_sdk_ec2::Client, filter: Filter| async move {
        let answer = client.describe_subnets().filters(filter).send().await.unwrap();
        answer.subnets().iter().map(|s| s.subnet_id().unwrap().to_string()).collect::<Vec<_>>()
    };
    assert!(listed(observer.clone(), by_vpc.clone()).await.contains(&subnet), "the observer lists it");
    assert!(!listed(ec2.clone(), by_vpc.clone()).await.contains(&subnet), "left out of the first listing");
    assert!(listed(ec2.clone(), by_vpc.clone()).await.contains(&subnet), "listed the second time");

    // A describe naming it by id answers NotFound, once.
    let group = ec2.create_security_group().group_name("g").description("g").vpc_id(&vpc).send().await.unwrap();
    let group = group.group_id().unwrap().to_string();
    let (code, message) = refused(ec2.describe_security_groups().group_ids(&group).send().await);
    assert_eq!(
        (code.as_str(), message),
        ("InvalidGroup.NotFound", format!("The security group '{group}' does not exist"))
    );
    ec2.describe_security_groups().group_ids(&group).send().await.expect("found the second time");

    // IAM: a role just created cannot be found by the first call that changes it.
    let iam = aws_sdk_iam::Client::new(&emulator.sdk_config().await);
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#;
    iam.create_role().role_name("task").assume_role_policy_document(trust).send().await.unwrap();
    let put = || iam.put_role_policy().role_name("task").policy_name("read").policy_document(policy).send();
    let (code, message) = refused(put().await);
    assert_eq!((code.as_str(), message.as_str()), ("NoSuchEntity", "The role with name task cannot be found."));
    put().await.expect("once: the retry finds the role");

    // Switched off while running: a new resource is found at once.
    emulator.configure(serde_json::json!({ "consistency": false }));
    let gateway = ec2.create_internet_gateway().send().await.unwrap();
    let gateway = gateway.internet_gateway().unwrap().internet_gateway_id().unwrap().to_string();
    ec2.attach_internet_gateway().internet_gateway_id(&gateway).vpc_id(&vpc).send().await.unwrap();
}

#[tokio::test]
async fn eventual_consistency_ends_with_its_window() {
    let emulator = Emulator::start_with(AwsBehaviour::lenient().consistency(true).duration("consistency", 1.0));
    let ec2 = aws_sdk_ec2::Client::new(&emulator.sdk_config().await);
    let gateway = ec2.create_internet_gateway().send().await.unwrap();
    let gateway = gateway.internet_gateway().unwrap().internet_gateway_id().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(200)).await; // the window is 0.1 s
    let vpc = ec2.create_vpc().cidr_block("10.0.0.0/16").send().await.unwrap();
    let vpc = vpc.vpc().unwrap().vpc_id().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(200)).await;
    ec2.attach_internet_gateway().internet_gateway_id(&gateway).vpc_id(&vpc).send().await.expect("both visible by now");
}

fn rds_create(
    rds: &aws_sdk_rds::Client,
    id: &str,
) -> aws_sdk_rds::operation::create_db_instance::builders::CreateDBInstanceFluentBuilder {
    rds.create_db_instance()
        .db_instance_identifier(id)
        .db_instance_class("db.t3.micro")
        .engine("postgres")
        .engine_version("16.3")
        .allocated_storage(20)
        .storage_type("gp3")
        .master_username("app")
        .master_user_password("correct-horse-battery")
}

async fn rds_read(rds: &aws_sdk_rds::Client, id: &str) -> aws_sdk_rds::types::DbInstance {
    let answer = rds.describe_db_instances().db_instance_identifier(id).send().await.unwrap();
    answer.db_instances()[0].clone()
}

fn status(db: &aws_sdk_rds::types::DbInstance) -> String {
    db.db_instance_status().unwrap_or_default().to_string()
}

#[tokio::test]
async fn rds_instances_are_created_then_modified_in_stages() {
    // Each state this test acts in lasts at least a second (machines under load included).
    let behaviour = AwsBehaviour::strict()
        .duration("rds_creating", 10.0)
        .duration("rds_backing_up", 10.0)
        .duration("rds_modifying", 20.0)
        .duration("rds_storage_optimization", 20.0);
    let emulator = Emulator::start_with(behaviour);
    let rds = aws_sdk_rds::Client::new(&emulator.sdk_config().await);
    let observer = aws_sdk_rds::Client::new(&emulator.observer_config().await);

    let created = rds_create(&rds, "cards").send().await.unwrap();
    assert_eq!(created.db_instance().unwrap().db_instance_status(), Some("creating"));
    let seen =
        states("the instance becomes available", "available", || async { status(&rds_read(&observer, "cards").await) })
            .await;
    assert_eq!(seen, ["creating", "backing-up", "available"]);

    // Storage never shrinks, and the refusal changes nothing.
    let shrink = rds
        .modify_db_instance()
        .db_instance_identifier("cards")
        .allocated_storage(10)
        .apply_immediately(true)
        .send()
        .await;
    let (code, message) = refused(shrink);
    assert_eq!(code, "InvalidParameterCombination");
    assert_eq!(message, "Invalid storage size for engine name postgres and storage type gp3: 10");
    assert_eq!(rds_read(&observer, "cards").await.allocated_storage(), Some(20));

    let modified = rds
        .modify_db_instance()
        .db_instance_identifier("cards")
        .allocated_storage(30)
        .apply_immediately(true)
        .send()
        .await
        .unwrap();
    let answer = modified.db_instance().unwrap();
    assert_eq!(answer.pending_modified_values().and_then(|p| p.allocated_storage()), Some(30));
    // The first read after the modification still says `available`, with the change pending.
    let first = rds_read(&rds, "cards").await;
    assert_eq!((status(&first).as_str(), first.allocated_storage()), ("available", Some(20)));
    assert_eq!(first.pending_modified_values().and_then(|p| p.allocated_storage()), Some(30));
    let during = rds_read(&rds, "cards").await;
    assert_eq!((status(&during).as_str(), during.allocated_storage()), ("modifying", Some(20)));
    assert_eq!(during.pending_modified_values().and_then(|p| p.allocated_storage()), Some(30));
    let modifying = rds.modify_db_instance().db_instance_identifier("cards").backup_retention_period(7).send().await;
    assert_eq!(
        refused(modifying),
        ("InvalidDBInstanceState".into(), "Database instance is not in available state.".into())
    );

    let optimizing = eventually("storage optimization", || async {
        let db = rds_read(&observer, "cards").await;
        (status(&db) != "modifying").then_some(db)
    })
    .await;
    assert_eq!(status(&optimizing), "storage-optimization");
    assert_eq!(optimizing.allocated_storage(), Some(30), "the change is applied");
    assert_eq!(optimizing.pending_modified_values().and_then(|p| p.allocated_storage()), None);
    let again = rds
        .modify_db_instance()
        .db_instance_identifier("cards")
        .allocated_storage(40)
        .apply_immediately(true)
        .send()
        .await;
    let (code, message) = refused(again);
    assert_eq!(code, "InvalidParameterCombination");
    assert_eq!(
        message,
        "You can't currently modify the storage of this DB instance because the previous storage change is being optimized."
    );
    // Usable meanwhile: other modifications are accepted.
    rds.modify_db_instance().db_instance_identifier("cards").deletion_protection(false).send().await.unwrap();
    let seen = states("optimization ends", "available", || async { status(&rds_read(&observer, "cards").await) }).await;
    assert_eq!(seen.first().map(String::as_str), Some("storage-optimization"));
}

/// What RDS checks of the parameter group and the Enhanced Monitoring role an instance names,
/// and the log groups it publishes to.
#[tokio::test]
async fn rds_checks_parameter_groups_and_monitoring_roles_and_creates_log_groups() {
    // Lifecycles off: the instance takes a modification at once.
    let emulator = Emulator::start_with(AwsBehaviour::lenient().consistency(true));
    let config = emulator.sdk_config().await;
    let (rds, iam) = (aws_sdk_rds::Client::new(&config), aws_sdk_iam::Client::new(&config));
    let logs = aws_sdk_cloudwatchlogs::Client::new(&config);
    let group = |name: &str, family: &str| {
        rds.create_db_parameter_group()
            .db_parameter_group_name(name)
            .db_parameter_group_family(family)
            .description("test")
            .send()
    };
    group("pg15", "postgres15").await.unwrap();
    group("pg16", "postgres16").await.unwrap();
    let (code, message) = refused(rds_create(&rds, "cards").db_parameter_group_name("pg15").send().await);
    assert_eq!(code, "InvalidParameterCombination");
    assert!(message.contains("Use a parameter group with DBParameterGroupFamily postgres16"), "{message}");

    // A role that does not trust RDS monitoring is refused; a trusting one, moments after its
    // creation, once.
    let trust = |service: &str| {
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"Service":"{service}"}},"Action":"sts:AssumeRole"}}]}}"#
        )
    };
    let role = |name: &'static str, service: &str| {
        iam.create_role().role_name(name).assume_role_policy_document(trust(service)).send()
    };
    let ecs = role("ecs", "ecs-tasks.amazonaws.com").await.unwrap().role().unwrap().arn().to_string();
    let monitoring =
        role("monitoring", "monitoring.rds.amazonaws.com").await.unwrap().role().unwrap().arn().to_string();
    let monitored = |arn: &str| {
        rds_create(&rds, "cards")
            .db_parameter_group_name("pg16")
            .enable_cloudwatch_logs_exports("postgresql")
            .monitoring_interval(60)
            .monitoring_role_arn(arn)
    };
    let enhanced =
        "IAM role ARN value is invalid or does not include the required permissions for: ENHANCED_MONITORING";
    assert_eq!(refused(monitored(&ecs).send().await), ("InvalidParameterValue".to_string(), enhanced.to_string()));
    assert_eq!(refused(monitored(&monitoring).send().await).1, enhanced, "not assumable yet");
    monitored(&monitoring).send().await.expect("assumable by now");

    // RDS made the log group it publishes to, keeping events forever.
    let groups = logs.describe_log_groups().log_group_name_prefix("/aws/rds/instance/cards/").send().await.unwrap();
    let [group] = groups.log_groups() else { panic!("one group: {groups:?}") };
    assert_eq!((group.log_group_name(), group.retention_in_days()), (Some("/aws/rds/instance/cards/postgresql"), None));

    // A group in use is not deleted; the engine's default group is there to go back to.
    let (code, _) = refused(rds.delete_db_parameter_group().db_parameter_group_name("pg16").send().await);
    assert_eq!(code, "InvalidDBParameterGroupState");
    let back = rds
        .modify_db_instance()
        .db_instance_identifier("cards")
        .db_parameter_group_name("default.postgres16")
        .apply_immediately(true)
        .send()
        .await
        .unwrap();
    let name = back.db_instance().unwrap().db_parameter_groups()[0].db_parameter_group_name();
    assert_eq!(name, Some("default.postgres16"));
    rds.delete_db_parameter_group().db_parameter_group_name("pg16").send().await.unwrap();
}

#[tokio::test]
async fn rds_modifications_not_applied_immediately_wait_for_the_maintenance_window() {
    let emulator = Emulator::start_with(AwsBehaviour::strict().duration("rds_modifying", 10.0));
    let rds = aws_sdk_rds::Client::new(&emulator.sdk_config().await);
    let observer = aws_sdk_rds::Client::new(&emulator.observer_config().await);
    rds_create(&rds, "cards").send().await.unwrap();
    states("available", "available", || async { status(&rds_read(&observer, "cards").await) }).await;

    let deferred = rds
        .modify_db_instance()
        .db_instance_identifier("cards")
        .db_instance_class("db.t3.small")
        .backup_retention_period(3)
        .send()
        .await
        .unwrap();
    let answer = deferred.db_instance().unwrap();
    assert_eq!(answer.pending_modified_values().and_then(|p| p.db_instance_class()), Some("db.t3.small"));
    assert_eq!(answer.backup_retention_period(), Some(3), "applied at once regardless of ApplyImmediately");
    tokio::time::sleep(Duration::from_millis(1200)).await; // longer than a modification takes
    let waiting = rds_read(&rds, "cards").await;
    assert_eq!((status(&waiting).as_str(), waiting.db_instance_class()), ("available", Some("db.t3.micro")));
    assert_eq!(waiting.pending_modified_values().and_then(|p| p.db_instance_class()), Some("db.t3.small"));

    emulator.maintenance_window();
    assert_eq!(emulator.behaviour()["maintenance"], false, "the window is a moment");
    let seen = states("the deferred change is applied", "available db.t3.small", || async {
        let db = rds_read(&rds, "cards").await;
        format!("{} {}", status(&db), db.db_instance_class().unwrap_or_default())
    })
    .await;
    assert_eq!(seen, ["available db.t3.micro", "modifying db.t3.micro", "available db.t3.small"]);
    let done = rds_read(&observer, "cards").await;
    assert_eq!(done.pending_modified_values().and_then(|p| p.db_instance_class()), None);
}

#[tokio::test]
async fn rds_deletion_takes_a_while_and_keeps_the_final_snapshot() {
    let emulator =
        Emulator::start_with(AwsBehaviour::strict().duration("rds_creating", 20.0).duration("rds_deleting", 20.0));
    let rds = aws_sdk_rds::Client::new(&emulator.sdk_config().await);
    rds_create(&rds, "cards").send().await.unwrap();
    let early = rds
        .delete_db_instance()
        .db_instance_identifier("cards")
        .final_db_snapshot_identifier("cards-final")
        .send()
        .await;
    assert_eq!(refused(early).0, "InvalidDBInstanceState", "no final snapshot of an instance being created");
    states("available", "available", || async { status(&rds_read(&rds, "cards").await) }).await;

    let (code, message) = refused(rds.delete_db_instance().db_instance_identifier("cards").send().await);
    assert_eq!(
        (code.as_str(), message.as_str()),
        ("InvalidParameterCombination", "FinalDBSnapshotIdentifier is required unless SkipFinalSnapshot is specified.")
    );
    let deleted = rds
        .delete_db_instance()
        .db_instance_identifier("cards")
        .final_db_snapshot_identifier("cards-final")
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.db_instance().unwrap().db_instance_status(), Some("deleting"));
    assert_eq!(status(&rds_read(&rds, "cards").await), "deleting");
    let listed = rds.describe_db_instances().send().await.unwrap();
    assert_eq!(listed.db_instances().iter().map(status).collect::<Vec<_>>(), ["deleting"]);
    let (code, _) = refused(rds_create(&rds, "cards").send().await);
    assert_eq!(code, "DBInstanceAlreadyExists");
    let snapshot = rds.describe_db_snapshots().db_snapshot_identifier("cards-final").send().await.unwrap();
    assert_eq!(snapshot.db_snapshots().len(), 1, "moto took the final snapshot");
    eventually("the instance is gone", || async {
        let answer = rds.describe_db_instances().db_instance_identifier("cards").send().await;
        answer.err().filter(|e| e.code() == Some("DBInstanceNotFound")).map(|_| ())
    })
    .await;
}

#[tokio::test]
async fn nat_gateways_are_pending_then_deleting_and_hold_their_subnet_and_gateway() {
    let emulator =
        Emulator::start_with(AwsBehaviour::strict().duration("nat_pending", 10.0).duration("nat_deleting", 20.0));
    let ec2 = aws_sdk_ec2::Client::new(&emulator.observer_config().await);
    let net = network(&ec2, 1).await;
    let address = ec2.allocate_address().domain(DomainType::Vpc).send().await.unwrap();
    let allocation = address.allocation_id().unwrap().to_string();
    let nat = ec2.create_nat_gateway().subnet_id(&net.subnets[0]).allocation_id(&allocation).send().await.unwrap();
    let nat = nat.nat_gateway().unwrap();
    assert_eq!(nat.state().map(|s| s.as_str()), Some("pending"));
    let id = nat.nat_gateway_id().unwrap().to_string();
    let state = || async {
        let answer = ec2.describe_nat_gateways().nat_gateway_ids(&id).send().await.unwrap();
        answer.nat_gateways()[0].state().map(|s| s.as_str().to_string()).unwrap_or_default()
    };
    assert_eq!(states("available", "available", state).await, ["pending", "available"]);

    let detach = ec2.detach_internet_gateway().internet_gateway_id(&net.gateway).vpc_id(&net.vpc).send().await;
    let (code, message) = refused(detach);
    assert_eq!(code, "DependencyViolation");
    assert_eq!(
        message,
        format!(
            "Network {} has some mapped public address(es). Please unmap those public address(es) before detaching the gateway.",
            net.vpc
        )
    );
    ec2.delete_nat_gateway().nat_gateway_id(&id).send().await.unwrap();
    let (code, message) = refused(ec2.delete_subnet().subnet_id(&net.subnets[0]).send().await);
    assert_eq!(code, "DependencyViolation");
    assert_eq!(message, format!("The subnet '{}' has dependencies and cannot be deleted.", net.subnets[0]));
    assert_eq!(states("deleted", "deleted", state).await, ["deleting", "deleted"]);

    ec2.delete_subnet().subnet_id(&net.subnets[0]).send().await.expect("the gateway's interface is gone");
    ec2.detach_internet_gateway().internet_gateway_id(&net.gateway).vpc_id(&net.vpc).send().await.unwrap();
    ec2.release_address().allocation_id(&allocation).send().await.unwrap();
}

#[tokio::test]
async fn load_balancers_provision_and_leave_their_interfaces_behind() {
    let emulator =
        Emulator::start_with(AwsBehaviour::strict().duration("lb_provisioning", 10.0).duration("eni_linger", 20.0));
    let config = emulator.observer_config().await;
    let (ec2, elb) = (aws_sdk_ec2::Client::new(&config), aws_sdk_elasticloadbalancingv2::Client::new(&config));
    let net = network(&ec2, 2).await;
    let other = ec2.create_security_group().group_name("lb").description("lb").vpc_id(&net.vpc).send().await.unwrap();
    let other = other.group_id().unwrap().to_string();

    let created = elb
        .create_load_balancer()
        .name("web")
        .subnets(&net.subnets[0])
        .subnets(&net.subnets[1])
        .security_groups(&net.group)
        .scheme(aws_sdk_elasticloadbalancingv2::types::LoadBalancerSchemeEnum::InternetFacing)
        .send()
        .await
        .unwrap();
    let lb = created.load_balancers()[0].clone();
    let arn = lb.load_balancer_arn().unwrap().to_string();
    let state = || async {
        let answer = elb.describe_load_balancers().load_balancer_arns(&arn).send().await.unwrap();
        let lb = &answer.load_balancers()[0];
        lb.state().and_then(|s| s.code()).map(|c| c.as_str().to_string()).unwrap_or_default()
    };
    assert_eq!(states("active", "active", state).await, ["provisioning", "active"]);

    let mine = interfaces(&ec2, "group-id", &net.group).await;
    assert_eq!(mine.len(), 2, "one per subnet");
    let description = format!("ELB {}", arn.split(":loadbalancer/").nth(1).unwrap());
    for eni in &mine {
        assert_eq!(eni.description(), Some(description.as_str()));
        assert_eq!(eni.requester_managed(), Some(true));
        assert!(eni.association().and_then(|a| a.public_ip()).is_some(), "internet-facing: a public address");
    }
    let (code, message) = refused(ec2.delete_security_group().group_id(&net.group).send().await);
    assert_eq!(
        (code.as_str(), message),
        ("DependencyViolation", format!("resource {} has a dependent object", net.group))
    );
    let eni = mine[0].network_interface_id().unwrap();
    assert_eq!(
        refused(ec2.delete_network_interface().network_interface_id(eni).send().await).0,
        "InvalidNetworkInterface.InUse"
    );

    elb.set_security_groups().load_balancer_arn(&arn).security_groups(&other).send().await.unwrap();
    assert!(
        interfaces(&ec2, "group-id", &net.group).await.is_empty(),
        "the interfaces follow the load balancer's groups"
    );
    ec2.delete_security_group().group_id(&net.group).send().await.unwrap();

    elb.delete_load_balancer().load_balancer_arn(&arn).send().await.unwrap();
    assert_eq!(interfaces(&ec2, "description", &description).await.len(), 2, "they outlive the load balancer");
    assert_eq!(refused(ec2.delete_security_group().group_id(&other).send().await).0, "DependencyViolation");
    let detach = ec2.detach_internet_gateway().internet_gateway_id(&net.gateway).vpc_id(&net.vpc).send().await;
    assert_eq!(refused(detach).0, "DependencyViolation", "their public addresses are still mapped");
    eventually("the interfaces are gone", || async {
        interfaces(&ec2, "description", &description).await.is_empty().then_some(())
    })
    .await;
    ec2.delete_security_group().group_id(&other).send().await.unwrap();
    ec2.detach_internet_gateway().internet_gateway_id(&net.gateway).vpc_id(&net.vpc).send().await.unwrap();
}

/// A cluster, a Cloud Map service and a way to register task definitions, on a network.
struct Ecs {
    ecs: aws_sdk_ecs::Client,
    ec2: aws_sdk_ec2::Client,
    discovery: aws_sdk_servicediscovery::Client,
    net: Network,
    registry_id: String,
    registry_arn: String,
}

impl Ecs {
    async fn new(emulator: &Emulator) -> Self {
        let config = emulator.observer_config().await;
        let ec2 = aws_sdk_ec2::Client::new(&config);
        let ecs = aws_sdk_ecs::Client::new(&config);
        let discovery = aws_sdk_servicediscovery::Client::new(&config);
        let net = network(&ec2, 3).await;
        ecs.create_cluster().cluster_name("apps").send().await.unwrap();
        discovery.create_private_dns_namespace().name("apps.local").vpc(&net.vpc).send().await.unwrap();
        let namespaces = discovery.list_namespaces().send().await.unwrap();
        let namespace = namespaces.namespaces()[0].id().unwrap().to_string();
        let record = aws_sdk_servicediscovery::types::DnsRecord::builder()
            .r#type(aws_sdk_servicediscovery::types::RecordType::A)
            .ttl(10)
            .build()
            .unwrap();
        let dns = aws_sdk_servicediscovery::types::DnsConfig::builder().dns_records(record).build().unwrap();
        let service =
            discovery.create_service().name("api").namespace_id(namespace).dns_config(dns).send().await.unwrap();
        let service = service.service().unwrap();
        let (registry_id, registry_arn) = (service.id().unwrap().to_string(), service.arn().unwrap().to_string());
        Self { ecs, ec2, discovery, net, registry_id, registry_arn }
    }

    async fn task_definition(&self, image: &str) -> String {
        let container = ContainerDefinition::builder().name("api").image(image).essential(true).build();
        let registered = self
            .ecs
            .register_task_definition()
            .family("api")
            .network_mode(NetworkMode::Awsvpc)
            .requires_compatibilities(Compatibility::Fargate)
            .cpu("256")
            .memory("512")
            .container_definitions(container)
            .send()
            .await
            .unwrap();
        registered.task_definition().unwrap().task_definition_arn().unwrap().to_string()
    }

    fn create(
        &self,
        task_definition: &str,
    ) -> aws_sdk_ecs::operation::create_service::builders::CreateServiceFluentBuilder {
        let awsvpc = AwsVpcConfiguration::builder()
            .subnets(&self.net.subnets[0])
            .subnets(&self.net.subnets[1])
            .security_groups(&self.net.group)
            .build()
            .unwrap();
        let breaker = DeploymentCircuitBreaker::builder().enable(true).rollback(true).build();
        self.ecs
            .create_service()
            .cluster("apps")
            .service_name("api")
            .task_definition(task_definition)
            .desired_count(2)
            .launch_type(LaunchType::Fargate)
            .network_configuration(NetworkConfiguration::builder().awsvpc_configuration(awsvpc).build())
            .deployment_configuration(
                DeploymentConfiguration::builder()
                    .deployment_circuit_breaker(breaker)
                    .maximum_percent(200)
                    .minimum_healthy_percent(100)
                    .build(),
            )
            .service_registries(ServiceRegistry::builder().registry_arn(&self.registry_arn).build())
    }

    async fn service(&self) -> aws_sdk_ecs::types::Service {
        let answer = self.ecs.describe_services().cluster("apps").services("api").send().await.unwrap();
        answer.services()[0].clone()
    }

    async fn instances(&self) -> Vec<aws_sdk_servicediscovery::types::InstanceSummary> {
        let answer = self.discovery.list_instances().service_id(&self.registry_id).send().await.unwrap();
        answer.instances().to_vec()
    }
}

/// Each deployment as `status rolloutState taskDefinitionRevision`.
fn deployments(service: &aws_sdk_ecs::types::Service) -> Vec<String> {
    service
        .deployments()
        .iter()
        .map(|d| {
            let revision = d.task_definition().unwrap_or_default().rsplit(':').next().unwrap_or_default().to_string();
            format!(
                "{} {} {revision}",
                d.status().unwrap_or_default(),
                d.rollout_state().map(|s| s.as_str()).unwrap_or_default()
            )
        })
        .collect()
}

#[tokio::test]
async fn ecs_deployments_complete_and_tasks_get_interfaces_and_cloud_map_instances() {
    let emulator = Emulator::start_with(AwsBehaviour::strict().duration("ecs_deployment", 10.0));
    let ecs = Ecs::new(&emulator).await;
    let first = ecs.task_definition("registry.example/api:1").await;
    let created = ecs.create(&first).client_token("create-api").send().await.unwrap();
    let service = created.service().unwrap();
    let deployment = &service.deployments()[0];
    assert_eq!(
        (deployment.status(), deployment.rollout_state()),
        (Some("PRIMARY"), Some(&DeploymentRolloutState::InProgress))
    );
    assert!(deployment.id().unwrap().starts_with("ecs-svc/"));
    let breaker = service.deployment_configuration().and_then(|c| c.deployment_circuit_breaker()).unwrap();
    assert!(breaker.enable() && breaker.rollback(), "the deployment configuration is reported as sent");

    let seen = states("the deployment completes", "COMPLETED", || async {
        let service = ecs.service().await;
        service.deployments()[0].rollout_state().map(|s| s.as_str().to_string()).unwrap_or_default()
    })
    .await;
    assert_eq!(seen, ["IN_PROGRESS", "COMPLETED"]);
    let service = ecs.service().await;
    let deployment = &service.deployments()[0];
    assert_eq!(
        deployment.rollout_state_reason(),
        Some(format!("ECS deployment {} completed.", deployment.id().unwrap()).as_str())
    );
    assert_eq!((service.running_count(), service.desired_count()), (2, 2));
    assert_eq!(service.events()[0].message(), Some("(service api) has reached a steady state."));

    let enis = interfaces(&ecs.ec2, "group-id", &ecs.net.group).await;
    assert_eq!(enis.len(), 2, "one interface per task");
    let subnets: std::collections::BTreeSet<_> = enis.iter().map(|e| e.subnet_id().unwrap()).collect();
    assert_eq!(subnets.len(), 2, "spread over the service's subnets");
    for eni in &enis {
        assert!(eni.description().unwrap().starts_with("arn:aws:ecs:us-east-1:"), "{:?}", eni.description());
        assert!(eni.description().unwrap().contains(":attachment/"));
        assert_eq!(eni.requester_managed(), Some(true));
    }
    let addresses: std::collections::BTreeSet<_> =
        enis.iter().map(|e| e.private_ip_address().unwrap().to_string()).collect();
    let instances = ecs.instances().await;
    let registered: std::collections::BTreeSet<_> =
        instances.iter().map(|i| i.attributes().unwrap()["AWS_INSTANCE_IPV4"].clone()).collect();
    assert_eq!(registered, addresses, "each task is registered in Cloud Map with its interface's address");

    // A retry of the same create (same client token and parameters) answers the service; any
    // other create of the name is refused.
    ecs.create(&first).client_token("create-api").send().await.expect("an idempotent retry");
    let (code, message) = refused(ecs.create(&first).send().await);
    assert_eq!(
        (code.as_str(), message.as_str()),
        ("InvalidParameterException", "Creation of service was not idempotent.")
    );
}

#[tokio::test]
async fn ecs_circuit_breaker_fails_a_deployment_whose_tasks_fail_and_rolls_back() {
    let emulator =
        Emulator::start_with(AwsBehaviour::strict().duration("ecs_deployment", 10.0).duration("ecs_rollback", 10.0));
    let ecs = Ecs::new(&emulator).await;
    let good = ecs.task_definition("registry.example/api:good").await;
    ecs.create(&good).send().await.unwrap();
    eventually("the first deployment completes", || async {
        let service = ecs.service().await;
        (service.deployments()[0].rollout_state() == Some(&DeploymentRolloutState::Completed)).then_some(())
    })
    .await;

    emulator.fail_images(&["registry.example/api:bad"]);
    let bad = ecs.task_definition("registry.example/api:bad").await;
    ecs.ecs.update_service().cluster("apps").service("api").task_definition(&bad).send().await.unwrap();
    let during = ecs.service().await;
    assert_eq!(deployments(&during), ["PRIMARY IN_PROGRESS 2", "ACTIVE COMPLETED 1"]);

    let seen =
        states("rolled back", "PRIMARY COMPLETED 1", || async { deployments(&ecs.service().await)[0].clone() }).await;
    assert_eq!(seen, ["PRIMARY IN_PROGRESS 2", "PRIMARY IN_PROGRESS 1", "PRIMARY COMPLETED 1"]);
    let service = ecs.service().await;
    assert_eq!(service.task_definition(), Some(good.as_str()), "back to the last completed task definition");
    assert_eq!(deployments(&service), ["PRIMARY COMPLETED 1"]);
    let messages: Vec<_> = service.events().iter().map(|e| e.message().unwrap_or_default().to_string()).collect();
    let failed =
        messages.iter().find(|m| m.ends_with("deployment failed: tasks failed to start.")).expect("a failure event");
    let failed_id = failed.split("(deployment ").nth(1).unwrap().split(')').next().unwrap().to_string();
    assert!(
        messages
            .iter()
            .any(|m| m
                .starts_with(&format!("(service api) (deployment {failed_id}) rolling back to deployment ecs-svc/"))),
        "{messages:?}"
    );
}

#[tokio::test]
async fn ecs_failed_deployment_is_listed_until_the_rollback_completes() {
    let emulator = Emulator::start_with(
        AwsBehaviour::strict().failing_images(&["registry.example/api:bad"]).duration("ecs_rollback", 20.0),
    );
    let ecs = Ecs::new(&emulator).await;
    let good = ecs.task_definition("registry.example/api:good").await;
    ecs.create(&good).send().await.unwrap();
    eventually("completed", || async {
        (ecs.service().await.deployments()[0].rollout_state() == Some(&DeploymentRolloutState::Completed)).then_some(())
    })
    .await;
    let bad = ecs.task_definition("registry.example/api:bad").await;
    ecs.ecs.update_service().cluster("apps").service("api").task_definition(&bad).send().await.unwrap();
    let rolling_back = eventually("the rollback starts", || async {
        let service = ecs.service().await;
        (deployments(&service).len() == 3).then_some(service)
    })
    .await;
    assert_eq!(deployments(&rolling_back), ["PRIMARY IN_PROGRESS 1", "ACTIVE FAILED 2", "ACTIVE COMPLETED 1"]);
    let failed = &rolling_back.deployments()[1];
    assert_eq!(failed.rollout_state_reason(), Some("ECS deployment circuit breaker: task failed to start."));
    assert_eq!(failed.running_count(), 0);
    assert_eq!(rolling_back.task_definition(), Some(good.as_str()));
}

#[tokio::test]
async fn ecs_deleted_services_drain_and_their_tasks_hold_the_network_for_a_while() {
    let emulator =
        Emulator::start_with(AwsBehaviour::strict().duration("ecs_draining", 20.0).duration("eni_linger", 30.0));
    let ecs = Ecs::new(&emulator).await;
    let first = ecs.task_definition("registry.example/api:1").await;
    ecs.create(&first).send().await.unwrap();
    eventually("running", || async { (ecs.service().await.running_count() == 2).then_some(()) }).await;

    ecs.ecs.delete_service().cluster("apps").service("api").force(true).send().await.unwrap();
    assert_eq!(ecs.service().await.status(), Some("DRAINING"));
    let listed = ecs.ecs.list_services().cluster("apps").send().await.unwrap();
    assert!(listed.service_arns().is_empty(), "a draining service is not listed");
    let (code, message) = refused(ecs.create(&first).send().await);
    assert_eq!(
        (code.as_str(), message.as_str()),
        ("InvalidParameterException", "Creation of service was not idempotent.")
    );
    let (code, message) = refused(ecs.ecs.delete_cluster().cluster("apps").send().await);
    assert_eq!(
        (code.as_str(), message.as_str()),
        ("ClusterContainsServicesException", "The Cluster cannot be deleted while Services are active.")
    );
    let (code, _) = refused(ecs.discovery.delete_service().id(&ecs.registry_id).send().await);
    assert_eq!(code, "ResourceInUse", "the tasks are still registered");

    let seen =
        states("inactive", "INACTIVE", || async { ecs.service().await.status().unwrap_or_default().to_string() }).await;
    assert_eq!(seen, ["DRAINING", "INACTIVE"]);
    assert!(ecs.instances().await.is_empty(), "stopped tasks are deregistered");
    ecs.discovery.delete_service().id(&ecs.registry_id).send().await.unwrap();
    ecs.ecs.delete_cluster().cluster("apps").send().await.unwrap();

    // Their interfaces linger a while after the tasks stopped.
    let group = ecs.net.group.clone();
    let (code, _) = refused(ecs.ec2.delete_security_group().group_id(&group).send().await);
    assert_eq!(code, "DependencyViolation");
    let (code, _) = refused(ecs.ec2.delete_subnet().subnet_id(&ecs.net.subnets[0]).send().await);
    assert_eq!(code, "DependencyViolation");
    eventually("the interfaces are gone", || async {
        interfaces(&ecs.ec2, "group-id", &group).await.is_empty().then_some(())
    })
    .await;
    ecs.ec2.delete_security_group().group_id(&group).send().await.unwrap();
    ecs.ec2.delete_subnet().subnet_id(&ecs.net.subnets[0]).send().await.unwrap();
    ecs.ec2.delete_subnet().subnet_id(&ecs.net.subnets[1]).send().await.unwrap();
}

#[tokio::test]
async fn zones_can_be_impaired_and_a_region_can_have_two() {
    let emulator = Emulator::start_with(AwsBehaviour::lenient().zones(&["us-east-1a", "us-east-1b"]));
    let ec2 = aws_sdk_ec2::Client::new(&emulator.observer_config().await);
    let zones = |filter: Option<Filter>| {
        let ec2 = ec2.clone();
        async move {
            let answer = ec2.describe_availability_zones().set_filters(filter.map(|f| vec![f])).send().await.unwrap();
            answer
                .availability_zones()
                .iter()
                .map(|z| {
                    let state = z.state().map(|s| s.as_str()).unwrap_or_default();
                    format!("{} {} {state}", z.zone_name().unwrap(), z.zone_id().unwrap())
                })
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(zones(None).await, ["us-east-1a use1-az6 available", "us-east-1b use1-az1 available"]);
    let vpc = ec2.create_vpc().cidr_block("10.0.0.0/16").send().await.unwrap();
    let vpc = vpc.vpc().unwrap().vpc_id().unwrap().to_string();
    let (code, message) = refused(
        ec2.create_subnet().vpc_id(&vpc).cidr_block("10.0.3.0/24").availability_zone("us-east-1c").send().await,
    );
    assert_eq!(code, "InvalidParameterValue");
    assert!(
        message.ends_with(
            "Subnets can currently only be created in the following availability zones: us-east-1a, us-east-1b."
        ),
        "{message}"
    );

    emulator.impair_zone("us-east-1b");
    assert_eq!(zones(None).await, ["us-east-1a use1-az6 available", "us-east-1b use1-az1 impaired"]);
    let available = Filter::builder().name("state").values("available").build();
    assert_eq!(zones(Some(available)).await, ["us-east-1a use1-az6 available"]);
}

#[tokio::test]
async fn lenient_emulator_is_moto_as_it_is() {
    let emulator = Emulator::start_with(AwsBehaviour::lenient());
    let settings = emulator.behaviour();
    assert_eq!((settings["consistency"].clone(), settings["lifecycles"].clone()), (false.into(), false.into()));
    let rds = aws_sdk_rds::Client::new(&emulator.sdk_config().await);
    let created = rds_create(&rds, "cards").send().await.unwrap();
    assert_eq!(created.db_instance().unwrap().db_instance_status(), Some("available"));
    let ec2 = aws_sdk_ec2::Client::new(&emulator.sdk_config().await);
    let vpc = ec2.create_vpc().cidr_block("10.0.0.0/16").send().await.unwrap();
    let vpc = vpc.vpc().unwrap().vpc_id().unwrap().to_string();
    ec2.delete_vpc().vpc_id(vpc).send().await.expect("found at once");
    assert_eq!(ec2.describe_availability_zones().send().await.unwrap().availability_zones().len(), 6);
}

#[tokio::test]
async fn behaviours_are_controlled_over_tls_too_and_the_harness_looks_as_the_observer() {
    let emulator = Emulator::start_tls_with(AwsBehaviour::strict());
    assert_eq!(emulator.behaviour()["network_interfaces"], true);
    emulator.impair_zone("us-east-1c");
    let ec2 = aws_sdk_ec2::Client::new(&emulator.observer_config().await);
    let zones = ec2.describe_availability_zones().zone_names("us-east-1c").send().await.unwrap();
    assert_eq!(zones.availability_zones()[0].state().map(|s| s.as_str()), Some("impaired"));

    let h = Harness::with(AwsBehaviour::strict()).await;
    use aws_credential_types::provider::ProvideCredentials;
    let key = |config: &aws_config::SdkConfig| {
        let provider = config.credentials_provider().unwrap();
        async move { provider.provide_credentials().await.unwrap().access_key_id().to_string() }
    };
    assert_eq!(key(&h.config).await, "observer");
    assert_eq!(key(&h.engine_config).await, "testing");
}

#[tokio::test]
async fn iam_refuses_policies_over_its_size_quotas() {
    let emulator = Emulator::start_with(AwsBehaviour::lenient());
    let iam = aws_sdk_iam::Client::new(&emulator.sdk_config().await);
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    iam.create_role().role_name("big").assume_role_policy_document(trust).send().await.unwrap();
    // A document of about `size` characters: one statement naming many buckets.
    let document = |size: usize| {
        let resources: Vec<String> = (0..size / 40).map(|i| format!("arn:aws:s3:::bucket-{i:020}")).collect();
        serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": resources}]})
            .to_string()
    };
    let put = |name: &str, size: usize| {
        iam.put_role_policy().role_name("big").policy_name(name).policy_document(document(size)).send()
    };
    put("a", 6_000).await.unwrap();
    // Another 6,000 makes the role's inline policies together larger than 10,240.
    let (code, message) = refused(put("b", 6_000).await);
    assert_eq!(code, "LimitExceeded", "{message}");
    // Replacing a policy counts it once.
    put("a", 9_000).await.unwrap();

    let (code, _) = refused(iam.create_policy().policy_name("big").policy_document(document(7_000)).send().await);
    assert_eq!(code, "LimitExceeded");
    let mut arns = vec![];
    for i in 0..11 {
        let created = iam.create_policy().policy_name(format!("p{i}")).policy_document(document(100)).send().await;
        arns.push(created.unwrap().policy().unwrap().arn().unwrap().to_string());
    }
    for arn in &arns[..10] {
        iam.attach_role_policy().role_name("big").policy_arn(arn).send().await.unwrap();
    }
    let (code, message) = refused(iam.attach_role_policy().role_name("big").policy_arn(&arns[10]).send().await);
    assert_eq!((code.as_str(), message.as_str()), ("LimitExceeded", "Cannot exceed quota for PoliciesPerRole: 10"));
    let (code, _) =
        refused(iam.create_policy_version().policy_arn(&arns[0]).policy_document(document(7_000)).send().await);
    assert_eq!(code, "LimitExceeded");
}

/// A Cloud Map create sent again with its `CreatorRequestId` (an SDK retry after a lost answer)
/// answers what the first one made, as AWS documents
/// (https://docs.aws.amazon.com/cloud-map/latest/api/API_CreatePrivateDnsNamespace.html,
/// https://docs.aws.amazon.com/cloud-map/latest/api/API_CreateService.html); another id makes
/// another service.
#[tokio::test]
async fn cloud_map_creates_sent_again_with_their_request_id_run_once() {
    let emulator = Emulator::start_with(AwsBehaviour::lenient());
    let config = emulator.sdk_config().await;
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let discovery = aws_sdk_servicediscovery::Client::new(&config);
    let vpc = ec2.create_vpc().cidr_block("10.40.0.0/16").send().await.unwrap();
    let vpc = vpc.vpc().unwrap().vpc_id().unwrap().to_string();
    let create_namespace =
        || discovery.create_private_dns_namespace().name("internal.test").vpc(&vpc).creator_request_id("ns-1").send();
    let first = create_namespace().await.unwrap().operation_id().unwrap().to_string();
    let again = create_namespace().await.unwrap().operation_id().unwrap().to_string();
    assert_eq!(first, again, "the same request id answers the same operation");
    let namespaces = discovery.list_namespaces().send().await.unwrap();
    assert_eq!(namespaces.namespaces().len(), 1, "{namespaces:?}");
    let operation = discovery.get_operation().operation_id(&first).send().await.unwrap();
    let targets = operation.operation().unwrap().targets().unwrap();
    let namespace = targets.values().next().unwrap().clone();
    assert_eq!(Some(namespace.as_str()), namespaces.namespaces()[0].id());

    let create_service = |name: &'static str, token: &'static str| {
        discovery.create_service().name(name).namespace_id(&namespace).creator_request_id(token).send()
    };
    let first = create_service("cards", "svc-1").await.unwrap().service().unwrap().id().unwrap().to_string();
    let again = create_service("cards", "svc-1").await.unwrap().service().unwrap().id().unwrap().to_string();
    assert_eq!(first, again, "the same request id answers the same service");
    let other = create_service("ledger", "svc-2").await.unwrap().service().unwrap().id().unwrap().to_string();
    assert_ne!(first, other, "another request id is another create");
    assert_eq!(discovery.list_services().send().await.unwrap().services().len(), 2);
}

/// ACM as AWS documents it: a DNS-validated certificate names its record some seconds after the
/// request, stays PENDING_VALIDATION until that record is in a public zone of the account (moto
/// issues it after a minute regardless), and a load balancer refuses it until it is issued; it
/// cannot be deleted while a listener serves it, nor for a while after.
#[tokio::test]
async fn certificates_are_issued_only_once_their_validation_record_exists_and_stay_in_use_after_their_listener() {
    let emulator = Emulator::start_with(
        AwsBehaviour::strict()
            .duration("acm_record", 10.0)
            .duration("acm_validation", 3.0)
            .duration("acm_release", 5.0),
    );
    let config = emulator.observer_config().await;
    let (ec2, elb) = (aws_sdk_ec2::Client::new(&config), aws_sdk_elasticloadbalancingv2::Client::new(&config));
    let (acm, route53) = (aws_sdk_acm::Client::new(&config), aws_sdk_route53::Client::new(&config));
    let zone = route53.create_hosted_zone().name("test.example").caller_reference("zone").send().await.unwrap();
    let zone = zone.hosted_zone().unwrap().id().to_string();
    // A private zone of the same name does not validate anything.
    let private = route53
        .create_hosted_zone()
        .name("test.example")
        .caller_reference("private")
        .vpc(
            aws_sdk_route53::types::Vpc::builder()
                .vpc_id(network(&ec2, 3).await.vpc)
                .vpc_region("us-east-1".into())
                .build(),
        )
        .send()
        .await
        .unwrap();
    let private = private.hosted_zone().unwrap().id().to_string();

    let requested = acm
        .request_certificate()
        .domain_name("web.test.example")
        .validation_method(aws_sdk_acm::types::ValidationMethod::Dns)
        .send()
        .await
        .unwrap();
    let arn = requested.certificate_arn().unwrap().to_string();
    // Unknown for a few seconds, then known without its record, then with it.
    let (code, _) = refused(acm.describe_certificate().certificate_arn(&arn).send().await);
    assert_eq!(code, "ResourceNotFoundException");
    let describe = || async {
        acm.describe_certificate().certificate_arn(&arn).send().await.unwrap().certificate().unwrap().clone()
    };
    let first = eventually("the certificate described", || async {
        acm.describe_certificate().certificate_arn(&arn).send().await.ok().and_then(|c| c.certificate().cloned())
    })
    .await;
    assert!(first.domain_validation_options()[0].resource_record().is_none(), "no record named at once: {first:?}");
    let record = eventually("the validation record", || async {
        describe().await.domain_validation_options()[0].resource_record().cloned()
    })
    .await;
    let status = || async { describe().await.status().unwrap().as_str().to_string() };
    let write = |zone: String| {
        let set = aws_sdk_route53::types::ResourceRecordSet::builder()
            .name(record.name())
            .r#type(aws_sdk_route53::types::RrType::Cname)
            .ttl(300)
            .resource_records(aws_sdk_route53::types::ResourceRecord::builder().value(record.value()).build().unwrap())
            .build()
            .unwrap();
        let change = aws_sdk_route53::types::Change::builder()
            .action(aws_sdk_route53::types::ChangeAction::Create)
            .resource_record_set(set)
            .build()
            .unwrap();
        route53
            .change_resource_record_sets()
            .hosted_zone_id(zone)
            .change_batch(aws_sdk_route53::types::ChangeBatch::builder().changes(change).build().unwrap())
            .send()
    };
    write(private).await.unwrap();
    // Looked at (a record found would start the validation), then again well after a validation
    // would have ended.
    assert_eq!(status().await, "PENDING_VALIDATION");
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(status().await, "PENDING_VALIDATION", "a private zone validates nothing");

    // A listener refuses the certificate until it is issued.
    let lb = load_balancer(&elb, &network(&ec2, 4).await).await;
    let listen = || {
        elb.create_listener()
            .load_balancer_arn(&lb)
            .port(443)
            .protocol(aws_sdk_elasticloadbalancingv2::types::ProtocolEnum::Https)
            .certificates(aws_sdk_elasticloadbalancingv2::types::Certificate::builder().certificate_arn(&arn).build())
            .default_actions(
                aws_sdk_elasticloadbalancingv2::types::Action::builder()
                    .r#type(aws_sdk_elasticloadbalancingv2::types::ActionTypeEnum::FixedResponse)
                    .fixed_response_config(
                        aws_sdk_elasticloadbalancingv2::types::FixedResponseActionConfig::builder()
                            .status_code("200")
                            .build(),
                    )
                    .build(),
            )
            .send()
    };
    let (code, _) = refused(listen().await);
    assert_eq!(code, "UnsupportedCertificate");

    write(zone).await.unwrap();
    assert_eq!(states("certificate", "ISSUED", status).await, ["PENDING_VALIDATION", "ISSUED"]);
    let listener = listen().await.unwrap().listeners()[0].listener_arn().unwrap().to_string();
    let in_use = describe().await;
    assert_eq!(in_use.in_use_by(), std::slice::from_ref(&lb));
    let (code, _) = refused(acm.delete_certificate().certificate_arn(&arn).send().await);
    assert_eq!(code, "ResourceInUseException", "in use by the listener");
    elb.delete_listener().listener_arn(&listener).send().await.unwrap();
    let (code, _) = refused(acm.delete_certificate().certificate_arn(&arn).send().await);
    assert_eq!(code, "ResourceInUseException", "still in use for a while after the listener");
    eventually("the certificate deleted", || async {
        acm.delete_certificate().certificate_arn(&arn).send().await.ok()
    })
    .await;
}

/// Access logs are turned on only where the bucket's policy lets the writing service put them:
/// Elastic Load Balancing (the region's account) under `PREFIX/AWSLogs/ACCOUNT/`, as AWS checks
/// it; S3 logging (`logging.s3.amazonaws.com`, this account's buckets only) under the target
/// prefix, which moto checks when logging is turned on (AWS would fail the deliveries later). A
/// policy with a TLS-only deny, as platform writes it, is read without fault.
#[tokio::test]
async fn access_logs_are_turned_on_only_where_the_bucket_policy_lets_the_service_write() {
    use aws_sdk_elasticloadbalancingv2::types::LoadBalancerAttribute;

    let emulator = Emulator::start_with(AwsBehaviour::lenient());
    let config = emulator.sdk_config().await;
    let (s3, ec2) = (aws_sdk_s3::Client::new(&config), aws_sdk_ec2::Client::new(&config));
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&config);
    for bucket in ["logs", "images"] {
        s3.create_bucket().bucket(bucket).send().await.unwrap();
    }
    let lb = load_balancer(&elb, &network(&ec2, 7).await).await;
    let attribute = |k: &str, v: &str| LoadBalancerAttribute::builder().key(k).value(v).build();
    let lb_logs = |prefix: &str| {
        elb.modify_load_balancer_attributes()
            .load_balancer_arn(&lb)
            .attributes(attribute("access_logs.s3.enabled", "true"))
            .attributes(attribute("access_logs.s3.bucket", "logs"))
            .attributes(attribute("access_logs.s3.prefix", prefix))
            .send()
    };
    let bucket_logs = |prefix: &str| {
        let enabled = aws_sdk_s3::types::LoggingEnabled::builder().target_bucket("logs").target_prefix(prefix).build();
        s3.put_bucket_logging()
            .bucket("images")
            .bucket_logging_status(
                aws_sdk_s3::types::BucketLoggingStatus::builder().logging_enabled(enabled.unwrap()).build(),
            )
            .send()
    };
    let policy = |statements: Vec<serde_json::Value>| {
        s3.put_bucket_policy()
            .bucket("logs")
            .policy(serde_json::json!({"Version": "2012-10-17", "Statement": statements}).to_string())
            .send()
    };
    let deny_http = serde_json::json!({
        "Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": ["arn:aws:s3:::logs", "arn:aws:s3:::logs/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    });
    let elb_grant = serde_json::json!({
        "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::127311923021:root"}, "Action": "s3:PutObject",
        "Resource": "arn:aws:s3:::logs/lb/*/AWSLogs/123456789012/*",
    });
    let s3_grant = |account: &str| {
        serde_json::json!({
            "Effect": "Allow", "Principal": {"Service": "logging.s3.amazonaws.com"}, "Action": "s3:PutObject",
            "Resource": "arn:aws:s3:::logs/s3/*",
            "Condition": {"StringEquals": {"aws:SourceAccount": account}},
        })
    };

    // No policy, or only the TLS deny: neither service may write.
    for statements in [None, Some(vec![deny_http.clone()])] {
        if let Some(statements) = statements {
            policy(statements).await.unwrap();
        }
        let (code, message) = refused(lb_logs("lb/web").await);
        assert_eq!(code, "InvalidConfigurationRequest", "{message}");
        assert!(message.contains("Access Denied for bucket: logs"), "{message}");
        let (code, message) = refused(bucket_logs("s3/images/").await);
        assert_eq!(code, "InvalidTargetBucketForLogging", "{message}");
    }
    // Grants for another account's buckets, and outside the prefix, are not grants.
    policy(vec![elb_grant.clone(), s3_grant("210987654321"), deny_http.clone()]).await.unwrap();
    refused(bucket_logs("s3/images/").await);
    refused(lb_logs("web").await);
    refused(lb_logs("lb/web/AWSLogs").await);
    // The grants platform writes: both are turned on, and read back.
    policy(vec![elb_grant, s3_grant("123456789012"), deny_http]).await.unwrap();
    lb_logs("lb/web").await.unwrap();
    bucket_logs("s3/images/").await.unwrap();
    let got = s3.get_bucket_logging().bucket("images").send().await.unwrap();
    let enabled = got.logging_enabled().unwrap();
    assert_eq!((enabled.target_bucket(), enabled.target_prefix()), ("logs", "s3/images/"));
    let got = elb.describe_load_balancer_attributes().load_balancer_arn(&lb).send().await.unwrap();
    let value =
        |k: &str| got.attributes().iter().find(|a| a.key() == Some(k)).and_then(|a| a.value()).map(str::to_string);
    assert_eq!(value("access_logs.s3.enabled").as_deref(), Some("true"));
    assert_eq!(value("access_logs.s3.prefix").as_deref(), Some("lb/web"));
}

/// AWS WAF as AWS answers: a web ACL is associated only with a load balancer that exists, one web
/// ACL per resource (a second replaces the first), never deleted while associated, and logs only
/// into an existing `aws-waf-logs-*` group of its account and region; right after its create,
/// the first association names a web ACL AWS WAF does not know yet.
#[tokio::test]
async fn web_acls_front_load_balancers_that_exist_one_each_and_log_only_into_waf_log_groups() {
    use aws_sdk_wafv2::types::{
        AllowAction, DefaultAction, FieldToMatch, LoggingConfiguration, Scope, SingleHeader, VisibilityConfig,
    };
    // A window of 100 AWS minutes (10 s): long enough that no call of this test misses it.
    let emulator = Emulator::start_with(AwsBehaviour::lenient().consistency(true).duration("consistency", 100.0));
    let config = emulator.sdk_config().await;
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&config);
    let (waf, logs) = (aws_sdk_wafv2::Client::new(&config), aws_sdk_cloudwatchlogs::Client::new(&config));
    // The network as the observer makes it (EC2's own consistency is not what this test is about).
    let net = network(&aws_sdk_ec2::Client::new(&emulator.observer_config().await), 7).await;
    let lb = load_balancer(&elb, &net).await;
    let create = |name: &'static str| {
        waf.create_web_acl()
            .name(name)
            .scope(Scope::Regional)
            .default_action(DefaultAction::builder().allow(AllowAction::builder().build()).build())
            .visibility_config(
                VisibilityConfig::builder()
                    .sampled_requests_enabled(true)
                    .cloud_watch_metrics_enabled(true)
                    .metric_name(name)
                    .build()
                    .unwrap(),
            )
            .send()
    };
    let first = create("first").await.unwrap().summary().unwrap().arn().unwrap().to_string();
    let associate =
        |acl: String, resource: String| waf.associate_web_acl().web_acl_arn(acl).resource_arn(resource).send();

    let (code, message) = refused(associate(first.clone(), lb.clone()).await);
    assert_eq!(code, "WAFUnavailableEntityException", "the new web ACL is not known yet");
    assert!(message.contains("If you've just created a resource"), "{message}");
    associate(first.clone(), lb.clone()).await.expect("known a moment later");
    let gone = lb.replace("/web/", "/gone/");
    let (code, _) = refused(associate(first.clone(), gone).await);
    assert_eq!(code, "WAFNonexistentItemException", "a load balancer that does not exist");

    let second = create("second").await.unwrap().summary().unwrap().arn().unwrap().to_string();
    let _ = refused(associate(second.clone(), lb.clone()).await);
    associate(second.clone(), lb.clone()).await.unwrap();
    let front = || waf.get_web_acl_for_resource().resource_arn(&lb).send();
    assert_eq!(front().await.unwrap().web_acl().map(|a| a.arn().to_string()), Some(second.clone()), "replaced");

    let (name, id) = {
        let rest = second.split_once(":regional/webacl/").unwrap().1;
        let (name, id) = rest.split_once('/').unwrap();
        (name.to_string(), id.to_string())
    };
    let token = waf.get_web_acl().name(&name).id(&id).scope(Scope::Regional).send().await.unwrap();
    let token = token.lock_token().unwrap().to_string();
    let delete = || waf.delete_web_acl().name(&name).id(&id).scope(Scope::Regional).lock_token(&token).send();
    let (code, _) = refused(delete().await);
    assert_eq!(code, "WAFAssociatedItemException", "still in front of the load balancer");
    let listed = waf.list_resources_for_web_acl().web_acl_arn(&second).send().await.unwrap();
    assert_eq!(listed.resource_arns(), std::slice::from_ref(&lb), "what holds it");

    // Logging: only into an existing group named aws-waf-logs-*, of this account and region.
    let account = first.split(':').nth(4).unwrap().to_string();
    let group_arn = |name: &str| format!("arn:aws:logs:us-east-1:{account}:log-group:{name}");
    for name in ["/platform/test/waf", "aws-waf-logs-test"] {
        logs.create_log_group().log_group_name(name).send().await.unwrap();
    }
    let put = |destination: String| {
        let configuration = LoggingConfiguration::builder()
            .resource_arn(&first)
            .log_destination_configs(destination)
            .redacted_fields(
                FieldToMatch::builder()
                    .single_header(SingleHeader::builder().name("authorization").build().unwrap())
                    .build(),
            )
            .build()
            .unwrap();
        waf.put_logging_configuration().logging_configuration(configuration).send()
    };
    // Which of its documented errors AWS answers for each AWS does not say: refused is what counts.
    refused(put(group_arn("/platform/test/waf")).await);
    refused(put(group_arn("aws-waf-logs-missing")).await);
    refused(put(group_arn("aws-waf-logs-test").replace("us-east-1", "eu-west-1")).await);
    put(group_arn("aws-waf-logs-test")).await.unwrap();
    let read = waf.get_logging_configuration().resource_arn(&first).send().await.unwrap();
    assert_eq!(read.logging_configuration().unwrap().log_destination_configs(), [group_arn("aws-waf-logs-test")]);

    // Once the load balancer is gone, so is its association, and the web ACL can go.
    elb.delete_load_balancer().load_balancer_arn(&lb).send().await.unwrap();
    assert!(front().await.unwrap().web_acl().is_none());
    delete().await.unwrap();
}

/// KMS as AWS answers: a key policy that would not let the account change it again is refused
/// (the lockout check), a rotation period outside 90 to 2560 days is refused and the period kept
/// is reported, a disabled key cannot rotate, and CloudWatch Logs, ECR and RDS take only an
/// enabled key (CloudWatch Logs only one whose policy lets it encrypt that log group); Performance
/// Insights keeps its key once set.
#[tokio::test]
async fn keys_lock_no_one_out_rotate_as_asked_and_encrypt_only_where_their_policy_and_state_allow() {
    let emulator = Emulator::start_with(AwsBehaviour::lenient());
    let config = emulator.sdk_config().await;
    let kms = aws_sdk_kms::Client::new(&config);
    let account = "123456789012";
    let statement = |principal: serde_json::Value, actions: &[&str]| serde_json::json!({"Effect": "Allow", "Principal": principal, "Action": actions, "Resource": "*"});
    let policy = |statements: Vec<serde_json::Value>| {
        serde_json::json!({"Version": "2012-10-17", "Statement": statements}).to_string()
    };
    let root = serde_json::json!({"AWS": format!("arn:aws:iam::{account}:root")});

    // Only a service may use it, no one may manage it: refused.
    let locked =
        policy(vec![statement(serde_json::json!({"Service": "logs.us-east-1.amazonaws.com"}), &["kms:Encrypt*"])]);
    let (code, _) = refused(kms.create_key().policy(&locked).send().await);
    assert_eq!(code, "MalformedPolicyDocumentException");

    // The account administers it; CloudWatch Logs may use it for `/covered/*` only.
    let logs_statement = serde_json::json!({
        "Effect": "Allow", "Principal": {"Service": "logs.us-east-1.amazonaws.com"},
        "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:GenerateDataKey*", "kms:Describe*"], "Resource": "*",
        "Condition": {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": format!("arn:aws:logs:us-east-1:{account}:log-group:/covered/*")}}
    });
    let good = policy(vec![statement(root.clone(), &["kms:Create*", "kms:Put*", "kms:Describe*"]), logs_statement]);
    let key = kms.create_key().policy(&good).send().await.unwrap();
    let key = key.key_metadata().unwrap().arn().unwrap().to_string();
    let (code, _) = refused(kms.put_key_policy().key_id(&key).policy_name("default").policy(&locked).send().await);
    assert_eq!(code, "MalformedPolicyDocumentException");

    let (code, _) = refused(kms.enable_key_rotation().key_id(&key).rotation_period_in_days(30).send().await);
    assert_eq!(code, "ValidationException");
    kms.enable_key_rotation().key_id(&key).rotation_period_in_days(180).send().await.unwrap();
    let rotation = kms.get_key_rotation_status().key_id(&key).send().await.unwrap();
    assert_eq!((rotation.key_rotation_enabled(), rotation.rotation_period_in_days()), (true, Some(180)));

    let logs = aws_sdk_cloudwatchlogs::Client::new(&config);
    logs.create_log_group().log_group_name("/covered/a").kms_key_id(&key).send().await.unwrap();
    let (code, message) = refused(logs.create_log_group().log_group_name("/other/a").kms_key_id(&key).send().await);
    assert_eq!(code, "AccessDeniedException", "{message}");
    logs.create_log_group().log_group_name("/covered/b").send().await.unwrap();
    logs.associate_kms_key().log_group_name("/covered/b").kms_key_id(&key).send().await.unwrap();
    let groups = logs.describe_log_groups().log_group_name_prefix("/covered/").send().await.unwrap();
    assert!(groups.log_groups().iter().all(|g| g.kms_key_id() == Some(key.as_str())));
    logs.disassociate_kms_key().log_group_name("/covered/b").send().await.unwrap();

    // Disabled: no rotation change, and no service takes it.
    kms.disable_key().key_id(&key).send().await.unwrap();
    let (code, _) = refused(kms.enable_key_rotation().key_id(&key).send().await);
    assert_eq!(code, "DisabledException");
    let (code, _) = refused(logs.create_log_group().log_group_name("/covered/c").kms_key_id(&key).send().await);
    assert_eq!(code, "InvalidParameterException");
    let ecr = aws_sdk_ecr::Client::new(&config);
    let encryption = aws_sdk_ecr::types::EncryptionConfiguration::builder()
        .encryption_type(aws_sdk_ecr::types::EncryptionType::Kms)
        .kms_key(&key)
        .build()
        .unwrap();
    let (code, _) =
        refused(ecr.create_repository().repository_name("r").encryption_configuration(encryption).send().await);
    assert_eq!(code, "KmsException");
    let rds = aws_sdk_rds::Client::new(&config);
    let (code, _) = refused(rds_create(&rds, "db").storage_encrypted(true).kms_key_id(&key).send().await);
    assert_eq!(code, "KMSKeyNotAccessibleFault");

    // Performance Insights: AWS's own key unless one is named, and the key never changes after.
    kms.enable_key().key_id(&key).send().await.unwrap();
    rds_create(&rds, "db").storage_encrypted(true).kms_key_id(&key).send().await.unwrap();
    let db = rds_read(&rds, "db").await;
    assert_eq!((db.kms_key_id(), db.performance_insights_enabled()), (Some(key.as_str()), Some(false)));
    rds.modify_db_instance()
        .db_instance_identifier("db")
        .enable_performance_insights(true)
        .performance_insights_kms_key_id(&key)
        .apply_immediately(true)
        .send()
        .await
        .unwrap();
    let db = rds_read(&rds, "db").await;
    assert_eq!(db.performance_insights_kms_key_id(), Some(key.as_str()));
    let other = kms.create_key().policy(&good).send().await.unwrap().key_metadata().unwrap().arn().unwrap().to_string();
    let changed =
        rds.modify_db_instance().db_instance_identifier("db").performance_insights_kms_key_id(&other).send().await;
    assert_eq!(refused(changed).0, "InvalidParameterCombination");
}
