//! The application role's credentials: generated, kept in the service's own Secrets Manager secret
//! and rotated by the migration task (run by the pipeline with the owner's credentials and a role
//! of its own), so the service's role only ever reads a secret and no person or plan sees the
//! password.
//!
//! Rotation follows Secrets Manager's four steps for a single user
//! (<https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotate-secrets_lambda.html>):
//! `createSecret` stores a new password as the version staged `AWSPENDING`, `setSecret` gives it
//! to the role, `testSecret` logs in with it, `finishSecret` moves `AWSCURRENT` to it (and the old
//! version becomes `AWSPREVIOUS`). Between `setSecret` and `finishSecret` the database takes only
//! the pending password; AWS notes "a low risk of the database denying calls that use the rotated
//! credentials. You can mitigate this risk with an appropriate retry strategy"
//! (<https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotation-strategy.html>): the
//! service reads the secret again when refused, current then pending ([`crate::database`]).
//!
//! The password never reaches the database in clear text: the role is given a SCRAM-SHA-256
//! verifier computed here, which PostgreSQL stores as is ("If the presented password string is
//! already in MD5-encrypted or SCRAM-encrypted format, then it is stored as-is",
//! <https://www.postgresql.org/docs/current/sql-createrole.html>), so statement logging (a
//! database's query log) cannot record it, as `ALTER ROLE … PASSWORD 'clear text'` would
//! (<https://www.postgresql.org/docs/current/sql-alterrole.html>).

use std::time::Duration;

use aws_sdk_secretsmanager::Client;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::Rng;
use sha2::{Digest, Sha256};
use sqlx::postgres::{PgConnectOptions, PgPool};
use sqlx::{ConnectOptions, Connection};

/// The role the service connects as (the migrations create it).
pub const APP_USER: &str = "card_app";

/// How old the current password may be before the migration task rotates it, unless
/// `DB_APP_PASSWORD_MAX_AGE_DAYS` says otherwise: every deploy older than this rotates.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(30 * 24 * 3600);

/// The advisory lock that keeps [`AppCredentials::ensure`] to one task at a time.
const LOCK: &str = "card-service application credentials";

/// The iterations of a SCRAM-SHA-256 verifier (PostgreSQL's default, `scram_iterations`).
const SCRAM_ITERATIONS: u32 = 4096;

/// What [`AppCredentials::ensure`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The secret had no value: a password was generated, stored and given to the role.
    Created,
    /// The current password works and is younger than the maximum age.
    Kept,
    /// The role did not take the current password (a database restored from a snapshot, or a
    /// password changed by hand): it was given the current one again.
    Repaired,
    /// A rotation left unfinished (its task stopped) was finished.
    Resumed,
    /// The password was older than the maximum age and was rotated.
    Rotated,
}

/// One version of the secret: its id, when it was made and the credentials it holds.
#[derive(Clone)]
pub struct Version {
    /// The version id (also the token it was put with).
    pub id: String,
    /// When Secrets Manager made it.
    pub created: Option<std::time::SystemTime>,
    credentials: Credentials,
}

#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct Credentials {
    username: String,
    password: String,
}

impl std::fmt::Debug for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Version").field("id", &self.id).field("username", &self.credentials.username).finish()
    }
}

/// The application role's secret and where the database is.
pub struct AppCredentials {
    client: Client,
    arn: String,
    /// Where the database is (host, port, database, TLS), without credentials.
    base: PgConnectOptions,
    /// How old the current password may get.
    pub max_age: Duration,
}

impl AppCredentials {
    /// The credentials kept in the secret `arn`, for the database at `base`.
    pub fn new(client: Client, arn: &str, base: PgConnectOptions) -> Self {
        Self { client, arn: arn.to_string(), base, max_age: DEFAULT_MAX_AGE }
    }

    /// Makes the secret and the role agree, with the owner's pool `owner`: generates the first
    /// password, finishes a rotation left unfinished, gives the role the current password again
    /// when it does not take it, and rotates a password older than [`AppCredentials::max_age`].
    /// Safe to run again at any point (each deploy runs it; a task stopped half-way is finished by
    /// the next).
    ///
    /// Runs alone: two migration tasks at once (a re-run while a cancelled job's task still runs)
    /// would interleave their writes, so it holds a session-level advisory lock of the database
    /// on a connection of its own (released with that session if the task dies).
    pub async fn ensure(&self, owner: &PgPool) -> anyhow::Result<Outcome> {
        let mut lock = sqlx::PgConnection::connect_with(&owner.connect_options()).await?;
        sqlx::query("SELECT pg_advisory_lock(hashtext($1))").bind(LOCK).execute(&mut lock).await?;
        let outcome = self.ensure_alone(owner).await;
        let _ = sqlx::query("SELECT pg_advisory_unlock(hashtext($1))").bind(LOCK).execute(&mut lock).await;
        let _ = lock.close().await;
        outcome
    }

