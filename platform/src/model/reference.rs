use std::fmt;
use std::marker::PhantomData;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{json, Map, Value};

use super::Address;

/// JSON key marking a reference to another resource's output: `{"$ref": "stack.name", "attr": "id"}`.
pub const REF_KEY: &str = "$ref";
/// The stack name of values that come from the AWS account rather than from a resource
/// (`aws.partition`): resolved by the engine from who it acts as; no stack can take the name.
pub const PSEUDO_STACK: &str = "aws";

/// JSON key marking a value that is only known once a resource is applied.
pub const UNKNOWN_KEY: &str = "$unknown";

/// A typed reference to a value: either a literal (an id that exists outside the stack)
/// or an output of another resource, resolved at apply time.
///
/// The type parameter is a marker (`VpcId`, `SubnetId`, ...) so that the compiler
/// refuses, say, a subnet id where a VPC id is expected.
pub struct Ref<T> {
    inner: Inner,
    _kind: PhantomData<fn() -> T>,
}

#[derive(Clone, PartialEq, Eq)]
enum Inner {
    /// A value: text (an id, an ARN), or a number once a reference to one is resolved.
    Literal(Value),
    Output {
        address: Address,
        attribute: std::borrow::Cow<'static, str>,
    },
    /// Text and outputs joined into one string (e.g. a bucket's ARN followed by `/cards/*`).
    Join(Vec<Inner>),
}

/// JSON key marking text and references joined into one string: `{"$join": ["arn...", {"$ref": ...}]}`.
pub const JOIN_KEY: &str = "$join";

impl<T> Ref<T> {
    /// A reference to something that already exists, by its id.
    pub fn existing(id: impl Into<String>) -> Self {
        Self { inner: Inner::Literal(Value::String(id.into())), _kind: PhantomData }
    }

    /// The AWS partition of the account the stack is applied in (`aws`, `aws-cn`,
    /// `aws-us-gov`...), known once the engine has asked AWS who it is: ARNs are built with it
    /// rather than with a fixed `arn:aws:`. See [`Ref::arn`].
    pub fn partition() -> Self {
        Self::output(Address::new(PSEUDO_STACK, "partition"), "value")
    }

    /// The id of the account the stack is applied in, known once the engine has asked AWS who it
    /// is (for ARNs that must name it, such as a managed policy's: `iam::ACCOUNT:policy/…`).
    pub fn account() -> Self {
        Self::output(Address::new(PSEUDO_STACK, "account"), "value")
    }

    /// An ARN in the account's partition: `arn:PARTITION:` followed by `rest`
    /// (`Ref::arn("iam::*:role/prod-*")`).
    pub fn arn(rest: &str) -> Self {
        let parts = vec![
            Inner::Literal(Value::String("arn:".into())),
            Ref::<T>::partition().inner,
            Inner::Literal(Value::String(format!(":{rest}"))),
        ];
        Self { inner: Inner::Join(parts), _kind: PhantomData }
    }

    /// An ARN in the account's partition naming the account: `arn:PARTITION:SERVICE::ACCOUNT:`
    /// followed by `rest` (`Ref::account_arn("iam", "policy/prod-pipeline-boundary")`).
    pub fn account_arn(service: &str, rest: &str) -> Self {
        Self::account_arn_in(service, "", rest)
    }

    /// An ARN in the account's partition naming the account and `region` (a pattern such as `*`
    /// where any will do): `arn:PARTITION:SERVICE:REGION:ACCOUNT:` followed by `rest`.
    pub fn account_arn_in(service: &str, region: &str, rest: &str) -> Self {
        let parts = vec![
            Inner::Literal(Value::String("arn:".into())),
            Ref::<T>::partition().inner,
            Inner::Literal(Value::String(format!(":{service}:{region}:"))),
            Ref::<T>::account().inner,
            Inner::Literal(Value::String(format!(":{rest}"))),
        ];
        Self { inner: Inner::Join(parts), _kind: PhantomData }
    }

    /// A reference to output `attribute` of the resource at `address`.
    pub(crate) fn output(address: Address, attribute: &'static str) -> Self {
        Self { inner: Inner::Output { address, attribute: attribute.into() }, _kind: PhantomData }
    }

    /// The address this reference points at, if it points at a resource.
    pub fn address(&self) -> Option<&Address> {
        fn first(inner: &Inner) -> Option<&Address> {
            match inner {
                Inner::Output { address, .. } => Some(address),
                Inner::Literal(_) => None,
                Inner::Join(parts) => parts.iter().find_map(first),
            }
        }
        first(&self.inner)
    }

    /// The literal text, if this is not a reference.
    pub fn as_literal(&self) -> Option<&str> {
        match &self.inner {
            Inner::Literal(Value::String(text)) => Some(text),
            _ => None,
        }
    }

