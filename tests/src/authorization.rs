//! What AWS authorizes for each recorded call, as the IAM evaluator ([`crate::iam`]) needs it: the
//! resources a call is authorized against and the condition keys AWS sets for each, read from the
//! calls as they crossed the wire ([`crate::WireCall`]).
//!
//! Covered: the services whose deploy-role statements are conditioned, not only scoped by name —
//! EC2 (every resource a call names, and the new one for a create, per the Service Authorization
//! Reference: <https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonec2.html>),
//! Cloud Map (<https://docs.aws.amazon.com/service-authorization/latest/reference/list_awscloudmap.html>)
//! and IAM's role calls (`iam:PermissionsBoundary`, `iam:PolicyARN`), and the roles ECS task
//! definitions pass (`iam:PassRole` with `iam:PassedToService`). The tags AWS would see on a
//! resource (`aws:ResourceTag/…`) are learnt from the calls that created or tagged it, so the calls
//! must be read in the order they were answered, from the first create on. Other services'
//! calls are left to the action-level check; [`Authorizations::uncovered`] lists them.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::iam::Request;
use crate::WireCall;

/// One authorization AWS makes for a recorded call.
#[derive(Debug, Clone)]
pub struct Authorization {
    /// The call, for messages: its action and the attempt's position in the recording.
    pub call: String,
    /// The request evaluated.
    pub request: Request,
}

/// The authorizations of a recording.
#[derive(Debug, Default)]
pub struct Authorizations {
    /// Every authorization of the covered calls.
    pub checked: Vec<Authorization>,
    /// Actions of calls this module does not read (left to the action-level check).
    pub uncovered: BTreeSet<String>,
}

/// Where the calls were made.
#[derive(Debug, Clone)]
pub struct Account {
    /// The account id.
    pub id: String,
    /// The region.
    pub region: String,
}

/// Tags by resource id (EC2, Cloud Map) or ARN.
type Tags = BTreeMap<String, BTreeMap<String, String>>;

/// The authorizations AWS makes for `calls` in `account`.
pub fn authorizations(calls: &[WireCall], account: &Account) -> Result<Authorizations, String> {
    let mut reader = Reader { account: account.clone(), ..Reader::default() };
    let mut out = Authorizations::default();
    for (n, call) in calls.iter().enumerate() {
        let label = format!("#{n} {}", call.action);
        let requests = match call.action.split_once(':').map(|(service, _)| service) {
            Some("ec2") => reader.ec2(call)?,
            Some("servicediscovery") => reader.cloud_map(call)?,
            Some("iam") => reader.iam(call)?,
            Some("ecs") if call.action == "ecs:RegisterTaskDefinition" => reader.passed_roles(call)?,
            _ => {
                out.uncovered.insert(call.action.clone());
                continue;
            }
        };
        out.checked.extend(requests.into_iter().map(|request| Authorization { call: label.clone(), request }));
    }
    Ok(out)
}

#[derive(Debug, Default)]
struct Reader {
    account: Account,
    tags: Tags,
    /// EC2 route table associations: the route table and subnet each joins.
    associations: BTreeMap<String, Vec<String>>,
    /// Cloud Map operations that create a namespace: the tags it was created with.
    operations: BTreeMap<String, BTreeMap<String, String>>,
    /// IAM roles by name: the boundary each has.
    boundaries: BTreeMap<String, String>,
}

impl Default for Account {
    fn default() -> Self {
        Self { id: "000000000000".into(), region: "us-east-1".into() }
    }
}

/// A query-protocol body (`Action=…&Key.1=…`), decoded.
fn form(body: &str) -> BTreeMap<String, String> {
    body.split('&').filter_map(|pair| pair.split_once('=')).map(|(k, v)| (decode(k), decode(v))).collect()
}

fn decode(text: &str) -> String {
    percent_encoding::percent_decode_str(&text.replace('+', " ")).decode_utf8_lossy().into_owned()
}

/// The text of the first `<tag>` element of an XML answer.
fn element(xml: &str, tag: &str) -> Option<String> {
    let start = xml.find(&format!("<{tag}>"))? + tag.len() + 2;
    let end = xml[start..].find('<')? + start;
    Some(xml[start..end].trim().to_string())
}

/// The EC2 resource type of an id, by its prefix.
fn ec2_type(id: &str) -> Option<&'static str> {
    let (prefix, rest) = id.split_once('-')?;
    if rest.is_empty() || !rest.chars().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    Some(match prefix {
        "vpc" => "vpc",
        "subnet" => "subnet",
        "sg" => "security-group",
        "sgr" => "security-group-rule",
        "rtb" => "route-table",
        "igw" => "internet-gateway",
        "nat" => "natgateway",
        "eipalloc" => "elastic-ip",
        "fl" => "vpc-flow-log",
        _ => return None,
    })
}

