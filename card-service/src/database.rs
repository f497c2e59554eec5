//! The database: a pool whose credentials come from a Secrets Manager secret, read at run time and
//! read again when the database refuses them, so a rotation costs a request at most a bounded
//! retry rather than failing every new connection until the task is replaced.
//!
//! A rotation function rotates a secret in four steps
//! (<https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotate-secrets_lambda-functions.html>):
//! `createSecret` stores the new password as the version staged `AWSPENDING`, `setSecret`
//! changes it in the database, `testSecret` checks it, `finishSecret` moves `AWSCURRENT` to it.
//! Between `setSecret` and `finishSecret` the database takes only the pending password while
//! `AWSCURRENT` still holds the old one, so a refused connection tries `AWSCURRENT`, then
//! `AWSPENDING`. RDS rotates the master user secret it manages itself, every seven days by
//! default (<https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-secrets-manager.html>),
//! "typically within one minute", during which "new connections that retrieve the secret may get
//! the previous version" (<https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotate-secrets_managed.html>):
//! a request that needs a new connection in that minute gets a 503 after the bounded retry, and
//! the next one tries again. Connections already open are not affected (PostgreSQL checks a
//! password only when a session starts), so a warm pool rarely meets a rotation. An application
//! user whose secret rotates with alternating users never has a moment without a valid password
//! (ARCHITECTURE.md, known limits).

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool};
use sqlx::Connection;

/// How often a query refused for its credentials is tried again after reading the secret, and the
/// first pause (doubling each time); each reading of the secret (two calls, two connection
/// attempts) is bounded by [`READ_TIMEOUT`]: a refused request is answered within about ten
/// seconds at worst.
const RETRIES: u32 = 4;
const FIRST_PAUSE: Duration = Duration::from_millis(250);
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// The database pool, and where its credentials come from.
#[derive(Clone)]
pub struct Database {
    pool: PgPool,
    secret: Option<Arc<Secret>>,
}

/// Credentials kept in a Secrets Manager secret: `{"username": ..., "password": ...}`, as RDS
/// keeps its managed master user secret.
struct Secret {
    client: aws_sdk_secretsmanager::Client,
    arn: String,
    /// Where the database is, without credentials.
    base: PgConnectOptions,
    /// Bumped each time the credentials are read again, so requests refused together read once.
    generation: AtomicU64,
    /// Held while reading; what the last reading gave the pool (new credentials or not).
    reading: tokio::sync::Mutex<bool>,
}

#[derive(serde::Deserialize)]
struct Credentials {
    username: String,
    password: String,
}

/// Whether `error` is the database refusing the password (`28P01`,
/// <https://www.postgresql.org/docs/current/errcodes-appendix.html>): what a rotation causes. A
/// connection refused for other reasons (`28000`: no such user, or a connection `pg_hba.conf` does
/// not admit) is not fixed by reading the secret again.
pub fn refused_credentials(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(e) if e.code().as_deref() == Some("28P01"))
}

impl Database {
    /// A pool whose credentials never change (a local `DATABASE_URL`, the tests).
    pub fn fixed(pool: PgPool) -> Self {
        Self { pool, secret: None }
    }

    /// A pool of at most `size` connections to `base` with the credentials of the secret `arn`,
    /// read now (an error names the secret when it cannot be read or is not credentials).
    pub async fn from_secret(
        client: aws_sdk_secretsmanager::Client,
        arn: &str,
        base: PgConnectOptions,
        size: u32,
    ) -> anyhow::Result<Self> {
        let secret = Secret {
            client,
            arn: arn.to_string(),
            base,
            generation: AtomicU64::new(0),
            reading: tokio::sync::Mutex::new(false),
        };
        let current = secret
            .read("AWSCURRENT")
            .await?
            .ok_or_else(|| anyhow::anyhow!("the database secret {arn} has no current version (AWSCURRENT)"))?;
        Ok(Self { pool: crate::pool(current, size), secret: Some(Arc::new(secret)) })
    }

