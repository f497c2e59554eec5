//! Refresh in batches for the types that are not EC2's: IAM roles (one
//! `GetAccountAuthorizationDetails` a page) and log groups (`DescribeLogGroups` on their common
//! prefix, tags through the tagging API). Batch reads must see exactly what single reads see: a
//! just-applied stack plans as no change, and changes made outside are found.

// Tests report what they measured (nextest shows it in the CI log).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::BTreeMap;

use platform::model::{Env, Stack};
use platform::plan::Action;
use platform::resources::iam::{Role, Trust};
use platform::resources::{LogGroup, Tags};
use platform::Address;
use platform_tests::{id_of, log_writer_role, Harness};

#[tokio::test]
async fn refresh_reads_roles_and_log_groups_in_batches() {
    let h = Harness::new().await;
    let mut s = Stack::new("many", &Env::new("test").unwrap());
    for i in 0..40 {
        let logs = s.add(&format!("logs-{i}"), LogGroup::new(30));
        s.add(
            &format!("role-{i}"),
            log_writer_role(
                &logs,
                &["logs:PutLogEvents"],
                ":*",
                Tags::from([("team".to_string(), "cards".to_string())]),
            ),
        );
    }
    let spec = s.build().unwrap();
    h.apply_converged(&spec).await;
    let before = h.emulator.requests();
    let plan = h.plan(&spec).await;
    assert!(!plan.has_changes(), "{}", platform::render::plan_text(&plan));
    let calls = h.emulator.requests() - before;
    println!("a no-change plan of 80 roles and log groups took {calls} calls");
    // Single reads would take 40 × 4 for the roles and 40 × 2 for the log groups.
    assert!(calls <= 6, "a no-change plan of 80 roles and log groups took {calls} calls");

    // Changes outside are seen through the batch reads.
    let iam = aws_sdk_iam::Client::new(&h.config);
    let logs = aws_sdk_cloudwatchlogs::Client::new(&h.config);
    let state = h.state(&spec);
    iam.delete_role_policy().role_name(id_of(&state, "role-3")).policy_name("logs").send().await.unwrap();
    logs.delete_retention_policy().log_group_name(id_of(&state, "logs-5")).send().await.unwrap();
    logs.delete_log_group().log_group_name(id_of(&state, "logs-9")).send().await.unwrap();
    let plan = h.plan(&spec).await;
    let action = |name: &str| plan.change(&Address::new("many", name)).unwrap().action;
    assert_eq!(action("role-3"), Action::Update);
    assert_eq!(action("logs-5"), Action::Update);
    assert_eq!(action("logs-9"), Action::Create);
    // role-9's policy names logs-9's ARN, known again only once it is created.
    assert_eq!(action("role-9"), Action::Update);
    let summary = plan.summary();
    assert_eq!((summary.create, summary.update), (1, 3), "{}", platform::render::plan_text(&plan));
    h.apply_converged(&spec).await;
}

#[tokio::test]
async fn refresh_reads_vpcs_gateways_and_grants_in_batches() {
    use platform::resources::ec2::{Peer, Protocol, SecurityGroupGrant};
    use platform::resources::{InternetGateway, SecurityGroup, Vpc};
    let h = Harness::new().await;
    let mut s = Stack::new("net", &Env::new("test").unwrap());
    let mut groups = vec![];
    for v in 0..3 {
        let vpc = s.add(&format!("vpc-{v}"), Vpc::new(format!("10.{}.0.0/16", 60 + v)));
        s.add(&format!("gateway-{v}"), InternetGateway { vpc: vpc.id(), tags: Tags::new() });
        groups.push(s.add(
            &format!("group-{v}"),
            SecurityGroup {
                vpc: vpc.id(),
                description: "granted into".into(),
                ingress: vec![],
                egress: vec![],
                tags: Tags::new(),
            },
        ));
    }
    for i in 0..30 {
        s.add(
            &format!("grant-{i}"),
            SecurityGroupGrant {
                group: groups[i % 3].id(),
                protocol: Protocol::Tcp,
                from_port: 5000 + i as i32,
                to_port: 5000 + i as i32,
                peer: Peer::CidrIpv4(platform::Ref::literal(format!("10.99.{i}.0/24"))),
            },
        );
    }
    let spec = s.build().unwrap();
    h.apply_converged(&spec).await;
    let before = h.emulator.requests();
    let plan = h.plan(&spec).await;
    assert!(!plan.has_changes(), "{}", platform::render::plan_text(&plan));
    let calls = h.emulator.requests() - before;
    println!("a no-change plan of 3 VPCs, 3 gateways, 3 groups and 30 grants took {calls} calls");
    // One describe per type (VPCs, gateways, groups, the grants' groups); each VPC's two DNS
    // attributes have no batch form. Single reads would take 3 × 3 + 3 + 3 + 30.
    assert!(calls <= 4 + 3 * 2, "took {calls} calls");

    // A grant revoked outside is found missing, the others stay.
    let ec2 = aws_sdk_ec2::Client::new(&h.config);
    let permission = aws_sdk_ec2::types::IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(5004)
        .to_port(5004)
        .ip_ranges(aws_sdk_ec2::types::IpRange::builder().cidr_ip("10.99.4.0/24").build())
        .build();
    let state = h.state(&spec);
    ec2.revoke_security_group_ingress()
        .group_id(id_of(&state, "group-1"))
        .ip_permissions(permission)
        .send()
        .await
        .unwrap();
    let plan = h.plan(&spec).await;
    assert_eq!(plan.change(&Address::new("net", "grant-4")).unwrap().action, Action::Create);
    assert_eq!(plan.summary().create, 1, "{}", platform::render::plan_text(&plan));
}

