//! The cards API.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{ApiError, ErrorBody};
use crate::images::Images;
use crate::AppState;

/// The largest request body accepted.
pub const MAX_BODY: usize = 16 * 1024;

/// A card as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Card {
    /// The card's id.
    pub id: Uuid,
    /// The account it belongs to.
    pub account_id: Uuid,
    /// The holder's name as printed.
    pub holder: String,
    /// The last four digits.
    pub last4: String,
    /// `inactive` or `active`.
    pub status: String,
    /// A presigned URL of the card's image, valid ten minutes.
    pub image_url: String,
}

/// The cards of an account.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct CardList {
    /// The cards, oldest first; empty for an account without cards.
    pub cards: Vec<Card>,
}

/// The body of an activation.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Activation {
    /// The account the card must belong to.
    pub account_id: Uuid,
}

#[derive(sqlx::FromRow)]
struct CardRow {
    id: Uuid,
    account_id: Uuid,
    holder: String,
    last4: String,
    status: String,
    image_key: String,
}

async fn card(images: &Images, row: CardRow) -> Result<Card, ApiError> {
    Ok(Card {
        image_url: images.url(&row.image_key).await.map_err(|e| ApiError::Internal(e.into()))?,
        id: row.id,
        account_id: row.account_id,
        holder: row.holder,
        last4: row.last4,
        status: row.status,
    })
}

fn uuid(what: &str, text: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(text).map_err(|_| ApiError::BadRequest(format!("{what} must be a UUID")))
}

/// The account's cards, oldest first, each with a presigned image URL valid ten minutes.
#[utoipa::path(
    get,
    path = "/cards/{account_id}",
    params(("account_id" = Uuid, Path, description = "The account")),
    responses(
        (status = 200, description = "The account's cards (empty when it has none)", body = CardList),
        (status = 400, description = "The account id is not a UUID", body = ErrorBody),
        (status = 503, description = "The database is unavailable", body = ErrorBody),
    )
)]
async fn list(
    State(app): State<AppState>,
    account: Result<Path<String>, PathRejection>,
) -> Result<Json<CardList>, ApiError> {
    let account = uuid("account_id", &path(account)?)?;
    let rows: Vec<CardRow> = app
        .db
        .run(|db| {
            sqlx::query_as(
                "SELECT id, account_id, holder, last4, status, image_key FROM cards WHERE account_id = $1 ORDER BY created_at, id",
            )
            .bind(account)
            .fetch_all(db)
        })
        .await?;
    let mut cards = Vec::with_capacity(rows.len());
    for row in rows {
        cards.push(card(&app.images, row).await?);
    }
    Ok(Json(CardList { cards }))
}

/// Activates a card of the account; repeating it is harmless.
#[utoipa::path(
    post,
    path = "/cards/{card_id}/activation",
    params(("card_id" = Uuid, Path, description = "The card")),
    request_body = Activation,
    responses(
        (status = 200, description = "The card, active", body = Card),
        (status = 400, description = "Malformed id or body", body = ErrorBody),
        (status = 404, description = "No such card in that account", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
        (status = 415, description = "The body is not JSON", body = ErrorBody),
        (status = 503, description = "The database is unavailable", body = ErrorBody),
    )
)]
async fn activate(
    State(app): State<AppState>,
    card_id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Card>, ApiError> {
    let card_id = uuid("card_id", &path(card_id)?)?;
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json")));
    if !json {
        return Err(ApiError::UnsupportedMediaType);
    }
    let body = body.map_err(|_| ApiError::TooLarge(MAX_BODY))?;
    let activation: Activation =
        serde_json::from_slice(&body).map_err(|e| ApiError::BadRequest(format!("invalid body: {e}")))?;
    // Run again only when the database refused the credentials, which it does before any
    // statement runs: the update is never applied twice.
    let row: Option<CardRow> = app
        .db
        .run(|db| {
            sqlx::query_as(
                "UPDATE cards SET status = 'active', activated_at = COALESCE(activated_at, now())
                 WHERE id = $1 AND account_id = $2
                 RETURNING id, account_id, holder, last4, status, image_key",
            )
            .bind(card_id)
            .bind(activation.account_id)
            .fetch_optional(db)
        })
        .await?;
    let row =
        row.ok_or_else(|| ApiError::NotFound(format!("no card {card_id} in account {}", activation.account_id)))?;
    Ok(Json(card(&app.images, row).await?))
}

/// A path segment, or a JSON 400 when it cannot be decoded (invalid percent-encoding, not UTF-8).
fn path(segment: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    segment.map(|Path(s)| s).map_err(|e| ApiError::BadRequest(format!("the path cannot be read: {}", e.body_text())))
}

/// The API's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/cards/{account_id}", get(list))
        .route("/cards/{card_id}/activation", post(activate))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .fallback(crate::error::no_route)
        .method_not_allowed_fallback(crate::error::method_not_allowed)
}

/// The API contract (OpenAPI 3), generated from the code; `card-service/openapi.json` is its
/// committed copy, and a test fails when they disagree.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "Card service", description = "Cards of an account, with their images, and card activation."),
    paths(list, activate),
    components(schemas(Card, CardList, Activation, ErrorBody, crate::error::ErrorDetail))
)]
pub struct ApiDoc;
