//! IAM roles and OIDC providers. A role's physical id is its name, a provider's its ARN. Policy
//! documents (trust policies included) are sent in AWS's JSON form and read back (URL-decoded)
//! into the declared form.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use aws_sdk_iam::types::Tag;
use serde_json::{json, Value};

use super::client::Aws;
use super::resource::{AwsResource, Created, Current, Lookup, New, Read, Recorded};
use super::support::{api, incomplete, malformed, sync_tags, tags};
use crate::model::{Address, Ref};
use crate::provider::ProviderError;
use crate::resources::iam::{
    Condition, Effect, ManagedPolicy, ManagedPolicyOutputs, OidcProvider, OidcProviderOutputs, PolicyDocument, Role,
    RoleOutputs, Statement, Trust,
};
use crate::resources::Tags;

/// `aws.iam.role`.
pub(crate) struct Roles;
/// `aws.iam.oidc_provider`.
pub(crate) struct OidcProviders;
/// `aws.iam.managed_policy`.
pub(crate) struct ManagedPolicies;

fn iam_tags(address: &Address, tags: &Tags) -> Result<Vec<Tag>, ProviderError> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect::<Result<_, _>>()
        .map_err(malformed(address))
}

/// The issuer part of an OIDC provider's ARN (`host/path`), which prefixes its condition keys.
fn issuer(provider_arn: &str) -> &str {
    provider_arn.split_once(":oidc-provider/").map(|(_, issuer)| issuer).unwrap_or(provider_arn)
}

/// The declared trust as a trust policy.
fn trust_policy(trust: &Trust) -> String {
    let statement = match trust {
        Trust::Service(service) => {
            json!({ "Effect": "Allow", "Principal": { "Service": service }, "Action": "sts:AssumeRole" })
        }
        Trust::ServiceFor { service, account, source_arn } => json!({
            "Effect": "Allow",
            "Principal": { "Service": service },
            "Action": "sts:AssumeRole",
            "Condition": {
                "StringEquals": { "aws:SourceAccount": account.as_str() },
                "ArnLike": { "aws:SourceArn": source_arn.as_str() },
            },
        }),
        Trust::WebIdentity { provider, audience, subjects } => {
            let provider = provider.as_str();
            let issuer = issuer(provider);
            json!({
                "Effect": "Allow",
                "Principal": { "Federated": provider },
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": { format!("{issuer}:aud"): audience },
                    "StringLike": { format!("{issuer}:sub"): subjects },
                },
            })
        }
        Trust::Document(text) => return text.clone(),
    };
    json!({ "Version": "2012-10-17", "Statement": [statement] }).to_string()
}

/// IAM refuses a trust naming an OIDC provider the account does not have as a malformed policy
/// ("Invalid principal in policy"): the provider must exist before the role
/// (<https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_create_for-idp_oidc.html>). Says so.
fn missing_provider(error: ProviderError, trust: &Trust) -> ProviderError {
    match (error, trust) {
        (ProviderError::Api { operation, code, message }, Trust::WebIdentity { provider, .. })
            if code.as_deref() == Some("MalformedPolicyDocument") && message.contains(provider.as_str()) =>
        {
            let message = format!(
                "{message} (the role trusts the OIDC provider {}, which this account does not have: create the provider first)",
                provider.as_str()
            );
            ProviderError::Api { operation, code, message }
        }
        (error, _) => error,
    }
}

/// A value or a list of values, as a list of strings: IAM takes a single value for a list of one,
/// and booleans and numbers as condition values (`"aws:SecureTransport": false`) meaning their
/// text.
fn strings(value: &Value) -> Vec<String> {
    let text = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(_) | Value::Number(_) => Some(v.to_string()),
        _ => None,
    };
    match value {
        Value::Array(items) => items.iter().filter_map(text).collect(),
        other => text(other).into_iter().collect(),
    }
}

/// A policy document's statements (a statement alone, or a list).
fn statements(doc: &Value) -> Vec<Value> {
    match &doc["Statement"] {
        Value::Array(items) => items.clone(),
        Value::Null => vec![],
        other => vec![other.clone()],
    }
}

