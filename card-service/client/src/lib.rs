//! A typed client of the card service. Other services reach it by its Cloud Map name
//! (`http://card.<namespace>:8080`); calls have timeouts, idempotent calls are retried when the
//! service is briefly unavailable, and the caller's request id is forwarded.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A card.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Card {
    /// The card's id.
    pub id: Uuid,
    /// The account it belongs to.
    pub account_id: Uuid,
    /// The holder's name.
    pub holder: String,
    /// The last four digits.
    pub last4: String,
    /// `inactive` or `active`.
    pub status: String,
    /// A presigned URL of its image, valid ten minutes.
    pub image_url: String,
}

#[derive(Deserialize)]
struct CardList {
    cards: Vec<Card>,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    message: String,
}

#[derive(Serialize)]
struct Activation {
    account_id: Uuid,
}

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The card does not exist in that account.
    #[error("not found: {0}")]
    NotFound(String),
    /// The request was refused as malformed.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The service stayed unavailable through every retry.
    #[error("the card service is unavailable: {0}")]
    Unavailable(String),
    /// The service could not be reached or answered something unexpected.
    #[error("calling the card service failed")]
    Transport(#[from] reqwest::Error),
}

/// The header carrying the request id across services.
pub const REQUEST_ID: &str = "x-request-id";

/// A client of one card service.
#[derive(Debug, Clone)]
pub struct CardClient {
    base: String,
    http: reqwest::Client,
    attempts: u32,
}

impl CardClient {
    /// A client of the service at `base_url` (e.g. `http://card.dev.platform.internal:8080`).
    pub fn new(base_url: impl Into<String>) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(5))
            .build()
            .expect("the HTTP client builds");
        Self { base: base_url.into().trim_end_matches('/').to_string(), http, attempts: 3 }
    }

    /// A client of the card service found by its Cloud Map name in `namespace`. Plain HTTP: where
    /// the environment encrypts to the tasks (`tls_to_tasks`) the API port serves TLS only, and
    /// no caller is granted a path to it yet (the service-to-service calls of issue 19 bring the
    /// encrypted path).
    pub fn in_namespace(namespace: &str, port: u16) -> Self {
        Self::new(format!("http://card.{namespace}:{port}"))
    }

    /// Sends an idempotent request, retrying when the service is unavailable or unreachable.
    async fn send(&self, build: impl Fn() -> reqwest::RequestBuilder) -> Result<reqwest::Response, ClientError> {
        let mut delay = Duration::from_millis(100);
        let mut attempt = 1;
        loop {
            let last = attempt >= self.attempts;
            match build().send().await {
                Ok(r) if r.status() == reqwest::StatusCode::SERVICE_UNAVAILABLE && !last => {}
                Err(e) if (e.is_connect() || e.is_timeout()) && !last => {}
                Ok(r) => return Ok(r),
                Err(e) => return Err(e.into()),
            }
            tokio::time::sleep(delay).await;
            delay *= 2;
            attempt += 1;
        }
    }

    async fn decode<T: for<'de> Deserialize<'de>>(response: reqwest::Response) -> Result<T, ClientError> {
        let status = response.status();
        if status.is_success() {
            return Ok(response.json().await?);
        }
        let message =
            response.json::<ErrorBody>().await.map(|b| b.error.message).unwrap_or_else(|_| status.to_string());
        Err(match status.as_u16() {
            404 => ClientError::NotFound(message),
            503 => ClientError::Unavailable(message),
            _ => ClientError::BadRequest(message),
        })
    }

    fn with_id(builder: reqwest::RequestBuilder, request_id: Option<&str>) -> reqwest::RequestBuilder {
        match request_id {
            Some(id) => builder.header(REQUEST_ID, id),
            None => builder,
        }
    }

    /// The cards of `account`, oldest first.
    pub async fn cards(&self, account: Uuid, request_id: Option<&str>) -> Result<Vec<Card>, ClientError> {
        let url = format!("{}/cards/{account}", self.base);
        let response = self.send(|| Self::with_id(self.http.get(&url), request_id)).await?;
        Ok(Self::decode::<CardList>(response).await?.cards)
    }

    /// Activates `card` of `account` (idempotent, so it is retried too).
    pub async fn activate(&self, card: Uuid, account: Uuid, request_id: Option<&str>) -> Result<Card, ClientError> {
        let url = format!("{}/cards/{card}/activation", self.base);
        let body = Activation { account_id: account };
        let response = self.send(|| Self::with_id(self.http.post(&url).json(&body), request_id)).await?;
        Self::decode(response).await
    }
}
