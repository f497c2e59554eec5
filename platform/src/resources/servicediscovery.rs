//! Cloud Map: private DNS namespaces for service discovery.

use serde::{Deserialize, Serialize};

use super::{Arn, Tags, VpcId};
use crate::model::validate;
use crate::model::{outputs, NameStyle, Ref, Resource, TypeSchema};

/// Marker for references to Cloud Map namespace ids.
pub struct NamespaceId;

/// Schema of [`PrivateDnsNamespace`].
pub const PRIVATE_DNS_NAMESPACE: TypeSchema = TypeSchema {
    type_name: "aws.servicediscovery.private_dns_namespace",
    name_style: NameStyle::None,
    force_new: &["dns_name", "vpc"],
    taggable: true,
    outputs: PrivateDnsNamespaceOutputs::NAMES,
    ..TypeSchema::BASE
};

/// A private DNS namespace: services register in it and find each other by name inside the VPC.
/// Creating and deleting one is asynchronous; the provider waits for the operation with a deadline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    const SCHEMA: &'static TypeSchema = &PRIVATE_DNS_NAMESPACE;
    fn validate(&self, problems: &mut Vec<String>) {
        validate::dns_name("dns_name", &self.dns_name, problems);
        if self.description.len() > 1024 {
            problems.push("description: must be at most 1024 characters".into());
        }
    }
}

/// Marker for references to Route 53 hosted zone ids.
pub struct HostedZoneId;
/// Marker for references to Cloud Map service ids.
pub struct DiscoveryServiceId;

outputs! {
    /// What a namespace records.
    PrivateDnsNamespace => PrivateDnsNamespaceOutputs {
        /// The namespace's id.
        id: String => id(NamespaceId),
        /// The namespace's ARN.
        arn: String => arn(Arn),
        /// The private hosted zone Cloud Map made for it.
        hosted_zone_id: String => hosted_zone_id(HostedZoneId),
    }
}

/// Schema of [`DiscoveryService`].
pub const SERVICE: TypeSchema = TypeSchema {
    type_name: "aws.servicediscovery.service",
    name_style: NameStyle::None,
    force_new: &["dns_name", "namespace"],
    taggable: true,
    outputs: DiscoveryServiceOutputs::NAMES,
    ..TypeSchema::BASE
};

/// A Cloud Map service: `<dns_name>.<namespace>` resolves to the registered tasks (A records).
/// ECS registers and deregisters the tasks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    const SCHEMA: &'static TypeSchema = &SERVICE;
    fn validate(&self, problems: &mut Vec<String>) {
        validate::dns_name("dns_name", &self.dns_name, problems);
        if self.dns_name.contains('.') {
            problems.push("dns_name: one label, without dots".into());
        }
    }
}

outputs! {
    /// What a Cloud Map service records.
    DiscoveryService => DiscoveryServiceOutputs {
        /// The service's id.
        id: String => id(DiscoveryServiceId),
        /// The service's ARN (what an ECS service registers with).
        arn: String => arn(Arn),
    }
}
