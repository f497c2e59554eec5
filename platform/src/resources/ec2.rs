//! EC2 networking: VPC, subnets, internet gateway, route tables, NAT gateways, security groups.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Tags;
use crate::access;
use crate::model::validate::{self, cidr4};
use crate::model::{outputs, NameStyle, Ref, Resource, TypeSchema};

/// Marker for references to VPC ids.
pub struct VpcId;
/// Marker for references to subnet ids.
pub struct SubnetId;
/// Marker for references to internet gateway ids.
pub struct InternetGatewayId;
/// Marker for references to route table ids.
pub struct RouteTableId;
/// Marker for references to security group ids.
pub struct SecurityGroupId;

/// Schema of [`Vpc`].
pub const VPC: TypeSchema = TypeSchema {
    type_name: "aws.ec2.vpc",
    name_style: NameStyle::Tag,
    force_new: &["cidr_block"],
    taggable: true,
    outputs: VpcOutputs::NAMES,
    ..TypeSchema::BASE
};

/// A VPC.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Vpc {
    /// The IPv4 block, /16 to /28.
    pub cidr_block: String,
    /// Whether the Amazon DNS server answers in the VPC.
    pub enable_dns_support: bool,
    /// Whether instances get public DNS host names (needed by private DNS namespaces).
    pub enable_dns_hostnames: bool,
    /// User tags.
    pub tags: Tags,
}

impl Vpc {
    /// A VPC with DNS support and host names on, as service discovery needs.
    pub fn new(cidr_block: impl Into<String>) -> Self {
        Self { cidr_block: cidr_block.into(), enable_dns_support: true, enable_dns_hostnames: true, tags: Tags::new() }
    }
}

impl Resource for Vpc {
    const SCHEMA: &'static TypeSchema = &VPC;
    fn validate(&self, problems: &mut Vec<String>) {
        validate::vpc_cidr("cidr_block", &self.cidr_block, problems);
    }
}

/// Marker for references to CIDR blocks.
pub struct CidrBlock;

outputs! {
    /// What a VPC records.
    Vpc => VpcOutputs {
        /// The VPC's id.
        id: String => id(VpcId),
        /// The VPC's IPv4 block.
        cidr_block: String => cidr_block(CidrBlock),
    }
}

/// Schema of [`Subnet`].
pub const SUBNET: TypeSchema = TypeSchema {
    type_name: "aws.ec2.subnet",
    name_style: NameStyle::Tag,
    force_new: &["vpc", "cidr_block", "availability_zone"],
    taggable: true,
    outputs: SubnetOutputs::NAMES,
    stack_check: Some(check_subnets),
    widening: Some(subnet_widening),
    ..TypeSchema::BASE
};

/// An availability zone, by its position among the region's zones (sorted by name, whatever their
/// state), counted round the region's zones: in a region with two zones, positions 0 and 2 are
/// the same zone. Zones are discovered from the region at apply time, so no stack names a zone;
/// a subnet records its zone's id, so a zone that is impaired or no longer listed changes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AzIndex(pub u8);

/// A subnet in one availability zone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subnet {
    /// The VPC it belongs to.
    pub vpc: Ref<VpcId>,
    /// Its IPv4 block, inside the VPC's.
    pub cidr_block: String,
    /// Its availability zone.
    pub availability_zone: AzIndex,
    /// Whether instances launched in it get a public IPv4 address.
    pub map_public_ip_on_launch: bool,
    /// User tags.
    pub tags: Tags,
}

impl Subnet {
    /// A subnet that gives no public addresses.
    pub fn new(vpc: Ref<VpcId>, cidr_block: impl Into<String>, availability_zone: AzIndex) -> Self {
        Self {
            vpc,
            cidr_block: cidr_block.into(),
            availability_zone,
            map_public_ip_on_launch: false,
            tags: Tags::new(),
        }
    }
}

impl Resource for Subnet {
    const SCHEMA: &'static TypeSchema = &SUBNET;
    fn validate(&self, problems: &mut Vec<String>) {
        validate::vpc_cidr("cidr_block", &self.cidr_block, problems);
    }
}

