//! States in an S3 bucket, for a team and its CI sharing them: one object per stack and
//! environment (`<prefix>/<env>/<stack>.json`) and a lock object beside it (`<stack>.lock`).
//!
//! Locking and writing rely on S3's conditional writes only:
//! - the lock object is created with `If-None-Match: *`, so exactly one of two runs creates it;
//!   it holds who, host, pid, operation, time and the lock id; a run that dies leaves it behind,
//!   shown with its age, until `platform force-unlock <id>` removes it;
//! - the state is written with `If-Match: <ETag of the object read or last written>` (or
//!   `If-None-Match: *` when there was none), so a writer whose lock was taken away can never
//!   overwrite the state another run wrote; lineage and serial are checked as well;
//! - the lock is deleted with `If-Match: <its ETag>`, so a run never removes a lock that is no
//!   longer its own.
//!
//! The bucket is expected to exist, versioned and encrypted (the `bootstrap` stack declares one).

use std::sync::Mutex;

use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;

use super::{parse, render, Expected, HeldLock, LockInfo, StackState, StateBackend, StateError, StateLock};
use crate::model::Env;

/// States in `s3://bucket/prefix`.
#[derive(Debug, Clone)]
pub struct S3Backend {
    client: Client,
    bucket: String,
    prefix: String,
}

impl S3Backend {
    /// States under `prefix` (no leading or trailing slash; may be empty) in `bucket`.
    pub fn new(client: Client, bucket: impl Into<String>, prefix: impl Into<String>) -> Self {
        Self { client, bucket: bucket.into(), prefix: prefix.into().trim_matches('/').to_string() }
    }

    /// The key of a stack's state object.
    pub fn state_key(&self, stack: &str, env: &Env) -> String {
        self.key(&format!("{env}/{stack}.json"))
    }

    /// The key of a stack's lock object.
    pub fn lock_key(&self, stack: &str, env: &Env) -> String {
        self.key(&format!("{env}/{stack}.lock"))
    }

    fn key(&self, rest: &str) -> String {
        if self.prefix.is_empty() {
            rest.to_string()
        } else {
            format!("{}/{rest}", self.prefix)
        }
    }

    fn url(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    /// Reads an object: its bytes and ETag, `None` if there is none.
    async fn get(&self, key: &str) -> Result<Option<(Vec<u8>, Option<String>)>, StateError> {
        match self.client.get_object().bucket(&self.bucket).key(key).send().await {
            Ok(out) => {
                let etag = out.e_tag().map(str::to_string);
                let body = out.body.collect().await.map_err(|e| StateError::Remote {
                    action: "read",
                    location: self.url(key),
                    source: Box::new(e),
                })?;
                Ok(Some((body.to_vec(), etag)))
            }
            Err(err) if is_not_found(&err) => Ok(None),
            Err(err) => Err(remote("read", self.url(key), err)),
        }
    }

    async fn holder(&self, key: &str) -> Result<Option<(LockInfo, Option<String>)>, StateError> {
        Ok(self
            .get(key)
            .await?
            .and_then(|(body, etag)| serde_json::from_slice::<LockInfo>(&body).ok().map(|info| (info, etag))))
    }
}

/// The status of a failed call, if it got an answer.
fn status<E>(err: &SdkError<E>) -> Option<u16> {
    err.raw_response().map(|r| r.status().as_u16())
}

fn is_not_found<E: ProvideErrorMetadata>(err: &SdkError<E>) -> bool {
    status(err) == Some(404) || matches!(err.code(), Some("NoSuchKey" | "NotFound"))
}

/// A conditional write lost: the object exists (`If-None-Match`) or changed (`If-Match`). S3
/// answers 409 ConditionalRequestConflict when two conditional writes race.
fn is_precondition_failed<E: ProvideErrorMetadata>(err: &SdkError<E>) -> bool {
    matches!(status(err), Some(412 | 409))
        || matches!(err.code(), Some("PreconditionFailed" | "ConditionalRequestConflict"))
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct S3Failure(String);

fn remote<E>(action: &'static str, location: String, err: SdkError<E>) -> StateError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let hint = match err.code() {
        Some("NoSuchBucket") => {
            "; the state bucket must exist (apply the `bootstrap` stack, or create it versioned and encrypted)"
        }
        Some("AccessDenied") => "; the credentials in use may not read and write the state bucket",
        _ => "",
    };
    StateError::Remote { action, location, source: Box::new(S3Failure(format!("{}{hint}", DisplayErrorContext(&err)))) }
}

#[async_trait::async_trait]
impl StateBackend for S3Backend {
    async fn lock(&self, stack: &str, env: &Env, operation: &str) -> Result<Box<dyn StateLock>, StateError> {
        let lock_key = self.lock_key(stack, env);
        let info = LockInfo::current(operation);
        let body = serde_json::to_vec(&info).expect("lock info serializes");
        let put = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(&lock_key)
            .if_none_match("*")
            .content_type("application/json")
            .body(ByteStream::from(body))
            .send()
            .await;
        match put {
            Ok(out) => Ok(Box::new(S3Lock {
                backend: self.clone(),
                state_key: self.state_key(stack, env),
                lock_etag: out.e_tag().map(str::to_string),
                lock_key,
                info,
                written: Mutex::new(Written::default()),
                released: false,
            })),
            Err(err) if is_precondition_failed(&err) => {
                let holder = self.holder(&lock_key).await?.map(|(info, _)| Box::new(info));
                Err(StateError::Locked { stack: stack.to_string(), env: env.to_string(), holder, force_unlock: true })
            }
            Err(err) => Err(remote("create the lock", self.url(&lock_key), err)),
        }
    }

