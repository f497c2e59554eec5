//! The structural checks: what spans several attributes or resources.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{matches_pattern, Builtin, Index};
use crate::model::{Address, StackSpec};
use crate::resources::ec2::{DEFAULT_SECURITY_GROUP, FLOW_LOG, SECURITY_GROUP, SECURITY_GROUP_GRANT, VPC};
use crate::resources::ecr::REPOSITORY;
use crate::resources::ecs::{self, TASK_DEFINITION};
use crate::resources::elbv2::{LISTENER, LOAD_BALANCER};
use crate::resources::iam::ROLE;
use crate::resources::logs::LOG_GROUP;
use crate::resources::rds::DB_INSTANCE;
use crate::resources::s3::BUCKET;
use crate::resources::wafv2::{LOGGING, WEB_ACL, WEB_ACL_ASSOCIATION};

type Hits = Vec<(Address, String)>;

pub(super) fn run(builtin: Builtin, patterns: &[String], spec: &StackSpec, index: &Index<'_>) -> Hits {
    match builtin {
        Builtin::OpenIngress => open_ingress(patterns, spec, index),
        Builtin::DatabaseIngressFromGroups => database_ingress(spec, index),
        Builtin::LoadBalancerTls => load_balancer_tls(patterns, spec, index),
        Builtin::NoPlainHttp => no_plain_http(spec, index),
        Builtin::LoadBalancerWebAcl => load_balancer_web_acl(patterns, spec, index),
        Builtin::WebAclLogging => web_acl_logging(spec, index),
        Builtin::VpcFlowLogs => vpc_flow_logs(spec, index),
        Builtin::DefaultSecurityGroupClosed => default_security_group_closed(spec, index),
        Builtin::DatabaseLogging => database_logging(spec, index),
        Builtin::CustomerManagedKeys => customer_managed_keys(spec),
        Builtin::ContainerSecrets => container_secrets(patterns, spec),
        Builtin::IamWildcards => iam_wildcards(patterns, spec),
        Builtin::IamPassRole => iam_pass_role(spec),
        Builtin::ServiceHealthCheck => service_health_check(spec, index),
    }
}

fn of_type<'s>(spec: &'s StackSpec, type_name: &'s str) -> impl Iterator<Item = &'s crate::model::ResourceSpec> + 's {
    spec.resources.iter().filter(move |r| r.type_name == type_name)
}

/// The addresses of the security groups referenced by `attribute` of every resource of `type_name`.
fn groups_used_by(index: &Index<'_>, type_name: &'static str, attribute: &str) -> BTreeSet<Address> {
    index
        .of_type(type_name)
        .flat_map(|r| r.props[attribute].as_array().cloned().unwrap_or_default())
        .filter_map(|g| index.target(&g).map(|t| t.address.clone()))
        .collect()
}

/// A rule's or grant's open peer (`0.0.0.0/0` or `::/0`), if it has one.
fn open_peer(peer: &Value) -> Option<&str> {
    let cidr = peer.get("cidr_ipv4").or_else(|| peer.get("cidr_ipv6"))?.as_str()?;
    matches!(cidr, "0.0.0.0/0" | "::/0").then_some(cidr)
}

fn ports(rule: &Value) -> String {
    let (from, to) = (rule["from_port"].as_i64().unwrap_or(-1), rule["to_port"].as_i64().unwrap_or(-1));
    let protocol = rule["protocol"].as_str().unwrap_or("?");
    match (protocol, from == to) {
        ("-1", _) => "every port".into(),
        (_, true) => format!("{protocol} port {from}"),
        _ => format!("{protocol} ports {from}-{to}"),
    }
}

/// The ingress rules of the groups of `spec` and the grants of `spec`, each with the address of
/// the group it opens (a grant's target may be in another stack).
fn ingress<'s>(spec: &'s StackSpec, index: &Index<'_>) -> Vec<(Address, Option<Address>, &'s Value)> {
    let mut out = vec![];
    for group in of_type(spec, SECURITY_GROUP.type_name) {
        for rule in group.props["ingress"].as_array().into_iter().flatten() {
            out.push((group.address.clone(), Some(group.address.clone()), rule));
        }
    }
    for grant in of_type(spec, SECURITY_GROUP_GRANT.type_name) {
        let target = index.target(&grant.props["group"]).map(|t| t.address.clone());
        out.push((grant.address.clone(), target, &grant.props));
    }
    out
}

