//! The embedded default backend: one JSON file per stack and environment under a directory
//! (`.platform/state/<env>/<stack>.json`), with an operating-system file lock beside it. The one
//! module of the library that touches the filesystem (see platform/clippy.toml).
#![allow(clippy::disallowed_methods)]

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::{parse, render, Expected, HeldLock, LockInfo, StackState, StateBackend, StateError, StateLock};
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

    /// Reads a state file without locking; what [`StateBackend::read`] does, without a runtime.
    pub fn read_file(&self, stack: &str, env: &Env) -> Result<Option<StackState>, StateError> {
        read_state(&self.state_path(stack, env))
    }

    fn lock_path(&self, stack: &str, env: &Env) -> PathBuf {
        self.root.join(env.as_str()).join(format!("{stack}.lock"))
    }
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> StateError + 'a {
    move |source| StateError::Io { action, path: path.to_path_buf(), source }
}

fn read_state(path: &Path) -> Result<Option<StackState>, StateError> {
    match fs::read(path) {
        Ok(text) => parse(&path.display().to_string(), &text).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io("read", path)(e)),
    }
}

/// The lineage and serial of the stored document, if there is one.
fn stored_version(path: &Path) -> Result<Option<(String, u64)>, StateError> {
    #[derive(serde::Deserialize)]
    struct Version {
        lineage: String,
        serial: u64,
    }
    match fs::read(path) {
        Ok(text) => serde_json::from_slice::<Version>(&text)
            .map(|v| Some((v.lineage, v.serial)))
            .map_err(|source| StateError::Corrupt { location: path.display().to_string(), source }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io("read", path)(e)),
    }
}

/// A file's bytes, or `None` when it does not exist.
fn contents(path: &Path) -> Result<Option<Vec<u8>>, StateError> {
    match fs::read(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io("read", path)(e)),
    }
}

fn open_lock_file(path: &Path) -> Result<File, StateError> {
    OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path).map_err(io("open", path))
}

fn holder_of(file: &mut File) -> Option<LockInfo> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.read_to_string(&mut text).ok()?;
    serde_json::from_str(&text).ok()
}

#[async_trait::async_trait]
impl StateBackend for LocalBackend {
    async fn lock(&self, stack: &str, env: &Env, operation: &str) -> Result<Box<dyn StateLock>, StateError> {
        let path = self.lock_path(stack, env);
        let dir = path.parent().expect("lock path has a parent");
        fs::create_dir_all(dir).map_err(io("create", dir))?;
        let mut file = open_lock_file(&path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                // The holder writes who it is right after taking the lock: give it a moment, so
                // that the error can name it.
                let mut holder = holder_of(&mut file);
                for _ in 0..20 {
                    if holder.is_some() {
                        break;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(25)).await;
                    holder = holder_of(&mut file);
                }
                return Err(StateError::Locked {
                    stack: stack.to_string(),
                    env: env.to_string(),
                    holder: holder.map(Box::new),
                    force_unlock: false,
                });
            }
            Err(TryLockError::Error(e)) => return Err(io("lock", &path)(e)),
        }
        // The OS releases the lock when the process dies, so a killed run leaves no stale lock;
        // the holder's description is only informative.
        let info = LockInfo::current(operation);
        let text = serde_json::to_vec(&info).expect("lock info serializes");
        file.set_len(0)
            .and_then(|_| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(&text))
            .and_then(|_| file.sync_data())
            .map_err(io("write", &path))?;
        Ok(Box::new(LocalLock {
            file,
            state_path: self.state_path(stack, env),
            info,
            expected: Mutex::new(Expected::default()),
            known: Mutex::new(None),
        }))
    }

    async fn read(&self, stack: &str, env: &Env) -> Result<Option<StackState>, StateError> {
        self.read_file(stack, env)
    }

    /// A local lock is an OS lock: it is released when its process exits, so only the holder's
    /// description can be left behind. A lock still held belongs to a live process and is
    /// refused; a description left by a dead one is cleared.
    async fn force_unlock(&self, id: &str) -> Result<HeldLock, StateError> {
        let envs = match fs::read_dir(&self.root) {
            Ok(envs) => envs,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StateError::NoSuchLock { id: id.to_string(), location: self.location() })
            }
            Err(e) => return Err(io("read", &self.root)(e)),
        };
        for env in envs.flatten() {
            let Ok(files) = fs::read_dir(env.path()) else { continue };
            for file in files.flatten() {
                let path = file.path();
                if path.extension().is_none_or(|e| e != "lock") {
                    continue;
                }
                let mut lock = open_lock_file(&path)?;
                let Some(info) = holder_of(&mut lock).filter(|info| info.id == id) else { continue };
                match lock.try_lock() {
                    Ok(()) => {
                        lock.set_len(0).map_err(io("clear", &path))?;
                        let _ = lock.unlock();
                        let stack = path.file_stem().unwrap_or_default().to_string_lossy().into_owned();
                        let env = env.file_name().to_string_lossy().into_owned();
                        return Ok(HeldLock { stack, env, info });
                    }
                    Err(TryLockError::WouldBlock) => {
                        return Err(StateError::HeldByLiveProcess { id: id.to_string(), holder: Box::new(info) })
                    }
                    Err(TryLockError::Error(e)) => return Err(io("lock", &path)(e)),
                }
            }
        }
        Err(StateError::NoSuchLock { id: id.to_string(), location: self.location() })
    }

    fn location(&self) -> String {
        self.root.display().to_string()
    }
}

