//! One resource type's implementation on AWS ([`AwsResource`]): its create, read, batch read,
//! update, delete, find and await, written against the type's own props and outputs (the public
//! struct of `crate::resources` and its outputs struct). [`Implementation`] is the same behind
//! JSON, which the engine speaks; every `AwsResource` is one, through a blanket impl that parses
//! and serializes at the edge, so no type converts props by hand.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::client::Aws;
use super::support::output_map;
use crate::model::{Address, Resource, TypeSchema};
use crate::provider::{
    no_progress, Applied, Desired, Existing, Lookup as JsonLookup, Observed, Progress, ProviderError,
};

/// A resource to create: its address, its deterministic name and its props, resolved.
pub(crate) struct New<'a, P> {
    /// Its address.
    pub address: &'a Address,
    /// Its deterministic name (for the types that have one).
    pub name: Option<&'a str>,
    /// The props to create it with.
    pub props: P,
    /// The create's idempotency token (see [`Desired::token`]), for the APIs that take one.
    pub token: String,
}

impl<P> New<'_, P> {
    /// The deterministic name, for the types whose schema gives them one.
    pub fn name(&self) -> Result<&str, ProviderError> {
        self.name.ok_or_else(|| ProviderError::Malformed {
            address: self.address.clone(),
            message: "a resource of this type needs a name".into(),
        })
    }
}

/// A resource as recorded, to read back: what a read relies on is its physical id. Its recorded
/// props serve what AWS does not report (kept as recorded) and the types read through a parent.
pub(crate) struct Recorded<'a, P> {
    /// Its address.
    pub address: &'a Address,
    /// Its physical id.
    pub physical_id: &'a str,
    /// The props last recorded (for an import, the declared ones, references unresolved); `None`
    /// when they do not read as the type (a state written by another version, or edited by
    /// hand): the read still reports what AWS has, and the refresh heals the record.
    pub props: Option<P>,
    /// The outputs last recorded (empty for an import).
    pub outputs: &'a BTreeMap<String, Value>,
}

impl<P> Recorded<'_, P> {
    /// A recorded attribute, or its default when the record cannot be read.
    pub fn kept<T: Default>(&self, attribute: impl FnOnce(&P) -> T) -> T {
        self.props.as_ref().map(attribute).unwrap_or_default()
    }

    /// A recorded output that is text.
    pub fn output(&self, name: &str) -> Option<&str> {
        self.outputs.get(name).and_then(Value::as_str)
    }
}

/// A resource that exists, with its recorded props and outputs: what update, delete and await get.
pub(crate) struct Current<'a, P, O> {
    /// Its address.
    pub address: &'a Address,
    /// Its physical id.
    pub physical_id: &'a str,
    /// The props last applied (or read back).
    pub props: P,
    /// Its outputs.
    pub outputs: O,
    /// Whether the user named it as allowed to be deleted (a provider may then lift protections
    /// of its own, such as a database's deletion protection).
    pub delete_allowed: bool,
    /// Where a wait reports how it is going.
    pub progress: &'a Progress,
}

/// What a create made.
pub(crate) struct Created<O> {
    /// The new resource's physical id.
    pub physical_id: String,
    /// Its outputs.
    pub outputs: O,
}

/// What a read found: the props in the declared form, the name AWS reports, the outputs.
pub(crate) struct Read<P, O> {
    /// The props as AWS reports them, in the type's own form (attributes AWS never reports keep
    /// their recorded value and are listed in [`AwsResource::NOT_REPORTED`]).
    pub props: P,
    /// The physical name AWS reports, for the types that have one.
    pub name: Option<String>,
    /// The outputs.
    pub outputs: O,
}

impl<P, O> Read<P, O> {
    /// What a read of an unnamed type found.
    pub fn new(props: P, outputs: O) -> Self {
        Self { props, name: None, outputs }
    }

    /// What a read of a named type found.
    pub fn named(props: P, name: impl Into<String>, outputs: O) -> Self {
        Self { props, name: Some(name.into()), outputs }
    }
}