fn open_ingress(web_ports: &[String], spec: &StackSpec, index: &Index<'_>) -> Hits {
    let load_balancer_groups = groups_used_by(index, LOAD_BALANCER.type_name, "security_groups");
    let mut hits = vec![];
    for (owner, group, rule) in ingress(spec, index) {
        let Some(cidr) = open_peer(&rule["peer"]) else { continue };
        let on_load_balancer = group.as_ref().is_some_and(|g| load_balancer_groups.contains(g));
        let from = rule["from_port"].as_i64().unwrap_or(-1);
        let web_port = rule["protocol"] == "tcp"
            && rule["from_port"] == rule["to_port"]
            && web_ports.iter().any(|p| p.parse::<i64>() == Ok(from));
        if !(on_load_balancer && web_port) {
            let why = if on_load_balancer {
                format!("only ports {} may be open on a load balancer", web_ports.join(" and "))
            } else {
                "the group is not a load balancer's".into()
            };
            hits.push((owner, format!("ingress from {cidr} on {} ({why})", ports(rule))));
        }
    }
    hits
}

fn database_ingress(spec: &StackSpec, index: &Index<'_>) -> Hits {
    let database_groups = groups_used_by(index, DB_INSTANCE.type_name, "security_groups");
    let mut hits = vec![];
    for (owner, group, rule) in ingress(spec, index) {
        let Some(group) = group.filter(|g| database_groups.contains(g)) else { continue };
        let peer = &rule["peer"];
        if peer.get("security_group").is_none() {
            let what = peer
                .get("cidr_ipv4")
                .or_else(|| peer.get("cidr_ipv6"))
                .map(|c| match c.as_str() {
                    Some(text) => format!("the address range {text}"),
                    None => "an address range".to_string(),
                })
                .unwrap_or_else(|| "a peer that is not a security group".into());
            hits.push((owner, format!("database group {group} admits {what} on {}", ports(rule))));
        }
    }
    hits
}

fn load_balancer_tls(policies: &[String], spec: &StackSpec, index: &Index<'_>) -> Hits {
    let mut hits = vec![];
    let listeners: Vec<_> = index.of_type(LISTENER.type_name).collect();
    let with_certificate: BTreeSet<String> = listeners
        .iter()
        .filter(|l| !l.props["certificate_arn"].is_null())
        .filter_map(|l| index.target(&l.props["load_balancer"]).map(|lb| lb.address.to_string()))
        .collect();
    for listener in of_type(spec, LISTENER.type_name) {
        let p = &listener.props;
        let protocol = p["protocol"].as_str().unwrap_or("");
        let has_certificate = !p["certificate_arn"].is_null();
        let lb = index.target(&p["load_balancer"]).map(|lb| lb.address.to_string());
        if has_certificate && protocol != "HTTPS" {
            hits.push((listener.address.clone(), format!("has a certificate but listens with {protocol}, not HTTPS")));
        }
        if protocol == "HTTPS" {
            match p["ssl_policy"].as_str() {
                Some(policy) if policies.iter().any(|a| a == policy) => {}
                Some(policy) => hits.push((
                    listener.address.clone(),
                    format!("TLS policy `{policy}` allows versions older than TLS 1.2 (or is unknown)"),
                )),
                None => hits.push((listener.address.clone(), "HTTPS without a TLS policy".into())),
            }
        }
        let redirects = p["action"] == "redirect_to_https";
        if protocol == "HTTP" && lb.is_some_and(|lb| with_certificate.contains(&lb)) && !redirects {
            hits.push((
                listener.address.clone(),
                format!(
                    "HTTP on port {} serves traffic although the load balancer has HTTPS; it must redirect",
                    p["port"]
                ),
            ));
        }
    }
    hits
}

