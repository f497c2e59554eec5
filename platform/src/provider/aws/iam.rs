//! IAM roles and OIDC providers. A role's physical id is its name, a provider's its ARN. Policy
//! documents (trust policies included) are sent in AWS's JSON form and read back (URL-decoded)
//! into the declared form.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{json, Map, Value};

use aws_sdk_iam::types::Tag;

use super::{api, incomplete, malformed, outputs, props, sync_tags, tag_map, tags_of, AwsProvider};
use crate::provider::{Applied, Desired, Existing, Observed, ProviderError};

#[derive(Deserialize)]
struct RoleProps {
    name: String,
    trust: Value,
    policies: BTreeMap<String, Value>,
    managed_policies: Vec<String>,
}

/// The issuer part of an OIDC provider's ARN (`host/path`), which prefixes its condition keys.
fn issuer(provider_arn: &str) -> &str {
    provider_arn.split_once(":oidc-provider/").map(|(_, issuer)| issuer).unwrap_or(provider_arn)
}

/// The declared trust (`{"service": ...}` or `{"web_identity": {...}}`) as a trust policy.
fn trust_policy(trust: &Value) -> String {
    let statement = if let Some(service) = trust["service"].as_str() {
        json!({ "Effect": "Allow", "Principal": { "Service": service }, "Action": "sts:AssumeRole" })
    } else {
        let web = &trust["web_identity"];
        let provider = web["provider"].as_str().unwrap_or_default();
        let issuer = issuer(provider);
        json!({
            "Effect": "Allow",
            "Principal": { "Federated": provider },
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {
                "StringEquals": { format!("{issuer}:aud"): web["audience"] },
                "StringLike": { format!("{issuer}:sub"): web["subjects"] },
            },
        })
    };
    json!({ "Version": "2012-10-17", "Statement": [statement] }).to_string()
}

/// The declared form of a policy (`{"statements": [{"effect", "actions", "resources"}]}`) in AWS's.
fn aws_policy(doc: &Value) -> String {
    let statements: Vec<Value> = doc["statements"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| json!({ "Effect": s["effect"], "Action": s["actions"], "Resource": s["resources"] }))
        .collect();
    json!({ "Version": "2012-10-17", "Statement": statements }).to_string()
}

/// A string or a list of strings, as a list.
fn list(value: &Value) -> Value {
    match value {
        Value::String(_) => Value::Array(vec![value.clone()]),
        other => other.clone(),
    }
}

/// An AWS policy document (URL-encoded JSON, as IAM returns it) in the declared form.
fn declared_policy(encoded: &str) -> Value {
    let text = percent_encoding::percent_decode_str(encoded).decode_utf8_lossy();
    let Ok(doc) = serde_json::from_str::<Value>(&text) else { return Value::String(text.into_owned()) };
    let statements = match &doc["Statement"] {
        Value::Array(items) => items.clone(),
        other => vec![other.clone()],
    };
    json!({
        "statements": statements
            .iter()
            .map(|s| json!({ "effect": s["Effect"], "actions": list(&s["Action"]), "resources": list(&s["Resource"]) }))
            .collect::<Vec<_>>()
    })
}

/// A trust policy in the declared form, if it is one of the two forms platform writes; otherwise
/// the policy text (so a hand-made trust shows as drift rather than being taken for ours).
fn declared_trust(encoded: &str) -> Value {
    let text = percent_encoding::percent_decode_str(encoded).decode_utf8_lossy();
    let doc: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let statements = match &doc["Statement"] {
        Value::Array(items) => items.clone(),
        other => vec![other.clone()],
    };
    let [s] = statements.as_slice() else { return Value::String(text.into_owned()) };
    if s["Effect"] != "Allow" {
        return Value::String(text.into_owned());
    }
    if s["Principal"]["Service"].is_string() && list(&s["Action"]) == json!(["sts:AssumeRole"]) {
        return json!({ "service": s["Principal"]["Service"] });
    }
    if let (Some(provider), true) =
        (s["Principal"]["Federated"].as_str(), list(&s["Action"]) == json!(["sts:AssumeRoleWithWebIdentity"]))
    {
        let issuer = issuer(provider);
        let condition = &s["Condition"];
        let audience = &condition["StringEquals"][format!("{issuer}:aud")];
        let subjects = list(&condition["StringLike"][format!("{issuer}:sub")]);
        let only_ours = condition.as_object().is_some_and(|c| c.len() == 2)
            && condition["StringEquals"].as_object().is_some_and(|c| c.len() == 1)
            && condition["StringLike"].as_object().is_some_and(|c| c.len() == 1);
        if audience.is_string() && subjects.is_array() && only_ours {
            return json!({ "web_identity": { "provider": provider, "audience": audience, "subjects": subjects } });
        }
    }
    Value::String(text.into_owned())
}