/// A policy document as IAM returns it (URL-encoded JSON), as text.
fn decoded(encoded: &str) -> String {
    percent_encoding::percent_decode_str(encoded).decode_utf8_lossy().into_owned()
}

/// An AWS policy document (URL-encoded JSON, as IAM returns it) in the declared form: every
/// element of every statement, a single string read as a list of one (AWS takes both) and
/// conditions in the declared order, so only a change that means something is drift.
fn declared_policy(role: &str, name: &str, encoded: &str) -> Result<PolicyDocument, ProviderError> {
    let text = decoded(encoded);
    let failed = |why: String| ProviderError::OperationFailed {
        what: format!("reading the policy `{name}` of role {role}"),
        message: why,
    };
    let doc: Value = serde_json::from_str(&text).map_err(|e| failed(format!("it is not JSON: {e}")))?;
    let statements = statements(&doc)
        .iter()
        .map(|s| {
            let effect = match s["Effect"].as_str() {
                Some("Allow") => Effect::Allow,
                Some("Deny") => Effect::Deny,
                other => return Err(failed(format!("a statement's effect is {other:?}"))),
            };
            // IAM refuses a principal in an identity policy ("Policy document should not specify
            // a principal"), so these are every element a statement can have
            // (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_grammar.html).
            let known = ["Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition"];
            if let Some(other) =
                s.as_object().into_iter().flatten().map(|(k, _)| k).find(|k| !known.contains(&k.as_str()))
            {
                return Err(failed(format!("a statement has an element `{other}` policies of roles cannot have")));
            }
            let mut conditions = vec![];
            for (operator, keys) in s["Condition"].as_object().into_iter().flatten() {
                for (key, values) in keys.as_object().into_iter().flatten() {
                    let values = strings(values).into_iter().map(Ref::existing).collect();
                    conditions.push(Condition { operator: operator.clone(), key: key.clone(), values });
                }
            }
            conditions.sort_by(|a, b| (&a.operator, &a.key).cmp(&(&b.operator, &b.key)));
            let refs = |v: &Value| strings(v).into_iter().map(Ref::existing).collect();
            Ok(Statement {
                sid: s["Sid"].as_str().map(str::to_string),
                effect,
                actions: strings(&s["Action"]),
                not_actions: strings(&s["NotAction"]),
                resources: refs(&s["Resource"]),
                not_resources: refs(&s["NotResource"]),
                conditions,
            })
        })
        .collect::<Result<_, _>>()?;
    Ok(PolicyDocument { statements })
}

/// A trust policy in the declared form, if it is one of the two forms platform writes; otherwise
/// the policy text (so a hand-made trust shows as drift rather than being taken for ours).
fn declared_trust(encoded: &str) -> Trust {
    let text = decoded(encoded);
    let doc: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let [s] = statements(&doc).try_into().unwrap_or([Value::Null]);
    if s["Effect"] != "Allow" {
        return Trust::Document(text);
    }
    let action = strings(&s["Action"]);
    if let (Some(service), true) = (s["Principal"]["Service"].as_str(), action == ["sts:AssumeRole"]) {
        let condition = &s["Condition"];
        if condition.is_null() {
            return Trust::Service(service.to_string());
        }
        let account = condition["StringEquals"]["aws:SourceAccount"].as_str();
        let source_arn = condition["ArnLike"]["aws:SourceArn"].as_str();
        let only_ours = condition.as_object().is_some_and(|c| c.len() == 2)
            && condition["StringEquals"].as_object().is_some_and(|c| c.len() == 1)
            && condition["ArnLike"].as_object().is_some_and(|c| c.len() == 1);
        if let (Some(account), Some(source_arn), true) = (account, source_arn, only_ours) {
            return Trust::ServiceFor {
                service: service.to_string(),
                account: Ref::existing(account),
                source_arn: Ref::existing(source_arn),
            };
        }
    }
    if let (Some(provider), true) = (s["Principal"]["Federated"].as_str(), action == ["sts:AssumeRoleWithWebIdentity"])
    {
        let issuer = issuer(provider);
        let condition = &s["Condition"];
        let audience = condition["StringEquals"][format!("{issuer}:aud")].as_str();
        let subjects = &condition["StringLike"][format!("{issuer}:sub")];
        let only_ours = condition.as_object().is_some_and(|c| c.len() == 2)
            && condition["StringEquals"].as_object().is_some_and(|c| c.len() == 1)
            && condition["StringLike"].as_object().is_some_and(|c| c.len() == 1);
        if let (Some(audience), false, true) = (audience, subjects.is_null(), only_ours) {
            return Trust::WebIdentity {
                provider: Ref::existing(provider),
                audience: audience.to_string(),
                subjects: strings(subjects),
            };
        }
    }
    Trust::Document(text)
}