fn no_plain_http(spec: &StackSpec, index: &Index<'_>) -> Hits {
    let mut hits = vec![];
    for listener in of_type(spec, LISTENER.type_name) {
        let p = &listener.props;
        let Some(lb) = index.target(&p["load_balancer"]) else { continue };
        let internet_facing = lb.type_name == LOAD_BALANCER.type_name && lb.props["internal"] == false;
        if internet_facing && p["protocol"] == "HTTP" && p["action"] != "redirect_to_https" {
            hits.push((
                listener.address.clone(),
                format!(
                    "serves plain HTTP on port {} of the internet-facing load balancer {}; it must redirect to HTTPS",
                    p["port"], lb.address
                ),
            ));
        }
    }
    hits
}

fn load_balancer_web_acl(groups: &[String], spec: &StackSpec, index: &Index<'_>) -> Hits {
    let mut hits = vec![];
    // The web ACL may be another stack's (the foundation's), checked where it is declared; one
    // outside the stacks (a literal ARN) is not checked.
    for lb in of_type(spec, LOAD_BALANCER.type_name).filter(|lb| lb.props["internal"] == false) {
        let fronted = index
            .of_type(WEB_ACL_ASSOCIATION.type_name)
            .any(|a| index.target(&a.props["resource"]).is_some_and(|r| r.address == lb.address));
        if !fronted {
            hits.push((lb.address.clone(), "is internet-facing with no web ACL in front of it".into()));
        }
    }
    for acl in of_type(spec, WEB_ACL.type_name) {
        let listed = acl.props["rule_groups"].as_array().cloned().unwrap_or_default();
        let acting = |name: &str| listed.iter().any(|g| g["name"] == name && g["count_only"] != true);
        let missing: Vec<&str> = groups.iter().map(String::as_str).filter(|g| !acting(g)).collect();
        if !missing.is_empty() {
            hits.push((acl.address.clone(), format!("does not act on the rule groups {}", missing.join(", "))));
        }
    }
    hits
}

fn web_acl_logging(spec: &StackSpec, index: &Index<'_>) -> Hits {
    let logged: BTreeSet<String> = index
        .of_type(LOGGING.type_name)
        .filter_map(|l| index.target(&l.props["web_acl"]).map(|acl| acl.address.to_string()))
        .collect();
    of_type(spec, WEB_ACL.type_name)
        .filter(|acl| !logged.contains(&acl.address.to_string()))
        .map(|acl| (acl.address.clone(), "logs none of the requests it inspects".to_string()))
        .collect()
}

fn vpc_flow_logs(spec: &StackSpec, index: &Index<'_>) -> Hits {
    let logged: BTreeSet<String> = index
        .of_type(FLOW_LOG.type_name)
        .filter(|f| f.props["traffic_type"] == "ALL")
        .filter_map(|f| index.target(&f.props["vpc"]).map(|vpc| vpc.address.to_string()))
        .collect();
    of_type(spec, VPC.type_name)
        .filter(|vpc| !logged.contains(&vpc.address.to_string()))
        .map(|vpc| (vpc.address.clone(), "has no flow log recording all its traffic".to_string()))
        .collect()
}

fn default_security_group_closed(spec: &StackSpec, index: &Index<'_>) -> Hits {
    let empty = |v: &Value| v.as_array().is_none_or(|rules| rules.is_empty());
    let closed: BTreeSet<String> = index
        .of_type(DEFAULT_SECURITY_GROUP.type_name)
        .filter(|g| empty(&g.props["ingress"]) && empty(&g.props["egress"]))
        .filter_map(|g| index.target(&g.props["vpc"]).map(|vpc| vpc.address.to_string()))
        .collect();
    of_type(spec, VPC.type_name)
        .filter(|vpc| !closed.contains(&vpc.address.to_string()))
        .map(|vpc| (vpc.address.clone(), "its default security group is not taken over with no rule".to_string()))
        .collect()
}

