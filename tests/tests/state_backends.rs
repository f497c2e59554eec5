//! The state backend conformance suite: the same scenarios against the local directory backend
//! and the S3 backend (on the emulator, which honours S3's conditional writes).

// Tests report what they measured (nextest shows it in the CI log).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::sync::Arc;

use platform::model::Env;
use platform::state::local::LocalBackend;
use platform::state::s3::S3Backend;
use platform::state::{StackState, StateBackend, StateError};
use platform_tests::Emulator;

/// A backend under test, and a way to write its stored state behind its back (another writer).
enum Subject {
    Local { backend: LocalBackend, _dir: tempfile::TempDir },
    S3 { backend: S3Backend, client: aws_sdk_s3::Client, bucket: String, _emulator: Emulator },
}

impl Subject {
    async fn local() -> Self {
        let dir = tempfile::tempdir().unwrap();
        Subject::Local { backend: LocalBackend::new(dir.path().join("state")), _dir: dir }
    }

    async fn s3() -> Self {
        let emulator = Emulator::start();
        let client = aws_sdk_s3::Client::new(&emulator.sdk_config().await);
        let bucket = "acme-platform-state".to_string();
        client.create_bucket().bucket(&bucket).send().await.unwrap();
        let backend = S3Backend::new(client.clone(), &bucket, "teams/cards");
        Subject::S3 { backend, client, bucket, _emulator: emulator }
    }

    fn backend(&self) -> Arc<dyn StateBackend> {
        match self {
            Subject::Local { backend, .. } => Arc::new(backend.clone()),
            Subject::S3 { backend, .. } => Arc::new(backend.clone()),
        }
    }

    /// Whether a lock outlives its process (and so may need a force-unlock).
    fn remote_locks(&self) -> bool {
        matches!(self, Subject::S3 { .. })
    }

    /// Writes the stored document of `stack` directly, as another writer would.
    async fn write_raw(&self, stack: &str, env: &Env, body: Vec<u8>) {
        match self {
            Subject::Local { backend, .. } => {
                let path = backend.state_path(stack, env);
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(path, body).unwrap();
            }
            Subject::S3 { backend, client, bucket, .. } => {
                client
                    .put_object()
                    .bucket(bucket)
                    .key(backend.state_key(stack, env))
                    .body(body.into())
                    .send()
                    .await
                    .unwrap();
            }
        }
    }
}

fn dev() -> Env {
    Env::new("dev").unwrap()
}

async fn locked_error(backend: &dyn StateBackend, stack: &str, env: &Env) -> StateError {
    match backend.lock(stack, env, "plan").await {
        Ok(_) => panic!("the lock of {stack} ({env}) was granted twice"),
        Err(err) => err,
    }
}

async fn a_lock_is_exclusive_names_its_holder_and_is_released(subject: Subject) {
    let backend = subject.backend();
    let held = backend.lock("foundation", &dev(), "apply").await.unwrap();
    let err = locked_error(backend.as_ref(), "foundation", &dev()).await;
    let StateError::Locked { holder: Some(holder), force_unlock, .. } = &err else { panic!("{err}") };
    assert_eq!(holder.pid, std::process::id());
    assert_eq!(holder.operation, "apply");
    assert_eq!(&holder.id, &held.info().id);
    assert_eq!(*force_unlock, subject.remote_locks());
    let text = err.to_string();
    assert!(text.contains("running `apply` since"), "{text}");
    assert!(text.contains(" ago)"), "the lock's age is shown: {text}");
    // Other stacks and environments are not locked.
    backend.lock("other", &dev(), "plan").await.unwrap().release().await.unwrap();
    backend.lock("foundation", &Env::new("prod").unwrap(), "plan").await.unwrap().release().await.unwrap();
    held.release().await.unwrap();
    backend.lock("foundation", &dev(), "plan").await.unwrap().release().await.unwrap();
}

async fn of_many_runs_locking_at_once_exactly_one_wins(subject: Subject) {
    let backend = subject.backend();
    let mut runs = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let backend = backend.clone();
        runs.spawn(async move { backend.lock("foundation", &dev(), "apply").await });
    }
    let mut won = vec![];
    let mut refused = 0;
    while let Some(result) = runs.join_next().await {
        match result.unwrap() {
            Ok(lock) => won.push(lock),
            Err(StateError::Locked { .. }) => refused += 1,
            Err(other) => panic!("{other}"),
        }
    }
    println!("locking at once: {} won, {refused} refused", won.len());
    assert_eq!(won.len(), 1);
    assert_eq!(refused, 7);
}

async fn saves_round_trip_and_bump_the_serial(subject: Subject) {
    let backend = subject.backend();
    assert!(backend.read("foundation", &dev()).await.unwrap().is_none());
    let lock = backend.lock("foundation", &dev(), "apply").await.unwrap();
    assert!(lock.load().await.unwrap().is_none());
    let mut state = StackState::new("foundation", &dev());
    state.outputs.insert("vpc_id".into(), "vpc-1".into());
    lock.save(&mut state).await.unwrap();
    lock.save(&mut state).await.unwrap();
    assert_eq!(state.serial, 2);
    lock.release().await.unwrap();
    let read = backend.read("foundation", &dev()).await.unwrap().unwrap();
    assert_eq!(read, state);
    let lock = backend.lock("foundation", &dev(), "apply").await.unwrap();
    let mut loaded = lock.load().await.unwrap().unwrap();
    assert_eq!(loaded, state);
    lock.save(&mut loaded).await.unwrap();
    assert_eq!(backend.read("foundation", &dev()).await.unwrap().unwrap().serial, 3);
    lock.release().await.unwrap();
}