async fn put_policy(aws: &Aws, role: &str, name: &str, doc: &PolicyDocument) -> Result<(), ProviderError> {
    aws.iam
        .put_role_policy()
        .role_name(role)
        .policy_name(name)
        .policy_document(doc.to_aws_json())
        .send()
        .await
        .map_err(api("iam:PutRolePolicy"))?;
    Ok(())
}

/// A role as read: its declared form (policies already in it) and outputs.
/// What a role is, besides its policies and tags, as read.
struct RoleFacts<'a> {
    name: &'a str,
    arn: &'a str,
    trust: &'a str,
    permissions_boundary: Option<&'a str>,
    /// `None` where the call does not report it (`GetAccountAuthorizationDetails`).
    max_session_seconds: Option<Option<u32>>,
}

/// A role's maximum session as declared: AWS's default (one hour) is not declared.
fn declared_session(seconds: Option<i32>) -> Option<u32> {
    seconds.filter(|s| *s != 3600).map(|s| s as u32)
}

fn observe_role(
    facts: RoleFacts<'_>,
    recorded: Option<&Role>,
    policies: BTreeMap<String, PolicyDocument>,
    managed_policies: Vec<String>,
    tags: Tags,
) -> Read<Role, RoleOutputs> {
    let RoleFacts { name, arn, trust, permissions_boundary, max_session_seconds } = facts;
    let props = Role {
        trust: declared_trust(trust),
        policies,
        managed_policies: managed_policies.into_iter().map(Ref::existing).collect(),
        permissions_boundary: permissions_boundary.map(Ref::existing),
        // The batch read does not report it: the recorded value stands until a direct read.
        max_session_seconds: max_session_seconds.unwrap_or_else(|| recorded.and_then(|r| r.max_session_seconds)),
        tags,
    };
    Read::named(props, name, RoleOutputs { arn: arn.to_string(), name: name.to_string() })
}

#[async_trait]
impl AwsResource for Roles {
    type Props = Role;
    type Outputs = RoleOutputs;

    const BATCHED: bool = true;

    async fn create(&self, aws: &Aws, new: &New<'_, Role>) -> Result<Created<RoleOutputs>, ProviderError> {
        let (r, name) = (&new.props, new.name()?);
        let out = aws
            .iam
            .create_role()
            .role_name(name)
            .assume_role_policy_document(trust_policy(&r.trust))
            .set_permissions_boundary(r.permissions_boundary.as_ref().map(|b| b.as_str().to_string()))
            .set_max_session_duration(r.max_session_seconds.map(|s| s as i32))
            .set_tags(Some(iam_tags(new.address, &r.tags)?))
            .send()
            .await
            .map_err(api("iam:CreateRole"))
            .map_err(|e| missing_provider(e, &r.trust))?;
        let arn = out.role().map(|r| r.arn().to_string()).unwrap_or_default();
        let outputs = RoleOutputs { arn, name: name.to_string() };
        let finish = async {
            for (policy, doc) in &r.policies {
                put_policy(aws, name, policy, doc).await?;
            }
            for arn in &r.managed_policies {
                aws.iam
                    .attach_role_policy()
                    .role_name(name)
                    .policy_arn(arn.as_str())
                    .send()
                    .await
                    .map_err(api("iam:AttachRolePolicy"))?;
            }
            Ok(())
        };
        finish.await.map_err(incomplete(name, &outputs))?;
        Ok(Created { physical_id: name.to_string(), outputs })
    }