outputs! {
    /// What a subnet records.
    Subnet => SubnetOutputs {
        /// The subnet's id.
        id: String => id(SubnetId),
        /// The name of its zone in the region (`us-east-1a`).
        availability_zone_name: String,
        /// The id of its zone, the same in every account (`use1-az4`).
        availability_zone_id: String,
    }
}

fn subnet_widening(before: Option<&Value>, after: &Value) -> Vec<String> {
    let mut out = vec![];
    if access::became(before, after, "map_public_ip_on_launch", Value::Bool(true)) {
        out.push("instances launched here get public addresses".into());
    }
    out
}

/// Schema of [`InternetGateway`].
pub const INTERNET_GATEWAY: TypeSchema = TypeSchema {
    type_name: "aws.ec2.internet_gateway",
    name_style: NameStyle::Tag,
    force_new: &["vpc"],
    taggable: true,
    outputs: InternetGatewayOutputs::NAMES,
    ..TypeSchema::BASE
};

/// An internet gateway attached to a VPC.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InternetGateway {
    /// The VPC it is attached to (read back empty when it is detached).
    pub vpc: Ref<VpcId>,
    /// User tags.
    pub tags: Tags,
}

impl Resource for InternetGateway {
    const SCHEMA: &'static TypeSchema = &INTERNET_GATEWAY;
}

outputs! {
    /// What an internet gateway records.
    InternetGateway => InternetGatewayOutputs {
        /// The gateway's id.
        id: String => id(InternetGatewayId),
    }
}

/// Schema of [`RouteTable`].
pub const ROUTE_TABLE: TypeSchema = TypeSchema {
    type_name: "aws.ec2.route_table",
    name_style: NameStyle::Tag,
    force_new: &["vpc"],
    sets: &["routes"],
    taggable: true,
    outputs: RouteTableOutputs::NAMES,
    ..TypeSchema::BASE
};

/// A route table. Its IPv4 routes are managed authoritatively: such routes added outside the
/// declaration are removed on the next apply (the VPC's `local` route excepted).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouteTable {
    /// The VPC it belongs to.
    pub vpc: Ref<VpcId>,
    /// Its routes.
    pub routes: Vec<Route>,
    /// User tags.
    pub tags: Tags,
}

/// A route to an internet gateway or a NAT gateway. (Read back, a route to anything else has
/// neither; declaring one is refused.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Route {
    /// The destination block, e.g. `0.0.0.0/0`.
    pub destination_cidr_block: String,
    /// The internet gateway the traffic goes to (public subnets).
    pub gateway_id: Option<Ref<InternetGatewayId>>,
    /// The NAT gateway the traffic goes to (private subnets).
    pub nat_gateway_id: Option<Ref<NatGatewayId>>,
}

impl Route {
    /// Traffic to `destination` goes through an internet gateway.
    pub fn to_internet(destination: &str, gateway: Ref<InternetGatewayId>) -> Self {
        Self { destination_cidr_block: destination.into(), gateway_id: Some(gateway), nat_gateway_id: None }
    }

    /// Traffic to `destination` goes out through a NAT gateway.
    pub fn to_nat(destination: &str, nat: Ref<NatGatewayId>) -> Self {
        Self { destination_cidr_block: destination.into(), gateway_id: None, nat_gateway_id: Some(nat) }
    }
}

impl Resource for RouteTable {
    const SCHEMA: &'static TypeSchema = &ROUTE_TABLE;
    fn validate(&self, problems: &mut Vec<String>) {
        for r in &self.routes {
            if let Err(e) = cidr4(&r.destination_cidr_block) {
                problems.push(format!("routes: {e}"));
            }
            if r.gateway_id.is_some() == r.nat_gateway_id.is_some() {
                problems.push(format!("routes: {} needs exactly one target", r.destination_cidr_block));
            }
        }
    }
}

outputs! {
    /// What a route table records.
    RouteTable => RouteTableOutputs {
        /// The route table's id.
        id: String => id(RouteTableId),
    }
}

/// Schema of [`RouteTableAssociation`].
pub const ROUTE_TABLE_ASSOCIATION: TypeSchema = TypeSchema {
    type_name: "aws.ec2.route_table_association",
    name_style: NameStyle::None,
    force_new: &["route_table", "subnet"],
    outputs: RouteTableAssociationOutputs::NAMES,
    ..TypeSchema::BASE
};