    /// The text of a resolved value: what a provider sends to AWS. The engine resolves every
    /// reference before a provider sees it, so there this is the id, ARN or name referenced;
    /// empty for a reference not resolved yet (or a value that is not text).
    pub fn as_str(&self) -> &str {
        self.as_literal().unwrap_or_default()
    }

    /// The text of this value with each reference still in it replaced by
    /// `resolve(address, attribute)`: what it will be, or (given the longest value each reference
    /// can take) how long it can get, before apply.
    pub fn text_with(&self, resolve: &dyn Fn(&Address, &str) -> String) -> String {
        fn text(inner: &Inner, resolve: &dyn Fn(&Address, &str) -> String) -> String {
            match inner {
                Inner::Literal(Value::String(text)) => text.clone(),
                Inner::Literal(_) => String::new(),
                Inner::Output { address, attribute } => resolve(address, attribute),
                Inner::Join(parts) => parts.iter().map(|p| text(p, resolve)).collect(),
            }
        }
        text(&self.inner, resolve)
    }

    /// A literal value, e.g. an environment variable's text.
    pub fn literal(text: impl Into<String>) -> Self {
        Self::existing(text)
    }

    /// This value as text (a port number becomes `"5432"`), e.g. for an environment variable.
    pub fn to_text<U>(&self) -> Ref<U> {
        self.with_suffix("")
    }

    /// This value followed by `suffix`, e.g. `bucket.arn().with_suffix("/cards/*")`.
    pub fn with_suffix<U>(&self, suffix: &str) -> Ref<U> {
        let mut parts = match &self.inner {
            Inner::Join(parts) => parts.clone(),
            other => vec![other.clone()],
        };
        parts.push(Inner::Literal(Value::String(suffix.to_string())));
        Ref { inner: Inner::Join(parts), _kind: PhantomData }
    }
}

impl<T> From<&str> for Ref<T> {
    fn from(text: &str) -> Self {
        Self::existing(text)
    }
}

impl<T> Clone for Ref<T> {
    fn clone(&self) -> Self {
        Self { inner: self.inner.clone(), _kind: PhantomData }
    }
}

impl<T> PartialEq for Ref<T> {
    fn eq(&self, other: &Self) -> bool {
        self.inner == other.inner
    }
}

impl<T> fmt::Debug for Ref<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            Inner::Literal(Value::String(id)) => write!(f, "Ref({id:?})"),
            Inner::Literal(value) => write!(f, "Ref({value})"),
            Inner::Output { address, attribute } => write!(f, "Ref({address}.{attribute})"),
            Inner::Join(parts) => write!(f, "Ref({} parts)", parts.len()),
        }
    }
}

impl Inner {
    fn to_json(&self) -> Value {
        match self {
            Inner::Literal(value) => value.clone(),
            Inner::Output { address, attribute } => json!({ REF_KEY: address.to_string(), "attr": attribute }),
            Inner::Join(parts) => json!({ JOIN_KEY: parts.iter().map(Inner::to_json).collect::<Vec<_>>() }),
        }
    }
}

impl Inner {
    fn from_json(value: Value) -> Self {
        if let Some((address, attr)) = as_ref(&value).and_then(|(a, attr)| Some((Address::parse(a)?, attr))) {
            return Inner::Output { address, attribute: attr.to_string().into() };
        }
        if let Some(Value::Array(parts)) = value.as_object().filter(|m| m.len() == 1).and_then(|m| m.get(JOIN_KEY)) {
            return Inner::Join(parts.iter().cloned().map(Inner::from_json).collect());
        }
        Inner::Literal(value)
    }
}

impl<T> Serialize for Ref<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.inner.to_json().serialize(s)
    }
}

/// A reference reads back from its JSON form: resolved props (what providers read and AWS
/// reports) hold the values themselves; declared props hold reference markers.
impl<'de, T> Deserialize<'de> for Ref<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self { inner: Inner::from_json(Value::deserialize(d)?), _kind: PhantomData })
    }
}

/// A reference found in a props document.
pub(crate) fn as_ref(value: &Value) -> Option<(&str, &str)> {
    let obj = value.as_object()?;
    if obj.len() != 2 {
        return None;
    }
    Some((obj.get(REF_KEY)?.as_str()?, obj.get("attr")?.as_str()?))
}

/// Calls `f` for every reference inside `value`.
pub(crate) fn visit_refs(value: &Value, f: &mut impl FnMut(&str, &str)) {
    if let Some((address, attr)) = as_ref(value) {
        f(address, attr);
        return;
    }
    match value {
        Value::Array(items) => items.iter().for_each(|v| visit_refs(v, f)),
        Value::Object(map) => map.values().for_each(|v| visit_refs(v, f)),
        _ => {}
    }
}