    async fn read(
        &self,
        aws: &Aws,
        recorded: &Recorded<'_, Role>,
    ) -> Result<Option<Read<Role, RoleOutputs>>, ProviderError> {
        let name = recorded.physical_id;
        let out = aws.iam.get_role().role_name(name).send().await.map_err(api("iam:GetRole"))?;
        let Some(role) = out.role() else { return Ok(None) };
        let mut policies = BTreeMap::new();
        let mut names = aws.iam.list_role_policies().role_name(name).into_paginator().items().send();
        while let Some(policy) = names.next().await {
            let policy = policy.map_err(api("iam:ListRolePolicies"))?;
            let doc = aws
                .iam
                .get_role_policy()
                .role_name(name)
                .policy_name(&policy)
                .send()
                .await
                .map_err(api("iam:GetRolePolicy"))?;
            let declared = declared_policy(name, &policy, doc.policy_document())?;
            policies.insert(policy, declared);
        }
        let mut managed = vec![];
        let mut attached = aws.iam.list_attached_role_policies().role_name(name).into_paginator().send();
        while let Some(page) = attached.next().await {
            let page = page.map_err(api("iam:ListAttachedRolePolicies"))?;
            managed.extend(page.attached_policies().iter().filter_map(|a| a.policy_arn().map(str::to_string)));
        }
        let tags = tags(role.tags().iter().map(|t| (t.key(), t.value())));
        let facts = RoleFacts {
            name: role.role_name(),
            arn: role.arn(),
            trust: role.assume_role_policy_document().unwrap_or_default(),
            permissions_boundary: role.permissions_boundary().and_then(|b| b.permissions_boundary_arn()),
            max_session_seconds: Some(declared_session(role.max_session_duration())),
        };
        Ok(Some(observe_role(facts, recorded.props.as_ref(), policies, managed, tags)))
    }

    /// `GetAccountAuthorizationDetails` returns every role of the account with its trust, inline
    /// and attached policies and tags, a page at a time (1,000 roles per call), instead of four or
    /// more calls per role.
    async fn read_batch(
        &self,
        aws: &Aws,
        recorded: &[Recorded<'_, Role>],
    ) -> Result<Vec<Option<Read<Role, RoleOutputs>>>, ProviderError> {
        let wanted: HashMap<&str, Option<&Role>> = recorded.iter().map(|r| (r.physical_id, r.props.as_ref())).collect();
        let mut found = HashMap::new();
        let mut pages = aws
            .iam
            .get_account_authorization_details()
            .filter(aws_sdk_iam::types::EntityType::Role)
            .max_items(1000)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(api("iam:GetAccountAuthorizationDetails"))?;
            for role in page.role_detail_list() {
                let Some((name, props)) = role.role_name().and_then(|n| wanted.get(n).map(|p| (n, *p))) else {
                    continue;
                };
                let mut policies = BTreeMap::new();
                for p in role.role_policy_list() {
                    if let (Some(policy), Some(doc)) = (p.policy_name(), p.policy_document()) {
                        policies.insert(policy.to_string(), declared_policy(name, policy, doc)?);
                    }
                }
                let managed =
                    role.attached_managed_policies().iter().filter_map(|a| a.policy_arn().map(str::to_string));
                let facts = RoleFacts {
                    name,
                    arn: role.arn().unwrap_or_default(),
                    trust: role.assume_role_policy_document().unwrap_or_default(),
                    permissions_boundary: role.permissions_boundary().and_then(|b| b.permissions_boundary_arn()),
                    max_session_seconds: None,
                };
                let read = observe_role(
                    facts,
                    props,
                    policies,
                    managed.collect(),
                    tags(role.tags().iter().map(|t| (t.key(), t.value()))),
                );
                found.insert(name.to_string(), read);
            }
        }
        Ok(recorded.iter().map(|r| found.remove(r.physical_id)).collect())
    }