struct LocalLock {
    file: File,
    state_path: PathBuf,
    info: LockInfo,
    expected: Mutex<Expected>,
    /// The stored document as this lock last read or wrote it: while the file holds exactly these
    /// bytes, a save need not parse it to know its version.
    known: Mutex<Option<Vec<u8>>>,
}

#[async_trait::async_trait]
impl StateLock for LocalLock {
    async fn load(&self) -> Result<Option<StackState>, StateError> {
        let text = contents(&self.state_path)?;
        let state = match &text {
            Some(text) => Some(parse(&self.state_path.display().to_string(), text)?),
            None => None,
        };
        *self.known.lock().expect("lock state") = text;
        *self.expected.lock().expect("lock state") =
            Expected { lineage_serial: state.as_ref().map(|s| (s.lineage.clone(), s.serial)) };
        Ok(state)
    }

    async fn save(&self, state: &mut StackState) -> Result<(), StateError> {
        let path = &self.state_path;
        let dir = path.parent().expect("state path has a parent");
        let location = path.display().to_string();
        let expected = self.expected.lock().expect("lock state").clone();
        expected.check(&location, state)?;
        // What is stored must still be what this lock loaded or last wrote: the OS lock keeps
        // other platform runs out, but not a hand edit or a copy from elsewhere. While the file
        // holds what this lock last saw, its version is known without parsing it.
        let unchanged = {
            let known = self.known.lock().expect("lock state");
            known.is_some() && contents(path)? == *known
        };
        if !unchanged {
            let stored = stored_version(path)?;
            if stored != expected.lineage_serial {
                let describe = |v: &Option<(String, u64)>| match v {
                    Some((lineage, serial)) => format!("lineage {lineage} serial {serial}"),
                    None => "no state".to_string(),
                };
                return Err(StateError::Conflict {
                    location,
                    detail: format!("expected {}, found {}", describe(&expected.lineage_serial), describe(&stored)),
                });
            }
        }
        state.serial += 1;
        let text = render(state);
        let written = (|| {
            let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io("create a temporary file in", dir))?;
            tmp.write_all(&text).and_then(|_| tmp.as_file().sync_all()).map_err(io("write", tmp.path()))?;
            tmp.persist(path).map_err(|e| io("replace", path)(e.error))?;
            File::open(dir).and_then(|d| d.sync_all()).map_err(io("sync", dir))
        })();
        if let Err(e) = written {
            state.serial -= 1;
            *self.known.lock().expect("lock state") = None;
            return Err(e);
        }
        *self.known.lock().expect("lock state") = Some(text);
        *self.expected.lock().expect("lock state") =
            Expected { lineage_serial: Some((state.lineage.clone(), state.serial)) };
        Ok(())
    }

    async fn release(self: Box<Self>) -> Result<(), StateError> {
        Ok(())
    }

    fn info(&self) -> &LockInfo {
        &self.info
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

    #[tokio::test]
    async fn saves_atomically_and_bumps_the_serial() {
        let dir = tempfile::tempdir().unwrap();
        let backend = LocalBackend::new(dir.path());
        let env = Env::new("dev").unwrap();
        let lock = backend.lock("foundation", &env, "apply").await.unwrap();
        assert!(lock.load().await.unwrap().is_none());
        let mut state = StackState::new("foundation", &env);
        lock.save(&mut state).await.unwrap();
        lock.save(&mut state).await.unwrap();
        let read = backend.read("foundation", &env).await.unwrap().unwrap();
        assert_eq!(read.serial, 2);
        assert_eq!(read.lineage, state.lineage);
        let files: Vec<_> = fs::read_dir(dir.path().join("dev")).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(files.len(), 2, "only the state and the lock file remain: {files:?}");
    }

    #[tokio::test]
    async fn a_file_changed_behind_the_lock_is_noticed_even_at_the_same_size_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let backend = LocalBackend::new(dir.path());
        let env = Env::new("dev").unwrap();
        let lock = backend.lock("foundation", &env, "apply").await.unwrap();
        let mut state = StackState::new("foundation", &env);
        lock.save(&mut state).await.unwrap();
        lock.save(&mut state).await.unwrap();
        // Another serial of the same length, written in place right after the save (within the
        // same tick of the file system's clock): what the lock knows is compared, not timestamps.
        let path = backend.state_path("foundation", &env);
        let text = fs::read_to_string(&path).unwrap().replace("\"serial\": 2", "\"serial\": 7");
        fs::OpenOptions::new().write(true).open(&path).unwrap().write_all(text.as_bytes()).unwrap();
        let err = lock.save(&mut state).await.unwrap_err();
        assert!(matches!(&err, StateError::Conflict { detail, .. } if detail.contains("found lineage")), "{err}");
        assert_eq!(backend.read("foundation", &env).await.unwrap().unwrap().serial, 7, "left as found");
        assert_eq!(state.serial, 2, "the state in memory is unchanged");
    }

    #[tokio::test]
    async fn a_second_lock_is_refused_naming_the_holder_and_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let backend = LocalBackend::new(dir.path());
        let env = Env::new("dev").unwrap();
        let held = backend.lock("foundation", &env, "apply").await.unwrap();
        let err = backend.lock("foundation", &env, "plan").await.err().unwrap();
        let text = err.to_string();
        assert!(text.contains(&format!("pid {}", std::process::id())), "{text}");
        assert!(text.contains("running `apply`"), "{text}");
        assert!(backend.lock("other", &env, "plan").await.is_ok(), "other stacks are not locked");
        drop(held);
        assert!(backend.lock("foundation", &env, "plan").await.is_ok());
    }

    #[tokio::test]
    async fn refuses_unknown_formats_and_corrupt_documents() {
        let dir = tempfile::tempdir().unwrap();
        let backend = LocalBackend::new(dir.path());
        let env = Env::new("dev").unwrap();
        let path = backend.state_path("s", &env);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, r#"{"format_version": 99}"#).unwrap();
        assert!(matches!(backend.read("s", &env).await, Err(StateError::UnsupportedVersion { found: 99, .. })));
        fs::write(&path, "not json").unwrap();
        assert!(matches!(backend.read("s", &env).await, Err(StateError::Corrupt { .. })));
    }
}
