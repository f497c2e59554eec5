//! Elastic Load Balancing: application load balancers, target groups and listeners.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{AccessLogs, Arn, SecurityGroupId, SubnetId, Tags, VpcId};
use crate::access;
use crate::model::{outputs, NameStyle, Ref, Resource, TypeSchema};

/// Marker for references to DNS names.
pub struct DnsName;

/// Schema of [`LoadBalancer`].
pub const LOAD_BALANCER: TypeSchema = TypeSchema {
    type_name: "aws.elbv2.load_balancer",
    name_style: NameStyle::Dashed { max_len: 32, lowercase: false },
    force_new: &["name", "internal"],
    sets: &["subnets", "security_groups"],
    taggable: true,
    outputs: LoadBalancerOutputs::NAMES,
    // A new load balancer is `provisioning` for minutes before it is `active`.
    awaits: true,
    widening: Some(load_balancer_widening),
    ..TypeSchema::BASE
};

/// An application load balancer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadBalancer {
    /// Internal (private) or internet-facing.
    pub internal: bool,
    /// Its subnets (public ones when internet-facing), in at least two zones.
    pub subnets: Vec<Ref<SubnetId>>,
    /// Its security groups.
    pub security_groups: Vec<Ref<SecurityGroupId>>,
    /// Drop requests with header fields that are not valid HTTP (request smuggling).
    pub drop_invalid_header_fields: bool,
    /// AWS refuses to delete it while this is on.
    pub deletion_protection: bool,
    /// Access logs: every request, written every 5 minutes into a bucket (which accepts
    /// [`LogSource::LoadBalancers`](super::LogSource) under a prefix holding this one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_logs: Option<AccessLogs>,
    /// User tags.
    pub tags: Tags,
}

impl Resource for LoadBalancer {
    const SCHEMA: &'static TypeSchema = &LOAD_BALANCER;
    fn validate(&self, problems: &mut Vec<String>) {
        if self.subnets.len() < 2 {
            problems.push("subnets: a load balancer needs subnets in at least two zones".into());
        }
        if let Some(logs) = &self.access_logs {
            // "The prefix can't include the string AWSLogs" and does not start or end with `/`
            // (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/enable-access-logging.html).
            let p = &logs.prefix;
            if p.is_empty() || p.starts_with('/') || p.ends_with('/') || p.contains("AWSLogs") {
                problems.push(format!(
                    "access_logs.prefix: `{p}` is not empty, neither starts nor ends with `/` and does not hold `AWSLogs`"
                ));
            }
        }
    }
}

/// Marker for references to Route 53 hosted zone ids (a load balancer's, for alias records).
pub struct ZoneId;

outputs! {
    /// What a load balancer records.
    LoadBalancer => LoadBalancerOutputs {
        /// Its ARN.
        arn: String => arn(Arn),
        /// Its public DNS name.
        dns_name: String => dns_name(DnsName),
        /// The hosted zone of its DNS name (for alias records).
        zone_id: String => zone_id(ZoneId),
    }
}

fn load_balancer_widening(before: Option<&Value>, after: &Value) -> Vec<String> {
    let mut out = vec![];
    if access::became(before, after, "internal", Value::Bool(false)) {
        out.push("internet-facing load balancer".into());
    }
    out
}

/// Schema of [`TargetGroup`].
pub const TARGET_GROUP: TypeSchema = TypeSchema {
    type_name: "aws.elbv2.target_group",
    // A replacement is created (under a new name: names are unique in a region) before the old
    // group is deleted, once its listener and service moved to the new one.
    name_style: NameStyle::Unique { max_len: 32, lowercase: false },
    force_new: &["name", "vpc", "port", "protocol", "target_type"],
    taggable: true,
    outputs: TargetGroupOutputs::NAMES,
    create_before_destroy: true,
    ..TypeSchema::BASE
};

/// How the load balancer checks a target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthCheck {
    /// The HTTP path, e.g. `/health/live`.
    pub path: String,
    /// The port (the service's health port).
    pub port: u16,
    /// Seconds between checks.
    pub interval_seconds: u32,
    /// Seconds before a check fails.
    pub timeout_seconds: u32,
    /// Successes before a target is healthy.
    pub healthy_threshold: u32,
    /// Failures before a target is unhealthy.
    pub unhealthy_threshold: u32,
    /// Expected HTTP codes, e.g. `200`.
    pub matcher: String,
}