/// What to look for when a create may have happened without its result being recorded.
pub(crate) struct Lookup<'a, P> {
    /// Its address (the `platform:address` tag).
    pub address: &'a Address,
    /// The environment (the `platform:env` tag).
    pub env: &'a str,
    /// Its deterministic name.
    pub name: Option<&'a str>,
    /// The resolved props it was to be created with (unknown for intents recorded by versions
    /// that did not record them).
    pub props: Option<P>,
}

/// A resource type on AWS. Implemented once per type, beside the other types of its AWS service,
/// and listed once in the registry (`super::registry`).
#[async_trait]
pub(crate) trait AwsResource: Send + Sync + 'static {
    /// The props: the public struct the stacks declare, read back in the same form.
    type Props: Resource + Clone + Send + Sync;
    /// The outputs (declared with the `outputs!` macro beside the props).
    type Outputs: Serialize + DeserializeOwned + Clone + Send + Sync;

    /// Whether [`AwsResource::read_batch`] reads many resources with fewer calls than one read
    /// each (describe calls taking id lists or filters).
    const BATCHED: bool = false;
    /// Attributes AWS never reports back: a read keeps their recorded value, and drift reports
    /// list them as not checked.
    const NOT_REPORTED: &'static [&'static str] = &[];
    /// Whether resources become available some time after a create or update returns, so that
    /// [`AwsResource::await_ready`] waits for them. It must agree with the schema's `awaits`
    /// (a test checks it).
    const AWAITS: bool = false;

    /// Creates the resource. A later step that fails after the resource exists returns
    /// [`ProviderError::Incomplete`] (see `support::incomplete`), so it is never lost.
    async fn create(&self, aws: &Aws, new: &New<'_, Self::Props>) -> Result<Created<Self::Outputs>, ProviderError>;

    /// Reads a resource back; `None` when it no longer exists.
    async fn read(
        &self,
        aws: &Aws,
        recorded: &Recorded<'_, Self::Props>,
    ) -> Result<Option<Read<Self::Props, Self::Outputs>>, ProviderError>;

    /// Reads many resources; one result per resource, in order. By default one read after the
    /// other.
    async fn read_batch(
        &self,
        aws: &Aws,
        recorded: &[Recorded<'_, Self::Props>],
    ) -> Result<Vec<Option<Read<Self::Props, Self::Outputs>>>, ProviderError> {
        let mut out = Vec::with_capacity(recorded.len());
        for r in recorded {
            out.push(self.read(aws, r).await?);
        }
        Ok(out)
    }

    /// Changes a resource in place to `new` (only attributes its schema does not force a
    /// replacement for differ, and tags).
    async fn update(
        &self,
        aws: &Aws,
        current: &Current<'_, Self::Props, Self::Outputs>,
        new: &Self::Props,
    ) -> Result<(), ProviderError>;

    /// Deletes a resource, and waits until it is gone and what it held is released, when AWS
    /// deletes asynchronously. Deleting one that is already gone may fail with a not-found error:
    /// that counts as deleted. A refusal because something still uses it (see
    /// [`ProviderError::is_in_use`]) is retried by the provider.
    async fn delete(&self, aws: &Aws, current: &Current<'_, Self::Props, Self::Outputs>) -> Result<(), ProviderError>;

    /// What still uses the resource, as AWS tells (`eni-1 (ELB app/web/1)`), for the error of a
    /// delete refused until its deadline. Nothing by default.
    async fn holders(
        &self,
        _aws: &Aws,
        _current: &Current<'_, Self::Props, Self::Outputs>,
    ) -> Result<Vec<String>, ProviderError> {
        Ok(vec![])
    }

    /// The physical id of the resource a create may have made (by its name, its `platform:*`
    /// tags, or its parent); `None` when there is none. The provider then reads it and adopts
    /// it only if it carries this address's tag.
    async fn find(&self, aws: &Aws, lookup: &Lookup<'_, Self::Props>) -> Result<Option<String>, ProviderError>;

    /// Waits until the resource is available (types with [`AwsResource::AWAITS`]) and returns its
    /// outputs then. Waiting again for an available resource returns at once.
    async fn await_ready(
        &self,
        _aws: &Aws,
        current: &Current<'_, Self::Props, Self::Outputs>,
    ) -> Result<Self::Outputs, ProviderError> {
        Ok(current.outputs.clone())
    }
}

/// A read of one resource as a batch of one, for the types whose batch read is the same calls
/// (AWS fails a describe of a gone id with a not-found error, which counts as gone).
pub(crate) async fn read_one<T: AwsResource>(
    kind: &T,
    aws: &Aws,
    recorded: &Recorded<'_, T::Props>,
) -> Result<Option<Read<T::Props, T::Outputs>>, ProviderError> {
    Ok(kind.read_batch(aws, std::slice::from_ref(recorded)).await?.into_iter().next().flatten())
}

/// A resource type behind the JSON the engine speaks: what the registry lists.
#[async_trait]
pub(crate) trait Implementation: Send + Sync {
    /// The type's schema.
    fn schema(&self) -> &'static TypeSchema;
    /// See [`AwsResource::BATCHED`].
    fn batched(&self) -> bool;
    /// See [`AwsResource::AWAITS`].
    fn awaits(&self) -> bool;
    /// See [`AwsResource::NOT_REPORTED`].
    #[cfg(test)]
    fn not_reported(&self) -> &'static [&'static str];
    /// The attributes of the props type (for the tests that hold schemas and types together).
    #[cfg(test)]
    fn props_fields(&self) -> Vec<&'static str>;
    /// The attributes of the outputs type.
    #[cfg(test)]
    fn output_fields(&self) -> Vec<&'static str>;

    async fn create(&self, aws: &Aws, desired: &Desired) -> Result<Applied, ProviderError>;
    async fn read(&self, aws: &Aws, existing: &Existing) -> Result<Option<Observed>, ProviderError>;
    async fn read_batch(&self, aws: &Aws, existing: &[Existing]) -> Result<Vec<Option<Observed>>, ProviderError>;
    async fn update(&self, aws: &Aws, existing: &Existing, desired: &Value) -> Result<Applied, ProviderError>;
    async fn delete(&self, aws: &Aws, existing: &Existing, progress: &Progress) -> Result<(), ProviderError>;
    async fn holders(&self, aws: &Aws, existing: &Existing) -> Result<Vec<String>, ProviderError>;
    async fn find(&self, aws: &Aws, lookup: &JsonLookup) -> Result<Option<String>, ProviderError>;
    async fn await_ready(
        &self,
        aws: &Aws,
        existing: &Existing,
        progress: &Progress,
    ) -> Result<BTreeMap<String, Value>, ProviderError>;
}

/// Parses props (or outputs) of `address` into their type.
fn parse<T: DeserializeOwned>(address: &Address, what: &str, value: &Value) -> Result<T, ProviderError> {
    T::deserialize(value)
        .map_err(|e| ProviderError::Malformed { address: address.clone(), message: format!("{what}: {e}") })
}

fn parse_outputs<T: DeserializeOwned>(
    address: &Address,
    outputs: &BTreeMap<String, Value>,
) -> Result<T, ProviderError> {
    let value = Value::Object(outputs.iter().map(|(k, v)| (k.clone(), v.clone())).collect());
    parse(address, "outputs", &value)
}

/// What a read reports, as props: every attribute of the type, except those it does not report.
/// An optional attribute AWS has not set is left out of the typed props' JSON; where the state
/// records one, it is reported as `null` (not set), so that a setting removed outside platform
/// shows as a change rather than keeping the recorded value.
fn observed<T: AwsResource>(read: Read<T::Props, T::Outputs>, recorded: &Value) -> Observed {
    let mut props = match serde_json::to_value(&read.props) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    if let (Some(name), true) = (read.name, <T::Props as Resource>::SCHEMA.name_style.in_props()) {
        props.insert("name".into(), Value::String(name));
    }
    for key in recorded.as_object().into_iter().flat_map(|m| m.keys()) {
        if key != "name" && !T::NOT_REPORTED.contains(&key.as_str()) && !props.contains_key(key) {
            props.insert(key.clone(), Value::Null);
        }
    }
    for attribute in T::NOT_REPORTED {
        props.remove(*attribute);
    }
    Observed { props, outputs: output_map(&read.outputs) }
}

fn recorded<T: AwsResource>(e: &Existing) -> Recorded<'_, T::Props> {
    let props = T::Props::deserialize(&e.props);
    if let Err(err) = &props {
        tracing::warn!(address = %e.address, error = %err, "the recorded props do not read as the type; reading what AWS reports");
    }
    Recorded { address: &e.address, physical_id: &e.physical_id, props: props.ok(), outputs: &e.outputs }
}

fn current<'a, T: AwsResource>(
    e: &'a Existing,
    progress: &'a Progress,
) -> Result<Current<'a, T::Props, T::Outputs>, ProviderError> {
    Ok(Current {
        address: &e.address,
        physical_id: &e.physical_id,
        props: parse(&e.address, "props", &e.props)?,
        outputs: parse_outputs(&e.address, &e.outputs)?,
        delete_allowed: e.delete_allowed,
        progress,
    })
}

