//! VPC, subnet, internet gateway, route table and association against the emulator:
//! create, read back, update, no-op plan after apply, delete.

use platform::model::{Env, Stack, StackSpec};
use platform::plan::Action;
use platform::resources::{AzIndex, InternetGateway, Route, RouteTable, RouteTableAssociation, Subnet, Tags, Vpc};
use platform::Address;
use platform_tests::{id_of, Harness};

#[derive(Clone, Copy)]
struct Version {
    dns_hostnames: bool,
    public_ip: bool,
    route: bool,
    owner: &'static str,
    second_subnet: bool,
}

const V1: Version =
    Version { dns_hostnames: true, public_ip: false, route: false, owner: "team-a", second_subnet: false };

fn network(v: Version) -> StackSpec {
    let env = Env::new("test").unwrap();
    let mut s = Stack::new("net", &env);
    let mut vpc = Vpc::new("10.20.0.0/16");
    vpc.enable_dns_hostnames = v.dns_hostnames;
    vpc.tags.insert("owner".into(), v.owner.into());
    let vpc = s.add("vpc", vpc);
    let mut a = Subnet::new(vpc.id(), "10.20.0.0/24", AzIndex(0));
    a.map_public_ip_on_launch = v.public_ip;
    let a = s.add("subnet-a", a);
    let b = s.add("subnet-b", Subnet::new(vpc.id(), "10.20.1.0/24", AzIndex(1)));
    let gateway = s.add(
        "gateway",
        InternetGateway { vpc: vpc.id(), tags: Tags::from([("owner".to_string(), v.owner.to_string())]) },
    );
    let routes = if v.route { vec![Route::to_internet("0.0.0.0/0", gateway.id())] } else { vec![] };
    let table = s.add("routes", RouteTable { vpc: vpc.id(), routes, tags: Tags::new() });
    let subnet = if v.second_subnet { b.id() } else { a.id() };
    s.add("association", RouteTableAssociation { route_table: table.id(), subnet });
    s.output("vpc_id", vpc.id());
    s.build().unwrap()
}

fn action(plan: &platform::plan::Plan, name: &str) -> Action {
    plan.change(&Address::new("net", name)).unwrap().action
}