    async fn update(
        &self,
        aws: &Aws,
        current: &Current<'_, Role, RoleOutputs>,
        new: &Role,
    ) -> Result<(), ProviderError> {
        let (old, role) = (&current.props, current.physical_id);
        if old.trust != new.trust {
            aws.iam
                .update_assume_role_policy()
                .role_name(role)
                .policy_document(trust_policy(&new.trust))
                .send()
                .await
                .map_err(api("iam:UpdateAssumeRolePolicy"))
                .map_err(|e| missing_provider(e, &new.trust))?;
        }
        if old.max_session_seconds != new.max_session_seconds {
            aws.iam
                .update_role()
                .role_name(role)
                .max_session_duration(new.max_session_seconds.unwrap_or(3600) as i32)
                .send()
                .await
                .map_err(api("iam:UpdateRole"))?;
        }
        // A boundary is set before the policies change, and removed after (never a moment with
        // wider policies and no boundary).
        if let (Some(boundary), true) =
            (&new.permissions_boundary, old.permissions_boundary != new.permissions_boundary)
        {
            aws.iam
                .put_role_permissions_boundary()
                .role_name(role)
                .permissions_boundary(boundary.as_str())
                .send()
                .await
                .map_err(api("iam:PutRolePermissionsBoundary"))?;
        }
        for (name, doc) in &new.policies {
            if old.policies.get(name) != Some(doc) {
                put_policy(aws, role, name, doc).await?;
            }
        }
        for name in old.policies.keys().filter(|n| !new.policies.contains_key(*n)) {
            aws.iam
                .delete_role_policy()
                .role_name(role)
                .policy_name(name)
                .send()
                .await
                .map_err(api("iam:DeleteRolePolicy"))?;
        }
        for arn in new.managed_policies.iter().filter(|a| !old.managed_policies.contains(a)) {
            aws.iam
                .attach_role_policy()
                .role_name(role)
                .policy_arn(arn.as_str())
                .send()
                .await
                .map_err(api("iam:AttachRolePolicy"))?;
        }
        for arn in old.managed_policies.iter().filter(|a| !new.managed_policies.contains(a)) {
            aws.iam
                .detach_role_policy()
                .role_name(role)
                .policy_arn(arn.as_str())
                .send()
                .await
                .map_err(api("iam:DetachRolePolicy"))?;
        }
        if old.permissions_boundary.is_some() && new.permissions_boundary.is_none() {
            aws.iam
                .delete_role_permissions_boundary()
                .role_name(role)
                .send()
                .await
                .map_err(api("iam:DeleteRolePermissionsBoundary"))?;
        }
        sync_tags(
            &old.tags,
            &new.tags,
            |remove| async move {
                aws.iam
                    .untag_role()
                    .role_name(role)
                    .set_tag_keys(Some(remove))
                    .send()
                    .await
                    .map_err(api("iam:UntagRole"))?;
                Ok(())
            },
            |set| async move {
                let tags = iam_tags(current.address, &set.into_iter().collect())?;
                aws.iam.tag_role().role_name(role).set_tags(Some(tags)).send().await.map_err(api("iam:TagRole"))?;
                Ok(())
            },
        )
        .await
    }

    async fn delete(&self, aws: &Aws, current: &Current<'_, Role, RoleOutputs>) -> Result<(), ProviderError> {
        let role = current.physical_id;
        // A role is deleted only once it has no policy left.
        let mut names = aws.iam.list_role_policies().role_name(role).into_paginator().items().send();
        let mut inline = vec![];
        while let Some(name) = names.next().await {
            inline.push(name.map_err(api("iam:ListRolePolicies"))?);
        }
        for name in inline {
            aws.iam
                .delete_role_policy()
                .role_name(role)
                .policy_name(name)
                .send()
                .await
                .map_err(api("iam:DeleteRolePolicy"))?;
        }
        let attached = aws
            .iam
            .list_attached_role_policies()
            .role_name(role)
            .send()
            .await
            .map_err(api("iam:ListAttachedRolePolicies"))?;
        for arn in attached.attached_policies().iter().filter_map(|a| a.policy_arn()) {
            aws.iam
                .detach_role_policy()
                .role_name(role)
                .policy_arn(arn)
                .send()
                .await
                .map_err(api("iam:DetachRolePolicy"))?;
        }
        aws.iam.delete_role().role_name(role).send().await.map_err(api("iam:DeleteRole"))?;
        Ok(())
    }

