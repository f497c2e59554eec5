//! Cloud Map: private DNS namespaces for service discovery.

use serde::Serialize;

use super::{Arn, Tags, VpcId};
use crate::model::validate;
use crate::model::{Handle, NameStyle, Ref, Resource, TypeSchema};

/// Marker for references to Cloud Map namespace ids.
pub struct NamespaceId;

/// Schema of [`PrivateDnsNamespace`].
pub const PRIVATE_DNS_NAMESPACE: TypeSchema = TypeSchema {
    type_name: "aws.servicediscovery.private_dns_namespace",
    name_style: NameStyle::None,
    force_new: &["dns_name", "vpc"],
    sets: &[],
    taggable: true,
    outputs: &["id", "arn", "hosted_zone_id"],
    awaits: false,
    create_before_destroy: false,
};

/// A private DNS namespace: services register in it and find each other by name inside the VPC.
/// Creating and deleting one is asynchronous; the provider waits for the operation with a deadline.
#[derive(Debug, Clone, Serialize)]
pub struct PrivateDnsNamespace {
    /// The DNS name, e.g. `dev.platform.internal`; it must be unique per VPC.
    pub dns_name: String,
    /// The VPC it is visible in.
    pub vpc: Ref<VpcId>,
    /// What the namespace is for.
    pub description: String,
    /// User tags.
    pub tags: Tags,
}

impl Resource for PrivateDnsNamespace {
    const TYPE: &'static str = PRIVATE_DNS_NAMESPACE.type_name;
    fn validate(&self, problems: &mut Vec<String>) {
        validate::dns_name("dns_name", &self.dns_name, problems);
        if self.description.len() > 1024 {
            problems.push("description: must be at most 1024 characters".into());
        }
    }
}

impl Handle<PrivateDnsNamespace> {
    /// The namespace's id.
    pub fn id(&self) -> Ref<NamespaceId> {
        self.output("id")
    }
    /// The namespace's ARN.
    pub fn arn(&self) -> Ref<Arn> {
        self.output("arn")
    }
}

/// Schema of [`DiscoveryService`].
pub const SERVICE: TypeSchema = TypeSchema {
    type_name: "aws.servicediscovery.service",
    name_style: NameStyle::None,
    force_new: &["dns_name", "namespace"],
    sets: &[],
    taggable: true,
    outputs: &["id", "arn"],
    awaits: false,
    create_before_destroy: false,
};

/// A Cloud Map service: `<dns_name>.<namespace>` resolves to the registered tasks (A records).
/// ECS registers and deregisters the tasks.
#[derive(Debug, Clone, Serialize)]
pub struct DiscoveryService {
    /// The label, e.g. `card`.
    pub dns_name: String,
    /// The namespace.
    pub namespace: Ref<NamespaceId>,
    /// Seconds resolvers cache the records.
    pub ttl_seconds: u32,
    /// User tags.
    pub tags: Tags,
}

impl Resource for DiscoveryService {
    const TYPE: &'static str = SERVICE.type_name;
    fn validate(&self, problems: &mut Vec<String>) {
        validate::dns_name("dns_name", &self.dns_name, problems);
        if self.dns_name.contains('.') {
            problems.push("dns_name: one label, without dots".into());
        }
    }
}

impl Handle<DiscoveryService> {
    /// The service's ARN (what ECS registers tasks with).
    pub fn arn(&self) -> Ref<Arn> {
        self.output("arn")
    }
}
