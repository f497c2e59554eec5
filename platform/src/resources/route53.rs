//! Route 53: DNS records in a public hosted zone the account already has.

use serde::{Deserialize, Serialize};

use super::elbv2::{DnsName, ZoneId};
use super::Text;
use crate::model::validate;
use crate::model::{outputs, NameStyle, Ref, Resource, TypeSchema};

/// Schema of [`Record`].
pub const RECORD: TypeSchema = TypeSchema {
    type_name: "aws.route53.record",
    name_style: NameStyle::None,
    force_new: &["zone", "name", "record_type"],
    outputs: RecordOutputs::NAMES,
    ..TypeSchema::BASE
};

/// What a record answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordTarget {
    /// Values, cached for `ttl_seconds`.
    Values {
        /// Seconds resolvers cache the answer.
        ttl_seconds: u32,
        /// The values (lowercase names without the final dot, for CNAME records).
        values: Vec<Ref<Text>>,
    },
    /// An alias to an AWS resource (a load balancer): Route 53 answers the resource's addresses
    /// and follows them as they change. Alias records have no TTL of their own.
    Alias {
        /// The target's DNS name.
        dns_name: Ref<DnsName>,
        /// The target's hosted zone (a load balancer's `CanonicalHostedZoneId`).
        zone_id: Ref<ZoneId>,
        /// Answer only while the target is healthy.
        evaluate_target_health: bool,
    },
}

/// A DNS record in a public hosted zone, found by its name: the zone is the environment's
/// (created and delegated by people, since delegation involves the domain's registrar); records
/// carry no tags, so a record is this resource's only if it was created through it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The public hosted zone's name, e.g. `prod.example.com`.
    pub zone: String,
    /// The record's fully qualified name (lowercase, without the final dot), inside the zone.
    pub name: Ref<Text>,
    /// `A`, `AAAA`, `CNAME` or `TXT`.
    pub record_type: String,
    /// What it answers.
    pub target: RecordTarget,
}

impl Resource for Record {
    const SCHEMA: &'static TypeSchema = &RECORD;
    fn validate(&self, problems: &mut Vec<String>) {
        validate::dns_name("zone", &self.zone, problems);
        if let Some(name) = self.name.as_literal() {
            let label = name.strip_prefix("*.").unwrap_or(name);
            let inside = label == self.zone || label.ends_with(&format!(".{}", self.zone));
            if !inside {
                problems.push(format!("name: `{name}` is not inside the zone `{}`", self.zone));
            }
            if name != name.to_ascii_lowercase() || name.ends_with('.') {
                problems.push(format!("name: `{name}` must be lowercase, without the final dot"));
            }
        }
        if !["A", "AAAA", "CNAME", "TXT"].contains(&self.record_type.as_str()) {
            problems.push(format!("record_type: `{}` must be A, AAAA, CNAME or TXT", self.record_type));
        }
        match &self.target {
            RecordTarget::Values { values, .. } => {
                if values.is_empty() {
                    problems.push("target: a record needs at least one value".into());
                }
                if self.record_type == "CNAME" && values.len() != 1 {
                    problems.push("target: a CNAME record has exactly one value".into());
                }
            }
            RecordTarget::Alias { .. } => {
                if !["A", "AAAA"].contains(&self.record_type.as_str()) {
                    problems.push("target: only A and AAAA records alias a load balancer".into());
                }
            }
        }
    }
}

outputs! {
    /// What a record records.
    Record => RecordOutputs {
        /// Its fully qualified name.
        fqdn: String => fqdn(Text),
        /// The id of the hosted zone it is in.
        zone_id: String,
    }
}

/// A DNS name as records and certificates compare it: lowercase, without the final dot, with
/// the `*` Route 53 reports escaped (`\052`) as itself
/// (<https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/DomainNameFormat.html>).
pub fn normalized(name: &str) -> String {
    name.trim_end_matches('.').replace("\\052", "*").to_ascii_lowercase()
}