async fn put_policy(p: &AwsProvider, role: &str, name: &str, doc: &Value) -> Result<(), ProviderError> {
    p.iam
        .put_role_policy()
        .role_name(role)
        .policy_name(name)
        .policy_document(aws_policy(doc))
        .send()
        .await
        .map_err(api("iam:PutRolePolicy"))?;
    Ok(())
}

pub(super) async fn create(p: &AwsProvider, d: &Desired) -> Result<Applied, ProviderError> {
    let r: RoleProps = props(&d.address, &d.props)?;
    let tags: Vec<Tag> = tags_of(&d.props)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect::<Result<_, _>>()
        .map_err(malformed(&d.address))?;
    let out = p
        .iam
        .create_role()
        .role_name(&r.name)
        .assume_role_policy_document(trust_policy(&r.trust))
        .set_tags(Some(tags))
        .send()
        .await
        .map_err(api("iam:CreateRole"))?;
    let arn = out.role().map(|r| r.arn().to_string()).unwrap_or_default();
    let outs = outputs([("arn", arn.as_str()), ("name", r.name.as_str())]);
    let finish = async {
        for (name, doc) in &r.policies {
            put_policy(p, &r.name, name, doc).await?;
        }
        for arn in &r.managed_policies {
            p.iam
                .attach_role_policy()
                .role_name(&r.name)
                .policy_arn(arn)
                .send()
                .await
                .map_err(api("iam:AttachRolePolicy"))?;
        }
        Ok(())
    };
    finish.await.map_err(incomplete(&r.name, &outs))?;
    Ok(Applied { physical_id: r.name, outputs: outs })
}

pub(super) async fn read(p: &AwsProvider, e: &Existing) -> Result<Option<Observed>, ProviderError> {
    let out = p.iam.get_role().role_name(&e.physical_id).send().await.map_err(api("iam:GetRole"))?;
    let Some(role) = out.role() else { return Ok(None) };
    let mut policies = Map::new();
    let mut names = p.iam.list_role_policies().role_name(&e.physical_id).into_paginator().items().send();
    while let Some(name) = names.next().await {
        let name = name.map_err(api("iam:ListRolePolicies"))?;
        let doc = p
            .iam
            .get_role_policy()
            .role_name(&e.physical_id)
            .policy_name(&name)
            .send()
            .await
            .map_err(api("iam:GetRolePolicy"))?;
        policies.insert(name, declared_policy(doc.policy_document()));
    }
    let mut managed = vec![];
    let mut attached = p.iam.list_attached_role_policies().role_name(&e.physical_id).into_paginator().send();
    while let Some(page) = attached.next().await {
        let page = page.map_err(api("iam:ListAttachedRolePolicies"))?;
        managed.extend(page.attached_policies().iter().filter_map(|a| a.policy_arn().map(str::to_string)));
    }
    let tags: Vec<(&str, &str)> = role.tags().iter().map(|t| (t.key(), t.value())).collect();
    let trust = role.assume_role_policy_document().unwrap_or_default();
    Ok(Some(observe_role(role.role_name(), role.arn(), trust, policies, managed, tags)))
}

/// A role as read: its declared form (policies already in it) and outputs.
fn observe_role(
    name: &str,
    arn: &str,
    trust: &str,
    policies: Map<String, Value>,
    managed: Vec<String>,
    tags: Vec<(&str, &str)>,
) -> Observed {
    let mut props = Map::new();
    props.insert("name".into(), json!(name));
    props.insert("trust".into(), declared_trust(trust));
    props.insert("policies".into(), Value::Object(policies));
    props.insert("managed_policies".into(), json!(managed));
    props.insert("tags".into(), tag_map(tags));
    Observed { props, outputs: outputs([("arn", arn), ("name", name)]) }
}