#[tokio::test]
async fn network_resources_are_created_read_back_updated_and_deleted() {
    let h = Harness::new().await;
    let ec2 = aws_sdk_ec2::Client::new(&h.config);

    // Create, then a plan right after has no changes.
    let state = h.apply_converged(&network(V1)).await;
    let vpc_id = id_of(&state, "vpc");
    let vpc = ec2.describe_vpcs().vpc_ids(&vpc_id).send().await.unwrap();
    let vpc = &vpc.vpcs()[0];
    assert_eq!(vpc.cidr_block(), Some("10.20.0.0/16"));
    let tag = |key: &str| vpc.tags().iter().find(|t| t.key() == Some(key)).and_then(|t| t.value()).map(str::to_string);
    assert_eq!(tag("platform:stack").as_deref(), Some("net"));
    assert_eq!(tag("platform:env").as_deref(), Some("test"));
    assert_eq!(tag("platform:address").as_deref(), Some("net.vpc"));
    assert_eq!(tag("Name").as_deref(), Some("test-net-vpc"));
    let hostnames = ec2
        .describe_vpc_attribute()
        .vpc_id(&vpc_id)
        .attribute(aws_sdk_ec2::types::VpcAttributeName::EnableDnsHostnames)
        .send()
        .await
        .unwrap();
    assert_eq!(hostnames.enable_dns_hostnames().and_then(|a| a.value()), Some(true));
    let subnets = ec2
        .describe_subnets()
        .subnet_ids(id_of(&state, "subnet-a"))
        .subnet_ids(id_of(&state, "subnet-b"))
        .send()
        .await
        .unwrap();
    let mut zones: Vec<_> = subnets.subnets().iter().map(|s| s.availability_zone().unwrap().to_string()).collect();
    zones.sort();
    zones.dedup();
    assert_eq!(zones.len(), 2, "subnets spread over two discovered zones");
    let gw = ec2.describe_internet_gateways().internet_gateway_ids(id_of(&state, "gateway")).send().await.unwrap();
    assert_eq!(gw.internet_gateways()[0].attachments()[0].vpc_id(), Some(vpc_id.as_str()));
    assert_eq!(state.outputs["vpc_id"], vpc_id);

    // Update in place: VPC attribute and tag, subnet attribute, a new route.
    let v2 = Version { dns_hostnames: false, public_ip: true, route: true, owner: "team-b", ..V1 };
    let plan = h.plan(&network(v2)).await;
    assert_eq!(action(&plan, "vpc"), Action::Update);
    assert_eq!(action(&plan, "subnet-a"), Action::Update);
    assert_eq!(action(&plan, "routes"), Action::Update);
    assert_eq!(action(&plan, "gateway"), Action::Update, "its tag changes");
    let state = h.apply_converged(&network(v2)).await;
    assert_eq!(id_of(&state, "vpc"), vpc_id, "updated in place, not replaced");
    let hostnames = ec2
        .describe_vpc_attribute()
        .vpc_id(&vpc_id)
        .attribute(aws_sdk_ec2::types::VpcAttributeName::EnableDnsHostnames)
        .send()
        .await
        .unwrap();
    assert_eq!(hostnames.enable_dns_hostnames().and_then(|a| a.value()), Some(false));
    let subnet = ec2.describe_subnets().subnet_ids(id_of(&state, "subnet-a")).send().await.unwrap();
    assert_eq!(subnet.subnets()[0].map_public_ip_on_launch(), Some(true));
    let gw = ec2.describe_internet_gateways().internet_gateway_ids(id_of(&state, "gateway")).send().await.unwrap();
    let owner = gw.internet_gateways()[0].tags().iter().find(|t| t.key() == Some("owner")).and_then(|t| t.value());
    assert_eq!(owner, Some("team-b"));
    let table = ec2.describe_route_tables().route_table_ids(id_of(&state, "routes")).send().await.unwrap();
    let routes = table.route_tables()[0].routes();
    assert!(routes.iter().any(|r| r.destination_cidr_block() == Some("0.0.0.0/0")
        && r.gateway_id() == Some(id_of(&state, "gateway").as_str())));

    // An association cannot change its subnet: it is replaced, and the plan says why.
    let v3 = Version { second_subnet: true, ..v2 };
    let plan = h.plan(&network(v3)).await;
    let change = plan.change(&Address::new("net", "association")).unwrap();
    assert_eq!(change.action, Action::Replace);
    assert_eq!(change.replaced_because().collect::<Vec<_>>(), ["subnet"]);
    let old_association = id_of(&state, "association");
    let state = h.apply_converged(&network(v3)).await;
    assert_ne!(id_of(&state, "association"), old_association);

    // Removing the route again.
    let state = h.apply_converged(&network(Version { route: false, ..v3 })).await;
    let table = ec2.describe_route_tables().route_table_ids(id_of(&state, "routes")).send().await.unwrap();
    assert!(table.route_tables()[0].routes().iter().all(|r| r.gateway_id() == Some("local")));

    // Delete everything, in reverse dependency order.
    h.destroy(&network(V1)).await;
    let err = ec2.describe_vpcs().vpc_ids(&vpc_id).send().await;
    let gone = match err {
        Err(e) => format!("{:?}", e).contains("NotFound"),
        Ok(out) => out.vpcs().is_empty(),
    };
    assert!(gone, "the VPC is deleted");
}

#[tokio::test]
async fn a_resource_deleted_outside_platform_is_planned_for_creation_again() {
    let h = Harness::new().await;
    let ec2 = aws_sdk_ec2::Client::new(&h.config);
    let state = h.apply_converged(&network(V1)).await;
    ec2.disassociate_route_table().association_id(id_of(&state, "association")).send().await.unwrap();
    let plan = h.plan(&network(V1)).await;
    let change = plan.change(&Address::new("net", "association")).unwrap();
    assert_eq!(change.action, Action::Create);
    assert_eq!(change.reason.as_deref(), Some("it was deleted outside platform"));
    h.apply_converged(&network(V1)).await;
}

#[tokio::test]
async fn changing_a_vpc_block_replaces_it_and_everything_that_references_it() {
    let h = Harness::new().await;
    h.apply_converged(&network(V1)).await;
    let env = Env::new("test").unwrap();
    let mut s = Stack::new("net", &env);
    let vpc = s.add("vpc", Vpc::new("10.30.0.0/16"));
    s.add("subnet-a", Subnet::new(vpc.id(), "10.30.0.0/24", AzIndex(0)));
    let spec = s.build().unwrap();
    let plan = h.plan(&spec).await;
    let vpc_change = plan.change(&Address::new("net", "vpc")).unwrap();
    assert_eq!(vpc_change.action, Action::Replace);
    assert_eq!(vpc_change.replaced_because().collect::<Vec<_>>(), ["cidr_block"]);
    assert_eq!(action(&plan, "subnet-a"), Action::Replace);
    assert_eq!(action(&plan, "gateway"), Action::Delete);
    h.apply_converged(&spec).await;
    h.destroy(&spec).await;
}

