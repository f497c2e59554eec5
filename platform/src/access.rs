//! Which planned changes widen access: new IAM permissions, new security-group ingress, public
//! exposure. Reviewers see them in a section of their own. Each type says what widens it (its
//! schema's `widening`, next to the type); this module holds what they share. Pure.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::model::{JOIN_KEY, REF_KEY, UNKNOWN_KEY};

/// Who a role's new trust lets assume it that the old one did not. A new role trusting identities
/// outside the account (CI, say) is worth a reviewer's look; a new service role is not. Subjects
/// removed from a web identity trust narrow it.
pub(crate) fn newly_trusted(before: Option<&Value>, after: &Value) -> Option<String> {
    let web = |t: &Value| t.get("web_identity").cloned();
    match (before, web(after)) {
        (None, None) => None,
        (None, Some(_)) => Some(trusted_by(after)),
        (Some(b), _) if b == after => None,
        (Some(b), Some(new)) => match web(b) {
            Some(old) if old["provider"] == new["provider"] && old["audience"] == new["audience"] => {
                // A subject is new unless one of the old ones (patterns with `*`) already matched it.
                let old_subjects: Vec<String> = old["subjects"].as_array().into_iter().flatten().map(text).collect();
                let added: Vec<String> = new["subjects"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(text)
                    .filter(|s| !old_subjects.iter().any(|o| crate::policy::matches_pattern(o, s)))
                    .collect();
                (!added.is_empty()).then(|| {
                    format!("web identities of {} with subject {}", text(&new["provider"]), added.join(" or "))
                })
            }
            _ => Some(trusted_by(after)),
        },
        // The same service: no one new, unless the conditions limiting it to this account's
        // resources went (or changed).
        (Some(b), None) if service_of(b).is_some() && service_of(b) == service_of(after) => {
            match (limited_to(b), limited_to(after)) {
                (Some(old), Some(new)) if old != new => {
                    Some(format!("{} acting for other resources than before", trusted_by(after)))
                }
                (Some(_), None) => Some(format!("{} acting for any account (confused deputy)", trusted_by(after))),
                _ => None,
            }
        }
        (Some(_), None) => Some(trusted_by(after)),
    }
}

/// What a service trust for this account's resources only limits the service to.
fn limited_to(trust: &Value) -> Option<(&Value, &Value)> {
    trust.get("service_for").map(|t| (&t["account"], &t["source_arn"]))
}

/// The service principal a service trust names.
fn service_of(trust: &Value) -> Option<&Value> {
    trust.get("service").or_else(|| trust.get("service_for").map(|t| &t["service"]))
}

/// Who a role's declared trust lets assume it.
pub(crate) fn trusted_by(trust: &Value) -> String {
    if let Some(service) = service_of(trust) {
        return text(service);
    }
    if let Some(web) = trust.get("web_identity") {
        let subjects: Vec<String> = web["subjects"].as_array().into_iter().flatten().map(text).collect();
        return format!("web identities of {} with subject {}", text(&web["provider"]), subjects.join(" or "));
    }
    text(trust)
}

/// A value as a reviewer reads it: references as `address.attr`, joins concatenated.
pub(crate) fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Object(m) if m.contains_key(REF_KEY) => {
            format!("{}.{}", m[REF_KEY].as_str().unwrap_or("?"), m.get("attr").and_then(Value::as_str).unwrap_or("?"))
        }
        Value::Object(m) if m.contains_key(UNKNOWN_KEY) => "(known after apply)".into(),
        Value::Object(m) if m.contains_key(JOIN_KEY) => {
            m[JOIN_KEY].as_array().into_iter().flatten().map(text).collect::<Vec<_>>().join("")
        }
        other => other.to_string(),
    }
}

/// A security group rule (or grant) as a reviewer reads it.
pub(crate) fn rule_text(rule: &Value) -> String {
    let protocol = rule["protocol"].as_str().unwrap_or("?");
    let ports = match (protocol, rule["from_port"].as_i64(), rule["to_port"].as_i64()) {
        ("-1", _, _) => "every port".to_string(),
        (_, Some(f), Some(t)) if f == t => format!("{protocol} port {f}"),
        (_, Some(f), Some(t)) => format!("{protocol} ports {f}-{t}"),
        _ => protocol.to_string(),
    };
    let peer = rule["peer"].as_object().and_then(|p| p.values().next()).map(text).unwrap_or_else(|| "?".into());
    let open = matches!(peer.as_str(), "0.0.0.0/0" | "::/0");
    format!("ingress on {ports} from {peer}{}", if open { " (the whole internet)" } else { "" })
}

