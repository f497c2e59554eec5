//! What goes wrong in the engine, each error naming what the user can do.

use crate::model::Address;
use crate::plan::PlanError;
use crate::provider::ProviderError;
use crate::state::StateError;

/// Failures of the engine, each naming what the user can do.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A resource cannot be imported.
    #[error("cannot import {address}: {reason}")]
    Import {
        /// The address.
        address: Address,
        /// Why.
        reason: String,
    },
    /// A create a killed run left unfinished could not be looked up.
    #[error("cannot tell whether {address} was created by the run that stopped during its creation; nothing was changed. Check the credentials and run again, or look for resources tagged platform:address={address}")]
    Recover {
        /// The address.
        address: Address,
        /// The cause.
        #[source]
        source: Box<ProviderError>,
    },
    /// The provider cannot tell which account it would act on: no usable credentials, or no way
    /// to reach AWS. Nothing was read or changed.
    #[error("cannot plan stack `{stack}` ({env}): no usable AWS credentials or no way to reach AWS. Configure credentials (AWS_PROFILE with `aws sso login`, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or an instance or task role), the region (AWS_REGION) and, for another endpoint, AWS_ENDPOINT_URL; `aws sts get-caller-identity` shows what is in use")]
    Credentials {
        /// The stack.
        stack: String,
        /// The environment.
        env: String,
        /// The cause.
        #[source]
        source: Box<ProviderError>,
    },
    /// The state could not be locked, read or written.
    #[error(transparent)]
    State(#[from] StateError),
    /// The plan could not be made.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// A resource could not be read back from the cloud.
    #[error("cannot refresh {address} ({physical_id}); check your AWS credentials, region and endpoint")]
    Refresh {
        /// The resource.
        address: Address,
        /// Its physical id.
        physical_id: String,
        /// The cause.
        #[source]
        source: Box<ProviderError>,
    },
    /// A stack this one uses has not been applied.
    #[error("stack `{stack}` uses stack `{upstream}`, which has not been applied in `{env}`: apply it first (platform apply --stack {upstream} --env {env}), or both in one run")]
    UpstreamNotApplied {
        /// The stack.
        stack: String,
        /// The environment.
        env: String,
        /// The stack it uses.
        upstream: String,
    },
    /// A resource this stack references is missing from the state of the stack that declares it.
    #[error("stack `{stack}` references {address}, which stack `{}` has not recorded in `{env}`: apply `{}` first", address.stack(), address.stack())]
    UpstreamResourceMissing {
        /// The stack.
        stack: String,
        /// The environment.
        env: String,
        /// The resource.
        address: Address,
    },
    /// The plan deletes or replaces protected resources that were not allowed explicitly.
    #[error("refusing to {} in `{env}`: {}. They hold data that would be lost. If that is really intended, name each one: {}",
        if addresses.len() == 1 { "delete or replace a protected resource" } else { "delete or replace protected resources" },
        addresses.iter().map(|(a, why)| format!("{a} ({why})")).collect::<Vec<_>>().join(", "),
        addresses.iter().map(|(a, _)| format!("--allow-destroy {a}")).collect::<Vec<_>>().join(" "))]
    Protected {
        /// The environment.
        env: String,
        /// Each address, with what would happen to it.
        addresses: Vec<(Address, String)>,
    },
    /// The stack breaks guardrail rules (or waives a rule that does not exist). Nothing was read
    /// from or changed in the cloud.
    #[error("stack `{stack}` ({env}) breaks {}:\n{}", plural(report.violations().count() + report.unknown_waivers.len(), "guardrail rule"), crate::render::guardrail_violations(report))]
    Guardrails {
        /// The stack.
        stack: String,
        /// The environment.
        env: String,
        /// What the checks found.
        report: crate::policy::Report,
    },
    /// The stack has no recorded state in the environment.
    #[error("stack `{stack}` has not been applied in `{env}`, so there is nothing to compare: apply it first")]
    NotApplied {
        /// The stack.
        stack: String,
        /// The environment.
        env: String,
    },
    /// The recorded state belongs to another stack or environment.
    #[error(
        "the state of `{stack}` ({env}) records stack `{found_stack}` ({found_env}); it was copied or renamed by hand"
    )]
    Mismatch {
        /// The stack asked for.
        stack: String,
        /// The environment asked for.
        env: String,
        /// The stack in the document.
        found_stack: String,
        /// The environment in the document.
        found_env: String,
    },
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}