/// The association of a subnet with a route table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouteTableAssociation {
    /// The route table.
    pub route_table: Ref<RouteTableId>,
    /// The subnet that uses it.
    pub subnet: Ref<SubnetId>,
}

impl Resource for RouteTableAssociation {
    const SCHEMA: &'static TypeSchema = &ROUTE_TABLE_ASSOCIATION;
}

/// Marker for references to route table association ids.
pub struct AssociationId;

outputs! {
    /// What a route table association records.
    RouteTableAssociation => RouteTableAssociationOutputs {
        /// The association's id.
        id: String => id(AssociationId),
    }
}

/// Schema of [`SecurityGroup`].
pub const SECURITY_GROUP: TypeSchema = TypeSchema {
    type_name: "aws.ec2.security_group",
    // A replacement is created (under a new name: names are unique in a VPC) before the old group
    // is deleted, once nothing uses it: tasks and load balancers are never without a group.
    name_style: NameStyle::Unique { max_len: 255, lowercase: false },
    force_new: &["name", "vpc", "description"],
    sets: &["ingress", "egress"],
    taggable: true,
    outputs: SecurityGroupOutputs::NAMES,
    create_before_destroy: true,
    widening: Some(security_group_widening),
    ..TypeSchema::BASE
};

/// A security group whose rules are managed authoritatively: the declared ingress and
/// egress rules are exactly the group's rules (AWS's default allow-all egress rule is
/// removed unless declared). There is no separate rule resource for the same group, so
/// two resources never fight over its rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecurityGroup {
    /// The VPC it belongs to.
    pub vpc: Ref<VpcId>,
    /// What the group is for (AWS cannot change it later).
    pub description: String,
    /// Inbound rules.
    pub ingress: Vec<Rule>,
    /// Outbound rules.
    pub egress: Vec<Rule>,
    /// User tags.
    pub tags: Tags,
}

/// Schema of [`DefaultSecurityGroup`].
pub const DEFAULT_SECURITY_GROUP: TypeSchema = TypeSchema {
    type_name: "aws.ec2.default_security_group",
    name_style: NameStyle::None,
    force_new: &["vpc"],
    sets: &["ingress", "egress"],
    taggable: true,
    outputs: DefaultSecurityGroupOutputs::NAMES,
    widening: Some(security_group_widening),
    ..TypeSchema::BASE
};

/// The default security group of a VPC, which AWS creates with the VPC (allowing all traffic
/// from its own members and all outbound traffic) and deletes with it: taken over, tagged, and
/// its rules made exactly the declared ones — none, so that a resource launched without a group
/// of its own is cut off (<https://docs.aws.amazon.com/vpc/latest/userguide/default-security-group.html>;
/// Security Hub EC2.2). Deleting it only stops managing it: the group goes with its VPC.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DefaultSecurityGroup {
    /// The VPC whose default group it is.
    pub vpc: Ref<VpcId>,
    /// Inbound rules (none: closed).
    pub ingress: Vec<Rule>,
    /// Outbound rules (none: closed).
    pub egress: Vec<Rule>,
    /// User tags.
    pub tags: Tags,
}

impl DefaultSecurityGroup {
    /// The default group of `vpc`, with no rule.
    pub fn closed(vpc: Ref<VpcId>) -> Self {
        Self { vpc, ingress: vec![], egress: vec![], tags: Tags::new() }
    }
}

impl Resource for DefaultSecurityGroup {
    const SCHEMA: &'static TypeSchema = &DEFAULT_SECURITY_GROUP;
}

outputs! {
    /// What a VPC's default security group records.
    DefaultSecurityGroup => DefaultSecurityGroupOutputs {
        /// The group's id.
        id: String => id(SecurityGroupId),
    }
}

/// An IP protocol of a rule, as AWS names it: `tcp`, `udp`, `icmp`, `-1` for every protocol, or
/// another protocol's number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// ICMP.
    Icmp,
    /// Every protocol and port.
    All,
    /// Another protocol, by its IANA number (`58` for ICMPv6, `50` for ESP...).
    Number(u8),
}

impl From<Protocol> for String {
    fn from(p: Protocol) -> String {
        match p {
            Protocol::Tcp => "tcp".into(),
            Protocol::Udp => "udp".into(),
            Protocol::Icmp => "icmp".into(),
            Protocol::All => "-1".into(),
            Protocol::Number(n) => n.to_string(),
        }
    }
}

