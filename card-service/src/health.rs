//! Liveness (what the load balancer checks: the process serves), readiness (503 while the
//! database is unreachable, also the `database_up` gauge) and Prometheus metrics, on the health
//! port.

use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;

use crate::AppState;

/// Installs the Prometheus recorder (once per process) and returns its handle.
pub fn recorder() -> PrometheusHandle {
    static HANDLE: std::sync::OnceLock<PrometheusHandle> = std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            metrics_exporter_prometheus::PrometheusBuilder::new()
                .install_recorder()
                .expect("no other metrics recorder is installed")
        })
        .clone()
}

/// Counts requests and measures their latency by route and status.
pub async fn track(request: Request, next: Next) -> Response {
    let route =
        request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string()).unwrap_or_else(|| "unmatched".into());
    let method = request.method().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    let labels = [("route", route), ("method", method), ("status", response.status().as_u16().to_string())];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels).record(started.elapsed().as_secs_f64());
    response
}

async fn live() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

/// Whether the database answers within two seconds; recorded as the `database_up` gauge (1 or 0),
/// which dashboards and alarms read.
pub async fn database_up(db: &crate::database::Database) -> bool {
    let check =
        tokio::time::timeout(Duration::from_secs(2), db.run(|pool| sqlx::query("SELECT 1").execute(pool))).await;
    let up = matches!(check, Ok(Ok(_)));
    metrics::gauge!("database_up").set(if up { 1.0 } else { 0.0 });
    up
}

/// Checks the database every `period` for as long as the process runs, so `database_up` is current
/// even when nothing asks for readiness (the load balancer checks liveness only).
pub async fn watch_database(db: crate::database::Database, period: Duration) {
    let mut tick = tokio::time::interval(period);
    loop {
        tick.tick().await;
        database_up(&db).await;
    }
}

async fn ready(State(app): State<AppState>) -> Response {
    if database_up(&app.db).await {
        Json(json!({"status": "ready"})).into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"status": "database unreachable"}))).into_response()
    }
}

/// The health port's routes.
pub fn routes(metrics: PrometheusHandle) -> Router<AppState> {
    Router::new()
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
        .route("/metrics", get(move || std::future::ready(metrics.render())))
        .fallback(crate::error::no_route)
        .method_not_allowed_fallback(crate::error::method_not_allowed)
}
