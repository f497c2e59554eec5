//! An in-memory provider for engine tests: resources live in a map, failures can be injected,
//! and every call is logged so tests can check the order of operations.

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Map, Value};

use super::{Applied, Desired, Existing, Observed, Provider, ProviderError};

/// Resources kept in memory. Physical ids are `<type>-<n>`.
#[derive(Default)]
pub struct MemoryProvider {
    inner: Mutex<Inner>,
    delay: Option<Duration>,
    observer: Mutex<Option<Observer>>,
}

/// Called with the operation and address as each call is made.
type Observer = std::sync::Arc<dyn Fn(&str, &str) + Send + Sync>;

impl std::fmt::Debug for MemoryProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryProvider").field("inner", &self.inner).field("delay", &self.delay).finish()
    }
}

#[derive(Debug, Default)]
struct Inner {
    next: u64,
    resources: BTreeMap<String, Value>,
    failing: HashSet<(String, String)>,
    log: Vec<String>,
    in_flight: usize,
    max_in_flight: usize,
    /// The address each resource was created for (what tags are on AWS).
    owners: BTreeMap<String, String>,
}

impl MemoryProvider {
    /// An empty provider.
    pub fn new() -> Self {
        Self::default()
    }

    /// A provider whose calls each take `delay` (to observe parallelism).
    pub fn with_delay(delay: Duration) -> Self {
        Self { delay: Some(delay), ..Self::default() }
    }

    /// Makes `operation` (`create`, `update`, `delete`, `read`) fail for the resource at `address`;
    /// `create-incomplete` creates it and then fails, as a create whose later steps fail does.
    pub fn fail(&self, operation: &str, address: &str) {
        self.inner.lock().unwrap().failing.insert((operation.to_string(), address.to_string()));
    }

    /// Calls `observer` with the operation and address as each call is made, before it takes
    /// effect (to check what is durable at that moment).
    pub fn observe(&self, observer: impl Fn(&str, &str) + Send + Sync + 'static) {
        *self.observer.lock().unwrap() = Some(std::sync::Arc::new(observer));
    }

    /// Clears injected failures.
    pub fn heal(&self) {
        self.inner.lock().unwrap().failing.clear();
    }

    /// The calls made so far, as `operation address`.
    pub fn log(&self) -> Vec<String> {
        self.inner.lock().unwrap().log.clone()
    }

    /// The most calls that were in flight at once.
    pub fn max_in_flight(&self) -> usize {
        self.inner.lock().unwrap().max_in_flight
    }

    /// The props of every live resource, by physical id.
    pub fn resources(&self) -> BTreeMap<String, Value> {
        self.inner.lock().unwrap().resources.clone()
    }

    /// Changes a live resource's props behind the engine's back (drift).
    pub fn tamper(&self, physical_id: &str, attribute: &str, value: Value) {
        if let Some(Value::Object(m)) = self.inner.lock().unwrap().resources.get_mut(physical_id) {
            m.insert(attribute.to_string(), value);
        }
    }

    /// Deletes a live resource behind the engine's back.
    pub fn remove(&self, physical_id: &str) {
        self.inner.lock().unwrap().resources.remove(physical_id);
    }

    async fn call(&self, operation: &str, address: &str) -> Result<(), ProviderError> {
        let observer = self.observer.lock().unwrap().clone();
        if let Some(observer) = observer {
            observer(operation, address);
        }
        {
            let mut inner = self.inner.lock().unwrap();
            inner.log.push(format!("{operation} {address}"));
            inner.in_flight += 1;
            inner.max_in_flight = inner.max_in_flight.max(inner.in_flight);
        }
        if let Some(d) = self.delay {
            tokio::time::sleep(d).await;
        }
        let mut inner = self.inner.lock().unwrap();
        inner.in_flight -= 1;
        if inner.failing.contains(&(operation.to_string(), address.to_string())) {
            return Err(ProviderError::Api {
                operation: "memory:Call",
                code: Some("InjectedFailure".into()),
                message: format!("{operation} of {address} failed on purpose"),
            });
        }
        Ok(())
    }

    fn outputs(id: &str) -> BTreeMap<String, Value> {
        BTreeMap::from([("id".to_string(), Value::String(id.to_string()))])
    }
}

