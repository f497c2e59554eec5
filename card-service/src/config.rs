//! Configuration from environment variables, with clear errors for missing or invalid values.

use std::collections::HashMap;

use sqlx::postgres::{PgConnectOptions, PgSslMode};

/// Where the image keeps the certificate authorities of RDS (every region's, from
/// <https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem>, per
/// <https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/UsingWithRDS.SSL.html>), which
/// `DB_CA_BUNDLE` replaces (a local database's authority, say).
pub const DEFAULT_CA_BUNDLE: &str = "/etc/ssl/certs/rds-global-bundle.pem";

/// The service's settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// How to reach the database (without credentials when they come from [`Config::db_secret_arn`]).
    pub database: PgConnectOptions,
    /// The Secrets Manager secret holding the database credentials (`DB_SECRET_ARN`), read at
    /// run time and again after a rotation ([`crate::database`]), when they are not given as
    /// `DB_USERNAME` and `DB_PASSWORD`.
    pub db_secret_arn: Option<String>,
    /// The secret holding the application role's credentials (`DB_APP_SECRET_ARN`), which
    /// `migrate`, connected as the owner, fills and rotates ([`crate::credentials`]).
    pub db_app_secret_arn: Option<String>,
    /// How old the application role's password may get before `migrate` rotates it
    /// (`DB_APP_PASSWORD_MAX_AGE_DAYS`, [`crate::credentials::DEFAULT_MAX_AGE`]).
    pub db_app_password_max_age: std::time::Duration,
    /// The bucket holding card images.
    pub bucket: String,
    /// The API port.
    pub port: u16,
    /// The health and metrics port.
    pub health_port: u16,
    /// The most database connections this process keeps (`DB_POOL_SIZE`).
    pub pool_size: u32,
    /// Whether the API port serves TLS with a certificate made at start (`API_TLS=self-signed`):
    /// what the load balancer's HTTPS target group connects to ([`crate::tls`]).
    pub api_tls: bool,
}

/// Database connections per process unless `DB_POOL_SIZE` says otherwise. Small: a query here
/// takes well under a millisecond, so a few connections serve thousands of requests a second, and
/// every task of the service holds its own pool against the database's connection limit.
pub const DEFAULT_POOL_SIZE: u32 = 10;

/// A setting that is missing or invalid.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    /// A required variable is not set.
    #[error("{0} is not set; {1}")]
    Missing(&'static str, &'static str),
    /// A variable has a value that cannot be used.
    #[error("{name} is `{value}`, which is not {expected}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
        /// What it should be.
        expected: &'static str,
    },
}

