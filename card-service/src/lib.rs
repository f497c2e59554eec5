//! The card service: the cards of an account, each with a presigned URL of its image, and card
//! activation. Stateless: any number of instances can run behind the load balancer.
//!
//! - [`config`]: configuration from the environment, with clear errors.
//! - [`cards`]: the API (`GET /cards/{account_id}`, `POST /cards/{card_id}/activation`).
//! - [`images`]: presigned URLs of card images, signed in the process.
//! - [`credentials`]: the application role's password, generated and rotated by the migrations
//!   task in the service's own secret.
//! - [`database`]: the pool, its credentials read from the secret and read again after a
//!   rotation.
//! - [`health`]: liveness, readiness and Prometheus metrics on their own port.
//! - [`error`]: every failure as a JSON error body with the right status.
//! - [`seed`]: the sample data set.
//! - [`tls`]: TLS on the API port, for the load balancer's connections.

pub mod cards;
pub mod config;
pub mod credentials;
pub mod database;
pub mod error;
pub mod health;
pub mod images;
pub mod seed;
pub mod tls;

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

/// The migrations, embedded in the binary. Running them takes a database lock, so several tasks may
/// run them at once.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// What every request handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The database; waiting for a connection is bounded.
    pub db: database::Database,
    /// The images bucket and how to sign URLs for it.
    pub images: Arc<images::Images>,
}

/// A pool of at most `size` connections whose wait is bounded, so an outage answers 503 quickly.
/// Connections are made lazily: the service starts (and reports not ready) while the database is
/// away.
pub fn pool(options: PgConnectOptions, size: u32) -> PgPool {
    PgPoolOptions::new().max_connections(size).acquire_timeout(Duration::from_secs(2)).connect_lazy_with(options)
}

/// The API router (cards) and the health router (health, metrics), both counting their requests.
pub fn routers(
    state: AppState,
    metrics: metrics_exporter_prometheus::PrometheusHandle,
) -> (axum::Router, axum::Router) {
    let api = cards::routes()
        .layer(axum::middleware::from_fn(health::track))
        .layer(axum::middleware::from_fn(service_logger::request_id))
        .with_state(state.clone());
    let health = health::routes(metrics).layer(axum::middleware::from_fn(health::track)).with_state(state);
    (api, health)
}

/// Serves the API (on a TCP listener, or a [`tls::TlsListener`]) and the health endpoints (plain
/// HTTP, for the load balancer's and the container's health checks and the metrics scraper) until
/// `shutdown` completes; in-flight requests are drained before it returns.
pub async fn serve<L>(
    state: AppState,
    api: L,
    health: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
{
    let watch = tokio::spawn(health::watch_database(state.db.clone(), Duration::from_secs(15)));
    let (api_router, health_router) = routers(state, health::recorder());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let wait = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let api = axum::serve(api, api_router).with_graceful_shutdown(wait(stop_rx.clone()));
    let health = axum::serve(health, health_router).with_graceful_shutdown(wait(stop_rx));
    let served = tokio::try_join!(async { api.await }, async { health.await });
    watch.abort();
    served?;
    Ok(())
}