#[async_trait]
impl Provider for MemoryProvider {
    /// A made-up account in a made-up region; fails (as with no credentials) after
    /// `fail("identity", "")`. Not logged as a call.
    async fn identity(&self) -> Result<crate::provider::Identity, ProviderError> {
        if self.inner.lock().unwrap().failing.contains(&("identity".to_string(), String::new())) {
            return Err(ProviderError::Api {
                operation: "memory:Identity",
                code: None,
                message: "no credentials (on purpose)".into(),
            });
        }
        Ok(crate::provider::Identity {
            account: "000000000000".into(),
            partition: "aws".into(),
            principal: "arn:aws:iam::000000000000:user/memory".into(),
            region: "memory".into(),
        })
    }

    async fn create(&self, desired: &Desired) -> Result<Applied, ProviderError> {
        self.call("create", &desired.address.to_string()).await?;
        let mut inner = self.inner.lock().unwrap();
        inner.next += 1;
        let id = format!("{}-{}", desired.type_name.replace('.', "-"), inner.next);
        inner.resources.insert(id.clone(), desired.props.clone());
        inner.owners.insert(id.clone(), desired.address.to_string());
        if inner.failing.contains(&("create-incomplete".to_string(), desired.address.to_string())) {
            return Err(ProviderError::Incomplete {
                applied: Applied { outputs: Self::outputs(&id), physical_id: id },
                source: Box::new(ProviderError::Api {
                    operation: "memory:Configure",
                    code: Some("InjectedFailure".into()),
                    message: "setting it up failed on purpose".into(),
                }),
            });
        }
        Ok(Applied { outputs: Self::outputs(&id), physical_id: id })
    }

    /// Finds a live resource created for the same address (the in-memory stand-in for tags).
    async fn find(&self, lookup: &crate::provider::Lookup) -> Result<Option<crate::provider::Found>, ProviderError> {
        self.call("find", &lookup.address.to_string()).await?;
        let inner = self.inner.lock().unwrap();
        let address = lookup.address.to_string();
        let owned = |id: &String| inner.owners.get(id) == Some(&address);
        Ok(inner.resources.iter().find(|(id, _)| owned(id)).map(|(id, props)| crate::provider::Found {
            physical_id: id.clone(),
            observed: Observed { props: props.as_object().cloned().unwrap_or_default(), outputs: Self::outputs(id) },
        }))
    }

    async fn read(&self, existing: &Existing) -> Result<Option<Observed>, ProviderError> {
        self.call("read", &existing.address.to_string()).await?;
        let inner = self.inner.lock().unwrap();
        Ok(inner.resources.get(&existing.physical_id).map(|props| Observed {
            props: props.as_object().cloned().unwrap_or_else(Map::new),
            outputs: Self::outputs(&existing.physical_id),
        }))
    }

    async fn update(&self, existing: &Existing, desired: &Value) -> Result<Applied, ProviderError> {
        self.call("update", &existing.address.to_string()).await?;
        let mut inner = self.inner.lock().unwrap();
        match inner.resources.get_mut(&existing.physical_id) {
            Some(props) => *props = desired.clone(),
            None => {
                return Err(ProviderError::Api {
                    operation: "memory:Update",
                    code: Some("NotFound".into()),
                    message: format!("{} does not exist", existing.physical_id),
                })
            }
        }
        Ok(Applied { physical_id: existing.physical_id.clone(), outputs: Self::outputs(&existing.physical_id) })
    }

    async fn await_ready(
        &self,
        existing: &Existing,
        progress: &crate::provider::Progress,
    ) -> Result<BTreeMap<String, Value>, ProviderError> {
        progress("ready");
        self.call("await", &existing.address.to_string()).await?;
        let mut outputs = Self::outputs(&existing.physical_id);
        outputs.insert("endpoint".into(), Value::String(format!("{}.endpoint", existing.physical_id)));
        Ok(outputs)
    }

    async fn delete(&self, existing: &Existing, _progress: &crate::provider::Progress) -> Result<(), ProviderError> {
        self.call("delete", &existing.address.to_string()).await?;
        self.inner.lock().unwrap().resources.remove(&existing.physical_id);
        Ok(())
    }
}
