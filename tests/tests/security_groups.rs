//! Security groups against the emulator: rules managed authoritatively (declared rules are exactly
//! the group's rules), groups referencing groups, update in place, no-op plan, delete.

use platform::model::{Env, Stack, StackSpec};
use platform::plan::Action;
use platform::resources::{Peer, Rule, SecurityGroup, Tags, Vpc};
use platform::Address;
use platform_tests::{id_of, Harness};

fn groups(web_ports: &[u16], db_from_app: bool) -> StackSpec {
    let env = Env::new("test").unwrap();
    let mut s = Stack::new("sg", &env);
    let vpc = s.add("vpc", Vpc::new("10.40.0.0/16"));
    let lb = s.add(
        "lb",
        SecurityGroup {
            vpc: vpc.id(),
            description: "load balancer".into(),
            ingress: web_ports.iter().map(|p| Rule::tcp(*p, Peer::CidrIpv4("0.0.0.0/0".into()), "web")).collect(),
            egress: vec![Rule::all(Peer::CidrIpv4("10.40.0.0/16".into()), "to the VPC")],
            tags: Tags::new(),
        },
    );
    let app = s.add(
        "app",
        SecurityGroup {
            vpc: vpc.id(),
            description: "service".into(),
            ingress: vec![Rule::tcp(8080, Peer::SecurityGroup(lb.id()), "from the load balancer")],
            egress: vec![],
            tags: Tags::new(),
        },
    );
    let db_ingress =
        if db_from_app { vec![Rule::tcp(5432, Peer::SecurityGroup(app.id()), "from the service")] } else { vec![] };
    s.add(
        "db",
        SecurityGroup {
            vpc: vpc.id(),
            description: "database".into(),
            ingress: db_ingress,
            egress: vec![],
            tags: Tags::new(),
        },
    );
    if !web_ports.is_empty() {
        // No load balancer here: this group stands in for one's, so the open web ports are waived.
        s.waive(&lb, "sg-no-open-ingress", "stands in for a load balancer's group; only rule syncing is tested here");
    }
    s.build().unwrap()
}

async fn rules(ec2: &aws_sdk_ec2::Client, group: &str) -> Vec<(bool, i32, String)> {
    let out = ec2
        .describe_security_group_rules()
        .filters(aws_sdk_ec2::types::Filter::builder().name("group-id").values(group).build())
        .send()
        .await
        .unwrap();
    let mut rules: Vec<_> = out
        .security_group_rules()
        .iter()
        .map(|r| {
            let peer = r
                .cidr_ipv4()
                .map(str::to_string)
                .or_else(|| r.referenced_group_info().and_then(|g| g.group_id()).map(str::to_string))
                .unwrap_or_default();
            (r.is_egress().unwrap(), r.from_port().unwrap(), peer)
        })
        .collect();
    rules.sort();
    rules
}

