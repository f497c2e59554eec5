//! Errors as JSON bodies: `{"error": {"code": "...", "message": "..."}}`. Bad input is a 4xx, never a
//! 500; a database outage is a quick 503.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

/// A failure of a request.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// The thing asked for does not exist (or is not the caller's).
    #[error("{0}")]
    NotFound(String),
    /// The route exists, not with this method.
    #[error("this route does not take that method")]
    MethodNotAllowed,
    /// The body is too large.
    #[error("the body is larger than {0} bytes")]
    TooLarge(usize),
    /// The body is not JSON.
    #[error("the body must be JSON (Content-Type: application/json)")]
    UnsupportedMediaType,
    /// The database cannot be reached now.
    #[error("the database is unavailable; try again shortly")]
    Unavailable(#[source] sqlx::Error),
    /// Anything else (logged; its details are not shown).
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

/// The JSON error body.
#[derive(Debug, Serialize, serde::Deserialize, PartialEq, utoipa::ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Serialize, serde::Deserialize, PartialEq, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// A stable code, e.g. `not_found`.
    pub code: String,
    /// A sentence for people.
    pub message: String,
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_) => {
                ApiError::Unavailable(e)
            }
            // Still refused after reading the secret again: the service cannot reach its data.
            e if crate::database::refused_credentials(&e) => ApiError::Unavailable(e),
            other => ApiError::Internal(other.into()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ApiError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            ApiError::UnsupportedMediaType => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
            ApiError::Unavailable(e) => {
                tracing::warn!(error = %e, "database unavailable");
                (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
            }
            ApiError::Internal(e) => {
                tracing::error!(error = format!("{e:#}"), "internal error");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
        };
        let body = ErrorBody { error: ErrorDetail { code: code.into(), message: self.to_string() } };
        (status, Json(body)).into_response()
    }
}

/// What a request for a route that does not exist gets: a JSON 404, like every other error.
pub async fn no_route(uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound(format!("no route {}", uri.path()))
}

/// What a route answers to a method it does not take: a JSON 405.
pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