impl TryFrom<String> for Protocol {
    type Error = String;
    /// The names and numbers AWS uses (`6` is TCP, `17` UDP, `1` ICMP, `icmpv6` 58).
    fn try_from(text: String) -> Result<Self, String> {
        Ok(match text.to_ascii_lowercase().as_str() {
            "tcp" | "6" => Protocol::Tcp,
            "udp" | "17" => Protocol::Udp,
            "icmp" | "1" => Protocol::Icmp,
            "-1" | "all" => Protocol::All,
            "icmpv6" => Protocol::Number(58),
            other => Protocol::Number(other.parse().map_err(|_| format!("`{text}` is not an IP protocol"))?),
        })
    }
}

/// Where a rule's traffic comes from (ingress) or goes to (egress).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Peer {
    /// An IPv4 block (a literal, or a reference such as a VPC's block).
    CidrIpv4(Ref<CidrBlock>),
    /// An IPv6 block.
    CidrIpv6(String),
    /// Another security group.
    SecurityGroup(Ref<SecurityGroupId>),
    /// A managed prefix list (`pl-...`), such as the one of a gateway endpoint's service.
    PrefixList(String),
}

/// One security group rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    /// The protocol.
    pub protocol: Protocol,
    /// First port (-1 for every port of [`Protocol::All`]).
    pub from_port: i32,
    /// Last port.
    pub to_port: i32,
    /// The other side.
    pub peer: Peer,
    /// What the rule is for.
    pub description: String,
}

impl Rule {
    /// TCP on one port.
    pub fn tcp(port: u16, peer: Peer, description: impl Into<String>) -> Self {
        Self {
            protocol: Protocol::Tcp,
            from_port: port.into(),
            to_port: port.into(),
            peer,
            description: description.into(),
        }
    }

    /// Every protocol and port.
    pub fn all(peer: Peer, description: impl Into<String>) -> Self {
        Self { protocol: Protocol::All, from_port: -1, to_port: -1, peer, description: description.into() }
    }
}

impl Resource for SecurityGroup {
    const SCHEMA: &'static TypeSchema = &SECURITY_GROUP;
    fn validate(&self, problems: &mut Vec<String>) {
        validate::length("description", &self.description, 255, problems);
        if !self.description.is_ascii() {
            problems.push("description: must be ASCII".into());
        }
        for (kind, rules) in [("ingress", &self.ingress), ("egress", &self.egress)] {
            for r in rules {
                match r.protocol {
                    Protocol::All if (r.from_port, r.to_port) != (-1, -1) => {
                        problems.push(format!("{kind}: a rule for every protocol must use ports -1 to -1"))
                    }
                    Protocol::Tcp | Protocol::Udp
                        if !(0..=65535).contains(&r.from_port) || r.to_port < r.from_port || r.to_port > 65535 =>
                    {
                        problems.push(format!("{kind}: port range {}-{} is invalid", r.from_port, r.to_port))
                    }
                    _ => {}
                }
                match &r.peer {
                    Peer::CidrIpv4(c) => {
                        if let Some(Err(e)) = c.as_literal().map(cidr4) {
                            problems.push(format!("{kind}: {e}"));
                        }
                    }
                    Peer::CidrIpv6(c) => {
                        if let Err(e) = validate::cidr6(c) {
                            problems.push(format!("{kind}: {e}"));
                        }
                    }
                    Peer::PrefixList(id) => {
                        if !id.starts_with("pl-") {
                            problems.push(format!("{kind}: `{id}` is not a prefix list id (pl-...)"));
                        }
                    }
                    Peer::SecurityGroup(_) => {}
                }
                if r.description.len() > 255 {
                    problems.push(format!("{kind}: a rule description is longer than 255 characters"));
                }
            }
        }
    }
}

outputs! {
    /// What a security group records.
    SecurityGroup => SecurityGroupOutputs {
        /// The group's id.
        id: String => id(SecurityGroupId),
    }
}

