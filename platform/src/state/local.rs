//! The embedded default backend: one JSON file per stack and environment under a directory
//! (`.platform/state/<env>/<stack>.json`), with an operating-system file lock beside it.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::{LockInfo, StackState, StateBackend, StateError, StateLock, FORMAT_VERSION};
use crate::model::Env;

/// States on the local filesystem.
#[derive(Debug, Clone)]
pub struct LocalBackend {
    root: PathBuf,
}

impl LocalBackend {
    /// States under `root` (e.g. `.platform/state`).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The file holding a stack's state.
    pub fn state_path(&self, stack: &str, env: &Env) -> PathBuf {
        self.root.join(env.as_str()).join(format!("{stack}.json"))
    }

    fn lock_path(&self, stack: &str, env: &Env) -> PathBuf {
        self.root.join(env.as_str()).join(format!("{stack}.lock"))
    }
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> StateError + 'a {
    move |source| StateError::Io { action, path: path.to_path_buf(), source }
}

fn read_state(path: &Path) -> Result<Option<StackState>, StateError> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io("read", path)(e)),
    };
    #[derive(serde::Deserialize)]
    struct Version {
        format_version: u32,
    }
    let version: Version =
        serde_json::from_str(&text).map_err(|source| StateError::Corrupt { path: path.to_path_buf(), source })?;
    if version.format_version != FORMAT_VERSION {
        return Err(StateError::UnsupportedVersion { path: path.to_path_buf(), found: version.format_version });
    }
    serde_json::from_str(&text).map(Some).map_err(|source| StateError::Corrupt { path: path.to_path_buf(), source })
}

impl StateBackend for LocalBackend {
    fn lock(&self, stack: &str, env: &Env, operation: &str) -> Result<Box<dyn StateLock>, StateError> {
        let path = self.lock_path(stack, env);
        let dir = path.parent().expect("lock path has a parent");
        fs::create_dir_all(dir).map_err(io("create", dir))?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io("open", &path))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                return Err(StateError::Locked {
                    stack: stack.to_string(),
                    env: env.to_string(),
                    holder: serde_json::from_str(&text).ok(),
                });
            }
            Err(TryLockError::Error(e)) => return Err(io("lock", &path)(e)),
        }
        // The OS releases the lock when the process dies, so a killed run leaves no stale lock;
        // the holder's description is only informative.
        let info = serde_json::to_vec(&LockInfo::current(operation)).expect("lock info serializes");
        file.set_len(0)
            .and_then(|_| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(&info))
            .and_then(|_| file.sync_data())
            .map_err(io("write", &path))?;
        Ok(Box::new(LocalLock { file, state_path: self.state_path(stack, env) }))
    }

    fn read(&self, stack: &str, env: &Env) -> Result<Option<StackState>, StateError> {
        read_state(&self.state_path(stack, env))
    }
}

struct LocalLock {
    file: File,
    state_path: PathBuf,
}

impl StateLock for LocalLock {
    fn load(&self) -> Result<Option<StackState>, StateError> {
        read_state(&self.state_path)
    }

    fn save(&self, state: &mut StackState) -> Result<(), StateError> {
        let path = &self.state_path;
        let dir = path.parent().expect("state path has a parent");
        state.serial += 1;
        let mut text = serde_json::to_vec_pretty(state).expect("state serializes");
        text.push(b'\n');
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io("create a temporary file in", dir))?;
        tmp.write_all(&text).and_then(|_| tmp.as_file().sync_all()).map_err(io("write", tmp.path()))?;
        tmp.persist(path).map_err(|e| io("replace", path)(e.error))?;
        File::open(dir).and_then(|d| d.sync_all()).map_err(io("sync", dir))?;
        Ok(())
    }
}

impl Drop for LocalLock {
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_atomically_and_bumps_the_serial() {
        let dir = tempfile::tempdir().unwrap();
        let backend = LocalBackend::new(dir.path());
        let env = Env::new("dev").unwrap();
        let lock = backend.lock("foundation", &env, "apply").unwrap();
        assert!(lock.load().unwrap().is_none());
        let mut state = StackState::new("foundation", &env);
        lock.save(&mut state).unwrap();
        lock.save(&mut state).unwrap();
        let read = backend.read("foundation", &env).unwrap().unwrap();
        assert_eq!(read.serial, 2);
        assert_eq!(read.lineage, state.lineage);
        let files: Vec<_> = fs::read_dir(dir.path().join("dev")).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(files.len(), 2, "only the state and the lock file remain: {files:?}");
    }

    #[test]
    fn a_second_lock_is_refused_naming_the_holder_and_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let backend = LocalBackend::new(dir.path());
        let env = Env::new("dev").unwrap();
        let held = backend.lock("foundation", &env, "apply").unwrap();
        let err = backend.lock("foundation", &env, "plan").err().unwrap();
        let text = err.to_string();
        assert!(text.contains(&format!("pid {}", std::process::id())), "{text}");
        assert!(text.contains("running `apply`"), "{text}");
        assert!(backend.lock("other", &env, "plan").is_ok(), "other stacks are not locked");
        drop(held);
        assert!(backend.lock("foundation", &env, "plan").is_ok());
    }

    #[test]
    fn refuses_unknown_formats_and_corrupt_documents() {
        let dir = tempfile::tempdir().unwrap();
        let backend = LocalBackend::new(dir.path());
        let env = Env::new("dev").unwrap();
        let path = backend.state_path("s", &env);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, r#"{"format_version": 99}"#).unwrap();
        assert!(matches!(backend.read("s", &env), Err(StateError::UnsupportedVersion { found: 99, .. })));
        fs::write(&path, "not json").unwrap();
        assert!(matches!(backend.read("s", &env), Err(StateError::Corrupt { .. })));
    }
}