fn customer_managed_keys(spec: &StackSpec) -> Hits {
    let unset = |r: &crate::model::ResourceSpec, attribute: &str| r.props[attribute].is_null();
    let mut hits: Hits = vec![];
    for (type_name, what) in [(LOG_GROUP.type_name, "its events"), (REPOSITORY.type_name, "its images")] {
        for r in of_type(spec, type_name).filter(|r| unset(r, "kms_key")) {
            hits.push((r.address.clone(), format!("encrypts {what} with a key of AWS's, not the account's")));
        }
    }
    // Buckets receiving load balancer or S3 access logs take only SSE-S3 (s3.rs).
    for r in of_type(spec, BUCKET.type_name).filter(|r| unset(r, "kms_key")) {
        if r.props["log_sources"].as_array().is_none_or(Vec::is_empty) {
            hits.push((r.address.clone(), "encrypts its objects with a key of AWS's, not the account's".into()));
        }
    }
    for db in of_type(spec, DB_INSTANCE.type_name) {
        if unset(db, "kms_key") {
            hits.push((db.address.clone(), "does not encrypt its storage with a key of the account's".into()));
        }
        if db.props["performance_insights"] == true && unset(db, "performance_insights_kms_key") {
            hits.push((
                db.address.clone(),
                "encrypts Performance Insights with a key of AWS's, not the account's".into(),
            ));
        }
    }
    hits
}

fn database_logging(spec: &StackSpec, index: &Index<'_>) -> Hits {
    let mut hits = vec![];
    for db in of_type(spec, DB_INSTANCE.type_name) {
        let postgres = db.props["engine"] == "postgres";
        let exported: Vec<&str> = db.props["log_exports"]
            .as_array()
            .map(|l| l.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let needed: &[&str] = if postgres { &["postgresql"] } else { &["error", "slowquery"] };
        let missing: Vec<&str> = needed.iter().copied().filter(|l| !exported.contains(l)).collect();
        if !missing.is_empty() {
            hits.push((
                db.address.clone(),
                format!("does not publish its {} log to CloudWatch Logs", missing.join(" and ")),
            ));
        }
        let Some(group) = index.target(&db.props["parameter_group"]) else {
            hits.push((
                db.address.clone(),
                "has no parameter group of the stacks' own turning query logging on".into(),
            ));
            continue;
        };
        let parameter = |name: &str| group.props["parameters"][name].as_str().map(str::to_string);
        let logs_queries = if postgres {
            parameter("log_statement").is_some_and(|v| v != "none")
                && parameter("log_min_duration_statement").and_then(|v| v.parse::<i64>().ok()).is_some_and(|v| v >= 0)
        } else {
            parameter("slow_query_log").is_some_and(|v| v == "1")
        };
        if !logs_queries {
            hits.push((
                db.address.clone(),
                format!("its parameter group {} does not turn query logging on", group.address),
            ));
        }
    }
    hits
}

/// Whether a literal environment value looks like a credential.
fn looks_like_credential(value: &str) -> Option<&'static str> {
    let bytes = value.as_bytes();
    let access_key = value.len() == 20
        && (value.starts_with("AKIA") || value.starts_with("ASIA"))
        && bytes.iter().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    if access_key {
        return Some("an AWS access key id");
    }
    if value.contains("PRIVATE KEY-----") {
        return Some("a private key");
    }
    // scheme://user:password@host
    if let Some((_, rest)) = value.split_once("://") {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        if let Some((userinfo, _)) = authority.rsplit_once('@') {
            if userinfo.split_once(':').is_some_and(|(_, password)| !password.is_empty()) {
                return Some("a URL with a password");
            }
        }
    }
    None
}

fn container_secrets(names: &[String], spec: &StackSpec) -> Hits {
    let mut hits = vec![];
    for task in of_type(spec, TASK_DEFINITION.type_name) {
        for container in task.props["containers"].as_array().into_iter().flatten() {
            let container_name = container["name"].as_str().unwrap_or("?");
            for (name, value) in container["environment"].as_object().into_iter().flatten() {
                let upper = name.to_ascii_uppercase();
                let secret_name =
                    names.iter().find(|n| upper.contains(n.as_str())).filter(|_| !upper.ends_with("_ARN"));
                if let Some(n) = secret_name {
                    hits.push((
                        task.address.clone(),
                        format!(
                            "container `{container_name}`: environment variable `{name}` looks like a secret (`{n}`)"
                        ),
                    ));
                } else if let Some(kind) = value.as_str().and_then(looks_like_credential) {
                    hits.push((
                        task.address.clone(),
                        format!(
                            "container `{container_name}`: environment variable `{name}` holds what looks like {kind}"
                        ),
                    ));
                }
            }
        }
    }
    hits
}