#[tokio::test]
async fn private_subnets_reach_out_through_a_nat_gateway() {
    use platform::resources::{ElasticIp, NatGateway};
    let env = Env::new("test").unwrap();
    let build = |tag: &str| {
        let mut s = Stack::new("nat", &env);
        let vpc = s.add("vpc", Vpc::new("10.60.0.0/16"));
        let gateway = s.add("gateway", InternetGateway { vpc: vpc.id(), tags: Tags::new() });
        let public = s.add("public", Subnet::new(vpc.id(), "10.60.0.0/24", AzIndex(0)));
        let address = s.add("address", ElasticIp::default());
        let mut nat = NatGateway { subnet: public.id(), allocation: address.allocation_id(), tags: Tags::new() };
        nat.tags.insert("purpose".into(), tag.into());
        let nat = s.add("nat", nat);
        s.depends_on(&nat, &gateway);
        let private = s.add("private", Subnet::new(vpc.id(), "10.60.128.0/24", AzIndex(0)));
        let routes = s.add(
            "routes",
            RouteTable { vpc: vpc.id(), routes: vec![Route::to_nat("0.0.0.0/0", nat.id())], tags: Tags::new() },
        );
        s.add("association", RouteTableAssociation { route_table: routes.id(), subnet: private.id() });
        s.build().unwrap()
    };
    let h = Harness::new().await;
    let ec2 = aws_sdk_ec2::Client::new(&h.config);
    let state = h.apply_converged(&build("egress")).await;
    let nat = ec2.describe_nat_gateways().nat_gateway_ids(id_of(&state, "nat")).send().await.unwrap();
    let nat = &nat.nat_gateways()[0];
    assert_eq!(nat.subnet_id(), Some(id_of(&state, "public").as_str()));
    assert_eq!(nat.nat_gateway_addresses()[0].allocation_id(), Some(id_of(&state, "address").as_str()));
    assert!(!state.resources[&Address::new("nat", "nat")].awaiting, "awaited until available");
    let table = ec2.describe_route_tables().route_table_ids(id_of(&state, "routes")).send().await.unwrap();
    assert!(table.route_tables()[0].routes().iter().any(|r| r.nat_gateway_id() == Some(id_of(&state, "nat").as_str())));
    // Tags change in place.
    let nat_plan = h.plan(&build("egress-2")).await;
    assert_eq!(nat_plan.change(&Address::new("nat", "nat")).unwrap().action, Action::Update);
    h.apply_converged(&build("egress-2")).await;
    h.destroy(&build("egress-2")).await;
    let addresses = ec2.describe_addresses().send().await.unwrap();
    assert!(addresses.addresses().is_empty(), "the address is released after the gateway is gone");
}

#[tokio::test]
async fn the_foundation_refreshes_its_network_in_batches() {
    let h = platform_tests::Harness::new().await;
    let prod = stacks::Environments::builtin().get("prod").unwrap().clone();
    let foundation = stacks::foundation(&prod).unwrap().spec;
    h.bootstrap(&prod).await;
    h.apply_converged(&foundation).await;
    let per_type: std::collections::BTreeMap<&str, usize> =
        foundation.resources.iter().fold(Default::default(), |mut m, r| {
            *m.entry(r.type_name.as_str()).or_default() += 1;
            m
        });
    let before = h.emulator.requests();
    let plan = h.plan(&foundation).await;
    assert!(!plan.has_changes());
    let calls = h.emulator.requests() - before;
    // Subnets, route tables, associations, Elastic IPs and NAT gateways (3 to 6 of each in prod)
    // take one describe per type; the other types one read (and their own extra reads) each.
    let batched = [
        "aws.ec2.subnet",
        "aws.ec2.route_table",
        "aws.ec2.route_table_association",
        "aws.ec2.elastic_ip",
        "aws.ec2.nat_gateway",
    ];
    let in_batches: usize = batched.iter().map(|t| per_type.get(t).copied().unwrap_or(0)).sum();
    assert!(in_batches >= 20, "{per_type:?}");
    // The 14 other resources take 26 reads between them (the VPC's attributes, tags and the
    // lifecycle policy of the repository, the log groups, the namespace, the flow log and its
    // role, the default security group, the web ACL and its tags, its logging, the key: its
    // metadata, rotation, policy, tags and aliases); the 22 network resources take 5 describes.
    // Any batched type read one by one would add at least 2 calls.
    assert!(calls <= 26 + batched.len(), "{calls} calls for {} resources ({per_type:?})", foundation.resources.len());
}