    /// The name is the id.
    async fn find(&self, _aws: &Aws, lookup: &Lookup<'_, Role>) -> Result<Option<String>, ProviderError> {
        Ok(lookup.name.map(str::to_string))
    }
}

#[async_trait]
impl AwsResource for OidcProviders {
    type Props = OidcProvider;
    type Outputs = OidcProviderOutputs;

    async fn create(
        &self,
        aws: &Aws,
        new: &New<'_, OidcProvider>,
    ) -> Result<Created<OidcProviderOutputs>, ProviderError> {
        let o = &new.props;
        let out = aws
            .iam
            .create_open_id_connect_provider()
            .url(&o.url)
            .set_client_id_list(Some(o.client_ids.clone()))
            .set_thumbprint_list(Some(o.thumbprints.clone()))
            .set_tags(Some(iam_tags(new.address, &o.tags)?))
            .send()
            .await
            .map_err(api("iam:CreateOpenIDConnectProvider"))?;
        let arn = out.open_id_connect_provider_arn().unwrap_or_default().to_string();
        Ok(Created { physical_id: arn.clone(), outputs: OidcProviderOutputs { arn } })
    }

    async fn read(
        &self,
        aws: &Aws,
        recorded: &Recorded<'_, OidcProvider>,
    ) -> Result<Option<Read<OidcProvider, OidcProviderOutputs>>, ProviderError> {
        let arn = recorded.physical_id;
        let out = match aws.iam.get_open_id_connect_provider().open_id_connect_provider_arn(arn).send().await {
            Ok(out) => out,
            Err(err) if err.as_service_error().is_some_and(|e| e.is_no_such_entity_exception()) => return Ok(None),
            Err(err) => return Err(api("iam:GetOpenIDConnectProvider")(err)),
        };
        // AWS reports the URL without its scheme.
        let url = out.url().map(|u| if u.starts_with("https://") { u.to_string() } else { format!("https://{u}") });
        let props = OidcProvider {
            url: url.unwrap_or_default(),
            client_ids: out.client_id_list().to_vec(),
            thumbprints: out.thumbprint_list().to_vec(),
            tags: tags(out.tags().iter().map(|t| (t.key(), t.value()))),
        };
        Ok(Some(Read::new(props, OidcProviderOutputs { arn: arn.to_string() })))
    }

    async fn update(
        &self,
        aws: &Aws,
        current: &Current<'_, OidcProvider, OidcProviderOutputs>,
        new: &OidcProvider,
    ) -> Result<(), ProviderError> {
        let (old, arn) = (&current.props, current.physical_id);
        if old.thumbprints != new.thumbprints {
            aws.iam
                .update_open_id_connect_provider_thumbprint()
                .open_id_connect_provider_arn(arn)
                .set_thumbprint_list(Some(new.thumbprints.clone()))
                .send()
                .await
                .map_err(api("iam:UpdateOpenIDConnectProviderThumbprint"))?;
        }
        for id in new.client_ids.iter().filter(|c| !old.client_ids.contains(c)) {
            aws.iam
                .add_client_id_to_open_id_connect_provider()
                .open_id_connect_provider_arn(arn)
                .client_id(id)
                .send()
                .await
                .map_err(api("iam:AddClientIDToOpenIDConnectProvider"))?;
        }
        for id in old.client_ids.iter().filter(|c| !new.client_ids.contains(c)) {
            aws.iam
                .remove_client_id_from_open_id_connect_provider()
                .open_id_connect_provider_arn(arn)
                .client_id(id)
                .send()
                .await
                .map_err(api("iam:RemoveClientIDFromOpenIDConnectProvider"))?;
        }
        sync_tags(
            &old.tags,
            &new.tags,
            |remove| async move {
                aws.iam
                    .untag_open_id_connect_provider()
                    .open_id_connect_provider_arn(arn)
                    .set_tag_keys(Some(remove))
                    .send()
                    .await
                    .map_err(api("iam:UntagOpenIDConnectProvider"))?;
                Ok(())
            },
            |set| async move {
                let tags = iam_tags(current.address, &set.into_iter().collect())?;
                aws.iam
                    .tag_open_id_connect_provider()
                    .open_id_connect_provider_arn(arn)
                    .set_tags(Some(tags))
                    .send()
                    .await
                    .map_err(api("iam:TagOpenIDConnectProvider"))?;
                Ok(())
            },
        )
        .await
    }

