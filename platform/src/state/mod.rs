//! Recorded state: what the engine applied, per stack and environment.
//!
//! The document types are pure; [`local`] stores them on disk with an OS file lock.

pub mod local;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::{Address, Env};

/// The state format this version writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// The state of one stack in one environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StackState {
    /// The format of this document.
    pub format_version: u32,
    /// A fixed id given when the state is first written; it never changes.
    pub lineage: String,
    /// Bumped on every write.
    pub serial: u64,
    /// The stack's name.
    pub stack: String,
    /// The environment.
    pub env: Env,
    /// Every resource the engine manages, by address.
    pub resources: BTreeMap<Address, ResourceState>,
    /// The stack's outputs as of the last apply.
    pub outputs: BTreeMap<String, Value>,
    /// Operations started and not yet recorded as finished (intents written before each
    /// mutating call). Left behind only by a run that was killed.
    #[serde(default)]
    pub pending: Vec<PendingOperation>,
    /// Resources replaced by a new one (create before destroy) and not yet deleted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deposed: Vec<Deposed>,
}

/// An old resource of an address, superseded by a new one and waiting to be deleted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deposed {
    /// Its address (which now names the new resource).
    pub address: Address,
    /// The old resource.
    pub resource: ResourceState,
}

impl StackState {
    /// The state of a stack never applied.
    pub fn new(stack: &str, env: &Env) -> Self {
        Self {
            format_version: FORMAT_VERSION,
            lineage: uuid::Uuid::new_v4().to_string(),
            serial: 0,
            stack: stack.to_string(),
            env: env.clone(),
            resources: BTreeMap::new(),
            outputs: BTreeMap::new(),
            pending: vec![],
            deposed: vec![],
        }
    }
}

/// One managed resource as last applied (props resolved: no references left).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceState {
    /// Its type.
    pub type_name: String,
    /// The id AWS gave it (an id, ARN or name, depending on the type).
    pub physical_id: String,
    /// Its deterministic name, if its type has one.
    pub name: Option<String>,
    /// The props applied (and refreshed from AWS where they could be read).
    pub props: Value,
    /// Its outputs (ids, ARNs...).
    pub outputs: BTreeMap<String, Value>,
    /// What it depended on when applied; deletes run in the reverse order.
    pub dependencies: BTreeSet<Address>,
    /// Its creation did not finish: the next plan replaces it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tainted: bool,
    /// It holds data: deleting or replacing it must be allowed explicitly.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub protected: bool,
    /// It was created or changed, but AWS has not reported it available yet: the next apply
    /// waits for it instead of acting again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub awaiting: bool,
}

/// A mutating call in flight, recorded before it is made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingOperation {
    /// The resource.
    pub address: Address,
    /// `create`, `update` or `delete`.
    pub operation: String,
    /// Its type.
    pub type_name: String,
    /// The deterministic name it is created with (how it is found again).
    pub name: Option<String>,
    /// Its physical id, when it already had one.
    pub physical_id: Option<String>,
    /// When the call started (RFC 3339).
    pub started_at: String,
}

/// Who holds a lock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LockInfo {
    /// Process id.
    pub pid: u32,
    /// Host name.
    pub host: String,
    /// What it is doing (`plan`, `apply`, `destroy`...).
    pub operation: String,
    /// Since when (RFC 3339).
    pub started_at: String,
}

impl LockInfo {
    /// A description of this process doing `operation`, now.
    pub fn current(operation: &str) -> Self {
        Self {
            pid: std::process::id(),
            host: gethostname::gethostname().to_string_lossy().into_owned(),
            operation: operation.to_string(),
            started_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        }
    }
}

impl std::fmt::Display for LockInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pid {} on host {}, running `{}` since {}", self.pid, self.host, self.operation, self.started_at)
    }
}

/// Failures of a state backend.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Another run holds the lock.
    #[error("stack `{stack}` ({env}) is locked by {}; wait for it to finish and try again",
        holder.as_ref().map(|h| h.to_string()).unwrap_or_else(|| "another process (it has just taken the lock)".into()))]
    Locked {
        /// The stack.
        stack: String,
        /// The environment.
        env: String,
        /// The holder, as it recorded itself.
        holder: Option<Box<LockInfo>>,
    },
    /// Reading or writing failed.
    #[error("cannot {action} {}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The document is not valid state.
    #[error("{} is not a valid state document; restore it from a backup or version control", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// The document was written by a newer version.
    #[error("{} has state format {found}, this version of platform reads format {FORMAT_VERSION}; upgrade platform", path.display())]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// Its format version.
        found: u32,
    },
}

/// Where states live. Each stack and environment has its own document and lock.
pub trait StateBackend: Send + Sync {
    /// Takes the lock of a stack and environment, failing at once if another run holds it.
    fn lock(&self, stack: &str, env: &Env, operation: &str) -> Result<Box<dyn StateLock>, StateError>;
    /// Reads a state without locking (for `output` and cross-stack references).
    fn read(&self, stack: &str, env: &Env) -> Result<Option<StackState>, StateError>;
}

/// A held lock, through which the state is loaded and saved. Dropping it releases the lock.
pub trait StateLock: Send + Sync {
    /// Loads the state, if the stack was ever applied in this environment.
    fn load(&self) -> Result<Option<StackState>, StateError>;
    /// Bumps the serial and writes the state atomically.
    fn save(&self, state: &mut StackState) -> Result<(), StateError>;
}