fn port(vars: &HashMap<String, String>, name: &'static str, default: u16) -> Result<u16, ConfigError> {
    match vars.get(name) {
        None => Ok(default),
        Some(v) => v.parse().ok().filter(|p| *p > 0).ok_or_else(|| ConfigError::Invalid {
            name,
            value: v.clone(),
            expected: "a port number",
        }),
    }
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(&std::env::vars().collect())
    }

    /// Reads settings from `vars`: `DATABASE_URL` (local), or `DB_HOST`, `DB_PORT`, `DB_NAME` and
    /// `DB_SECRET_ARN` (the secret holding the credentials, as the stacks deploy it) or
    /// `DB_USERNAME` and `DB_PASSWORD`;
    /// `CARD_IMAGES_BUCKET`; `PORT` (8080), `HEALTH_PORT` (8081) and `DB_POOL_SIZE`
    /// ([`DEFAULT_POOL_SIZE`]); `API_TLS` (`self-signed`: the API port serves TLS).
    ///
    /// The database is reached over TLS only, its certificate verified against the authorities of
    /// `DB_CA_BUNDLE` ([`DEFAULT_CA_BUNDLE`]) and its name (`verify-full`): a `DATABASE_URL`
    /// asking for anything less (`sslmode=disable`, `prefer`, `require`, `verify-ca`) is refused.
    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let ca_bundle = vars.get("DB_CA_BUNDLE").map(String::as_str).unwrap_or(DEFAULT_CA_BUNDLE);
        let database = match vars.get("DATABASE_URL") {
            Some(url) => {
                let options = url.parse::<PgConnectOptions>().map_err(|_| ConfigError::Invalid {
                    name: "DATABASE_URL",
                    value: "(hidden)".into(),
                    expected: "a postgres:// URL",
                })?;
                let query = |key: &str| {
                    url.split_once('?')
                        .into_iter()
                        .flat_map(|(_, q)| q.split('&'))
                        .find_map(|pair| pair.split_once('=').filter(|(k, _)| *k == key).map(|(_, v)| v.to_string()))
                };
                if let Some(mode) = query("sslmode").filter(|m| m != "verify-full") {
                    return Err(ConfigError::Invalid {
                        name: "DATABASE_URL",
                        value: format!("(sslmode={mode})"),
                        expected: "verified TLS: leave sslmode out or set it to verify-full",
                    });
                }
                let options = options.ssl_mode(PgSslMode::VerifyFull);
                if query("sslrootcert").is_some() {
                    options
                } else {
                    options.ssl_root_cert(ca_bundle)
                }
            }
            None => {
                let need = |name: &'static str| {
                    vars.get(name).cloned().ok_or(ConfigError::Missing(
                        name,
                        "set DATABASE_URL, or DB_HOST, DB_PORT, DB_NAME and DB_SECRET_ARN (or DB_USERNAME and DB_PASSWORD)",
                    ))
                };
                let options = PgConnectOptions::new()
                    .host(&need("DB_HOST")?)
                    .port(port(vars, "DB_PORT", 5432)?)
                    .database(&need("DB_NAME")?)
                    .ssl_mode(PgSslMode::VerifyFull)
                    .ssl_root_cert(ca_bundle);
                if vars.contains_key("DB_SECRET_ARN") {
                    options
                } else {
                    options.username(&need("DB_USERNAME")?).password(&need("DB_PASSWORD")?)
                }
            }
        };
        let db_secret_arn = vars.get("DB_SECRET_ARN").filter(|_| !vars.contains_key("DATABASE_URL")).cloned();
        let bucket = vars
            .get("CARD_IMAGES_BUCKET")
            .cloned()
            .ok_or(ConfigError::Missing("CARD_IMAGES_BUCKET", "set it to the bucket holding the card images"))?;
        let db_app_password_max_age = match vars.get("DB_APP_PASSWORD_MAX_AGE_DAYS") {
            None => crate::credentials::DEFAULT_MAX_AGE,
            Some(v) => v
                .parse::<u64>()
                .ok()
                .filter(|d| (1..=365).contains(d))
                .map(|d| std::time::Duration::from_secs(d * 24 * 3600))
                .ok_or_else(|| ConfigError::Invalid {
                    name: "DB_APP_PASSWORD_MAX_AGE_DAYS",
                    value: v.clone(),
                    expected: "a number of days from 1 to 365",
                })?,
        };
        Ok(Self {
            database,
            db_secret_arn,
            db_app_secret_arn: vars.get("DB_APP_SECRET_ARN").cloned(),
            db_app_password_max_age,
            bucket,
            port: port(vars, "PORT", 8080)?,
            health_port: port(vars, "HEALTH_PORT", 8081)?,
            api_tls: match vars.get("API_TLS").map(String::as_str) {
                None | Some("") => false,
                Some("self-signed") => true,
                Some(other) => {
                    return Err(ConfigError::Invalid {
                        name: "API_TLS",
                        value: other.to_string(),
                        expected: "`self-signed` (or unset: plain HTTP)",
                    })
                }
            },
            pool_size: match vars.get("DB_POOL_SIZE") {
                None => DEFAULT_POOL_SIZE,
                Some(v) => v.parse().ok().filter(|n| (1..=1000).contains(n)).ok_or_else(|| ConfigError::Invalid {
                    name: "DB_POOL_SIZE",
                    value: v.clone(),
                    expected: "a number of connections from 1 to 1000",
                })?,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn missing_and_invalid_settings_are_named() {
        let err = Config::from_vars(&vars(&[("CARD_IMAGES_BUCKET", "b")])).unwrap_err();
        assert_eq!(
            err,
            ConfigError::Missing(
                "DB_HOST",
                "set DATABASE_URL, or DB_HOST, DB_PORT, DB_NAME and DB_SECRET_ARN (or DB_USERNAME and DB_PASSWORD)"
            )
        );
        let err = Config::from_vars(&vars(&[("DATABASE_URL", "postgres://x@h/db")])).unwrap_err();
        assert!(err.to_string().starts_with("CARD_IMAGES_BUCKET is not set"));
        let err = Config::from_vars(&vars(&[
            ("DATABASE_URL", "postgres://x@h/db"),
            ("CARD_IMAGES_BUCKET", "b"),
            ("PORT", "http"),
        ]))
        .unwrap_err();
        assert_eq!(err.to_string(), "PORT is `http`, which is not a port number");
        let ok = Config::from_vars(&vars(&[
            ("DB_HOST", "db"),
            ("DB_NAME", "cards"),
            ("DB_USERNAME", "u"),
            ("DB_PASSWORD", "p"),
            ("CARD_IMAGES_BUCKET", "b"),
        ]))
        .unwrap();
        assert_eq!((ok.port, ok.health_port, ok.pool_size), (8080, 8081, DEFAULT_POOL_SIZE));
        assert!(ok.db_secret_arn.is_none());
        let with = |pool: &str| {
            Config::from_vars(&vars(&[
                ("DATABASE_URL", "postgres://x@h/d"),
                ("CARD_IMAGES_BUCKET", "b"),
                ("DB_POOL_SIZE", pool),
            ]))
        };
        assert_eq!(with("4").unwrap().pool_size, 4);
        for bad in ["0", "many", "5000"] {
            assert_eq!(
                with(bad).unwrap_err().to_string(),
                format!("DB_POOL_SIZE is `{bad}`, which is not a number of connections from 1 to 1000")
            );
        }
        let from_secret = Config::from_vars(&vars(&[
            ("DB_HOST", "db"),
            ("DB_NAME", "cards"),
            ("DB_SECRET_ARN", "arn:secret"),
            ("CARD_IMAGES_BUCKET", "b"),
        ]))
        .unwrap();
        assert_eq!(from_secret.db_secret_arn.as_deref(), Some("arn:secret"), "no DB_USERNAME/DB_PASSWORD needed");
    }

    #[test]
    fn the_api_serves_tls_only_when_asked_with_a_certificate_of_its_own() {
        let config = |tls: Option<&str>| {
            let mut pairs = vec![("DATABASE_URL", "postgres://u:p@h/d"), ("CARD_IMAGES_BUCKET", "b")];
            pairs.extend(tls.map(|v| ("API_TLS", v)));
            Config::from_vars(&vars(&pairs))
        };
        assert!(!config(None).unwrap().api_tls);
        assert!(config(Some("self-signed")).unwrap().api_tls);
        let err = config(Some("true")).unwrap_err();
        assert_eq!(err.to_string(), "API_TLS is `true`, which is not `self-signed` (or unset: plain HTTP)");
    }

    #[test]
    fn the_database_is_reached_over_verified_tls_only() {
        let config = |url: &str| Config::from_vars(&vars(&[("DATABASE_URL", url), ("CARD_IMAGES_BUCKET", "b")]));
        for mode in ["disable", "allow", "prefer", "require", "verify-ca"] {
            let err = config(&format!("postgres://x@h/d?sslmode={mode}")).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("DATABASE_URL is `(sslmode={mode})`, which is not verified TLS: leave sslmode out or set it to verify-full")
            );
        }
        let with_rds_bundle = format!("{:?}", config("postgres://x@h/d").unwrap().database);
        assert!(
            with_rds_bundle.contains("VerifyFull") && with_rds_bundle.contains(DEFAULT_CA_BUNDLE),
            "{with_rds_bundle}"
        );
        let local =
            format!("{:?}", config("postgres://x@h/d?sslmode=verify-full&sslrootcert=/tmp/ca.pem").unwrap().database);
        assert!(local.contains("VerifyFull") && local.contains("/tmp/ca.pem"), "{local}");
        let from_parts = Config::from_vars(&vars(&[
            ("DB_HOST", "db"),
            ("DB_NAME", "cards"),
            ("DB_SECRET_ARN", "arn:secret"),
            ("DB_CA_BUNDLE", "/etc/local-ca.pem"),
            ("CARD_IMAGES_BUCKET", "b"),
        ]))
        .unwrap();
        let text = format!("{:?}", from_parts.database);
        assert!(text.contains("VerifyFull") && text.contains("/etc/local-ca.pem"), "{text}");
    }
}
