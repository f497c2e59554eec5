//! `card-service [serve|migrate|seed|healthcheck]`.
// The binary reports what its one-off commands did, and errors, on the console.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;
use std::sync::Arc;

/// Every request allocates (rows, JSON, URLs) on whichever worker thread serves it; mimalloc's
/// per-thread heaps cost less CPU than glibc's allocator here under load (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use card_service::{config::Config, database::Database, images::Images, pool, AppState, MIGRATOR};

async fn run(command: &str) -> anyhow::Result<()> {
    let config = Config::from_env()?;
    // The credentials, read from the secret at run time (and again after a rotation), or given.
    let database = || async {
        match &config.db_secret_arn {
            Some(arn) => {
                let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
                let secrets = aws_sdk_secretsmanager::Client::new(&aws);
                Database::from_secret(secrets, arn, config.database.clone(), config.pool_size).await
            }
            None => Ok(Database::fixed(pool(config.database.clone(), config.pool_size))),
        }
    };
    match command {
        "migrate" => {
            // As the owner (the master user's secret): the schema, the application role, then
            // the role's own credentials in the service's secret.
            let owner = database().await?;
            MIGRATOR.run(owner.pool()).await?;
            tracing::info!("migrations applied");
            if let Some(arn) = &config.db_app_secret_arn {
                let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
                let mut credentials = card_service::credentials::AppCredentials::new(
                    aws_sdk_secretsmanager::Client::new(&aws),
                    arn,
                    config.database.clone(),
                );
                credentials.max_age = config.db_app_password_max_age;
                let outcome = credentials.ensure(owner.pool()).await?;
                tracing::info!(?outcome, role = card_service::credentials::APP_USER, "application credentials");
            }
        }
        "serve" => {
            let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
            let images = Images::new(&aws, &config.bucket).await?;
            images.warm_up().await?;
            let state = AppState { db: database().await?, images: Arc::new(images) };
            let api = tokio::net::TcpListener::bind(("0.0.0.0", config.port)).await?;
            let health = tokio::net::TcpListener::bind(("0.0.0.0", config.health_port)).await?;
            tracing::info!(port = config.port, health_port = config.health_port, tls = config.api_tls, "serving");
            if config.api_tls {
                // The task's host name, as far as it has one (the load balancer checks none).
                let names = vec![std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".into())];
                let api = card_service::tls::TlsListener::new(api, card_service::tls::self_signed(&names)?)?;
                card_service::serve(state, api, health, shutdown()).await?;
            } else {
                card_service::serve(state, api, health, shutdown()).await?;
            }
            tracing::info!("stopped after draining in-flight requests");
        }
        "seed" => {
            let db = database().await?;
            MIGRATOR.run(db.pool()).await?;
            let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
            let prefix = std::env::var("CARD_IMAGES_PREFIX").unwrap_or_else(|_| "cards/".into());
            card_service::seed::seed(db.pool(), &aws_sdk_s3::Client::new(&aws), &config.bucket, &prefix).await?;
            println!(
                "sample data loaded: account {} has cards, account {} has none",
                card_service::seed::ACCOUNT_WITH_CARDS,
                card_service::seed::ACCOUNT_WITHOUT_CARDS
            );
        }
        "healthcheck" => {
            // The container's own health check: the health port answers ready.
            let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", config.health_port)).await?;
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            stream.write_all(b"GET /health/live HTTP/1.0\r\n\r\n").await?;
            let mut answer = String::new();
            stream.read_to_string(&mut answer).await?;
            anyhow::ensure!(answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200"), "not live");
        }
        other => anyhow::bail!("unknown command `{other}`: use serve, migrate, seed or healthcheck"),
    }
    Ok(())
}

/// Completes on SIGTERM (how ECS stops tasks) or Ctrl-C.
async fn shutdown() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = term => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    service_logger::init(service_logger::Identity {
        service: "card-service",
        version: env!("CARGO_PKG_VERSION"),
        environment: std::env::var("ENVIRONMENT").unwrap_or_else(|_| "local".into()),
    });
    let command = std::env::args().nth(1).unwrap_or_else(|| "serve".into());
    match run(&command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
