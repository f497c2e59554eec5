//! Recorded state: what the engine applied, per stack and environment.
//!
//! The document types are pure; [`local`] stores them on disk with an OS file lock, [`s3`] in an
//! S3 bucket with conditional writes. [`StateUrl`] says which.

pub mod local;
pub mod s3;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

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
    /// For a create: the resolved props it was made with (how it is found again: tags, parent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub props: Option<Value>,
    /// For a create: its idempotency token (see [`crate::provider::Desired::token`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// Who holds a lock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LockInfo {
    /// The lock's id, for `platform force-unlock`.
    #[serde(default)]
    pub id: String,
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
            id: uuid::Uuid::new_v4().to_string(),
            pid: std::process::id(),
            host: gethostname::gethostname().to_string_lossy().into_owned(),
            operation: operation.to_string(),
            started_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        }
    }
}

impl LockInfo {
    /// How long the lock has been held, if its start time can be read.
    pub fn age(&self, now: SystemTime) -> Option<Duration> {
        let started = humantime::parse_rfc3339(&self.started_at).ok()?;
        now.duration_since(started).ok()
    }
}

impl std::fmt::Display for LockInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pid {} on host {}, running `{}` since {}", self.pid, self.host, self.operation, self.started_at)?;
        if let Some(age) = self.age(SystemTime::now()) {
            let age = Duration::from_secs(age.as_secs());
            write!(f, " ({} ago)", humantime::format_duration(age))?;
        }
        if !self.id.is_empty() {
            write!(f, ", lock id {}", self.id)?;
        }
        Ok(())
    }
}

/// A lock found by `force-unlock`: whose stack and environment it held, and who held it.
#[derive(Debug, Clone, PartialEq)]
pub struct HeldLock {
    /// The stack.
    pub stack: String,
    /// The environment.
    pub env: String,
    /// The holder.
    pub info: LockInfo,
}

/// Failures of a state backend.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Another run holds the lock.
    #[error("stack `{stack}` ({env}) is locked by {}; wait for it to finish and try again{}",
        holder.as_ref().map(|h| h.to_string()).unwrap_or_else(|| "another process (it has just taken the lock)".into()),
        if *force_unlock { " (if that run is gone, remove the lock with `platform force-unlock <lock id>`)" } else { "" })]
    Locked {
        /// The stack.
        stack: String,
        /// The environment.
        env: String,
        /// The holder, as it recorded itself.
        holder: Option<Box<LockInfo>>,
        /// The lock outlives its holder's process (a lock object, not an OS lock), so a dead run's
        /// lock must be removed by hand.
        force_unlock: bool,
    },
    /// A state read without its lock cannot be written.
    #[error("stack `{stack}` ({env}) was read without its lock (--no-lock): nothing can be saved; run without --no-lock to apply")]
    NotLocked {
        /// The stack.
        stack: String,
        /// The environment.
        env: String,
    },
    /// Reading or writing a file failed.
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
    /// A call to the storage service failed.
    #[error("cannot {action} {location}")]
    Remote {
        /// What was being done.
        action: &'static str,
        /// The object (`s3://bucket/key`).
        location: String,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The document is not valid state.
    #[error("{location} is not a valid state document; restore it from a backup or version control")]
    Corrupt {
        /// The file or object.
        location: String,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// The document was written by a newer version.
    #[error(
        "{location} has state format {found}, this version of platform reads format {FORMAT_VERSION}; upgrade platform"
    )]
    UnsupportedVersion {
        /// The file or object.
        location: String,
        /// Its format version.
        found: u32,
    },
    /// The stored state changed since this run read it: another writer got in (its lock was
    /// removed by force, or it did not lock). Nothing was overwritten.
    #[error("the state at {location} was changed by another writer since this run read it ({detail}); nothing was overwritten: run the command again to plan against the new state")]
    Conflict {
        /// The file or object.
        location: String,
        /// What did not match.
        detail: String,
    },
    /// No lock has that id.
    #[error("no lock with id {id} in {location}; `platform` names the id of a lock it finds held")]
    NoSuchLock {
        /// The id asked for.
        id: String,
        /// Where it was looked for.
        location: String,
    },
    /// The lock is held by a live process on this machine (an OS lock), which a force-unlock
    /// cannot and must not take away.
    #[error("lock {id} is held by a running process ({holder}); stop that process instead: an OS lock is released when its process exits")]
    HeldByLiveProcess {
        /// The id asked for.
        id: String,
        /// The holder.
        holder: Box<LockInfo>,
    },
    /// The state location is not one platform can use.
    #[error("state location `{url}` is not valid: {reason}")]
    BadLocation {
        /// What was given.
        url: String,
        /// Why it is refused.
        reason: String,
    },
}