/// The allowing statements of every role of `spec`: (role, policy name, actions, resources).
fn allow_statements(spec: &StackSpec) -> Vec<(Address, String, Vec<String>, Vec<Value>)> {
    let mut out = vec![];
    for role in of_type(spec, ROLE.type_name) {
        for (policy, doc) in role.props["policies"].as_object().into_iter().flatten() {
            for st in doc["statements"].as_array().into_iter().flatten() {
                if st["effect"] != "Allow" {
                    continue;
                }
                let actions =
                    st["actions"].as_array().into_iter().flatten().filter_map(|a| a.as_str()).map(String::from);
                let resources = st["resources"].as_array().cloned().unwrap_or_default();
                out.push((role.address.clone(), policy.clone(), actions.collect(), resources));
            }
        }
    }
    out
}

fn iam_wildcards(unscoped: &[String], spec: &StackSpec) -> Hits {
    let mut hits = vec![];
    for (role, policy, actions, resources) in allow_statements(spec) {
        for action in actions.iter().filter(|a| *a == "*" || a.ends_with(":*")) {
            hits.push((role.clone(), format!("policy `{policy}` allows every action of `{action}`")));
        }
        if resources.iter().any(|r| r == "*") {
            let scopable: Vec<&String> = actions
                .iter()
                .filter(|a| !a.eq_ignore_ascii_case("iam:PassRole")) // judged by iam-pass-role-scoped
                .filter(|a| !unscoped.iter().any(|u| matches_pattern(u, a)))
                .collect();
            if !scopable.is_empty() {
                let list: Vec<String> = scopable.iter().map(|a| format!("`{a}`")).collect();
                hits.push((
                    role.clone(),
                    format!("policy `{policy}` allows {} on `*`; they can be scoped to resources", list.join(", ")),
                ));
            }
        }
    }
    hits
}

fn iam_pass_role(spec: &StackSpec) -> Hits {
    let mut hits = vec![];
    for (role, policy, actions, resources) in allow_statements(spec) {
        let passes = actions.iter().any(|a| a == "*" || matches_pattern(&a.to_ascii_lowercase(), "iam:passrole"));
        if passes && resources.iter().any(|r| r == "*") {
            hits.push((role, format!("policy `{policy}` allows iam:PassRole on `*`")));
        }
    }
    hits
}

fn service_health_check(spec: &StackSpec, index: &Index<'_>) -> Hits {
    let mut hits = vec![];
    for service in of_type(spec, ecs::SERVICE.type_name) {
        let Some(task) = index.target(&service.props["task_definition"]) else { continue };
        let containers = task.props["containers"].as_array().cloned().unwrap_or_default();
        let lb = &service.props["load_balancer"];
        let container = match lb["container_name"].as_str() {
            Some(name) => containers.iter().find(|c| c["name"] == name),
            None => containers.first(),
        };
        let Some(container) = container else {
            hits.push((service.address.clone(), "its task definition has no container to check".into()));
            continue;
        };
        let name = container["name"].as_str().unwrap_or("?");
        let declared = container["health_check"]["command"].as_array().is_some_and(|c| !c.is_empty());
        if !declared {
            hits.push((service.address.clone(), format!("container `{name}` declares no health check")));
        }
        if lb.is_null() {
            continue;
        }
        let Some(group) = index.target(&lb["target_group"]) else { continue };
        let check = &group.props["health_check"];
        let path = check["path"].as_str().unwrap_or("");
        let port = check["port"].as_u64();
        let exposed =
            container["ports"].as_array().into_iter().flatten().filter_map(|p| p.as_u64()).collect::<Vec<_>>();
        if path.is_empty() {
            hits.push((service.address.clone(), format!("target group {} checks no path", group.address)));
        } else if !port.is_some_and(|p| exposed.contains(&p)) {
            hits.push((
                service.address.clone(),
                format!(
                    "target group {} checks port {}, which container `{name}` does not expose ({exposed:?})",
                    group.address,
                    port.map(|p| p.to_string()).unwrap_or_else(|| "(none)".into())
                ),
            ));
        }
    }
    hits
}