    async fn ensure_alone(&self, owner: &PgPool) -> anyhow::Result<Outcome> {
        let Some(current) = self.version("AWSCURRENT").await? else {
            // The first version: AWSCURRENT goes to it ("If this operation creates the first
            // version for the secret, then Secrets Manager automatically attaches the staging
            // label AWSCURRENT", API_PutSecretValue.html).
            let version = self.put(&uuid::Uuid::new_v4().to_string(), generate_password(), None).await?;
            self.set(owner, &version).await?;
            self.test(&version).await?;
            return Ok(Outcome::Created);
        };
        if let Some(pending) = self.version("AWSPENDING").await?.filter(|p| p.id != current.id) {
            self.set(owner, &pending).await?;
            self.test(&pending).await?;
            self.finish(&pending, &current).await?;
            return Ok(Outcome::Resumed);
        }
        let mut outcome = Outcome::Kept;
        if self.test(&current).await.is_err() {
            self.set(owner, &current).await?;
            self.test(&current).await?;
            outcome = Outcome::Repaired;
        }
        let age = current.created.and_then(|c| c.elapsed().ok()).unwrap_or_default();
        if age >= self.max_age {
            self.rotate(owner, &current).await?;
            outcome = Outcome::Rotated;
        }
        Ok(outcome)
    }

    /// The four steps, from the version `current`.
    pub async fn rotate(&self, owner: &PgPool, current: &Version) -> anyhow::Result<()> {
        let pending = self.create_pending().await?;
        self.set(owner, &pending).await?;
        self.test(&pending).await?;
        self.finish(&pending, current).await
    }

    /// `createSecret`: a new password, stored as the version staged `AWSPENDING`.
    pub async fn create_pending(&self) -> anyhow::Result<Version> {
        self.put(&uuid::Uuid::new_v4().to_string(), generate_password(), Some("AWSPENDING")).await
    }

    /// `setSecret`: the role takes the version's password (its SCRAM verifier).
    pub async fn set(&self, owner: &PgPool, version: &Version) -> anyhow::Result<()> {
        anyhow::ensure!(
            version.credentials.username == APP_USER,
            "the secret {} holds credentials of `{}`, not of the application role `{APP_USER}`",
            self.arn,
            version.credentials.username
        );
        let verifier = scram_verifier(&version.credentials.password, &rand::thread_rng().gen::<[u8; 16]>());
        // On a connection of its own that never logs the statement (sqlx logs slow ones with
        // their text): the verifier stays out of the task's logs too.
        let options = (*owner.connect_options()).clone().disable_statement_logging();
        let mut connection = sqlx::PgConnection::connect_with(&options).await?;
        // A verifier is base64, digits, `$` and `:`: nothing to escape.
        let done = sqlx::query(&format!("ALTER ROLE {APP_USER} PASSWORD '{verifier}'"))
            .execute(&mut connection)
            .await
            .map_err(|e| anyhow::anyhow!("giving the role {APP_USER} its new password: {e}"));
        let _ = connection.close().await;
        done.map(|_| ())
    }

    /// `testSecret`: logs in with the version's credentials.
    pub async fn test(&self, version: &Version) -> anyhow::Result<()> {
        let options = self.base.clone().username(&version.credentials.username).password(&version.credentials.password);
        let mut connection = sqlx::PgConnection::connect_with(&options)
            .await
            .map_err(|e| anyhow::anyhow!("logging in as {} with the secret's version {}: {e}", APP_USER, version.id))?;
        sqlx::query("SELECT 1").execute(&mut connection).await?;
        let _ = connection.close().await;
        Ok(())
    }

    /// `finishSecret`: `AWSCURRENT` moves from `current` to `pending` (which drops `AWSPENDING`:
    /// left on another version, it would read as a rotation under way).
    pub async fn finish(&self, pending: &Version, current: &Version) -> anyhow::Result<()> {
        self.client
            .update_secret_version_stage()
            .secret_id(&self.arn)
            .version_stage("AWSCURRENT")
            .move_to_version_id(&pending.id)
            .remove_from_version_id(&current.id)
            .send()
            .await
            .map_err(|e| self.error("moving AWSCURRENT to the new version", e))?;
        self.client
            .update_secret_version_stage()
            .secret_id(&self.arn)
            .version_stage("AWSPENDING")
            .remove_from_version_id(&pending.id)
            .send()
            .await
            .map_err(|e| self.error("removing AWSPENDING from the finished version", e))?;
        Ok(())
    }

