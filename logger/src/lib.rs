//! The logger every service shares: one JSON object per line with the timestamp, the level, the
//! service's name, version and environment, and — inside a request — its request id, taken from the
//! incoming `x-request-id` header or generated, and returned in the response. The level comes from
//! `RUST_LOG` (default `info`).

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// The header carrying the request id.
pub const REQUEST_ID: &str = "x-request-id";

/// Who is logging.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The service, e.g. `card-service`.
    pub service: &'static str,
    /// Its version.
    pub version: &'static str,
    /// The environment it runs in (`ENVIRONMENT`).
    pub environment: String,
}

/// Installs the JSON logger for the process, writing to standard output.
pub fn init(identity: Identity) {
    init_with(identity, std::io::stdout);
}

/// Installs the JSON logger writing to `writer` (tests capture the lines this way). Every line
/// carries the identity, through a root span entered for the rest of the process.
pub fn init_with<W>(identity: Identity, writer: W)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_span_list(true)
        .with_writer(writer)
        .try_init();
    let root = tracing::info_span!(
        "service",
        service = identity.service,
        version = identity.version,
        environment = %identity.environment
    );
    // The root span stays entered on the thread that starts the service (start-up and shutdown
    // lines); request spans name it as their parent, so every request line carries it too.
    std::mem::forget(root.clone().entered());
    let _ = ROOT_SPAN.set(root);
}

static ROOT_SPAN: std::sync::OnceLock<tracing::Span> = std::sync::OnceLock::new();

/// Middleware: runs the request in a span holding its request id (the incoming header's, if it is
/// a reasonable one, or a new one), and returns the id in the response.
pub async fn request_id(mut request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.chars().all(|c| c.is_ascii_graphic()))
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let header = HeaderValue::from_str(&id).expect("a request id is ASCII");
    request.headers_mut().insert(REQUEST_ID, header.clone());
    let span = match ROOT_SPAN.get() {
        Some(root) => {
            tracing::info_span!(parent: root, "request", request_id = %id, method = %request.method(), path = %request.uri().path())
        }
        None => {
            tracing::info_span!("request", request_id = %id, method = %request.method(), path = %request.uri().path())
        }
    };
    let mut response = next.run(request).instrument(span.clone()).await;
    span.in_scope(|| tracing::info!(status = response.status().as_u16(), "request"));
    response.headers_mut().insert(REQUEST_ID, header);
    response
}