/// The resource an EC2 create makes, and the element of the answer that holds its id.
fn ec2_created(operation: &str) -> Option<(&'static str, &'static str)> {
    Some(match operation {
        "CreateVpc" => ("vpc", "vpcId"),
        "CreateSubnet" => ("subnet", "subnetId"),
        "CreateSecurityGroup" => ("security-group", "groupId"),
        "CreateRouteTable" => ("route-table", "routeTableId"),
        "CreateInternetGateway" => ("internet-gateway", "internetGatewayId"),
        "CreateNatGateway" => ("natgateway", "natGatewayId"),
        "AllocateAddress" => ("elastic-ip", "allocationId"),
        // `<flowLogIdSet><item>fl-…</item></flowLogIdSet>`.
        "CreateFlowLogs" => ("vpc-flow-log", "item"),
        _ => return None,
    })
}

/// `aws:RequestTag/…` and `aws:TagKeys` of a request sending `tags`.
fn with_request_tags(mut request: Request, tags: &BTreeMap<String, String>) -> Request {
    if tags.is_empty() {
        return request;
    }
    for (key, value) in tags {
        request = request.with(&format!("aws:RequestTag/{key}"), &[value]);
    }
    let keys: Vec<&str> = tags.keys().map(String::as_str).collect();
    request.with("aws:TagKeys", &keys)
}

/// `aws:ResourceTag/…` of a resource with `tags`.
fn with_resource_tags(mut request: Request, tags: Option<&BTreeMap<String, String>>) -> Request {
    for (key, value) in tags.into_iter().flatten() {
        request = request.with(&format!("aws:ResourceTag/{key}"), &[value]);
    }
    request
}

impl Reader {
    fn ec2_arn(&self, kind: &str, id: &str) -> String {
        format!("arn:aws:ec2:{}:{}:{kind}/{id}", self.account.region, self.account.id)
    }

    fn ec2(&mut self, call: &WireCall) -> Result<Vec<Request>, String> {
        let params = form(&call.request);
        let operation = call.action.trim_start_matches("ec2:");
        if operation.starts_with("Describe") {
            // Describes take no resource-level permissions.
            return Ok(vec![Request::new(&call.action, "*")]);
        }
        // Tags the request sends: at create (TagSpecification.N.Tag.M), or to CreateTags (Tag.N).
        let mut sent = BTreeMap::new();
        let mut removed: Vec<String> = vec![];
        for (key, value) in &params {
            let Some(prefix) = key.strip_suffix(".Key") else { continue };
            if !(key.starts_with("TagSpecification.") || key.starts_with("Tag.")) {
                continue;
            }
            match params.get(&format!("{prefix}.Value")) {
                Some(v) => {
                    sent.insert(value.clone(), v.clone());
                }
                None => removed.push(value.clone()),
            }
        }
        if operation == "DeleteTags" {
            removed.extend(std::mem::take(&mut sent).into_keys());
        }
        // Every resource the call names (a referenced security group too: conservative).
        let mut named: Vec<String> = vec![];
        for (key, value) in &params {
            if key.starts_with("TagSpecification.") || key.starts_with("Tag.") || key.starts_with("Filter.") {
                continue;
            }
            if key == "AssociationId" {
                let joined = self
                    .associations
                    .get(value)
                    .ok_or_else(|| format!("{}: association {value} was not made in the recording", call.action))?;
                named.extend(joined.iter().cloned());
            } else if ec2_type(value).is_some() {
                named.push(value.clone());
            }
        }
        let mut requests = vec![];
        let request_tags = sent.clone();
        for id in &named {
            let kind = ec2_type(id).expect("named ids have a type");
            let mut request = Request::new(&call.action, &self.ec2_arn(kind, id));
            request = with_request_tags(request, &request_tags);
            if operation == "DeleteTags" && !removed.is_empty() {
                let keys: Vec<&str> = removed.iter().map(String::as_str).collect();
                request = request.with("aws:TagKeys", &keys);
            }
            requests.push(with_resource_tags(request, self.tags.get(id)));
        }
        if let Some((kind, element_name)) = ec2_created(operation) {
            let id = element(&call.response, element_name).unwrap_or_else(|| "new".into());
            let arn = self.ec2_arn(kind, &id);
            requests.push(with_request_tags(Request::new(&call.action, &arn), &sent));
            if !sent.is_empty() {
                // Tags at create are authorized as ec2:CreateTags naming the create.
                let tagging = Request::new("ec2:CreateTags", &arn).with("ec2:CreateAction", &[operation]);
                requests.push(with_request_tags(tagging, &sent));
            }
            if call.status < 300 && id != "new" {
                self.tags.insert(id, sent.clone());
            }
        }
        if operation.contains("SecurityGroupRule")
            || operation.contains("SecurityGroupIngress")
            || operation.contains("SecurityGroupEgress")
        {
            // A rule is a resource of its own, with no tags: these calls name it too.
            let id = element(&call.response, "securityGroupRuleId").unwrap_or_else(|| "sgr-new".into());
            requests.push(Request::new(&call.action, &self.ec2_arn("security-group-rule", &id)));
        }
        if call.status < 300 {
            match operation {
                "AssociateRouteTable" => {
                    if let Some(association) = element(&call.response, "associationId") {
                        self.associations.insert(association, named.clone());
                    }
                }
                "CreateTags" => {
                    for id in &named {
                        self.tags.entry(id.clone()).or_default().extend(sent.clone());
                    }
                }
                "DeleteTags" => {
                    for id in &named {
                        if let Some(tags) = self.tags.get_mut(id) {
                            tags.retain(|k, _| !removed.contains(k));
                        }
                    }
                }
                _ => {}
            }
        }
        if requests.is_empty() {
            return Err(format!("{}: no resource found in the request {}", call.action, call.request));
        }
        Ok(requests)
    }