    async fn read(&self, stack: &str, env: &Env) -> Result<Option<StackState>, StateError> {
        let key = self.state_key(stack, env);
        match self.get(&key).await? {
            Some((body, _)) => parse(&self.url(&key), &body).map(Some),
            None => Ok(None),
        }
    }

    async fn force_unlock(&self, id: &str) -> Result<HeldLock, StateError> {
        let mut pages = self.client.list_objects_v2().bucket(&self.bucket).prefix(self.key("")).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| remote("list the locks in", self.location(), e))?;
            for object in page.contents() {
                let Some(key) = object.key().filter(|k| k.ends_with(".lock")) else { continue };
                let Some((info, etag)) = self.holder(key).await? else { continue };
                if info.id != id {
                    continue;
                }
                let mut delete = self.client.delete_object().bucket(&self.bucket).key(key);
                if let Some(etag) = etag {
                    delete = delete.if_match(etag);
                }
                delete.send().await.map_err(|e| remote("remove the lock", self.url(key), e))?;
                let rest = key.strip_prefix(&self.key("")).unwrap_or(key);
                let (env, file) = rest.split_once('/').unwrap_or(("", rest));
                let stack = file.trim_end_matches(".lock");
                return Ok(HeldLock { stack: stack.to_string(), env: env.to_string(), info });
            }
        }
        Err(StateError::NoSuchLock { id: id.to_string(), location: self.location() })
    }

    fn location(&self) -> String {
        if self.prefix.is_empty() {
            format!("s3://{}", self.bucket)
        } else {
            format!("s3://{}/{}", self.bucket, self.prefix)
        }
    }
}

/// What this lock last saw of the state object.
#[derive(Debug, Default)]
struct Written {
    expected: Expected,
    /// The ETag of the object as loaded or last written; `None` if there was none.
    etag: Option<String>,
}

struct S3Lock {
    backend: S3Backend,
    state_key: String,
    lock_key: String,
    lock_etag: Option<String>,
    info: LockInfo,
    written: Mutex<Written>,
    released: bool,
}

impl S3Lock {
    fn delete_request(&self) -> aws_sdk_s3::operation::delete_object::builders::DeleteObjectFluentBuilder {
        let mut delete = self.backend.client.delete_object().bucket(&self.backend.bucket).key(&self.lock_key);
        if let Some(etag) = &self.lock_etag {
            delete = delete.if_match(etag);
        }
        delete
    }
}

impl Drop for S3Lock {
    /// A lock dropped without [`StateLock::release`] (an error path that could not await) is
    /// released in the background where a runtime is running; otherwise it stays, and the next
    /// run names it with its id for `platform force-unlock`.
    fn drop(&mut self) {
        if self.released {
            return;
        }
        tracing::warn!(lock = %self.backend.url(&self.lock_key), id = %self.info.id, "lock dropped without release");
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let delete = self.delete_request();
            handle.spawn(async move {
                let _ = delete.send().await;
            });
        }
    }
}

#[async_trait::async_trait]
impl StateLock for S3Lock {
    async fn load(&self) -> Result<Option<StackState>, StateError> {
        let location = self.backend.url(&self.state_key);
        let loaded = self.backend.get(&self.state_key).await?;
        let mut written = self.written.lock().expect("lock state");
        match loaded {
            Some((body, etag)) => {
                let state = parse(&location, &body)?;
                *written = Written {
                    expected: Expected { lineage_serial: Some((state.lineage.clone(), state.serial)) },
                    etag,
                };
                Ok(Some(state))
            }
            None => {
                *written = Written::default();
                Ok(None)
            }
        }
    }

    async fn save(&self, state: &mut StackState) -> Result<(), StateError> {
        let location = self.backend.url(&self.state_key);
        let etag = {
            let written = self.written.lock().expect("lock state");
            written.expected.check(&location, state)?;
            written.etag.clone()
        };
        state.serial += 1;
        let text = render(state);
        state.serial -= 1;
        let mut put = self
            .backend
            .client
            .put_object()
            .bucket(&self.backend.bucket)
            .key(&self.state_key)
            .content_type("application/json")
            .body(ByteStream::from(text));
        put = match &etag {
            Some(etag) => put.if_match(etag),
            None => put.if_none_match("*"),
        };
        match put.send().await {
            Ok(out) => {
                state.serial += 1;
                *self.written.lock().expect("lock state") = Written {
                    expected: Expected { lineage_serial: Some((state.lineage.clone(), state.serial)) },
                    etag: out.e_tag().map(str::to_string),
                };
                Ok(())
            }
            Err(err) if is_precondition_failed(&err) => Err(StateError::Conflict {
                location,
                detail: match etag {
                    Some(etag) => format!("the object is no longer the one with ETag {etag}"),
                    None => "an object was created where there was none".to_string(),
                },
            }),
            Err(err) => Err(remote("write", location, err)),
        }
    }

    async fn release(mut self: Box<Self>) -> Result<(), StateError> {
        self.released = true;
        match self.delete_request().send().await {
            Ok(_) => Ok(()),
            // Removed by force-unlock, or taken over since: not ours to delete.
            Err(err) if is_precondition_failed(&err) || is_not_found(&err) => Ok(()),
            Err(err) => Err(remote("release the lock", self.backend.url(&self.lock_key), err)),
        }
    }

    fn info(&self) -> &LockInfo {
        &self.info
    }
}