fn security_group_widening(before: Option<&Value>, after: &Value) -> Vec<String> {
    let old = access::list(before, "ingress");
    access::list(Some(after), "ingress")
        .iter()
        .filter(|r| !old.contains(r))
        .map(|rule| format!("new {}", access::rule_text(rule)))
        .collect()
}

/// Checks across resources of a stack: each subnet's block lies inside its VPC's (when the VPC is
/// in the stack), and no two subnets of a VPC overlap.
fn check_subnets(spec: &crate::model::StackSpec, problems: &mut Vec<String>) {
    use crate::model::reference::as_ref;
    let block = |props: &serde_json::Value| props["cidr_block"].as_str().and_then(|c| cidr4(c).ok());
    let mut seen: Vec<(&crate::model::Address, &str, validate::Cidr4)> = vec![];
    let by_address: std::collections::HashMap<String, &crate::model::ResourceSpec> =
        spec.resources.iter().map(|r| (r.address.to_string(), r)).collect();
    for subnet in spec.resources.iter().filter(|r| r.type_name == SUBNET.type_name) {
        let Some(cidr) = block(&subnet.props) else {
            continue;
        };
        let Some((vpc_address, _)) = as_ref(&subnet.props["vpc"]) else {
            continue;
        };
        let vpc = by_address.get(vpc_address).copied();
        if let Some(vpc_cidr) = vpc.and_then(|v| block(&v.props)) {
            if !vpc_cidr.contains(&cidr) {
                problems.push(format!(
                    "{}: cidr_block {} is not inside the VPC's {}",
                    subnet.address,
                    subnet.props["cidr_block"],
                    vpc.unwrap().props["cidr_block"]
                ));
            }
        }
        for (other, other_vpc, other_cidr) in &seen {
            if *other_vpc == vpc_address && other_cidr.overlaps(&cidr) {
                problems.push(format!("{}: cidr_block overlaps {other}'s", subnet.address));
            }
        }
        seen.push((&subnet.address, vpc_address, cidr));
    }
}

/// Schema of [`SecurityGroupGrant`].
pub const SECURITY_GROUP_GRANT: TypeSchema = TypeSchema {
    type_name: "aws.ec2.security_group_grant",
    name_style: NameStyle::None,
    force_new: &["group", "protocol", "from_port", "to_port", "peer"],
    outputs: SecurityGroupGrantOutputs::NAMES,
    // The new rule is authorized before the old one is revoked: no moment without access.
    create_before_destroy: true,
    widening: Some(grant_widening),
    ..TypeSchema::BASE
};

/// The description every grant carries on its rule: `granted by <address>`. A security group
/// leaves rules with this description to the grant resources that own them, so its own rules stay
/// authoritative and no two resources manage the same rule.
pub const GRANT_DESCRIPTION_PREFIX: &str = "granted by ";

/// One ingress rule added to a security group owned by another stack (e.g. the service stack
/// granting its tasks access to the database's group), so that no stack depends on a stack that
/// depends on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecurityGroupGrant {
    /// The group receiving the rule.
    pub group: Ref<SecurityGroupId>,
    /// The protocol.
    pub protocol: Protocol,
    /// First port.
    pub from_port: i32,
    /// Last port.
    pub to_port: i32,
    /// Who is granted access.
    pub peer: Peer,
}

impl Resource for SecurityGroupGrant {
    const SCHEMA: &'static TypeSchema = &SECURITY_GROUP_GRANT;
    fn validate(&self, problems: &mut Vec<String>) {
        if let Peer::CidrIpv4(c) = &self.peer {
            if let Some(Err(e)) = c.as_literal().map(cidr4) {
                problems.push(format!("peer: {e}"));
            }
        }
    }
}

/// Marker for references to grant ids.
pub struct GrantId;

outputs! {
    /// What a grant records.
    SecurityGroupGrant => SecurityGroupGrantOutputs {
        /// The grant's id: its group and its address.
        id: String => id(GrantId),
    }
}

fn grant_widening(before: Option<&Value>, after: &Value) -> Vec<String> {
    let changed =
        before.is_none_or(|b| ["protocol", "from_port", "to_port", "peer", "group"].iter().any(|k| b[*k] != after[*k]));
    if !changed {
        return vec![];
    }
    vec![format!("new {} into group {}", access::rule_text(after), access::text(&after["group"]))]
}

