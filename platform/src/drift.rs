//! Drift: what changed in the cloud since the last apply, attribute by attribute. The engine reads
//! every recorded resource back (`Engine::drift`); this module compares, without IO.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::model::Address;
use crate::plan::{diff, normalize};

/// How a resource drifted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftStatus {
    /// Attributes differ from what was last applied.
    Changed,
    /// It no longer exists: deleted outside platform.
    Deleted,
}

/// One attribute that differs from what was last applied.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DriftChange {
    /// The attribute, e.g. `desired_count` or `ingress`.
    pub path: String,
    /// What was last applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applied: Option<Value>,
    /// What the cloud has now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actual: Option<Value>,
    /// For lists: elements the cloud has that were never applied (unmanaged, added outside).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub added: Vec<Value>,
    /// For lists: applied elements the cloud no longer has.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<Value>,
}

/// A resource that drifted.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DriftedResource {
    /// Its address.
    pub address: Address,
    /// Its type.
    pub type_name: String,
    /// Its id in AWS, to find it in the console.
    pub physical_id: String,
    /// Changed or deleted.
    pub status: DriftStatus,
    /// The attributes that differ (empty when deleted).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<DriftChange>,
    /// The documents that differ, whole (`before` as applied, `after` as found), for a line diff.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub documents: Vec<crate::plan::DocumentChange>,
}

/// Drift the stack declares as expected (for example a desired count managed by autoscaling).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExpectedChange {
    /// The resource.
    pub address: Address,
    /// The change.
    pub change: DriftChange,
    /// Why it is expected.
    pub reason: String,
}

/// Attributes that could not be read back, so are not known to be in sync.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NotChecked {
    /// The resource.
    pub address: Address,
    /// The attributes AWS did not report.
    pub attributes: Vec<String>,
}

/// The drift of one stack.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DriftReport {
    /// The stack.
    pub stack: String,
    /// The environment.
    pub env: String,
    /// Resources read back and found as last applied (their unchecked attributes aside).
    pub in_sync: usize,
    /// Resources that drifted.
    pub drifted: Vec<DriftedResource>,
    /// Drift the stack expects, not counted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub expected: Vec<ExpectedChange>,
    /// What could not be checked, never counted as in sync.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_checked: Vec<NotChecked>,
}

impl DriftReport {
    /// Whether anything drifted (expected drift aside).
    pub fn has_drift(&self) -> bool {
        !self.drifted.is_empty()
    }
}

/// What one recorded resource looks like now.
pub struct Observation<'a> {
    /// The resource.
    pub address: &'a Address,
    /// Its type.
    pub type_name: &'a str,
    /// Its physical id.
    pub physical_id: &'a str,
    /// Its props as last applied.
    pub applied: &'a Value,
    /// The props read back, or `None` when it no longer exists.
    pub observed: Option<&'a Map<String, Value>>,
}

/// Compares one resource; `expected` gives the attributes whose drift the stack expects, with the
/// reason. Returns the drifted resource (if any), the expected changes and the unchecked attributes.
pub fn compare(
    o: &Observation<'_>,
    expected: &[(String, String)],
) -> (Option<DriftedResource>, Vec<ExpectedChange>, Option<NotChecked>) {
    let drifted = |status, changes, documents| DriftedResource {
        address: o.address.clone(),
        type_name: o.type_name.to_string(),
        physical_id: o.physical_id.to_string(),
        status,
        changes,
        documents,
    };
    let Some(observed) = o.observed else {
        return (Some(drifted(DriftStatus::Deleted, vec![], vec![])), vec![], None);
    };
    let Some(schema) = crate::resources::schema(o.type_name) else {
        let all = o.applied.as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default();
        return (None, vec![], Some(NotChecked { address: o.address.clone(), attributes: all }));
    };
    let applied = o.applied.as_object().cloned().unwrap_or_default();
    let unreported: Vec<String> = applied.keys().filter(|k| !observed.contains_key(*k)).cloned().collect();
    let mut actual = applied.clone();
    actual.extend(observed.clone());
    let (applied, actual) = (normalize(schema, &Value::Object(applied)), normalize(schema, &Value::Object(actual)));
    let mut changes = vec![];
    let mut expected_changes = vec![];
    for c in diff(schema, &applied, &actual) {
        let (added, removed) = match (&c.before, &c.after) {
            (Some(Value::Array(b)), Some(Value::Array(a))) => (
                a.iter().filter(|x| !b.contains(x)).cloned().collect(),
                b.iter().filter(|x| !a.contains(x)).cloned().collect(),
            ),
            _ => (vec![], vec![]),
        };
        let change = DriftChange { path: c.path.clone(), applied: c.before, actual: c.after, added, removed };
        let attribute = c.path.split(['.', '[']).next().unwrap_or_default();
        match expected.iter().find(|(a, _)| a == attribute) {
            Some((_, reason)) => {
                expected_changes.push(ExpectedChange { address: o.address.clone(), change, reason: reason.clone() })
            }
            None => changes.push(change),
        }
    }
    let not_checked =
        (!unreported.is_empty()).then(|| NotChecked { address: o.address.clone(), attributes: unreported });
    let documents = crate::plan::documents(schema, &applied, &actual)
        .into_iter()
        .filter(|d| {
            changes.iter().any(|c| {
                c.path == d.path
                    || c.path.starts_with(&format!("{}.", d.path))
                    || c.path.starts_with(&format!("{}[", d.path))
            })
        })
        .collect();
    let drifted = (!changes.is_empty()).then(|| drifted(DriftStatus::Changed, changes, documents));
    (drifted, expected_changes, not_checked)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn changes_extras_deletions_and_unreported_attributes_are_told_apart() {
        let address = Address::new("s", "web");
        let applied = json!({
            "name": "g", "description": "d", "vpc": "vpc-1", "egress": [], "tags": {},
            "ingress": [{"protocol": "tcp", "from_port": 443, "to_port": 443, "peer": {"cidr_ipv4": "0.0.0.0/0"}, "description": "web"}]
        });
        let mut observed = applied.as_object().unwrap().clone();
        observed["ingress"].as_array_mut().unwrap().push(
            json!({"protocol": "tcp", "from_port": 22, "to_port": 22, "peer": {"cidr_ipv4": "0.0.0.0/0"}, "description": ""}),
        );
        observed.remove("description");
        let o = Observation {
            address: &address,
            type_name: "aws.ec2.security_group",
            physical_id: "sg-1",
            applied: &applied,
            observed: Some(&observed),
        };
        let (drifted, expected, not_checked) = compare(&o, &[]);
        let drifted = drifted.unwrap();
        assert_eq!(drifted.status, DriftStatus::Changed);
        assert_eq!(drifted.physical_id, "sg-1");
        assert_eq!(drifted.changes.len(), 1);
        assert_eq!(drifted.changes[0].path, "ingress");
        assert_eq!(drifted.changes[0].added[0]["from_port"], 22, "the extra rule is named as added outside");
        assert!(expected.is_empty());
        assert_eq!(not_checked.unwrap().attributes, ["description"], "not reported, so not checked");

        let (_, expected, _) = compare(&o, &[("ingress".into(), "opened by the on-call runbook".into())]);
        assert_eq!(expected[0].reason, "opened by the on-call runbook");

        let gone = Observation { observed: None, ..o };
        assert_eq!(compare(&gone, &[]).0.unwrap().status, DriftStatus::Deleted);
    }
}
