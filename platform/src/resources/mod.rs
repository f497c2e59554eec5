//! The typed resources `platform` manages, with their schemas (pure: no IO).
//!
//! Each resource is a plain struct of props; [`crate::model::Stack::add`] returns a
//! [`Handle`](crate::model::Handle) whose methods give typed references to its outputs.
//! The AWS provider implements create, read, update, delete, find and await for every type
//! listed in [`SCHEMAS`] (its registry lists the same types; a test checks it).

pub mod acm;
pub mod ec2;
pub mod ecr;
pub mod ecs;
pub mod elbv2;
pub mod iam;
pub mod kms;
pub mod logs;
pub mod rds;
pub mod route53;
pub mod s3;
pub mod secretsmanager;
pub mod servicediscovery;
pub mod wafv2;

use std::collections::BTreeMap;

use crate::model::TypeSchema;

pub use acm::{Certificate, CertificateValidation};
pub use ec2::{
    AllocationId, AzIndex, CidrBlock, DefaultSecurityGroup, ElasticIp, FlowLog, InternetGateway, InternetGatewayId,
    NatGateway, NatGatewayId, Peer, Protocol, Route, RouteTable, RouteTableAssociation, RouteTableId, Rule,
    SecurityGroup, SecurityGroupGrant, SecurityGroupId, Subnet, SubnetId, Vpc, VpcId,
};
pub use ecr::{EcrRepository, ImageLifecycle, TagMutability};
pub use ecs::{
    Container, ContainerHealthCheck, ContainerInsights, EcsCluster, Service, ServiceLoadBalancer, TaskDefinition,
};
pub use elbv2::{HealthCheck, Listener, ListenerAction, LoadBalancer, TargetGroup, TLS12_POLICY};
pub use iam::{Condition, Effect, ManagedPolicy, OidcProvider, PolicyDocument, Role, Statement, Trust};
pub use kms::{Key, KeyService, KeyUse};
pub use logs::LogGroup;
pub use rds::{DbEngine, DbInstance, DbParameterGroup, DbParameterGroupName, DbSubnetGroup, DbSubnetGroupName};
pub use route53::{Record, RecordTarget};
pub use s3::{AccessLogs, Bucket, BucketEncryption, LogSource, ObjectLifecycle};
pub use secretsmanager::Secret;
pub use servicediscovery::{DiscoveryService, NamespaceId, PrivateDnsNamespace};
pub use wafv2::{ManagedRuleGroup, WafAction, WafLogging, WebAcl, WebAclAssociation};

/// User tags of a resource (the engine adds `Name` and the `platform:*` tags).
pub type Tags = BTreeMap<String, String>;

/// Marker for references to ARNs.
pub struct Arn;
/// Marker for references to physical names.
pub struct Name;
/// Marker for references to URIs (an ECR repository's, for example).
pub struct Uri;
/// Marker for references to plain text.
pub struct Text;

/// Every resource type the engine knows.
pub const SCHEMAS: &[&TypeSchema] = &[
    &ec2::VPC,
    &ec2::SUBNET,
    &ec2::INTERNET_GATEWAY,
    &ec2::ROUTE_TABLE,
    &ec2::ROUTE_TABLE_ASSOCIATION,
    &ec2::SECURITY_GROUP,
    &ec2::SECURITY_GROUP_GRANT,
    &ec2::DEFAULT_SECURITY_GROUP,
    &ec2::ELASTIC_IP,
    &ec2::NAT_GATEWAY,
    &ec2::FLOW_LOG,
    &ecr::REPOSITORY,
    &ecs::CLUSTER,
    &ecs::TASK_DEFINITION,
    &ecs::SERVICE,
    &elbv2::LOAD_BALANCER,
    &elbv2::TARGET_GROUP,
    &elbv2::LISTENER,
    &iam::ROLE,
    &iam::OIDC_PROVIDER,
    &iam::MANAGED_POLICY,
    &servicediscovery::PRIVATE_DNS_NAMESPACE,
    &servicediscovery::SERVICE,
    &logs::LOG_GROUP,
    &rds::DB_SUBNET_GROUP,
    &rds::DB_PARAMETER_GROUP,
    &rds::DB_INSTANCE,
    &s3::BUCKET,
    &acm::CERTIFICATE,
    &acm::CERTIFICATE_VALIDATION,
    &route53::RECORD,
    &secretsmanager::SECRET,
    &wafv2::WEB_ACL,
    &wafv2::WEB_ACL_ASSOCIATION,
    &wafv2::LOGGING,
    &kms::KEY,
    #[cfg(test)]
    &test_thing::SCHEMA,
    #[cfg(test)]
    &test_thing::SLOW,
    #[cfg(test)]
    &test_thing::REVISION,
];

/// The schema of a resource type.
pub fn schema(type_name: &str) -> Option<&'static TypeSchema> {
    SCHEMAS.iter().copied().find(|s| s.type_name == type_name)
}

#[cfg(test)]
pub(crate) mod test_thing {
    //! A resource type for engine unit tests, served by the in-memory provider.
    use serde::{Deserialize, Serialize};

    use super::Tags;
    use crate::model::{Handle, NameStyle, Ref, Resource, TypeSchema};

    pub const SCHEMA: TypeSchema = TypeSchema {
        type_name: "test.thing",
        name_style: NameStyle::Dashed { max_len: 64, lowercase: true },
        force_new: &["name", "immutable"],
        sets: &["set"],
        taggable: true,
        outputs: &["id"],
        ..TypeSchema::BASE
    };

    /// A type that becomes available some time after it is created, like a database.
    pub const SLOW: TypeSchema = TypeSchema {
        type_name: "test.slow",
        name_style: NameStyle::Dashed { max_len: 64, lowercase: true },
        force_new: &["name"],
        outputs: &["id", "endpoint"],
        awaits: true,
        ..TypeSchema::BASE
    };

    /// An immutable type replaced create-before-destroy, like a task definition revision.
    pub const REVISION: TypeSchema = TypeSchema {
        type_name: "test.revision",
        name_style: NameStyle::None,
        force_new: &["content"],
        outputs: &["id"],
        create_before_destroy: true,
        ..TypeSchema::BASE
    };

    #[derive(Debug, Clone, Default, Serialize, Deserialize)]
    pub struct Revision {
        pub content: String,
    }

    impl Resource for Revision {
        const SCHEMA: &'static TypeSchema = &REVISION;
    }

    impl Handle<Revision> {
        pub fn id(&self) -> Ref<ThingId> {
            self.output("id")
        }
    }

    #[derive(Debug, Clone, Default, Serialize, Deserialize)]
    pub struct Slow {
        pub size: u32,
    }

    impl Resource for Slow {
        const SCHEMA: &'static TypeSchema = &SLOW;
    }

    impl Handle<Slow> {
        pub fn endpoint(&self) -> Ref<ThingId> {
            self.output("endpoint")
        }
    }

    pub struct ThingId;

    #[derive(Debug, Clone, Default, Serialize, Deserialize)]
    pub struct Thing {
        pub size: u32,
        pub immutable: String,
        pub set: Vec<String>,
        pub parent: Option<Ref<ThingId>>,
        pub tags: Tags,
    }

    impl Resource for Thing {
        const SCHEMA: &'static TypeSchema = &SCHEMA;
        fn validate(&self, problems: &mut Vec<String>) {
            if self.size > 100 {
                problems.push("size: must be at most 100".into());
            }
        }
    }

    impl Handle<Thing> {
        pub fn id(&self) -> Ref<ThingId> {
            self.output("id")
        }
    }
}
