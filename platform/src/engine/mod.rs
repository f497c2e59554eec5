//! The engine ties the pure core to the edges, one phase per module: [`prepare`] locks and loads
//! a stack's state, checks the credentials and plans; [`recover`] resolves what a killed run left
//! pending; [`refresh`] reads the cloud back (and compares it for drift); [`apply`] applies a
//! prepared plan through the executor; [`import`] brings an existing resource under management.

mod apply;
mod error;
mod import;
mod prepare;
mod recover;
mod refresh;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

pub use error::EngineError;
pub use import::Imported;
pub use prepare::Prepared;
pub use recover::Recovery;

use crate::apply::ApplyOptions;
use crate::model::{Env, StackSpec};
use crate::provider::Provider;
use crate::state::StateBackend;

/// The engine: a provider, a state backend and the apply options.
#[derive(Clone)]
pub struct Engine {
    provider: Arc<dyn Provider>,
    backend: Arc<dyn StateBackend>,
    options: ApplyOptions,
    rules: Arc<crate::policy::RuleSet>,
}

impl Engine {
    /// An engine applying through `provider` and recording in `backend`, with the guardrail rules
    /// of `policies/` (there is no engine without them).
    pub fn new(provider: Arc<dyn Provider>, backend: Arc<dyn StateBackend>, options: ApplyOptions) -> Self {
        Self { provider, backend, options, rules: Arc::new(crate::policy::RuleSet::builtin()) }
    }

    /// The guardrail rules in force.
    pub fn rules(&self) -> &crate::policy::RuleSet {
        &self.rules
    }

    /// Checks `desired` on its own against the guardrail rules.
    pub fn check(&self, desired: &StackSpec) -> crate::policy::Report {
        crate::policy::check(&[desired], &[], &self.rules)
    }

    /// The recorded outputs of a stack, if it was ever applied.
    pub async fn outputs(&self, stack: &str, env: &Env) -> Result<Option<BTreeMap<String, Value>>, EngineError> {
        Ok(self.backend.read(stack, env).await?.map(|s| s.outputs))
    }
}