/// Replaces every reference inside `value` by what `lookup` returns for it, and joins `$join`
/// values whose parts are all known.
pub(crate) fn resolve_refs(value: &Value, lookup: &mut impl FnMut(&str, &str) -> Value) -> Value {
    if let Some((address, attr)) = as_ref(value) {
        return lookup(address, attr);
    }
    if let Some(Value::Array(parts)) = value.as_object().filter(|m| m.len() == 1).and_then(|m| m.get(JOIN_KEY)) {
        let parts: Vec<Value> = parts.iter().map(|p| resolve_refs(p, lookup)).collect();
        if let Some(unknown) = parts.iter().find(|p| is_unknown(p)) {
            return unknown.clone();
        }
        return Value::String(
            parts
                .iter()
                .map(|p| match p {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect(),
        );
    }
    match value {
        Value::Array(items) => Value::Array(items.iter().map(|v| resolve_refs(v, lookup)).collect()),
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), resolve_refs(v, lookup))).collect::<Map<_, _>>())
        }
        other => other.clone(),
    }
}

/// The placeholder for `address.attr` while its resource is still to be created.
pub fn unknown(address: &str, attr: &str) -> Value {
    json!({ UNKNOWN_KEY: format!("{address}.{attr}") })
}

/// Whether `value` is, or contains, a value known only after apply.
pub fn is_unknown(value: &Value) -> bool {
    match value {
        Value::Object(map) => map.contains_key(UNKNOWN_KEY) || map.values().any(is_unknown),
        Value::Array(items) => items.iter().any(is_unknown),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct VpcId;

    #[test]
    fn references_serialize_as_markers_and_literals_as_strings() {
        let r: Ref<VpcId> = Ref::output(Address::new("foundation", "vpc"), "id");
        assert_eq!(serde_json::to_value(&r).unwrap(), json!({"$ref": "foundation.vpc", "attr": "id"}));
        let l: Ref<VpcId> = Ref::existing("vpc-123");
        assert_eq!(serde_json::to_value(&l).unwrap(), json!("vpc-123"));
    }

    #[test]
    fn references_read_back_from_their_json_form() {
        for doc in [
            json!("vpc-123"),
            json!(5432),
            json!({"$ref": "foundation.vpc", "attr": "id"}),
            json!({"$join": [{"$ref": "deps.bucket", "attr": "arn"}, "/cards/*"]}),
        ] {
            let r: Ref<VpcId> = serde_json::from_value(doc.clone()).unwrap();
            assert_eq!(serde_json::to_value(&r).unwrap(), doc);
        }
        let r: Ref<VpcId> = serde_json::from_value(json!("vpc-123")).unwrap();
        assert_eq!(r.as_str(), "vpc-123");
        let r: Ref<VpcId> = serde_json::from_value(json!({"$ref": "foundation.vpc", "attr": "id"})).unwrap();
        assert_eq!((r.as_str(), r.address()), ("", Some(&Address::new("foundation", "vpc"))));
    }

    #[test]
    fn visits_and_resolves_nested_references() {
        let doc = json!({"a": [{"$ref": "s.x", "attr": "id"}], "b": {"c": {"$ref": "s.y", "attr": "arn"}}});
        let mut seen = vec![];
        visit_refs(&doc, &mut |a, b| seen.push(format!("{a}/{b}")));
        assert_eq!(seen, ["s.x/id", "s.y/arn"]);
        let resolved = resolve_refs(&doc, &mut |a, b| json!(format!("{a}:{b}")));
        assert_eq!(resolved, json!({"a": ["s.x:id"], "b": {"c": "s.y:arn"}}));
        assert!(!is_unknown(&resolved));
        assert!(is_unknown(&json!({"a": [unknown("s.x", "id")]})));
    }

    #[test]
    fn joined_references_resolve_to_one_string_or_stay_unknown() {
        let arn: Ref<VpcId> = Ref::output(Address::new("deps", "bucket"), "arn");
        let objects: Ref<VpcId> = arn.with_suffix("/cards/*");
        let doc = serde_json::to_value(&objects).unwrap();
        assert_eq!(doc, json!({"$join": [{"$ref": "deps.bucket", "attr": "arn"}, "/cards/*"]}));
        assert_eq!(objects.address(), Some(&Address::new("deps", "bucket")));
        let mut seen = vec![];
        visit_refs(&doc, &mut |a, b| seen.push(format!("{a}/{b}")));
        assert_eq!(seen, ["deps.bucket/arn"]);
        let resolved = resolve_refs(&doc, &mut |_, _| json!("arn:aws:s3:::b"));
        assert_eq!(resolved, json!("arn:aws:s3:::b/cards/*"));
        let pending = resolve_refs(&doc, &mut |a, b| unknown(a, b));
        assert!(is_unknown(&pending));
    }
}