/// Where states live. Each stack and environment has its own document and lock.
#[async_trait::async_trait]
pub trait StateBackend: Send + Sync {
    /// Takes the lock of a stack and environment, failing at once if another run holds it.
    async fn lock(&self, stack: &str, env: &Env, operation: &str) -> Result<Box<dyn StateLock>, StateError>;
    /// Reads a state without locking (for `output` and cross-stack references).
    async fn read(&self, stack: &str, env: &Env) -> Result<Option<StackState>, StateError>;
    /// Removes the lock with id `id`, whichever stack it holds, and says whose it was. Meant for a
    /// lock left by a run that died (a remote lock outlives its process).
    async fn force_unlock(&self, id: &str) -> Result<HeldLock, StateError>;
    /// Where the states are, for messages (`.platform/state`, `s3://bucket/prefix`).
    fn location(&self) -> String;
}

/// A held lock, through which the state is loaded and saved.
///
/// Every save checks that the stored state is still the one this lock loaded or last wrote
/// (same lineage, the serial it expects; for remote backends the object's ETag), so two writers
/// can never silently overwrite each other. Release it with [`StateLock::release`]; dropping it
/// releases it as well as it can without waiting.
#[async_trait::async_trait]
pub trait StateLock: Send + Sync {
    /// Loads the state, if the stack was ever applied in this environment.
    async fn load(&self) -> Result<Option<StackState>, StateError>;
    /// Bumps the serial and writes the state atomically, refusing it if the stored state is not
    /// the one this lock loaded or last wrote, or if `state` is of another lineage or serial.
    async fn save(&self, state: &mut StackState) -> Result<(), StateError>;
    /// Releases the lock.
    async fn release(self: Box<Self>) -> Result<(), StateError>;
    /// Who holds it (this run).
    fn info(&self) -> &LockInfo;
}

/// A view of a state without its lock, for plans that may not write (`platform plan --no-lock`:
/// a pull request's plan role can read states but not write lock objects). It loads the state as
/// stored and refuses every save; a plan made through it is shown, never applied.
pub struct Unlocked {
    backend: std::sync::Arc<dyn StateBackend>,
    stack: String,
    env: Env,
    info: LockInfo,
}

impl Unlocked {
    /// The state of `stack` in `env`, read without a lock.
    pub fn new(backend: std::sync::Arc<dyn StateBackend>, stack: &str, env: &Env, operation: &str) -> Self {
        Self { backend, stack: stack.to_string(), env: env.clone(), info: LockInfo::current(operation) }
    }
}

#[async_trait::async_trait]
impl StateLock for Unlocked {
    async fn load(&self) -> Result<Option<StackState>, StateError> {
        self.backend.read(&self.stack, &self.env).await
    }
    async fn save(&self, _state: &mut StackState) -> Result<(), StateError> {
        Err(StateError::NotLocked { stack: self.stack.clone(), env: self.env.to_string() })
    }
    async fn release(self: Box<Self>) -> Result<(), StateError> {
        Ok(())
    }
    fn info(&self) -> &LockInfo {
        &self.info
    }
}

/// What a lock expects the stored state to be: its lineage and serial as loaded or last written.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Expected {
    /// `None`: nothing stored yet (or not loaded).
    pub lineage_serial: Option<(String, u64)>,
}

impl Expected {
    /// Checks `state` before it is written over what this lock expects.
    pub(crate) fn check(&self, location: &str, state: &StackState) -> Result<(), StateError> {
        let Some((lineage, serial)) = &self.lineage_serial else { return Ok(()) };
        if &state.lineage != lineage {
            return Err(StateError::Conflict {
                location: location.to_string(),
                detail: format!("the stored state has lineage {lineage}, the one to write {}", state.lineage),
            });
        }
        if state.serial != *serial {
            return Err(StateError::Conflict {
                location: location.to_string(),
                detail: format!(
                    "the stored state has serial {serial}, the one to write was made from serial {}",
                    state.serial
                ),
            });
        }
        Ok(())
    }
}

/// The backend at `url`; an S3 backend gets its client from the standard AWS configuration chain
/// (credentials, region, `AWS_ENDPOINT_URL`).
pub async fn open(url: &StateUrl) -> std::sync::Arc<dyn StateBackend> {
    match url {
        StateUrl::Local(dir) => std::sync::Arc::new(local::LocalBackend::new(dir)),
        StateUrl::S3 { bucket, prefix } => {
            let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
            std::sync::Arc::new(s3::S3Backend::new(aws_sdk_s3::Client::new(&config), bucket, prefix))
        }
    }
}

/// Parses a stored document, refusing other format versions.
pub(crate) fn parse(location: &str, text: &[u8]) -> Result<StackState, StateError> {
    #[derive(serde::Deserialize)]
    struct Version {
        format_version: u32,
    }
    let version: Version = serde_json::from_slice(text)
        .map_err(|source| StateError::Corrupt { location: location.to_string(), source })?;
    if version.format_version != FORMAT_VERSION {
        return Err(StateError::UnsupportedVersion { location: location.to_string(), found: version.format_version });
    }
    serde_json::from_slice(text).map_err(|source| StateError::Corrupt { location: location.to_string(), source })
}