    /// The pool, for what runs once with the credentials it has (migrations, seeding).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Runs `query` on the pool; when the database refuses the pool's credentials, reads them
    /// again from the secret and runs it again, up to [`RETRIES`] times with growing pauses.
    pub async fn run<'a, T, F, Fut>(&'a self, query: F) -> Result<T, sqlx::Error>
    where
        F: Fn(&'a PgPool) -> Fut,
        Fut: Future<Output = Result<T, sqlx::Error>>,
    {
        let mut pause = FIRST_PAUSE;
        let mut attempt = 0;
        loop {
            let generation = self.secret.as_ref().map(|s| s.generation.load(Ordering::Acquire));
            match query(&self.pool).await {
                Err(e) if refused_credentials(&e) && attempt < RETRIES => {
                    let (Some(secret), Some(generation)) = (&self.secret, generation) else { return Err(e) };
                    tracing::warn!(error = %e, attempt, "the database refused the credentials; reading the secret again");
                    metrics::counter!("database_credentials_refused_total").increment(1);
                    if !secret.reread(&self.pool, generation).await {
                        tokio::time::sleep(pause).await;
                        pause *= 2;
                    }
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

impl Secret {
    /// The connection options with the credentials of the version staged `stage`, if there is
    /// one.
    async fn read(&self, stage: &str) -> anyhow::Result<Option<PgConnectOptions>> {
        let arn = &self.arn;
        let value = match self.client.get_secret_value().secret_id(arn).version_stage(stage).send().await {
            Ok(value) => value,
            // No version has the stage (no rotation under way, for AWSPENDING).
            Err(e)
                if e.as_service_error().is_some_and(|e| e.is_resource_not_found_exception())
                    && stage != "AWSCURRENT" =>
            {
                return Ok(None)
            }
            Err(e) => anyhow::bail!(
                "reading the database secret {arn}: {}",
                aws_sdk_secretsmanager::error::DisplayErrorContext(e)
            ),
        };
        let credentials: Credentials =
            serde_json::from_str(value.secret_string().unwrap_or_default()).map_err(|_| {
                anyhow::anyhow!("the database secret {arn} is not a JSON document with a username and a password")
            })?;
        Ok(Some(self.base.clone().username(&credentials.username).password(&credentials.password)))
    }

    /// Reads the credentials again unless another request already did since `seen` (then what
    /// that reading gave), and gives the pool the first version the database takes (current,
    /// then pending). Whether the pool has new credentials.
    async fn reread(&self, pool: &PgPool, seen: u64) -> bool {
        let mut last = self.reading.lock().await;
        if self.generation.load(Ordering::Acquire) != seen {
            return *last;
        }
        let refreshed = match tokio::time::timeout(READ_TIMEOUT, self.try_versions(pool)).await {
            Ok(refreshed) => refreshed,
            Err(_) => {
                tracing::warn!("reading the database secret and checking it took too long");
                false
            }
        };
        *last = refreshed;
        self.generation.fetch_add(1, Ordering::AcqRel);
        refreshed
    }

    /// Gives the pool the credentials of the first version (current, then pending) the database
    /// takes; whether one did.
    async fn try_versions(&self, pool: &PgPool) -> bool {
        for stage in ["AWSCURRENT", "AWSPENDING"] {
            let options = match self.read(stage).await {
                Ok(Some(options)) => options,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(error = format!("{e:#}"), "the database secret could not be read");
                    return false;
                }
            };
            match sqlx::PgConnection::connect_with(&options).await {
                Ok(connection) => {
                    let _ = connection.close().await;
                    pool.set_connect_options(options);
                    tracing::info!(stage, "the database takes the secret's credentials again");
                    return true;
                }
                Err(e) if refused_credentials(&e) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, stage, "the database could not be reached to check the credentials");
                    return false;
                }
            }
        }
        false
    }
}