    /// The version staged `stage`, if there is one.
    pub async fn version(&self, stage: &str) -> anyhow::Result<Option<Version>> {
        let value = match self.client.get_secret_value().secret_id(&self.arn).version_stage(stage).send().await {
            Ok(value) => value,
            // "Secrets Manager can't find the resource": no version has the stage.
            Err(e) if e.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()) => return Ok(None),
            Err(e) => return Err(self.error(&format!("reading the version {stage}"), e)),
        };
        let credentials: Credentials =
            serde_json::from_str(value.secret_string().unwrap_or_default()).map_err(|_| {
                anyhow::anyhow!("the secret {} is not a JSON document with a username and a password", self.arn)
            })?;
        Ok(Some(Version {
            id: value.version_id().unwrap_or_default().to_string(),
            created: value.created_date().and_then(|d| std::time::SystemTime::try_from(*d).ok()),
            credentials,
        }))
    }

    /// Stores a version holding `password`, staged `stage` (or `AWSCURRENT`), with `token`: sent
    /// again with the same token and value it does nothing (API_PutSecretValue.html).
    async fn put(&self, token: &str, password: String, stage: Option<&str>) -> anyhow::Result<Version> {
        let credentials = Credentials { username: APP_USER.into(), password };
        let mut request = self
            .client
            .put_secret_value()
            .secret_id(&self.arn)
            .client_request_token(token)
            .secret_string(serde_json::to_string(&credentials)?);
        if let Some(stage) = stage {
            request = request.version_stages(stage);
        }
        let out = request.send().await.map_err(|e| self.error("storing a new password", e))?;
        Ok(Version {
            id: out.version_id().unwrap_or(token).to_string(),
            created: Some(std::time::SystemTime::now()),
            credentials,
        })
    }

    fn error<E>(&self, what: &str, e: aws_sdk_secretsmanager::error::SdkError<E>) -> anyhow::Error
    where
        E: std::error::Error + aws_sdk_secretsmanager::error::ProvideErrorMetadata + 'static,
    {
        anyhow::anyhow!("{what} in the secret {}: {}", self.arn, aws_sdk_secretsmanager::error::DisplayErrorContext(e))
    }
}

/// A password of 32 letters and digits (about 190 bits), from the operating system's generator:
/// nothing in it needs quoting in a URL, a shell or SQL.
fn generate_password() -> String {
    rand::rngs::OsRng.sample_iter(&rand::distributions::Alphanumeric).take(32).map(char::from).collect()
}

/// The SCRAM-SHA-256 verifier PostgreSQL stores for `password` with `salt`
/// (`SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`, base64, as RFC 5803;
/// <https://www.postgresql.org/docs/current/catalog-pg-authid.html>). The password is letters and
/// digits, which SASLprep leaves as they are.
pub fn scram_verifier(password: &str, salt: &[u8]) -> String {
    type HmacSha256 = Hmac<Sha256>;
    let hmac = |key: &[u8], data: &[u8]| {
        let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
        mac.update(data);
        mac.finalize().into_bytes()
    };
    // Hi(password, salt, i): PBKDF2 with HMAC-SHA-256, one block (RFC 5802).
    let mut block = salt.to_vec();
    block.extend_from_slice(&1u32.to_be_bytes());
    let mut u = hmac(password.as_bytes(), &block);
    let mut salted = u;
    for _ in 1..SCRAM_ITERATIONS {
        u = hmac(password.as_bytes(), &u);
        salted.iter_mut().zip(u.iter()).for_each(|(s, x)| *s ^= x);
    }
    let stored_key = Sha256::digest(hmac(&salted, b"Client Key"));
    let server_key = hmac(&salted, b"Server Key");
    let b64 = base64::engine::general_purpose::STANDARD;
    format!(
        "SCRAM-SHA-256${SCRAM_ITERATIONS}:{}${}:{}",
        b64.encode(salt),
        b64.encode(stored_key),
        b64.encode(server_key)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_verifier_is_what_postgresql_computes() {
        // Computed independently (Python's hashlib.pbkdf2_hmac and hmac, as PostgreSQL's
        // scram_build_secret does).
        let salt: Vec<u8> = (0..16).collect();
        assert_eq!(
            scram_verifier("correct-horse", &salt),
            "SCRAM-SHA-256$4096:AAECAwQFBgcICQoLDA0ODw==$0DZizuPNO4iCBnKS/qrB3MYOnd1/kaH+3eWkGzb8vvI=:/74JyCi6orI4n4YG0se226vFUoYUT3QmDKifXzoz6lQ="
        );
    }

    #[test]
    fn generated_passwords_are_long_plain_and_different() {
        let (a, b) = (generate_password(), generate_password());
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
    }
}
