//! AWS WAF: regional web ACLs of AWS managed rule groups, their association with load balancers,
//! and their logging into CloudWatch Logs.

use serde::{Deserialize, Serialize};

use super::{Arn, Tags};
use crate::model::{outputs, NameStyle, Ref, Resource, TypeSchema};

/// Schema of [`WebAcl`].
pub const WEB_ACL: TypeSchema = TypeSchema {
    type_name: "aws.wafv2.web_acl",
    // Names: 1 to 128 of `[A-Za-z0-9_-]`, unique per scope and region; a web ACL cannot be renamed
    // (https://docs.aws.amazon.com/waf/latest/APIReference/API_CreateWebACL.html).
    name_style: NameStyle::Dashed { max_len: 128, lowercase: false },
    force_new: &["name"],
    taggable: true,
    outputs: WebAclOutputs::NAMES,
    ..TypeSchema::BASE
};

/// What a web ACL does with a request no rule decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WafAction {
    /// Let it through.
    Allow,
    /// Answer 403.
    Block,
}

/// A rule group AWS (or a Marketplace seller) maintains, as a rule of a web ACL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManagedRuleGroup {
    /// `AWS` for AWS's own groups.
    pub vendor: String,
    /// The group's name, e.g. `AWSManagedRulesCommonRuleSet`.
    pub name: String,
    /// Only count what the group's rules match (the rule's `Count` override action) instead of
    /// acting on it: how a new group is tried before it blocks. (Overrides of single rules of a
    /// group are not declared here; one made outside platform reads back as the group's.)
    pub count_only: bool,
}

impl ManagedRuleGroup {
    /// One of AWS's managed rule groups, acting on what it matches.
    pub fn aws(name: &str) -> Self {
        Self { vendor: "AWS".into(), name: name.into(), count_only: false }
    }
}

/// AWS's baseline groups: the core rule set (OWASP top ten: cross-site scripting, bad bots,
/// oversized bodies, local file inclusion...), known bad inputs (request patterns of known
/// exploits, Log4j included) and the Amazon IP reputation list (addresses Amazon's threat
/// intelligence sees attacking). None has a subscription fee
/// (<https://docs.aws.amazon.com/waf/latest/developerguide/aws-managed-rule-groups-list.html>).
pub const BASELINE_RULE_GROUPS: &[&str] =
    &["AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet", "AWSManagedRulesAmazonIpReputationList"];

/// Web ACL capacity units of AWS's managed rule groups, as their documentation lists them
/// (<https://docs.aws.amazon.com/waf/latest/developerguide/aws-managed-rule-groups-baseline.html>,
/// <https://docs.aws.amazon.com/waf/latest/developerguide/aws-managed-rule-groups-ip-rep.html>).
const CAPACITY: &[(&str, u32)] = &[
    ("AWSManagedRulesCommonRuleSet", 700),
    ("AWSManagedRulesKnownBadInputsRuleSet", 200),
    ("AWSManagedRulesAmazonIpReputationList", 25),
    ("AWSManagedRulesAdminProtectionRuleSet", 100),
    ("AWSManagedRulesSQLiRuleSet", 200),
    ("AWSManagedRulesLinuxRuleSet", 200),
    ("AWSManagedRulesUnixRuleSet", 100),
    ("AWSManagedRulesAnonymousIpList", 50),
];

/// The most capacity units a web ACL may use; beyond 1,500 AWS charges more per request
/// (<https://docs.aws.amazon.com/waf/latest/developerguide/aws-waf-capacity-units.html>).
pub const MAX_CAPACITY: u32 = 5_000;

/// A regional web ACL (for application load balancers): rule groups evaluated in order, and
/// what is done with the requests none of them blocks. CloudWatch metrics and sampled requests
/// are on, under the web ACL's name and each group's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebAcl {
    /// What it is for.
    pub description: String,
    /// What happens to a request no rule blocks or allows.
    pub default_action: WafAction,
    /// The rule groups, in the order they are evaluated (their priority is their position).
    pub rule_groups: Vec<ManagedRuleGroup>,
    /// User tags.
    pub tags: Tags,
}

impl WebAcl {
    /// A web ACL that lets through what AWS's [`BASELINE_RULE_GROUPS`] do not block.
    pub fn baseline(description: impl Into<String>) -> Self {
        Self {
            description: description.into(),
            default_action: WafAction::Allow,
            rule_groups: BASELINE_RULE_GROUPS.iter().map(|g| ManagedRuleGroup::aws(g)).collect(),
            tags: Tags::new(),
        }
    }
}

