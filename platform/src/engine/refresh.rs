//! Reading the cloud back: refresh before a plan, and drift reports.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::{Engine, EngineError};
use crate::model::{Address, StackSpec};
use crate::provider::{Existing, ProviderError};
use crate::state::StackState;

impl Engine {
    /// Reads every recorded resource back through the provider, in parallel (bounded): resources
    /// of the types the provider reads in batches go in chunks (one task per chunk), the others
    /// one by one. A chunk whose batch read fails is read one by one, so each error names its
    /// resource; a resource a batch read did not find is read again on its own before it counts
    /// as gone.
    pub(super) async fn read_all(
        &self,
        recorded: &StackState,
    ) -> Vec<(Existing, Result<Option<crate::provider::Observed>, ProviderError>)> {
        const CHUNK: usize = 500;
        let semaphore = Arc::new(Semaphore::new(self.options.parallelism.max(1)));
        let batch_types = self.provider.batch_types();
        let mut batches: BTreeMap<String, Vec<Existing>> = BTreeMap::new();
        let mut singles = vec![];
        for (address, r) in &recorded.resources {
            let existing = Existing {
                address: address.clone(),
                type_name: r.type_name.clone(),
                physical_id: r.physical_id.clone(),
                name: r.name.clone(),
                props: r.props.clone(),
                outputs: r.outputs.clone(),
                delete_allowed: false,
            };
            if batch_types.contains(&r.type_name.as_str()) {
                batches.entry(r.type_name.clone()).or_default().push(existing);
            } else {
                singles.push(vec![existing]);
            }
        }
        let groups =
            batches.into_values().flat_map(|all| all.chunks(CHUNK).map(<[Existing]>::to_vec).collect::<Vec<_>>());
        let mut reads = JoinSet::new();
        for group in groups.chain(singles) {
            let provider = self.provider.clone();
            let semaphore = semaphore.clone();
            reads.spawn(async move {
                let _permit = semaphore.acquire_owned().await.expect("semaphore is never closed");
                if group.len() > 1 {
                    if let Ok(observed) = provider.read_batch(&group).await {
                        let mut out = Vec::with_capacity(group.len());
                        for (existing, observed) in group.into_iter().zip(observed) {
                            // A describe may not list a resource created moments ago (AWS is
                            // eventually consistent): one the batch missed is read directly
                            // before it is taken for deleted.
                            let result = match observed {
                                Some(observed) => Ok(Some(observed)),
                                None => provider.read(&existing).await,
                            };
                            out.push((existing, result));
                        }
                        return out;
                    }
                }
                let mut out = Vec::with_capacity(group.len());
                for existing in group {
                    let result = provider.read(&existing).await;
                    out.push((existing, result));
                }
                out
            });
        }
        let mut results = vec![];
        while let Some(joined) = reads.join_next().await {
            results.extend(joined.expect("provider reads do not panic"));
        }
        results
    }

    /// Reads every resource recorded for `desired`'s stack back from the cloud and compares it with
    /// what was last applied: changed attributes (with lists' added and removed elements),
    /// deletions outside platform, drift the stack expects, and attributes AWS did not report.
    /// Reads the state without locking or writing it.
    pub async fn drift(&self, desired: &StackSpec) -> Result<crate::drift::DriftReport, EngineError> {
        let Some(recorded) = self.backend.read(&desired.name, &desired.env).await? else {
            return Err(EngineError::NotApplied { stack: desired.name.clone(), env: desired.env.to_string() });
        };
        let mut report = crate::drift::DriftReport {
            stack: desired.name.clone(),
            env: desired.env.to_string(),
            in_sync: 0,
            drifted: vec![],
            expected: vec![],
            not_checked: vec![],
        };
        let mut results = self.read_all(&recorded).await;
        results.sort_by(|a, b| a.0.address.cmp(&b.0.address));
        for (existing, result) in results {
            let observed = result.map_err(|source| EngineError::Refresh {
                address: existing.address.clone(),
                physical_id: existing.physical_id.clone(),
                source: Box::new(source),
            })?;
            let props = observed.map(|o| o.props);
            let expected: Vec<(String, String)> = desired
                .expected_drift
                .iter()
                .filter(|e| e.address == existing.address)
                .map(|e| (e.attribute.clone(), e.reason.clone()))
                .collect();
            let observation = crate::drift::Observation {
                address: &existing.address,
                type_name: &existing.type_name,
                physical_id: &existing.physical_id,
                applied: &existing.props,
                observed: props.as_ref(),
            };
            let (drifted, expected, not_checked) = crate::drift::compare(&observation, &expected);
            match drifted {
                Some(d) => report.drifted.push(d),
                None => report.in_sync += 1,
            }
            report.expected.extend(expected);
            report.not_checked.extend(not_checked);
        }
        Ok(report)
    }

    /// Reads every recorded resource back, in parallel. Attributes the provider reads replace the
    /// recorded ones; resources that no longer exist are dropped and returned.
    pub async fn refresh(&self, recorded: &StackState) -> Result<(StackState, Vec<Address>), EngineError> {
        let mut state = recorded.clone();
        let mut vanished = vec![];
        for (existing, result) in self.read_all(recorded).await {
            match result {
                Ok(Some(observed)) => {
                    let r = state.resources.get_mut(&existing.address).expect("read of a recorded resource");
                    if let Value::Object(props) = &mut r.props {
                        props.extend(observed.props);
                    }
                    r.outputs.extend(observed.outputs);
                }
                Ok(None) => {
                    state.resources.remove(&existing.address);
                    vanished.push(existing.address);
                }
                Err(source) => {
                    return Err(EngineError::Refresh {
                        address: existing.address,
                        physical_id: existing.physical_id,
                        source: Box::new(source),
                    })
                }
            }
        }
        vanished.sort();
        Ok((state, vanished))
    }
}
