//! Resolving the operations a killed run left pending.

use serde_json::Value;

use super::{Engine, EngineError};
use crate::model::{Address, StackSpec};
use crate::state::StackState;

/// How an operation a killed run left unfinished was resolved.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum Recovery {
    /// The create had happened: the resource was found by its name or tags and adopted.
    Adopted {
        /// The address.
        address: Address,
        /// The resource found.
        physical_id: String,
    },
    /// The create had not happened: the plan creates it again.
    NotCreated {
        /// The address.
        address: Address,
    },
    /// An update, delete or wait: the refresh read what is there; the plan finishes the job.
    Reread {
        /// The address.
        address: Address,
        /// `update`, `delete` or `await`.
        operation: String,
    },
}

impl Engine {
    /// Resolves the operations a killed run left pending. A create is looked up by what it was
    /// made with (name, tags, parent): found, the resource is adopted into the state (and awaited
    /// again if its type is awaited); not found, the plan creates it. Updates, deletes and waits
    /// need nothing: the refresh reads what is there and the plan finishes the job. Nothing is
    /// written here: the apply that follows saves the resolved state (a plan never writes).
    pub(super) async fn recover(
        &self,
        loaded: &StackState,
        desired: &StackSpec,
    ) -> Result<(StackState, Vec<Recovery>), EngineError> {
        if loaded.pending.is_empty() {
            return Ok((loaded.clone(), vec![]));
        }
        let mut state = loaded.clone();
        let mut recovered = vec![];
        for pending in std::mem::take(&mut state.pending) {
            let address = pending.address.clone();
            if pending.operation != "create" || state.resources.contains_key(&address) {
                recovered.push(Recovery::Reread { address, operation: pending.operation });
                continue;
            }
            let lookup = crate::provider::Lookup {
                address: address.clone(),
                env: desired.env.to_string(),
                type_name: pending.type_name.clone(),
                name: pending.name.clone(),
                props: pending.props.clone().unwrap_or(Value::Null),
                since: humantime::parse_rfc3339(&pending.started_at).ok(),
            };
            let found = self
                .provider
                .find(&lookup)
                .await
                .map_err(|source| EngineError::Recover { address: address.clone(), source: Box::new(source) })?;
            let Some(found) = found else {
                recovered.push(Recovery::NotCreated { address });
                continue;
            };
            let declared = desired.resource(&address);
            let awaits = crate::resources::schema(&pending.type_name).is_some_and(|s| s.awaits);
            state.resources.insert(
                address.clone(),
                crate::state::ResourceState {
                    type_name: pending.type_name.clone(),
                    physical_id: found.physical_id.clone(),
                    name: pending.name.clone(),
                    // What it was created with, overlaid with what AWS reports (attributes AWS
                    // does not report keep the value they were created with, as in a refresh).
                    props: {
                        let mut props = match &pending.props {
                            Some(Value::Object(created)) => created.clone(),
                            _ => serde_json::Map::new(),
                        };
                        props.extend(found.observed.props);
                        Value::Object(props)
                    },
                    outputs: found.observed.outputs,
                    dependencies: declared.map(|r| r.dependencies.clone()).unwrap_or_default(),
                    tainted: false,
                    protected: declared.is_some_and(|r| r.protected),
                    awaiting: awaits,
                },
            );
            recovered.push(Recovery::Adopted { address, physical_id: found.physical_id });
        }
        Ok((state, recovered))
    }
}