/// Marker for references to Elastic IP allocation ids.
pub struct AllocationId;
/// Marker for references to public IPv4 addresses.
pub struct PublicIp;
/// Marker for references to NAT gateway ids.
pub struct NatGatewayId;

/// Schema of [`ElasticIp`].
pub const ELASTIC_IP: TypeSchema = TypeSchema {
    type_name: "aws.ec2.elastic_ip",
    name_style: NameStyle::Tag,
    taggable: true,
    outputs: ElasticIpOutputs::NAMES,
    ..TypeSchema::BASE
};

/// A public IPv4 address of the account (for a NAT gateway).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ElasticIp {
    /// User tags.
    pub tags: Tags,
}

impl Resource for ElasticIp {
    const SCHEMA: &'static TypeSchema = &ELASTIC_IP;
}

outputs! {
    /// What an Elastic IP records.
    ElasticIp => ElasticIpOutputs {
        /// The allocation id.
        allocation_id: String => allocation_id(AllocationId),
        /// The address.
        public_ip: String => public_ip(PublicIp),
    }
}

/// Schema of [`NatGateway`].
pub const NAT_GATEWAY: TypeSchema = TypeSchema {
    type_name: "aws.ec2.nat_gateway",
    name_style: NameStyle::Tag,
    force_new: &["subnet", "allocation"],
    taggable: true,
    outputs: NatGatewayOutputs::NAMES,
    awaits: true,
    ..TypeSchema::BASE
};

/// A NAT gateway in a public subnet: private subnets reach the internet (image registry, AWS APIs)
/// through it, and nothing reaches them from outside.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NatGateway {
    /// Its public subnet.
    pub subnet: Ref<SubnetId>,
    /// Its public address.
    pub allocation: Ref<AllocationId>,
    /// User tags.
    pub tags: Tags,
}

impl Resource for NatGateway {
    const SCHEMA: &'static TypeSchema = &NAT_GATEWAY;
}

outputs! {
    /// What a NAT gateway records.
    NatGateway => NatGatewayOutputs {
        /// The gateway's id.
        id: String => id(NatGatewayId),
    }
}

/// Marker for references to VPC flow log ids.
pub struct FlowLogId;

/// Schema of [`FlowLog`].
pub const FLOW_LOG: TypeSchema = TypeSchema {
    type_name: "aws.ec2.flow_log",
    name_style: NameStyle::Tag,
    // A flow log cannot be changed once created, only deleted
    // (https://docs.aws.amazon.com/vpc/latest/userguide/working-with-flow-logs.html).
    force_new: &["vpc", "traffic_type", "log_group", "delivery_role", "max_aggregation_interval_seconds"],
    taggable: true,
    outputs: FlowLogOutputs::NAMES,
    ..TypeSchema::BASE
};

/// A VPC's flow log: a record of the IP traffic of every network interface in the VPC, delivered
/// to a CloudWatch Logs group through a role the VPC Flow Logs service assumes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlowLog {
    /// The VPC.
    pub vpc: Ref<VpcId>,
    /// `ALL`, `ACCEPT` or `REJECT`.
    pub traffic_type: String,
    /// The log group's name.
    pub log_group: Ref<super::Name>,
    /// The role VPC Flow Logs assumes to write to the group.
    pub delivery_role: Ref<super::Arn>,
    /// Seconds over which a flow record aggregates packets: 60 or 600.
    pub max_aggregation_interval_seconds: u32,
    /// User tags.
    pub tags: Tags,
}

impl Resource for FlowLog {
    const SCHEMA: &'static TypeSchema = &FLOW_LOG;
    fn validate(&self, problems: &mut Vec<String>) {
        if !["ALL", "ACCEPT", "REJECT"].contains(&self.traffic_type.as_str()) {
            problems.push(format!("traffic_type: `{}` must be ALL, ACCEPT or REJECT", self.traffic_type));
        }
        if ![60, 600].contains(&self.max_aggregation_interval_seconds) {
            problems.push(format!(
                "max_aggregation_interval_seconds: {} must be 60 or 600",
                self.max_aggregation_interval_seconds
            ));
        }
    }
}

outputs! {
    /// What a flow log records.
    FlowLog => FlowLogOutputs {
        /// Its id.
        id: String => id(FlowLogId),
    }
}