/// Every (action, resource) an IAM role's policies allow; `NotAction` and `NotResource` read as
/// "every action but …" and "every resource but …".
pub(crate) fn allowed(props: Option<&Value>) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    let Some(policies) = props.and_then(|p| p["policies"].as_object()) else { return out };
    let texts = |items: &Value| items.as_array().into_iter().flatten().map(text).collect::<Vec<_>>();
    // `NotAction: [a, b]` allows every action but a and b: one entry naming them.
    let either = |named: &Value, but: &Value, what: &str| match texts(but) {
        excepted if excepted.is_empty() => texts(named),
        excepted => vec![format!("every {what} but {}", excepted.join(", "))],
    };
    for doc in policies.values() {
        for st in doc["statements"].as_array().into_iter().flatten().filter(|s| s["effect"] == "Allow") {
            for action in either(&st["actions"], &st["not_actions"], "action") {
                for resource in either(&st["resources"], &st["not_resources"], "resource") {
                    out.insert((action.clone(), resource));
                }
            }
        }
    }
    out
}

/// The list `key` of `props` (empty when absent).
pub(crate) fn list(props: Option<&Value>, key: &str) -> Vec<Value> {
    props.and_then(|p| p[key].as_array().cloned()).unwrap_or_default()
}

/// Whether `key` of `after` is `value`, and was not before.
pub(crate) fn became(before: Option<&Value>, after: &Value, key: &str, value: Value) -> bool {
    after[key] == value && before.is_none_or(|b| b[key] != value)
}

/// What the change of a resource of `type_name` from `before` (none when created) to `after`
/// opens up, one sentence each: the type's own judgement (its schema's `widening`), nothing for
/// types that cannot widen access.
pub fn widening(type_name: &str, before: Option<&Value>, after: &Value) -> Vec<String> {
    crate::resources::schema(type_name).and_then(|s| s.widening).map(|w| w(before, after)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn new_ingress_permissions_and_exposure_are_named() {
        let before = json!({"ingress": [{"protocol": "tcp", "from_port": 443, "to_port": 443, "peer": {"cidr_ipv4": "0.0.0.0/0"}}]});
        let mut after = before.clone();
        after["ingress"]
            .as_array_mut()
            .unwrap()
            .push(json!({"protocol": "tcp", "from_port": 22, "to_port": 22, "peer": {"cidr_ipv4": "0.0.0.0/0"}}));
        assert_eq!(
            widening("aws.ec2.security_group", Some(&before), &after),
            ["new ingress on tcp port 22 from 0.0.0.0/0 (the whole internet)"]
        );
        assert_eq!(widening("aws.ec2.security_group", Some(&after), &before), Vec::<String>::new(), "narrowing");

        let role = |actions: &[&str]| {
            json!({"trust": {"service": "ecs-tasks.amazonaws.com"}, "managed_policies": [], "policies": {"run": {"statements": [
                {"effect": "Allow", "actions": actions, "resources": [{"$join": [{"$ref": "deps.images", "attr": "arn"}, "/cards/*"]}]}
            ]}}})
        };
        assert_eq!(
            widening("aws.iam.role", Some(&role(&["s3:GetObject"])), &role(&["s3:GetObject", "s3:PutObject"])),
            ["allows s3:PutObject on deps.images.arn/cards/*"]
        );
        let ecs = json!({"service": "ecs-tasks.amazonaws.com"});
        let ecs_here = json!({"service_for": {"service": "ecs-tasks.amazonaws.com", "account": "1", "source_arn": "arn:aws:ecs:*:1:*"}});
        assert_eq!(newly_trusted(Some(&ecs), &ecs_here), None, "narrowed");
        assert_eq!(
            newly_trusted(Some(&ecs_here), &ecs).as_deref(),
            Some("ecs-tasks.amazonaws.com acting for any account (confused deputy)")
        );
        let mut not_action = role(&[]);
        not_action["policies"]["run"]["statements"][0]["not_actions"] = json!(["iam:*"]);
        assert_eq!(
            widening("aws.iam.role", Some(&role(&["s3:GetObject"])), &not_action),
            ["allows every action but iam:* on deps.images.arn/cards/*"]
        );
        assert_eq!(
            widening("aws.elbv2.load_balancer", None, &json!({"internal": false})),
            ["internet-facing load balancer"]
        );
        assert!(widening("aws.s3.bucket", None, &json!({"block_public_access": true})).is_empty());
    }
}
