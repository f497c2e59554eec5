//! Bringing an existing resource under management.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{Engine, EngineError};
use crate::model::{Address, StackSpec};
use crate::provider::Existing;
use crate::state::{StackState, StateLock};

/// A resource brought under management by [`Engine::import`].
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    /// Its address.
    pub address: Address,
    /// Its physical id.
    pub physical_id: String,
}

impl Engine {
    /// Brings an existing resource (made by hand or by another tool) under management at
    /// `address`, which `desired` declares: it is read from AWS by `physical_id`, recorded in the
    /// state, and given its `platform:*` tags; the next plan shows how it differs from the
    /// declaration. Refused when the address already has a resource or the id does not exist.
    pub async fn import(
        &self,
        desired: &StackSpec,
        address: &Address,
        physical_id: &str,
    ) -> Result<Imported, EngineError> {
        let Some(declared) = desired.resource(address) else {
            return Err(EngineError::Import {
                address: address.clone(),
                reason: format!("stack `{}` declares no resource `{}`", desired.name, address.name()),
            });
        };
        let lock = self.backend.lock(&desired.name, &desired.env, "import").await?;
        let result = self.import_locked(desired, declared, physical_id, lock.as_ref()).await;
        let released = lock.release().await;
        let imported = result?;
        released?;
        Ok(imported)
    }

    async fn import_locked(
        &self,
        desired: &StackSpec,
        declared: &crate::model::ResourceSpec,
        physical_id: &str,
        lock: &dyn StateLock,
    ) -> Result<Imported, EngineError> {
        let address = &declared.address;
        let mut state = lock.load().await?.unwrap_or_else(|| StackState::new(&desired.name, &desired.env));
        if let Some(existing) = state.resources.get(address) {
            return Err(EngineError::Import {
                address: address.clone(),
                reason: format!(
                    "it already manages {}; to manage another resource there, destroy or move that one first",
                    existing.physical_id
                ),
            });
        }
        let existing = Existing {
            address: address.clone(),
            type_name: declared.type_name.clone(),
            physical_id: physical_id.to_string(),
            name: declared.name.clone(),
            props: declared.props.clone(),
            outputs: BTreeMap::new(),
            delete_allowed: false,
        };
        let missing = || EngineError::Import {
            address: address.clone(),
            reason: format!("there is no {} with id `{physical_id}`", declared.type_name),
        };
        let observed = match self.provider.read(&existing).await {
            Ok(Some(observed)) => observed,
            Ok(None) => return Err(missing()),
            Err(err) if err.is_not_found() => return Err(missing()),
            Err(source) => {
                return Err(EngineError::Refresh {
                    address: address.clone(),
                    physical_id: physical_id.to_string(),
                    source: Box::new(source),
                })
            }
        };
        let mut props = observed.props.clone();
        // Its platform:* tags, so that it is found as platform's from now on.
        let tagged = match (props.get("tags").cloned(), declared.props.get("tags")) {
            (Some(Value::Object(mut tags)), Some(Value::Object(declared_tags))) => {
                let before = tags.clone();
                for (k, v) in declared_tags.iter().filter(|(k, _)| k.starts_with("platform:")) {
                    tags.insert(k.clone(), v.clone());
                }
                (tags != before).then_some(tags)
            }
            _ => None,
        };
        let mut outputs = observed.outputs.clone();
        if let Some(tags) = tagged {
            let mut with_tags = props.clone();
            with_tags.insert("tags".into(), Value::Object(tags));
            let recorded =
                Existing { props: Value::Object(props.clone()), outputs: observed.outputs.clone(), ..existing.clone() };
            let applied =
                self.provider.update(&recorded, &Value::Object(with_tags.clone())).await.map_err(|source| {
                    EngineError::Import {
                        address: address.clone(),
                        reason: format!("it was found, but tagging it failed: {}", crate::report::chain(&source)),
                    }
                })?;
            outputs.extend(applied.outputs);
            props = with_tags;
        }
        state.resources.insert(
            address.clone(),
            crate::state::ResourceState {
                type_name: declared.type_name.clone(),
                physical_id: physical_id.to_string(),
                name: declared.name.clone(),
                props: Value::Object(props),
                outputs,
                dependencies: declared.dependencies.clone(),
                tainted: false,
                protected: declared.protected,
                awaiting: false,
            },
        );
        lock.save(&mut state).await?;
        Ok(Imported { address: address.clone(), physical_id: physical_id.to_string() })
    }
}