async fn a_write_over_a_state_changed_by_another_writer_is_refused(subject: Subject) {
    let backend = subject.backend();
    let lock = backend.lock("foundation", &dev(), "apply").await.unwrap();
    let mut state = StackState::new("foundation", &dev());
    lock.save(&mut state).await.unwrap();
    // Another writer (its lock removed by force, or not locking at all) writes serial 2.
    let mut theirs = state.clone();
    theirs.serial = 2;
    theirs.outputs.insert("written_by".into(), "the other run".into());
    subject.write_raw("foundation", &dev(), serde_json::to_vec(&theirs).unwrap()).await;
    let err = lock.save(&mut state).await.unwrap_err();
    println!("conflict reported: {err}");
    assert!(matches!(err, StateError::Conflict { .. }), "{err}");
    let stored = backend.read("foundation", &dev()).await.unwrap().unwrap();
    assert_eq!(stored, theirs, "nothing was overwritten");
    lock.release().await.unwrap();
}

async fn a_state_of_another_lineage_or_an_old_serial_is_refused(subject: Subject) {
    let backend = subject.backend();
    let lock = backend.lock("foundation", &dev(), "apply").await.unwrap();
    let mut state = StackState::new("foundation", &dev());
    lock.save(&mut state).await.unwrap();
    let mut stranger = StackState::new("foundation", &dev());
    stranger.serial = state.serial;
    assert!(matches!(lock.save(&mut stranger).await, Err(StateError::Conflict { .. })));
    let mut old = state.clone();
    old.serial -= 1;
    assert!(matches!(lock.save(&mut old).await, Err(StateError::Conflict { .. })));
    assert_eq!(backend.read("foundation", &dev()).await.unwrap().unwrap(), state);
    lock.release().await.unwrap();
}

async fn unknown_formats_and_corrupt_documents_are_refused(subject: Subject) {
    let backend = subject.backend();
    subject.write_raw("foundation", &dev(), br#"{"format_version": 99}"#.to_vec()).await;
    let err = backend.read("foundation", &dev()).await.unwrap_err();
    assert!(matches!(err, StateError::UnsupportedVersion { found: 99, .. }), "{err}");
    subject.write_raw("foundation", &dev(), b"not json".to_vec()).await;
    let err = backend.read("foundation", &dev()).await.unwrap_err();
    assert!(matches!(err, StateError::Corrupt { .. }), "{err}");
}

async fn a_lock_left_by_a_dead_run_is_removed_only_by_force_unlock(subject: Subject) {
    let backend = subject.backend();
    assert!(matches!(backend.force_unlock("no-such-id").await, Err(StateError::NoSuchLock { .. })));
    // A run that dies skips its release (and its destructors).
    let abandoned = backend.lock("card-service", &dev(), "apply").await.unwrap();
    let id = abandoned.info().id.clone();
    std::mem::forget(abandoned);
    let err = locked_error(backend.as_ref(), "card-service", &dev()).await;
    let text = err.to_string();
    assert!(text.contains(&format!("lock id {id}")), "{text}");
    if subject.remote_locks() {
        // The lock object outlives the run: it blocks until removed deliberately.
        assert!(text.contains("platform force-unlock"), "{text}");
        let removed = backend.force_unlock(&id).await.unwrap();
        assert_eq!((removed.stack.as_str(), removed.env.as_str()), ("card-service", "dev"));
        assert_eq!(removed.info.operation, "apply");
        backend.lock("card-service", &dev(), "apply").await.unwrap().release().await.unwrap();
    } else {
        // An OS lock belongs to a live process (this one, here): it is not taken away.
        let err = backend.force_unlock(&id).await.unwrap_err();
        assert!(matches!(err, StateError::HeldByLiveProcess { .. }), "{err}");
    }
}

async fn a_run_whose_lock_was_forced_away_cannot_release_the_next_holders_lock(subject: Subject) {
    let backend = subject.backend();
    let first = backend.lock("foundation", &dev(), "apply").await.unwrap();
    if !subject.remote_locks() {
        return first.release().await.unwrap();
    }
    backend.force_unlock(&first.info().id.clone()).await.unwrap();
    let second = backend.lock("foundation", &dev(), "apply").await.unwrap();
    // The first run's release must not remove the second run's lock.
    first.release().await.unwrap();
    let err = locked_error(backend.as_ref(), "foundation", &dev()).await;
    let StateError::Locked { holder: Some(holder), .. } = err else { panic!("{err}") };
    assert_eq!(holder.id, second.info().id);
    second.release().await.unwrap();
}

macro_rules! conformance {
    ($($scenario:ident),* $(,)?) => {
        mod local {
            $(#[tokio::test]
            async fn $scenario() {
                super::$scenario(super::Subject::local().await).await
            })*
        }
        mod s3 {
            $(#[tokio::test]
            async fn $scenario() {
                super::$scenario(super::Subject::s3().await).await
            })*
        }
    };
}

conformance!(
    a_lock_is_exclusive_names_its_holder_and_is_released,
    of_many_runs_locking_at_once_exactly_one_wins,
    saves_round_trip_and_bump_the_serial,
    a_write_over_a_state_changed_by_another_writer_is_refused,
    a_state_of_another_lineage_or_an_old_serial_is_refused,
    unknown_formats_and_corrupt_documents_are_refused,
    a_lock_left_by_a_dead_run_is_removed_only_by_force_unlock,
    a_run_whose_lock_was_forced_away_cannot_release_the_next_holders_lock,
);