#[tokio::test]
async fn refresh_reads_ecs_services_ten_at_a_time() {
    use platform::resources::ec2::AzIndex;
    use platform::resources::ecs::{Container, ContainerHealthCheck, EcsCluster, Service, TaskDefinition};
    use platform::resources::{SecurityGroup, Subnet, Vpc};
    let h = Harness::new().await;
    let mut s = Stack::new("svc", &Env::new("test").unwrap());
    let vpc = s.add("vpc", Vpc::new("10.70.0.0/16"));
    let subnet = s.add("subnet", Subnet::new(vpc.id(), "10.70.1.0/24", AzIndex(0)));
    let group = s.add(
        "tasks",
        SecurityGroup {
            vpc: vpc.id(),
            description: "tasks".into(),
            ingress: vec![],
            egress: vec![],
            tags: Tags::new(),
        },
    );
    let cluster = s.add("cluster", EcsCluster::default());
    let logs = s.add("logs", LogGroup::new(30));
    let role = |name: &str, s: &mut Stack| {
        s.add(
            name,
            Role {
                trust: Trust::Service("ecs-tasks.amazonaws.com".into()),
                policies: BTreeMap::new(),
                managed_policies: vec![],
                permissions_boundary: None,
                max_session_seconds: None,
                tags: Tags::new(),
            },
        )
    };
    let (execution, task_role) = (role("execution", &mut s), role("task-role", &mut s));
    let task = s.add(
        "task",
        TaskDefinition {
            cpu: 256,
            memory: 512,
            execution_role: execution.arn(),
            task_role: task_role.arn(),
            containers: vec![Container {
                name: "app".into(),
                image: platform::Ref::literal("public.ecr.aws/docker/library/busybox:1"),
                command: vec![],
                ports: vec![8080],
                environment: BTreeMap::new(),
                secrets: BTreeMap::new(),
                readonly_root_filesystem: true,
                user: "10001".into(),
                privileged: false,
                health_check: Some(ContainerHealthCheck {
                    command: vec!["CMD".into(), "true".into()],
                    interval_seconds: 30,
                    timeout_seconds: 5,
                    retries: 3,
                    start_period_seconds: 0,
                }),
                log_group: logs.name(),
                log_stream_prefix: "app".into(),
            }],
            tags: Tags::new(),
        },
    );
    for i in 0..12 {
        s.add(
            &format!("service-{i}"),
            Service {
                cluster: cluster.arn(),
                task_definition: task.arn(),
                desired_count: 1,
                subnets: vec![subnet.id()],
                security_groups: vec![group.id()],
                assign_public_ip: false,
                load_balancer: None,
                discovery: None,
                circuit_breaker_rollback: true,
                minimum_healthy_percent: 100,
                maximum_percent: 200,
                health_check_grace_period_seconds: 0,
                tags: Tags::new(),
            },
        );
    }
    let spec = s.build().unwrap();
    h.apply_converged(&spec).await;
    let before = h.emulator.requests();
    let plan = h.plan(&spec).await;
    assert!(!plan.has_changes(), "{}", platform::render::plan_text(&plan));
    let calls = h.emulator.requests() - before;
    println!("a no-change plan of 12 ECS services (and 9 other resources) took {calls} calls");
    let ecs = aws_sdk_ecs::Client::new(&h.config);
    let state = h.state(&spec);
    ecs.update_service()
        .cluster(id_of(&state, "cluster"))
        .service(id_of(&state, "service-11"))
        .desired_count(3)
        .send()
        .await
        .unwrap();
    let before = h.emulator.requests();
    let plan = h.plan(&spec).await;
    let describes = h.emulator.requests() - before;
    assert_eq!(plan.change(&Address::new("svc", "service-11")).unwrap().action, Action::Update);
    assert_eq!(plan.summary().update, 1, "{}", platform::render::plan_text(&plan));
    // Services: two DescribeServices (10 + 2) instead of 12. The others: VPC (3), subnet, group,
    // cluster, log group (2), roles (1), task definition (1), zones.
    assert!(calls <= 12 && describes == calls, "took {calls} calls, then {describes}");
}