#[tokio::test]
async fn security_group_rules_are_exactly_the_declared_ones() {
    let h = Harness::new().await;
    let ec2 = aws_sdk_ec2::Client::new(&h.config);
    let state = h.apply_converged(&groups(&[80, 443], true)).await;
    let (lb, app, db) = (id_of(&state, "lb"), id_of(&state, "app"), id_of(&state, "db"));

    assert_eq!(
        rules(&ec2, &lb).await,
        [(false, 80, "0.0.0.0/0".into()), (false, 443, "0.0.0.0/0".into()), (true, -1, "10.40.0.0/16".into())]
    );
    // AWS's default allow-all egress rule is removed: the service group has no egress at all.
    assert_eq!(rules(&ec2, &app).await, [(false, 8080, lb.clone())]);
    assert_eq!(rules(&ec2, &db).await, [(false, 5432, app.clone())]);
    let group = ec2.describe_security_groups().group_ids(&db).send().await.unwrap();
    // Named after its address, with a hash of what would replace it (a replacement is created
    // before the old group goes, under another name).
    let name = group.security_groups()[0].group_name().unwrap();
    assert!(name.starts_with("test-sg-db-") && name.len() == "test-sg-db-".len() + 8, "{name}");

    // Update in place: a port removed, database access withdrawn.
    let plan = h.plan(&groups(&[443], false)).await;
    assert_eq!(plan.change(&Address::new("sg", "lb")).unwrap().action, Action::Update);
    assert_eq!(plan.change(&Address::new("sg", "db")).unwrap().action, Action::Update);
    assert_eq!(plan.change(&Address::new("sg", "app")).unwrap().action, Action::NoOp);
    let state = h.apply_converged(&groups(&[443], false)).await;
    assert_eq!(id_of(&state, "lb"), lb);
    assert_eq!(rules(&ec2, &lb).await, [(false, 443, "0.0.0.0/0".into()), (true, -1, "10.40.0.0/16".into())]);
    assert!(rules(&ec2, &db).await.is_empty());

    // A rule added outside platform shows as a change and is removed by the next apply.
    ec2.authorize_security_group_ingress()
        .group_id(&db)
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
    let plan = h.plan(&groups(&[443], false)).await;
    let change = plan.change(&Address::new("sg", "db")).unwrap();
    assert_eq!(change.action, Action::Update);
    assert_eq!(change.changes[0].path, "ingress");
    h.apply_converged(&groups(&[443], false)).await;
    assert!(rules(&ec2, &db).await.is_empty());

    h.destroy(&groups(&[443], false)).await;
    let left = ec2.describe_security_groups().group_ids(&lb).send().await;
    assert!(left.is_err() || left.unwrap().security_groups().is_empty());
}

#[tokio::test]
async fn invalid_rules_are_refused_before_any_aws_call() {
    let env = Env::new("test").unwrap();
    let mut s = Stack::new("sg", &env);
    let vpc = s.add("vpc", Vpc::new("10.40.0.0/16"));
    s.add(
        "bad",
        SecurityGroup {
            vpc: vpc.id(),
            description: "bad".into(),
            ingress: vec![Rule::tcp(80, Peer::CidrIpv4("10.0.0.1/8".into()), "")],
            egress: vec![],
            tags: Tags::new(),
        },
    );
    let err = s.build().unwrap_err().to_string();
    assert!(err.contains("sg.bad: ingress: `10.0.0.1/8` has host bits set: did you mean `10.0.0.0/8`?"), "{err}");
}

#[tokio::test]
async fn refresh_reads_groups_and_subnets_in_batches() {
    use platform::resources::ec2::AzIndex;
    use platform::resources::Subnet;
    let h = Harness::new().await;
    let mut s = Stack::new("many", &Env::new("test").unwrap());
    let vpc = s.add("vpc", Vpc::new("10.50.0.0/16"));
    for i in 0..60 {
        s.add(&format!("subnet-{i}"), Subnet::new(vpc.id(), format!("10.50.{i}.0/24"), AzIndex((i % 3) as u8)));
        s.add(
            &format!("group-{i}"),
            SecurityGroup {
                vpc: vpc.id(),
                description: format!("group {i}"),
                ingress: vec![Rule::tcp(443, Peer::CidrIpv4("10.50.0.0/16".into()), "from the VPC")],
                egress: vec![],
                tags: Tags::new(),
            },
        );
    }
    let spec = s.build().unwrap();
    h.apply(&spec).await;
    let before = h.emulator.requests();
    assert!(before > 120, "the request log counts requests ({before})");
    let plan = h.plan(&spec).await;
    assert!(!plan.has_changes(), "{}", platform::render::plan_text(&plan));
    let calls = h.emulator.requests() - before;
    // One read per resource would be 121 calls; batches take one describe per type (and the VPC's
    // own reads, and the zones once).
    assert!(calls <= 10, "a no-change plan of 121 resources took {calls} calls");
    // A group deleted outside is found missing by the batch read, like by a single read.
    let ec2 = aws_sdk_ec2::Client::new(&h.config);
    ec2.delete_security_group().group_id(id_of(&h.state(&spec), "group-7")).send().await.unwrap();
    let plan = h.plan(&spec).await;
    let change = plan.change(&Address::new("many", "group-7")).unwrap();
    assert_eq!(change.action, Action::Create);
    assert_eq!(change.reason.as_deref(), Some("it was deleted outside platform"));
    assert_eq!(plan.summary().create, 1);
}