/// Reads many roles at once: `GetAccountAuthorizationDetails` returns every role of the account
/// with its trust, inline and attached policies and tags, a page at a time (1,000 roles per call),
/// instead of four or more calls per role.
pub(super) async fn read_roles(p: &AwsProvider, existing: &[Existing]) -> Result<Vec<Option<Observed>>, ProviderError> {
    let wanted: std::collections::HashSet<&str> = existing.iter().map(|e| e.physical_id.as_str()).collect();
    let mut found = std::collections::HashMap::new();
    let mut pages = p
        .iam
        .get_account_authorization_details()
        .filter(aws_sdk_iam::types::EntityType::Role)
        .max_items(1000)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(api("iam:GetAccountAuthorizationDetails"))?;
        for role in page.role_detail_list() {
            let Some(name) = role.role_name().filter(|n| wanted.contains(n)) else { continue };
            let policies: Map<String, Value> = role
                .role_policy_list()
                .iter()
                .filter_map(|p| Some((p.policy_name()?.to_string(), declared_policy(p.policy_document()?))))
                .collect();
            let managed = role.attached_managed_policies().iter().filter_map(|a| a.policy_arn().map(str::to_string));
            let tags: Vec<(&str, &str)> = role.tags().iter().map(|t| (t.key(), t.value())).collect();
            let observed = observe_role(
                name,
                role.arn().unwrap_or_default(),
                role.assume_role_policy_document().unwrap_or_default(),
                policies,
                managed.collect(),
                tags,
            );
            found.insert(name.to_string(), observed);
        }
    }
    Ok(existing.iter().map(|e| found.remove(&e.physical_id)).collect())
}