#[async_trait]
impl<T: AwsResource> Implementation for T {
    fn schema(&self) -> &'static TypeSchema {
        <T::Props as Resource>::SCHEMA
    }

    fn batched(&self) -> bool {
        T::BATCHED
    }

    fn awaits(&self) -> bool {
        T::AWAITS
    }

    #[cfg(test)]
    fn not_reported(&self) -> &'static [&'static str] {
        T::NOT_REPORTED
    }

    #[cfg(test)]
    fn props_fields(&self) -> Vec<&'static str> {
        crate::model::fields::of::<T::Props>()
    }

    #[cfg(test)]
    fn output_fields(&self) -> Vec<&'static str> {
        crate::model::fields::of::<T::Outputs>()
    }

    async fn create(&self, aws: &Aws, d: &Desired) -> Result<Applied, ProviderError> {
        let new = New {
            address: &d.address,
            name: d.name.as_deref(),
            props: parse(&d.address, "props", &d.props)?,
            token: d.token.clone(),
        };
        let created = AwsResource::create(self, aws, &new).await?;
        Ok(Applied { physical_id: created.physical_id, outputs: output_map(&created.outputs) })
    }

    async fn read(&self, aws: &Aws, e: &Existing) -> Result<Option<Observed>, ProviderError> {
        let found = AwsResource::read(self, aws, &recorded::<T>(e)).await;
        match found {
            Ok(read) => Ok(read.map(|r| observed::<T>(r, &e.props))),
            Err(err) if err.is_not_found() => Ok(None),
            Err(err) => Err(err),
        }
    }

    async fn read_batch(&self, aws: &Aws, existing: &[Existing]) -> Result<Vec<Option<Observed>>, ProviderError> {
        let all: Vec<_> = existing.iter().map(recorded::<T>).collect();
        let found = AwsResource::read_batch(self, aws, &all).await?;
        Ok(found.into_iter().zip(existing).map(|(r, e)| r.map(|r| observed::<T>(r, &e.props))).collect())
    }

    async fn update(&self, aws: &Aws, e: &Existing, desired: &Value) -> Result<Applied, ProviderError> {
        let current = current::<T>(e, &no_progress)?;
        let new: T::Props = parse(&e.address, "props", desired)?;
        AwsResource::update(self, aws, &current, &new).await?;
        Ok(Applied { physical_id: e.physical_id.clone(), outputs: e.outputs.clone() })
    }

    async fn delete(&self, aws: &Aws, e: &Existing, progress: &Progress) -> Result<(), ProviderError> {
        AwsResource::delete(self, aws, &current::<T>(e, progress)?).await
    }

    async fn holders(&self, aws: &Aws, e: &Existing) -> Result<Vec<String>, ProviderError> {
        AwsResource::holders(self, aws, &current::<T>(e, &no_progress)?).await
    }

    async fn find(&self, aws: &Aws, l: &JsonLookup) -> Result<Option<String>, ProviderError> {
        let lookup = Lookup {
            address: &l.address,
            env: &l.env,
            name: l.name.as_deref(),
            // An intent recorded without props (older versions) is still found by name or tags.
            props: T::Props::deserialize(&l.props).ok(),
        };
        AwsResource::find(self, aws, &lookup).await
    }

    async fn await_ready(
        &self,
        aws: &Aws,
        e: &Existing,
        progress: &Progress,
    ) -> Result<BTreeMap<String, Value>, ProviderError> {
        let ready = AwsResource::await_ready(self, aws, &current::<T>(e, progress)?).await?;
        Ok(output_map(&ready))
    }
}