    async fn delete(
        &self,
        aws: &Aws,
        current: &Current<'_, OidcProvider, OidcProviderOutputs>,
    ) -> Result<(), ProviderError> {
        aws.iam
            .delete_open_id_connect_provider()
            .open_id_connect_provider_arn(current.physical_id)
            .send()
            .await
            .map_err(api("iam:DeleteOpenIDConnectProvider"))?;
        Ok(())
    }

    /// A provider by its URL: one per issuer and account.
    async fn find(&self, aws: &Aws, lookup: &Lookup<'_, OidcProvider>) -> Result<Option<String>, ProviderError> {
        let Some(o) = &lookup.props else { return Ok(None) };
        let issuer = o.url.trim_start_matches("https://");
        let out =
            aws.iam.list_open_id_connect_providers().send().await.map_err(api("iam:ListOpenIDConnectProviders"))?;
        Ok(out
            .open_id_connect_provider_list()
            .iter()
            .filter_map(|p| p.arn())
            .find(|arn| arn.ends_with(&format!(":oidc-provider/{issuer}")))
            .map(str::to_string))
    }
}

/// The name in a managed policy's ARN (`arn:aws:iam::ACCOUNT:policy/PATH/NAME`).
fn policy_name(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// The policy's document as its default version holds it.
async fn default_document(aws: &Aws, arn: &str, version: &str) -> Result<PolicyDocument, ProviderError> {
    let out = aws
        .iam
        .get_policy_version()
        .policy_arn(arn)
        .version_id(version)
        .send()
        .await
        .map_err(api("iam:GetPolicyVersion"))?;
    let encoded = out.policy_version().and_then(|v| v.document()).unwrap_or_default();
    declared_policy(policy_name(arn), "default version", encoded)
}

#[async_trait]
impl AwsResource for ManagedPolicies {
    type Props = ManagedPolicy;
    type Outputs = ManagedPolicyOutputs;

    async fn create(
        &self,
        aws: &Aws,
        new: &New<'_, ManagedPolicy>,
    ) -> Result<Created<ManagedPolicyOutputs>, ProviderError> {
        let (p, name) = (&new.props, new.name()?);
        let out = aws
            .iam
            .create_policy()
            .policy_name(name)
            .description(&p.description)
            .policy_document(p.document.to_aws_json())
            .set_tags(Some(iam_tags(new.address, &p.tags)?))
            .send()
            .await
            .map_err(api("iam:CreatePolicy"))?;
        let arn = out.policy().and_then(|p| p.arn()).unwrap_or_default().to_string();
        Ok(Created { physical_id: arn.clone(), outputs: ManagedPolicyOutputs { arn, name: name.to_string() } })
    }

    async fn read(
        &self,
        aws: &Aws,
        recorded: &Recorded<'_, ManagedPolicy>,
    ) -> Result<Option<Read<ManagedPolicy, ManagedPolicyOutputs>>, ProviderError> {
        let arn = recorded.physical_id;
        let out = match aws.iam.get_policy().policy_arn(arn).send().await {
            Ok(out) => out,
            Err(err) if err.as_service_error().is_some_and(|e| e.is_no_such_entity_exception()) => return Ok(None),
            Err(err) => return Err(api("iam:GetPolicy")(err)),
        };
        let Some(policy) = out.policy() else { return Ok(None) };
        let document = default_document(aws, arn, policy.default_version_id().unwrap_or("v1")).await?;
        let name = policy.policy_name().unwrap_or_else(|| policy_name(arn));
        let props = ManagedPolicy {
            description: policy.description().unwrap_or_default().to_string(),
            document,
            tags: tags(policy.tags().iter().map(|t| (t.key(), t.value()))),
        };
        Ok(Some(Read::named(props, name, ManagedPolicyOutputs { arn: arn.to_string(), name: name.to_string() })))
    }

    /// A new default version. AWS keeps at most five versions of a managed policy: the oldest
    /// non-default one is deleted first when there are five
    /// (<https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreatePolicyVersion.html>).
    async fn update(
        &self,
        aws: &Aws,
        current: &Current<'_, ManagedPolicy, ManagedPolicyOutputs>,
        new: &ManagedPolicy,
    ) -> Result<(), ProviderError> {
        let (old, arn) = (&current.props, current.physical_id);
        if old.document != new.document {
            let versions =
                aws.iam.list_policy_versions().policy_arn(arn).send().await.map_err(api("iam:ListPolicyVersions"))?;
            let mut old_versions: Vec<_> = versions.versions().iter().filter(|v| !v.is_default_version()).collect();
            if versions.versions().len() >= 5 {
                old_versions.sort_by_key(|v| v.create_date().map(|d| d.as_nanos()));
                if let Some(oldest) = old_versions.first().and_then(|v| v.version_id()) {
                    aws.iam
                        .delete_policy_version()
                        .policy_arn(arn)
                        .version_id(oldest)
                        .send()
                        .await
                        .map_err(api("iam:DeletePolicyVersion"))?;
                }
            }
            aws.iam
                .create_policy_version()
                .policy_arn(arn)
                .policy_document(new.document.to_aws_json())
                .set_as_default(true)
                .send()
                .await
                .map_err(api("iam:CreatePolicyVersion"))?;
        }
        sync_tags(
            &old.tags,
            &new.tags,
            |remove| async move {
                aws.iam
                    .untag_policy()
                    .policy_arn(arn)
                    .set_tag_keys(Some(remove))
                    .send()
                    .await
                    .map_err(api("iam:UntagPolicy"))?;
                Ok(())
            },
            |set| async move {
                let tags = iam_tags(current.address, &set.into_iter().collect())?;
                aws.iam.tag_policy().policy_arn(arn).set_tags(Some(tags)).send().await.map_err(api("iam:TagPolicy"))?;
                Ok(())
            },
        )
        .await
    }

    /// Its non-default versions first: AWS deletes a policy only without them
    /// (<https://docs.aws.amazon.com/IAM/latest/APIReference/API_DeletePolicy.html>). A policy
    /// still attached to a role, or still a role's boundary, is refused (`DeleteConflict`).
    async fn delete(
        &self,
        aws: &Aws,
        current: &Current<'_, ManagedPolicy, ManagedPolicyOutputs>,
    ) -> Result<(), ProviderError> {
        let arn = current.physical_id;
        let versions =
            aws.iam.list_policy_versions().policy_arn(arn).send().await.map_err(api("iam:ListPolicyVersions"))?;
        for version in versions.versions().iter().filter(|v| !v.is_default_version()) {
            aws.iam
                .delete_policy_version()
                .policy_arn(arn)
                .set_version_id(version.version_id().map(str::to_string))
                .send()
                .await
                .map_err(api("iam:DeletePolicyVersion"))?;
        }
        aws.iam.delete_policy().policy_arn(arn).send().await.map_err(api("iam:DeletePolicy"))?;
        Ok(())
    }

    /// A customer managed policy's ARN follows from the account and its name.
    async fn find(&self, aws: &Aws, lookup: &Lookup<'_, ManagedPolicy>) -> Result<Option<String>, ProviderError> {
        let Some(name) = lookup.name else { return Ok(None) };
        let account = aws.account().await?;
        let arn = format!("arn:{}:iam::{}:policy/{name}", account.partition, account.id);
        match aws.iam.get_policy().policy_arn(&arn).send().await {
            Ok(_) => Ok(Some(arn)),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_no_such_entity_exception()) => Ok(None),
            Err(err) => Err(api("iam:GetPolicy")(err)),
        }
    }
}