/// A target group of IP targets (Fargate tasks).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetGroup {
    /// Its VPC.
    pub vpc: Ref<VpcId>,
    /// The traffic port.
    pub port: u16,
    /// `HTTP`, or `HTTPS` (TLS to the targets; the load balancer checks no target certificate).
    pub protocol: String,
    /// `ip` for Fargate.
    pub target_type: String,
    /// The health check.
    pub health_check: HealthCheck,
    /// Seconds a deregistering target keeps its connections.
    pub deregistration_delay_seconds: u32,
    /// User tags.
    pub tags: Tags,
}

impl Resource for TargetGroup {
    const SCHEMA: &'static TypeSchema = &TARGET_GROUP;
    fn validate(&self, problems: &mut Vec<String>) {
        if !self.health_check.path.starts_with('/') {
            problems.push("health_check.path: must start with /".into());
        }
        if self.deregistration_delay_seconds > 3600 {
            problems.push("deregistration_delay_seconds: must be 0 to 3600".into());
        }
    }
}

outputs! {
    /// What a target group records.
    TargetGroup => TargetGroupOutputs {
        /// Its ARN.
        arn: String => arn(Arn),
        /// Its name.
        name: String,
    }
}

/// Schema of [`Listener`].
pub const LISTENER: TypeSchema = TypeSchema {
    type_name: "aws.elbv2.listener",
    name_style: NameStyle::None,
    force_new: &["load_balancer"],
    taggable: true,
    outputs: ListenerOutputs::NAMES,
    ..TypeSchema::BASE
};

/// What a listener does with requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ListenerAction {
    /// Forward to a target group.
    Forward {
        /// The target group.
        target_group: Ref<Arn>,
    },
    /// Redirect HTTP to HTTPS on port 443 (301).
    RedirectToHttps,
    /// An action of another kind (`fixed-response`, a redirect elsewhere...): how an action set
    /// outside platform reads back (and shows as drift). Stacks declare one of the kinds above.
    Unsupported(String),
}

/// A listener of a load balancer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Listener {
    /// The load balancer.
    pub load_balancer: Ref<Arn>,
    /// The port.
    pub port: u16,
    /// `HTTP` or `HTTPS`.
    pub protocol: String,
    /// The certificate (HTTPS): an issued one (a certificate validation's `certificate_arn`, or
    /// one the environment declares).
    pub certificate_arn: Option<Ref<Arn>>,
    /// The TLS policy (HTTPS).
    pub ssl_policy: Option<String>,
    /// The default action.
    pub action: ListenerAction,
    /// User tags.
    pub tags: Tags,
}

/// The TLS policy of HTTPS listeners: TLS 1.2 and 1.3 only, with post-quantum key exchange, the
/// one AWS recommends. It is always named: a listener created through the API without one gets
/// `ELBSecurityPolicy-2016-08`, which allows TLS 1.0
/// (<https://docs.aws.amazon.com/elasticloadbalancing/latest/application/describe-ssl-policies.html>).
pub const TLS12_POLICY: &str = "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09";

impl Resource for Listener {
    const SCHEMA: &'static TypeSchema = &LISTENER;
    fn validate(&self, problems: &mut Vec<String>) {
        if let ListenerAction::Unsupported(kind) = &self.action {
            problems.push(format!("action: `{kind}` actions cannot be declared; forward, or redirect to HTTPS"));
        }
        match self.protocol.as_str() {
            "HTTPS" if self.certificate_arn.is_none() || self.ssl_policy.is_none() => {
                problems.push("an HTTPS listener needs a certificate_arn and an ssl_policy".into())
            }
            "HTTP" if self.certificate_arn.is_some() || self.ssl_policy.is_some() => {
                problems.push("an HTTP listener takes no certificate or TLS policy".into())
            }
            "HTTP" | "HTTPS" => {}
            other => problems.push(format!("protocol: `{other}` must be HTTP or HTTPS")),
        }
    }
}

outputs! {
    /// What a listener records.
    Listener => ListenerOutputs {
        /// Its ARN.
        arn: String => arn(Arn),
    }
}
