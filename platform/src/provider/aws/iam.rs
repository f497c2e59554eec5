//! IAM roles. The physical id is the role name. Policy documents are sent in AWS's JSON form and
//! read back (URL-decoded) into the declared form.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{json, Map, Value};

use aws_sdk_iam::types::Tag;

use super::{api, incomplete, malformed, outputs, props, sync_tags, tag_map, tags_of, AwsProvider};
use crate::provider::{Applied, Desired, Existing, Observed, ProviderError};

#[derive(Deserialize)]
struct RoleProps {
    name: String,
    trusted_service: String,
    policies: BTreeMap<String, Value>,
    managed_policies: Vec<String>,
}

fn trust_policy(service: &str) -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [{ "Effect": "Allow", "Principal": { "Service": service }, "Action": "sts:AssumeRole" }],
    })
    .to_string()
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

/// The service a trust policy lets assume the role, if it is the single-service form we write.
fn trusted_service(encoded: &str) -> Value {
    let text = percent_encoding::percent_decode_str(encoded).decode_utf8_lossy();
    let doc: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let statements = match &doc["Statement"] {
        Value::Array(items) => items.clone(),
        other => vec![other.clone()],
    };
    match statements.as_slice() {
        [s] if s["Effect"] == "Allow"
            && s["Principal"]["Service"].is_string()
            && list(&s["Action"]) == json!(["sts:AssumeRole"]) =>
        {
            s["Principal"]["Service"].clone()
        }
        _ => Value::String(text.into_owned()),
    }
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
        .assume_role_policy_document(trust_policy(&r.trusted_service))
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
    let mut props = Map::new();
    props.insert("name".into(), json!(role.role_name()));
    props.insert("trusted_service".into(), trusted_service(role.assume_role_policy_document().unwrap_or_default()));
    props.insert("policies".into(), Value::Object(policies));
    props.insert("managed_policies".into(), json!(managed));
    props.insert("tags".into(), tag_map(role.tags().iter().map(|t| (t.key(), t.value()))));
    Ok(Some(Observed { props, outputs: outputs([("arn", role.arn()), ("name", role.role_name())]) }))
}

pub(super) async fn update(p: &AwsProvider, e: &Existing, desired: &Value) -> Result<Applied, ProviderError> {
    let old: RoleProps = props(&e.address, &e.props)?;
    let new: RoleProps = props(&e.address, desired)?;
    let role = &e.physical_id;
    if old.trusted_service != new.trusted_service {
        p.iam
            .update_assume_role_policy()
            .role_name(role)
            .policy_document(trust_policy(&new.trusted_service))
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