pub(super) async fn update(p: &AwsProvider, e: &Existing, desired: &Value) -> Result<Applied, ProviderError> {
    let old: RoleProps = props(&e.address, &e.props)?;
    let new: RoleProps = props(&e.address, desired)?;
    let role = &e.physical_id;
    if old.trust != new.trust {
        p.iam
            .update_assume_role_policy()
            .role_name(role)
            .policy_document(trust_policy(&new.trust))
            .send()
            .await
            .map_err(api("iam:UpdateAssumeRolePolicy"))?;
    }
    for (name, doc) in &new.policies {
        if old.policies.get(name) != Some(doc) {
            put_policy(p, role, name, doc).await?;
        }
    }
    for name in old.policies.keys().filter(|n| !new.policies.contains_key(*n)) {
        p.iam
            .delete_role_policy()
            .role_name(role)
            .policy_name(name)
            .send()
            .await
            .map_err(api("iam:DeleteRolePolicy"))?;
    }
    for arn in new.managed_policies.iter().filter(|a| !old.managed_policies.contains(a)) {
        p.iam.attach_role_policy().role_name(role).policy_arn(arn).send().await.map_err(api("iam:AttachRolePolicy"))?;
    }
    for arn in old.managed_policies.iter().filter(|a| !new.managed_policies.contains(a)) {
        p.iam.detach_role_policy().role_name(role).policy_arn(arn).send().await.map_err(api("iam:DetachRolePolicy"))?;
    }
    sync_tags(
        &e.props,
        desired,
        |remove| async move {
            p.iam.untag_role().role_name(role).set_tag_keys(Some(remove)).send().await.map_err(api("iam:UntagRole"))?;
            Ok(())
        },
        |set| async move {
            let tags = set
                .into_iter()
                .map(|(k, v)| Tag::builder().key(k).value(v).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(malformed(&e.address))?;
            p.iam.tag_role().role_name(role).set_tags(Some(tags)).send().await.map_err(api("iam:TagRole"))?;
            Ok(())
        },
    )
    .await?;
    Ok(Applied { physical_id: e.physical_id.clone(), outputs: e.outputs.clone() })
}

pub(super) async fn delete(p: &AwsProvider, e: &Existing) -> Result<(), ProviderError> {
    let role = &e.physical_id;
    // A role is deleted only once it has no policy left.
    let mut names = p.iam.list_role_policies().role_name(role).into_paginator().items().send();
    let mut inline = vec![];
    while let Some(name) = names.next().await {
        inline.push(name.map_err(api("iam:ListRolePolicies"))?);
    }
    for name in inline {
        p.iam
            .delete_role_policy()
            .role_name(role)
            .policy_name(name)
            .send()
            .await
            .map_err(api("iam:DeleteRolePolicy"))?;
    }
    let attached = p
        .iam
        .list_attached_role_policies()
        .role_name(role)
        .send()
        .await
        .map_err(api("iam:ListAttachedRolePolicies"))?;
    for arn in attached.attached_policies().iter().filter_map(|a| a.policy_arn()) {
        p.iam.detach_role_policy().role_name(role).policy_arn(arn).send().await.map_err(api("iam:DetachRolePolicy"))?;
    }
    p.iam.delete_role().role_name(role).send().await.map_err(api("iam:DeleteRole"))?;
    Ok(())
}

#[derive(Deserialize)]
struct OidcProviderProps {
    url: String,
    client_ids: Vec<String>,
    thumbprints: Vec<String>,
}

fn iam_tags(address: &crate::model::Address, props: &Value) -> Result<Vec<Tag>, ProviderError> {
    tags_of(props)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect::<Result<_, _>>()
        .map_err(malformed(address))
}

pub(super) async fn create_oidc_provider(p: &AwsProvider, d: &Desired) -> Result<Applied, ProviderError> {
    let o: OidcProviderProps = props(&d.address, &d.props)?;
    let out = p
        .iam
        .create_open_id_connect_provider()
        .url(&o.url)
        .set_client_id_list(Some(o.client_ids))
        .set_thumbprint_list(Some(o.thumbprints))
        .set_tags(Some(iam_tags(&d.address, &d.props)?))
        .send()
        .await
        .map_err(api("iam:CreateOpenIDConnectProvider"))?;
    let arn = out.open_id_connect_provider_arn().unwrap_or_default().to_string();
    Ok(Applied { outputs: outputs([("arn", arn.as_str())]), physical_id: arn })
}

pub(super) async fn read_oidc_provider(p: &AwsProvider, e: &Existing) -> Result<Option<Observed>, ProviderError> {
    let out = match p.iam.get_open_id_connect_provider().open_id_connect_provider_arn(&e.physical_id).send().await {
        Ok(out) => out,
        Err(err) if err.as_service_error().is_some_and(|e| e.is_no_such_entity_exception()) => return Ok(None),
        Err(err) => return Err(api("iam:GetOpenIDConnectProvider")(err)),
    };
    // AWS reports the URL without its scheme.
    let url = out.url().map(|u| if u.starts_with("https://") { u.to_string() } else { format!("https://{u}") });
    let mut props = Map::new();
    props.insert("url".into(), json!(url));
    props.insert("client_ids".into(), json!(out.client_id_list()));
    props.insert("thumbprints".into(), json!(out.thumbprint_list()));
    props.insert("tags".into(), tag_map(out.tags().iter().map(|t| (t.key(), t.value()))));
    Ok(Some(Observed { props, outputs: outputs([("arn", e.physical_id.as_str())]) }))
}

pub(super) async fn update_oidc_provider(
    p: &AwsProvider,
    e: &Existing,
    desired: &Value,
) -> Result<Applied, ProviderError> {
    let old: OidcProviderProps = props(&e.address, &e.props)?;
    let new: OidcProviderProps = props(&e.address, desired)?;
    let arn = &e.physical_id;
    if old.thumbprints != new.thumbprints {
        p.iam
            .update_open_id_connect_provider_thumbprint()
            .open_id_connect_provider_arn(arn)
            .set_thumbprint_list(Some(new.thumbprints.clone()))
            .send()
            .await
            .map_err(api("iam:UpdateOpenIDConnectProviderThumbprint"))?;
    }
    for id in new.client_ids.iter().filter(|c| !old.client_ids.contains(c)) {
        p.iam
            .add_client_id_to_open_id_connect_provider()
            .open_id_connect_provider_arn(arn)
            .client_id(id)
            .send()
            .await
            .map_err(api("iam:AddClientIDToOpenIDConnectProvider"))?;
    }
    for id in old.client_ids.iter().filter(|c| !new.client_ids.contains(c)) {
        p.iam
            .remove_client_id_from_open_id_connect_provider()
            .open_id_connect_provider_arn(arn)
            .client_id(id)
            .send()
            .await
            .map_err(api("iam:RemoveClientIDFromOpenIDConnectProvider"))?;
    }
    sync_tags(
        &e.props,
        desired,
        |remove| async move {
            p.iam
                .untag_open_id_connect_provider()
                .open_id_connect_provider_arn(arn)
                .set_tag_keys(Some(remove))
                .send()
                .await
                .map_err(api("iam:UntagOpenIDConnectProvider"))?;
            Ok(())
        },
        |set| async move {
            let tags = set
                .into_iter()
                .map(|(k, v)| Tag::builder().key(k).value(v).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(malformed(&e.address))?;
            p.iam
                .tag_open_id_connect_provider()
                .open_id_connect_provider_arn(arn)
                .set_tags(Some(tags))
                .send()
                .await
                .map_err(api("iam:TagOpenIDConnectProvider"))?;
            Ok(())
        },
    )
    .await?;
    Ok(Applied { physical_id: e.physical_id.clone(), outputs: e.outputs.clone() })
}

pub(super) async fn delete_oidc_provider(p: &AwsProvider, e: &Existing) -> Result<(), ProviderError> {
    p.iam
        .delete_open_id_connect_provider()
        .open_id_connect_provider_arn(&e.physical_id)
        .send()
        .await
        .map_err(api("iam:DeleteOpenIDConnectProvider"))?;
    Ok(())
}