/// The document as stored: pretty JSON with a final newline (reviewable, diffable).
pub(crate) fn render(state: &StackState) -> Vec<u8> {
    let mut text = serde_json::to_vec_pretty(state).expect("state serializes");
    text.push(b'\n');
    text
}

/// Where states are kept, as given on the command line or in `PLATFORM_STATE`: a directory
/// (`.platform/state`, `file:///abs/dir`) or `s3://bucket/prefix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateUrl {
    /// A local directory.
    Local(PathBuf),
    /// A bucket and a key prefix (without trailing slash; may be empty).
    S3 {
        /// The bucket.
        bucket: String,
        /// The prefix.
        prefix: String,
    },
}

impl std::str::FromStr for StateUrl {
    type Err = StateError;

    fn from_str(url: &str) -> Result<Self, StateError> {
        let bad = |reason: &str| StateError::BadLocation { url: url.to_string(), reason: reason.to_string() };
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            let valid_bucket = (3..=63).contains(&bucket.len())
                && bucket.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
                && bucket.starts_with(|c: char| c.is_ascii_alphanumeric())
                && bucket.ends_with(|c: char| c.is_ascii_alphanumeric());
            if !valid_bucket {
                return Err(bad("the bucket name must be 3 to 63 lowercase letters, digits, dots or hyphens, e.g. s3://acme-platform-state/teams/cards"));
            }
            let prefix = prefix.trim_matches('/');
            if prefix.split('/').any(|p| p == "." || p == "..") {
                return Err(bad("the prefix may not contain `.` or `..` segments"));
            }
            return Ok(StateUrl::S3 { bucket: bucket.to_string(), prefix: prefix.to_string() });
        }
        if let Some(path) = url.strip_prefix("file://") {
            if !path.starts_with('/') {
                return Err(bad("a file URL takes an absolute path, e.g. file:///srv/platform/state"));
            }
            return Ok(StateUrl::Local(PathBuf::from(path)));
        }
        if let Some((scheme, _)) = url.split_once("://") {
            return Err(bad(&format!("`{scheme}://` is not supported; use a directory or s3://bucket/prefix")));
        }
        if url.is_empty() {
            return Err(bad("it is empty"));
        }
        Ok(StateUrl::Local(PathBuf::from(url)))
    }
}

impl std::fmt::Display for StateUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StateUrl::Local(path) => write!(f, "{}", path.display()),
            StateUrl::S3 { bucket, prefix } if prefix.is_empty() => write!(f, "s3://{bucket}"),
            StateUrl::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_urls() {
        assert_eq!(".platform/state".parse::<StateUrl>().unwrap(), StateUrl::Local(".platform/state".into()));
        assert_eq!("file:///srv/state".parse::<StateUrl>().unwrap(), StateUrl::Local("/srv/state".into()));
        assert_eq!(
            "s3://acme-state/teams/cards/".parse::<StateUrl>().unwrap(),
            StateUrl::S3 { bucket: "acme-state".into(), prefix: "teams/cards".into() }
        );
        assert_eq!(
            "s3://acme-state".parse::<StateUrl>().unwrap(),
            StateUrl::S3 { bucket: "acme-state".into(), prefix: String::new() }
        );
        for bad in ["s3://", "s3://Upper/x", "s3://a/../b", "gs://bucket/x", "file://relative", ""] {
            let err = bad.parse::<StateUrl>().unwrap_err();
            assert!(matches!(err, StateError::BadLocation { .. }), "{bad}: {err}");
        }
        assert_eq!("s3://acme-state/teams".parse::<StateUrl>().unwrap().to_string(), "s3://acme-state/teams");
    }

    #[test]
    fn lock_holders_show_their_age_and_id() {
        let mut info = LockInfo::current("apply");
        info.started_at = "2026-01-01T00:00:00Z".into();
        let now = humantime::parse_rfc3339("2026-01-01T02:03:04Z").unwrap();
        assert_eq!(info.age(now), Some(Duration::from_secs(2 * 3600 + 3 * 60 + 4)));
        let text = info.to_string();
        assert!(text.contains("running `apply` since 2026-01-01T00:00:00Z ("), "{text}");
        assert!(text.contains(&format!("lock id {}", info.id)), "{text}");
    }

    #[test]
    fn a_save_over_another_lineage_or_serial_is_a_conflict() {
        let env = Env::new("dev").unwrap();
        let mut state = StackState::new("s", &env);
        state.serial = 4;
        let expected = Expected { lineage_serial: Some((state.lineage.clone(), 4)) };
        assert!(expected.check("x", &state).is_ok());
        assert!(Expected::default().check("x", &state).is_ok());
        state.serial = 3;
        assert!(matches!(expected.check("x", &state), Err(StateError::Conflict { .. })));
        state.serial = 4;
        state.lineage = "other".into();
        assert!(matches!(expected.check("x", &state), Err(StateError::Conflict { .. })));
    }
}