impl Resource for WebAcl {
    const SCHEMA: &'static TypeSchema = &WEB_ACL;
    fn validate(&self, problems: &mut Vec<String>) {
        // "^[\w+=:#@/\-,\.][\w+=:#@/\-,\.\s]+[\w+=:#@/\-,\.]$", at most 256 characters: three or more,
        // neither starting nor ending with a space.
        let d = &self.description;
        let allowed = |c: char| c.is_ascii_alphanumeric() || "_+=:#@/-,. ".contains(c);
        if d.len() < 3 || d.len() > 256 || !d.chars().all(allowed) || d.starts_with(' ') || d.ends_with(' ') {
            problems.push(format!(
                "description: `{d}` must be 3 to 256 letters, digits, spaces or `_+=:#@/-,.`, not starting or ending with a space"
            ));
        }
        let mut capacity = 0;
        for (i, group) in self.rule_groups.iter().enumerate() {
            let word = |s: &str| {
                !s.is_empty() && s.len() <= 128 && s.chars().all(|c| c.is_ascii_alphanumeric() || "_-".contains(c))
            };
            if !word(&group.vendor) || !word(&group.name) {
                problems.push(format!(
                    "rule_groups[{i}]: `{}/{}` is not a rule group's vendor and name",
                    group.vendor, group.name
                ));
            }
            if self.rule_groups[..i].iter().any(|g| g.name == group.name) {
                problems.push(format!("rule_groups[{i}]: `{}` is listed twice", group.name));
            }
            if group.vendor == "AWS" {
                capacity += CAPACITY.iter().find(|(n, _)| *n == group.name).map_or(0, |(_, c)| *c);
            }
        }
        if capacity > MAX_CAPACITY {
            problems.push(format!(
                "rule_groups: {capacity} capacity units, more than the {MAX_CAPACITY} a web ACL may use"
            ));
        }
    }
}

outputs! {
    /// What a web ACL records.
    WebAcl => WebAclOutputs {
        /// Its ARN (what load balancers are associated with).
        arn: String => arn(Arn),
        /// Its id (with its name and scope, what the WAF API names it by).
        id: String,
    }
}

/// Schema of [`WebAclAssociation`].
pub const WEB_ACL_ASSOCIATION: TypeSchema = TypeSchema {
    type_name: "aws.wafv2.web_acl_association",
    name_style: NameStyle::None,
    // One per resource; another web ACL replaces the association in place (AssociateWebACL).
    force_new: &["resource"],
    outputs: WebAclAssociationOutputs::NAMES,
    ..TypeSchema::BASE
};

/// A web ACL in front of a resource (an application load balancer): AWS WAF inspects every
/// request before it reaches the resource. A resource has at most one web ACL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebAclAssociation {
    /// The web ACL.
    pub web_acl: Ref<Arn>,
    /// The resource's ARN.
    pub resource: Ref<Arn>,
}

impl Resource for WebAclAssociation {
    const SCHEMA: &'static TypeSchema = &WEB_ACL_ASSOCIATION;
}

outputs! {
    /// What an association records.
    WebAclAssociation => WebAclAssociationOutputs {
        /// The resource's ARN (the association's id).
        resource_arn: String,
    }
}

/// Schema of [`WafLogging`].
pub const LOGGING: TypeSchema = TypeSchema {
    type_name: "aws.wafv2.logging_configuration",
    name_style: NameStyle::None,
    // One per web ACL; a new destination or redaction replaces it in place.
    force_new: &["web_acl"],
    sets: &["redacted_headers"],
    outputs: WafLoggingOutputs::NAMES,
    ..TypeSchema::BASE
};

/// The name every log group AWS WAF logs into starts with
/// (<https://docs.aws.amazon.com/waf/latest/developerguide/logging-cw-logs.html>).
pub const LOG_GROUP_PREFIX: &str = "aws-waf-logs-";