#[tokio::test]
async fn refresh_reads_load_balancers_target_groups_listeners_and_databases_in_batches() {
    use platform::resources::ec2::AzIndex;
    use platform::resources::elbv2::{HealthCheck, Listener, ListenerAction, LoadBalancer, TargetGroup};
    use platform::resources::{DbEngine, DbInstance, DbSubnetGroup, SecurityGroup, Subnet, Vpc};
    let h = Harness::new().await;
    let mut s = Stack::new("lbs", &Env::new("test").unwrap());
    let vpc = s.add("vpc", Vpc::new("10.90.0.0/16"));
    let subnets: Vec<_> = (0..2)
        .map(|i| s.add(&format!("subnet-{i}"), Subnet::new(vpc.id(), format!("10.90.{i}.0/24"), AzIndex(i as u8))))
        .collect();
    let group = s.add(
        "group",
        SecurityGroup { vpc: vpc.id(), description: "lb".into(), ingress: vec![], egress: vec![], tags: Tags::new() },
    );
    let db_subnets = s.add(
        "db-subnets",
        DbSubnetGroup {
            description: "databases".into(),
            subnets: subnets.iter().map(|s| s.id()).collect(),
            tags: Tags::new(),
        },
    );
    for i in 0..3 {
        let lb = s.add(
            &format!("lb-{i}"),
            LoadBalancer {
                internal: true,
                subnets: subnets.iter().map(|s| s.id()).collect(),
                security_groups: vec![group.id()],
                drop_invalid_header_fields: true,
                deletion_protection: false,
                access_logs: None,
                tags: Tags::new(),
            },
        );
        let targets = s.add(
            &format!("targets-{i}"),
            TargetGroup {
                vpc: vpc.id(),
                port: 8080,
                protocol: "HTTP".into(),
                target_type: "ip".into(),
                health_check: HealthCheck {
                    path: "/health/ready".into(),
                    port: 8081,
                    interval_seconds: 15,
                    timeout_seconds: 5,
                    healthy_threshold: 2,
                    unhealthy_threshold: 3,
                    matcher: "200".into(),
                },
                deregistration_delay_seconds: 30,
                tags: Tags::new(),
            },
        );
        s.add(
            &format!("listener-{i}"),
            Listener {
                load_balancer: lb.arn(),
                port: 80,
                protocol: "HTTP".into(),
                certificate_arn: None,
                ssl_policy: None,
                action: ListenerAction::Forward { target_group: targets.arn() },
                tags: Tags::new(),
            },
        );
        let mut db = DbInstance::new(DbEngine::Postgres, "17", "cards", db_subnets.name(), vec![group.id()]);
        db.multi_az = true;
        s.add(&format!("db-{i}"), db);
    }
    let spec = s.build().unwrap();
    h.apply_converged(&spec).await;
    let before = h.emulator.requests();
    let plan = h.plan(&spec).await;
    assert!(!plan.has_changes(), "{}", platform::render::plan_text(&plan));
    let calls = h.emulator.requests() - before;
    println!("a no-change plan of 3 load balancers, target groups, listeners and databases took {calls} calls");
    // Single reads: 3 × 3 (load balancers) + 3 × 3 (target groups) + 3 × 2 (listeners) + 3
    // (databases). Batched: one describe and one DescribeTags per ELB type, the attributes of each
    // load balancer and target group (no batch form), one DescribeDBInstances; and the others
    // (VPC 3, subnets, group, subnet group, zones).
    assert!(calls <= 2 * 3 + 2 * 3 + 1 + 7, "took {calls} calls");

    // A listener deleted outside: the batch describe fails as a whole, the single reads find it gone.
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&h.config);
    elb.delete_listener().listener_arn(id_of(&h.state(&spec), "listener-1")).send().await.unwrap();
    let plan = h.plan(&spec).await;
    assert_eq!(plan.change(&Address::new("lbs", "listener-1")).unwrap().action, Action::Create);
    assert_eq!(plan.summary().create, 1, "{}", platform::render::plan_text(&plan));
}