    fn cloud_map_arn(&self, kind: &str, id: &str) -> String {
        format!("arn:aws:servicediscovery:{}:{}:{kind}/{id}", self.account.region, self.account.id)
    }

    fn cloud_map(&mut self, call: &WireCall) -> Result<Vec<Request>, String> {
        let body: Value = serde_json::from_str(&call.request).unwrap_or(Value::Null);
        let answer: Value = serde_json::from_str(&call.response).unwrap_or(Value::Null);
        let tags_of = |list: &Value| -> BTreeMap<String, String> {
            list.as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| Some((t["Key"].as_str()?.to_string(), t["Value"].as_str()?.to_string())))
                .collect()
        };
        let sent = tags_of(&body["Tags"]);
        let text = |v: &Value| v.as_str().map(str::to_string);
        let operation = call.action.trim_start_matches("servicediscovery:");
        let existing = |reader: &Self, kind: &str, id: &str| -> Request {
            let request = Request::new(&call.action, &reader.cloud_map_arn(kind, id));
            with_request_tags(with_resource_tags(request, reader.tags.get(id)), &sent)
        };
        let requests = match operation {
            "ListNamespaces" | "ListServices" | "GetOperation" => {
                if let (Some(op), Some(ns)) =
                    (text(&answer["Operation"]["Id"]), text(&answer["Operation"]["Targets"]["NAMESPACE"]))
                {
                    if let Some(tags) = self.operations.get(&op) {
                        self.tags.insert(ns, tags.clone());
                    }
                }
                vec![Request::new(&call.action, "*")]
            }
            "CreatePrivateDnsNamespace" => {
                if let Some(op) = text(&answer["OperationId"]) {
                    self.operations.insert(op, sent.clone());
                }
                // No resource type: `*`. Its tags are authorized as TagResource on the new namespace.
                vec![
                    with_request_tags(Request::new(&call.action, "*"), &sent),
                    with_request_tags(
                        Request::new("servicediscovery:TagResource", &self.cloud_map_arn("namespace", "new")),
                        &sent,
                    ),
                ]
            }
            "CreateService" => {
                let namespace = text(&body["NamespaceId"]).ok_or("CreateService without NamespaceId")?;
                let id = text(&answer["Service"]["Id"]).unwrap_or_else(|| "new".into());
                let arn = self.cloud_map_arn("service", &id);
                let requests = vec![
                    existing(self, "namespace", &namespace),
                    with_request_tags(Request::new(&call.action, &arn), &sent),
                    with_request_tags(Request::new("servicediscovery:TagResource", &arn), &sent),
                ];
                if call.status < 300 && id != "new" {
                    self.tags.insert(id, sent.clone());
                }
                requests
            }
            "GetNamespace" | "DeleteNamespace" | "UpdatePrivateDnsNamespace" => {
                let id = text(&body["Id"]).ok_or_else(|| format!("{operation} without Id"))?;
                vec![existing(self, "namespace", &id)]
            }
            "GetService" | "DeleteService" | "UpdateService" => {
                let id = text(&body["Id"]).ok_or_else(|| format!("{operation} without Id"))?;
                vec![existing(self, "service", &id)]
            }
            "ListInstances" => {
                let id = text(&body["ServiceId"]).ok_or("ListInstances without ServiceId")?;
                vec![existing(self, "service", &id)]
            }
            "TagResource" | "UntagResource" | "ListTagsForResource" => {
                let arn = text(&body["ResourceARN"]).ok_or_else(|| format!("{operation} without ResourceARN"))?;
                let id = arn.rsplit('/').next().unwrap_or_default().to_string();
                let mut request =
                    with_request_tags(with_resource_tags(Request::new(&call.action, &arn), self.tags.get(&id)), &sent);
                let removed: Vec<String> = body["TagKeys"].as_array().into_iter().flatten().filter_map(text).collect();
                if !removed.is_empty() {
                    let keys: Vec<&str> = removed.iter().map(String::as_str).collect();
                    request = request.with("aws:TagKeys", &keys);
                }
                if call.status < 300 {
                    let tags = self.tags.entry(id).or_default();
                    tags.extend(sent.clone());
                    tags.retain(|k, _| !removed.contains(k));
                }
                vec![request]
            }
            other => {
                return Err(format!(
                    "servicediscovery:{other}: which resources it is authorized against is not known here"
                ))
            }
        };
        Ok(requests)
    }

    fn iam(&mut self, call: &WireCall) -> Result<Vec<Request>, String> {
        let params = form(&call.request);
        if call.action == "iam:GetAccountAuthorizationDetails" {
            return Ok(vec![Request::new(&call.action, "*")]);
        }
        let Some(role) = params.get("RoleName") else {
            return Err(format!("{}: only role calls are read here ({})", call.action, call.request));
        };
        let arn = format!("arn:aws:iam::{}:role/{role}", self.account.id);
        let boundary = params.get("PermissionsBoundary").or_else(|| self.boundaries.get(role)).cloned();
        let mut request = Request::new(&call.action, &arn);
        if let Some(boundary) = &boundary {
            // The boundary the request sets, or the one the role has.
            request = request.with("iam:PermissionsBoundary", &[boundary]);
        }
        if let Some(policy) = params.get("PolicyArn") {
            request = request.with("iam:PolicyARN", &[policy]);
        }
        if call.status < 300 {
            match call.action.as_str() {
                "iam:CreateRole" | "iam:PutRolePermissionsBoundary" => {
                    if let Some(b) = params.get("PermissionsBoundary") {
                        self.boundaries.insert(role.clone(), b.clone());
                    }
                }
                "iam:DeleteRolePermissionsBoundary" | "iam:DeleteRole" => {
                    self.boundaries.remove(role);
                }
                _ => {}
            }
        }
        Ok(vec![request])
    }

    /// The roles a task definition names are passed to ECS tasks.
    fn passed_roles(&mut self, call: &WireCall) -> Result<Vec<Request>, String> {
        let body: Value = serde_json::from_str(&call.request).map_err(|e| format!("{}: {e}", call.action))?;
        Ok(["taskRoleArn", "executionRoleArn"]
            .iter()
            .filter_map(|k| body[*k].as_str())
            .map(|role| Request::new("iam:PassRole", role).with("iam:PassedToService", &["ecs-tasks.amazonaws.com"]))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(action: &str, request: &str, response: &str) -> WireCall {
        WireCall { action: action.into(), request: request.into(), status: 200, response: response.into() }
    }

    #[test]
    fn ec2_creates_name_their_new_resource_with_its_tags_and_later_calls_see_them() {
        let calls = [
            call(
                "ec2:CreateVpc",
                "Action=CreateVpc&CidrBlock=10.0.0.0%2F16&TagSpecification.1.ResourceType=vpc&TagSpecification.1.Tag.1.Key=platform%3Aenv&TagSpecification.1.Tag.1.Value=dev",
                "<CreateVpcResponse><vpc><vpcId>vpc-1a</vpcId></vpc></CreateVpcResponse>",
            ),
            call(
                "ec2:CreateSubnet",
                "Action=CreateSubnet&VpcId=vpc-1a&TagSpecification.1.ResourceType=subnet&TagSpecification.1.Tag.1.Key=platform%3Aenv&TagSpecification.1.Tag.1.Value=dev",
                "<CreateSubnetResponse><subnet><vpcId>vpc-1a</vpcId><subnetId>subnet-2b</subnetId></subnet></CreateSubnetResponse>",
            ),
            call("ec2:DeleteSubnet", "Action=DeleteSubnet&SubnetId=subnet-2b", "<DeleteSubnetResponse/>"),
            call("ec2:DescribeVpcs", "Action=DescribeVpcs&Filter.1.Name=vpc-id&Filter.1.Value.1=vpc-1a", ""),
        ];
        let got = authorizations(&calls, &Account::default()).unwrap();
        // Action, resource, requested and existing `platform:env` tags.
        type Seen = (String, String, Option<Vec<String>>, Option<Vec<String>>);
        let seen: Vec<Seen> = got
            .checked
            .iter()
            .map(|a| {
                (
                    a.request.action.clone(),
                    a.request.resource.rsplit(':').next().unwrap().to_string(),
                    a.request.context.get("aws:requesttag/platform:env").cloned(),
                    a.request.context.get("aws:resourcetag/platform:env").cloned(),
                )
            })
            .collect();
        let dev = Some(vec!["dev".to_string()]);
        assert_eq!(
            seen,
            vec![
                ("ec2:CreateVpc".into(), "vpc/vpc-1a".into(), dev.clone(), None),
                ("ec2:CreateTags".into(), "vpc/vpc-1a".into(), dev.clone(), None),
                // The subnet is created in the VPC: authorized against both.
                ("ec2:CreateSubnet".into(), "vpc/vpc-1a".into(), dev.clone(), dev.clone()),
                ("ec2:CreateSubnet".into(), "subnet/subnet-2b".into(), dev.clone(), None),
                ("ec2:CreateTags".into(), "subnet/subnet-2b".into(), dev.clone(), None),
                ("ec2:DeleteSubnet".into(), "subnet/subnet-2b".into(), None, dev.clone()),
                ("ec2:DescribeVpcs".into(), "*".into(), None, None),
            ]
        );
        let create_tags = &got.checked[1].request;
        assert_eq!(create_tags.context["ec2:createaction"], vec!["CreateVpc".to_string()]);
    }

    #[test]
    fn an_id_nothing_in_the_recording_tagged_carries_no_tag() {
        let calls = [call("ec2:DeleteVpc", "Action=DeleteVpc&VpcId=vpc-99", "")];
        let got = authorizations(&calls, &Account::default()).unwrap();
        assert!(got.checked[0].request.context.is_empty());
        let unknown =
            [call("ec2:DisassociateRouteTable", "Action=DisassociateRouteTable&AssociationId=rtbassoc-1", "")];
        assert!(authorizations(&unknown, &Account::default()).is_err());
    }

    #[test]
    fn cloud_map_namespaces_get_their_tags_once_the_operation_names_them() {
        let calls = [
            call(
                "servicediscovery:CreatePrivateDnsNamespace",
                r#"{"Name":"dev.platform.internal","Tags":[{"Key":"platform:env","Value":"dev"}]}"#,
                r#"{"OperationId":"op-1"}"#,
            ),
            call(
                "servicediscovery:GetOperation",
                r#"{"OperationId":"op-1"}"#,
                r#"{"Operation":{"Id":"op-1","Targets":{"NAMESPACE":"ns-1"}}}"#,
            ),
            call("servicediscovery:DeleteNamespace", r#"{"Id":"ns-1"}"#, "{}"),
        ];
        let got = authorizations(&calls, &Account::default()).unwrap();
        let last = &got.checked.last().unwrap().request;
        assert!(last.resource.ends_with(":namespace/ns-1"));
        assert_eq!(last.context["aws:resourcetag/platform:env"], vec!["dev".to_string()]);
    }

    #[test]
    fn role_calls_carry_the_boundary_the_role_was_created_with() {
        let calls = [
            call(
                "iam:CreateRole",
                "Action=CreateRole&RoleName=dev-x&PermissionsBoundary=arn%3Aaws%3Aiam%3A%3A1%3Apolicy%2Fb",
                "",
            ),
            call("iam:PutRolePolicy", "Action=PutRolePolicy&RoleName=dev-x&PolicyName=p", ""),
            call("sts:GetCallerIdentity", "", ""),
        ];
        let got = authorizations(&calls, &Account { id: "1".into(), region: "us-east-1".into() }).unwrap();
        let put = &got.checked[1].request;
        assert_eq!(put.resource, "arn:aws:iam::1:role/dev-x");
        assert_eq!(put.context["iam:permissionsboundary"], vec!["arn:aws:iam::1:policy/b".to_string()]);
        assert_eq!(got.uncovered, BTreeSet::from(["sts:GetCallerIdentity".to_string()]));
    }
}