/// A web ACL's logging: every request it inspects (client, headers, the rule that decided, the
/// action), into a CloudWatch Logs group whose name starts with [`LOG_GROUP_PREFIX`], in the web
/// ACL's account and region, with the named headers' values redacted. AWS WAF redacts a header
/// where the log shows it as that single header, not inside the match details of a rule that
/// inspects all headers
/// (<https://docs.aws.amazon.com/waf/latest/developerguide/logging-management.html>); the
/// baseline groups' matches name the part of the request they matched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WafLogging {
    /// The web ACL.
    pub web_acl: Ref<Arn>,
    /// The log group's ARN (without `:*`).
    pub log_group: Ref<Arn>,
    /// Request headers whose values never reach the logs (lower case), e.g. `authorization`.
    pub redacted_headers: Vec<String>,
}

/// Headers that carry credentials, redacted from WAF logs by default.
pub const CREDENTIAL_HEADERS: &[&str] = &["authorization", "cookie"];

impl Resource for WafLogging {
    const SCHEMA: &'static TypeSchema = &LOGGING;
    fn validate(&self, problems: &mut Vec<String>) {
        if let Some(arn) = self.log_group.as_literal() {
            let name = arn.rsplit_once(":log-group:").map_or("", |(_, n)| n);
            if !name.starts_with(LOG_GROUP_PREFIX) {
                problems
                    .push(format!("log_group: `{arn}` is not a log group whose name starts with `{LOG_GROUP_PREFIX}`"));
            }
        }
        // "You can specify up to 100 fields for redaction" and header names are 1 to 64 characters.
        if self.redacted_headers.len() > 100 {
            problems.push("redacted_headers: at most 100".into());
        }
        for header in &self.redacted_headers {
            if header.is_empty() || header.len() > 64 || header.to_ascii_lowercase() != *header {
                problems.push(format!(
                    "redacted_headers: `{header}` must be a lower-case header name of 1 to 64 characters"
                ));
            }
        }
    }
}

outputs! {
    /// What a logging configuration records.
    WafLogging => WafLoggingOutputs {
        /// The web ACL's ARN (the configuration's id).
        web_acl_arn: String,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(r: &impl Resource) -> Vec<String> {
        let mut p = vec![];
        r.validate(&mut p);
        p
    }

    #[test]
    fn rule_groups_are_listed_once_within_the_capacity_a_web_acl_may_use() {
        assert!(problems(&WebAcl::baseline("Baseline of dev")).is_empty());
        let mut heavy = WebAcl::baseline("Baseline of dev");
        for g in [
            "AWSManagedRulesSQLiRuleSet",
            "AWSManagedRulesLinuxRuleSet",
            "AWSManagedRulesAdminProtectionRuleSet",
            "AWSManagedRulesUnixRuleSet",
        ] {
            heavy.rule_groups.push(ManagedRuleGroup::aws(g));
        }
        assert!(problems(&heavy).is_empty(), "1,525 units: more per request, but allowed");
        heavy.rule_groups.extend((0..6).map(|_| ManagedRuleGroup::aws("AWSManagedRulesCommonRuleSet")));
        assert!(problems(&heavy).iter().any(|p| p.contains("capacity units")), "{:?}", problems(&heavy));
        heavy.rule_groups.truncate(3);
        heavy.description = " padded".into();
        assert!(problems(&heavy).iter().any(|p| p.starts_with("description")));
        heavy.description = "Baseline".into();
        heavy.rule_groups.push(ManagedRuleGroup::aws("AWSManagedRulesCommonRuleSet"));
        assert!(problems(&heavy).iter().any(|p| p.contains("listed twice")));
        heavy.description = "new\nline".into();
        assert!(problems(&heavy).iter().any(|p| p.starts_with("description")));
    }

    #[test]
    fn waf_logs_go_to_a_group_named_for_them_with_lower_case_headers() {
        let logging = |group: &str, headers: &[&str]| WafLogging {
            web_acl: Ref::literal("arn:aws:wafv2:us-east-1:1:regional/webacl/a/b"),
            log_group: Ref::literal(group),
            redacted_headers: headers.iter().map(|h| h.to_string()).collect(),
        };
        assert!(
            problems(&logging("arn:aws:logs:us-east-1:1:log-group:aws-waf-logs-dev", &["authorization"])).is_empty()
        );
        assert!(problems(&logging("arn:aws:logs:us-east-1:1:log-group:/platform/dev/waf", &[]))[0]
            .contains("aws-waf-logs-"));
        assert!(problems(&logging("arn:aws:logs:us-east-1:1:log-group:aws-waf-logs-dev", &["Cookie"]))[0]
            .contains("lower-case"));
    }
}
