//! The card service's API against a real PostgreSQL (a server of its own per test) and the
//! emulator's S3, through HTTP as clients use it.

use std::sync::Arc;

use card_service::cards::{Card, CardList, Images};
use card_service::error::ErrorBody;
use card_service::{pool, AppState, MIGRATOR};
use platform_tests::{Emulator, Postgres};
use uuid::Uuid;

const ALICE: Uuid = Uuid::from_u128(0xa11ce);
const BOB: Uuid = Uuid::from_u128(0xb0b);
const CARD_1: Uuid = Uuid::from_u128(1);
const CARD_2: Uuid = Uuid::from_u128(2);
const IMAGE: &[u8] = b"\x89PNG\r\n\x1a\n card one";

struct Running {
    api: String,
    health: String,
    postgres: Postgres,
    _emulator: Emulator,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn start() -> Running {
    let postgres = Postgres::start();
    let url = postgres.database("cards");
    let emulator = Emulator::start();
    let s3 = aws_sdk_s3::Client::new(&emulator.sdk_config().await);
    s3.create_bucket().bucket("images").send().await.unwrap();
    s3.put_object()
        .bucket("images")
        .key("cards/1.png")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(IMAGE))
        .send()
        .await
        .unwrap();

    let db = pool(url.parse().unwrap());
    MIGRATOR.run(&db).await.unwrap();
    for (id, account, last4, key, minute) in
        [(CARD_1, ALICE, "1234", "cards/1.png", 1), (CARD_2, ALICE, "5678", "cards/2.png", 2)]
    {
        sqlx::query(
            "INSERT INTO cards (id, account_id, holder, last4, status, image_key, created_at)
             VALUES ($1, $2, 'Alice Example', $3, 'inactive', $4, now() - make_interval(mins => $5))",
        )
        .bind(id)
        .bind(account)
        .bind(last4)
        .bind(key)
        .bind(10 - minute)
        .execute(&db)
        .await
        .unwrap();
    }
    let images = Images { s3, bucket: "images".into() };
    images.warm_up().await.unwrap();
    let state = AppState { db, images: Arc::new(images) };
    let api = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let health = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (api_url, health_url) =
        (format!("http://{}", api.local_addr().unwrap()), format!("http://{}", health.local_addr().unwrap()));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(card_service::serve(state, api, health, async {
        let _ = stopped.await;
    }));
    Running { api: api_url, health: health_url, postgres, _emulator: emulator, _stop: stop }
}

async fn error(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: ErrorBody = response.json().await.expect("a JSON error body");
    (status, body.error.code)
}

#[tokio::test]
async fn an_account_s_cards_come_with_image_urls_that_work() {
    let s = start().await;
    let http = reqwest::Client::new();
    let list: CardList = http.get(format!("{}/cards/{ALICE}", s.api)).send().await.unwrap().json().await.unwrap();
    assert_eq!(list.cards.iter().map(|c| c.id).collect::<Vec<_>>(), [CARD_1, CARD_2], "oldest first");
    assert_eq!(list.cards[0].last4, "1234");
    assert_eq!(list.cards[0].status, "inactive");
    let url = &list.cards[0].image_url;
    assert!(url.contains("X-Amz-Expires=600"), "valid ten minutes: {url}");
    let bytes = http.get(url).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(&bytes[..], IMAGE, "the presigned URL serves the card's image");

    let empty: CardList = http.get(format!("{}/cards/{BOB}", s.api)).send().await.unwrap().json().await.unwrap();
    assert!(empty.cards.is_empty());
    let bad = http.get(format!("{}/cards/not-a-uuid", s.api)).send().await.unwrap();
    assert_eq!(error(bad).await, (400, "bad_request".into()));
}

#[tokio::test]
async fn activation_is_idempotent_and_checks_the_account() {
    let s = start().await;
    let http = reqwest::Client::new();
    let activate = |card: Uuid, body: serde_json::Value| {
        http.post(format!("{}/cards/{card}/activation", s.api)).json(&body).send()
    };
    let first: Card = activate(CARD_1, serde_json::json!({"account_id": ALICE})).await.unwrap().json().await.unwrap();
    assert_eq!(first.status, "active");
    let again = activate(CARD_1, serde_json::json!({"account_id": ALICE})).await.unwrap();
    assert_eq!(again.status(), 200, "repeating an activation is harmless");
    assert_eq!(
        error(activate(CARD_1, serde_json::json!({"account_id": BOB})).await.unwrap()).await,
        (404, "not_found".into())
    );
    assert_eq!(
        error(activate(Uuid::from_u128(99), serde_json::json!({"account_id": ALICE})).await.unwrap()).await,
        (404, "not_found".into())
    );
    let list: CardList = http.get(format!("{}/cards/{ALICE}", s.api)).send().await.unwrap().json().await.unwrap();
    assert_eq!(list.cards.iter().map(|c| c.status.as_str()).collect::<Vec<_>>(), ["active", "inactive"]);
}

#[tokio::test]
async fn bad_input_gets_a_json_4xx_never_a_500() {
    let s = start().await;
    let http = reqwest::Client::new();
    let url = format!("{}/cards/{CARD_1}/activation", s.api);
    let plain = http.post(&url).body(r#"{"account_id": "x"}"#).send().await.unwrap();
    assert_eq!(error(plain).await, (415, "unsupported_media_type".into()));
    let json = |body: &str| http.post(&url).header("content-type", "application/json").body(body.to_string()).send();
    assert_eq!(error(json("{not json").await.unwrap()).await, (400, "bad_request".into()));
    assert_eq!(error(json(r#"{"account_id": "nope"}"#).await.unwrap()).await, (400, "bad_request".into()));
    assert_eq!(
        error(json(r#"{"account_id": "00000000-0000-0000-0000-000000000001", "x": 1}"#).await.unwrap()).await.0,
        400
    );
    let huge = format!(r#"{{"account_id": "{}"}}"#, "a".repeat(64 * 1024));
    assert_eq!(error(json(&huge).await.unwrap()).await, (413, "too_large".into()));
    let bad_card = http
        .post(format!("{}/cards/123/activation", s.api))
        .json(&serde_json::json!({"account_id": ALICE}))
        .send()
        .await
        .unwrap();
    assert_eq!(error(bad_card).await, (400, "bad_request".into()));
}

#[tokio::test]
async fn a_database_outage_answers_503_and_the_service_recovers_by_itself() {
    let s = start().await;
    let http = reqwest::Client::new();
    let ready = |http: &reqwest::Client| http.get(format!("{}/health/ready", s.health)).send();
    assert_eq!(ready(&http).await.unwrap().status(), 200);
    s.postgres.stop();
    let during = http.get(format!("{}/cards/{ALICE}", s.api)).send().await.unwrap();
    assert_eq!(error(during).await, (503, "unavailable".into()));
    assert_eq!(ready(&http).await.unwrap().status(), 503);
    assert_eq!(http.get(format!("{}/health/live", s.health)).send().await.unwrap().status(), 200, "still alive");
    s.postgres.restart();
    let mut recovered = false;
    for _ in 0..60 {
        if http.get(format!("{}/cards/{ALICE}", s.api)).send().await.unwrap().status() == 200 {
            recovered = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert!(recovered, "the service recovers when the database returns");
}

#[tokio::test]
async fn requests_are_counted_by_route_and_status() {
    let s = start().await;
    let http = reqwest::Client::new();
    http.get(format!("{}/cards/{ALICE}", s.api)).send().await.unwrap();
    http.get(format!("{}/cards/nope", s.api)).send().await.unwrap();
    let metrics = http.get(format!("{}/metrics", s.health)).send().await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains(r#"http_requests_total{route="/cards/{account_id}",method="GET",status="200"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"status="400""#), "{metrics}");
    assert!(metrics.contains("http_request_duration_seconds"), "{metrics}");
}

#[tokio::test]
async fn the_sample_data_loads_once_and_serves_its_images() {
    use card_service::seed;
    let s = start().await;
    let db = pool(format!("postgres://postgres@127.0.0.1:{}/cards", s.postgres.port).parse().unwrap());
    let s3 = aws_sdk_s3::Client::new(&s._emulator.sdk_config().await);
    seed::seed(&db, &s3, "images", "cards/").await.unwrap();
    seed::seed(&db, &s3, "images", "cards/").await.unwrap();
    let http = reqwest::Client::new();
    let list: CardList =
        http.get(format!("{}/cards/{}", s.api, seed::ACCOUNT_WITH_CARDS)).send().await.unwrap().json().await.unwrap();
    assert_eq!(list.cards.len(), 2, "loading twice changes nothing");
    let bytes = http.get(&list.cards[0].image_url).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(&bytes[..], seed::SAMPLE_IMAGE);
    let none: CardList = http
        .get(format!("{}/cards/{}", s.api, seed::ACCOUNT_WITHOUT_CARDS))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(none.cards.is_empty());
}

#[tokio::test]
async fn the_typed_client_talks_to_the_running_service() {
    use card_client::{CardClient, ClientError};
    let s = start().await;
    let client = CardClient::new(&s.api);
    let cards = client.cards(ALICE, Some("req-1")).await.unwrap();
    let echoed = reqwest::Client::new()
        .get(format!("{}/cards/{ALICE}", s.api))
        .header("x-request-id", "req-9")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "req-9", "the request id comes back");
    assert_eq!(cards.iter().map(|c| c.id).collect::<Vec<_>>(), [CARD_1, CARD_2]);
    assert!(client.cards(BOB, None).await.unwrap().is_empty());
    let card = client.activate(CARD_2, ALICE, Some("req-2")).await.unwrap();
    assert_eq!(card.status, "active");
    assert!(matches!(client.activate(CARD_2, BOB, None).await, Err(ClientError::NotFound(_))));
    // While the database is away, the client retries, then reports the outage.
    s.postgres.stop();
    assert!(matches!(client.cards(ALICE, None).await, Err(ClientError::Unavailable(_))));
    // A service that cannot be reached at all is a transport error, after the retries.
    let nowhere = CardClient::new("http://127.0.0.1:9");
    assert!(matches!(nowhere.cards(ALICE, None).await, Err(ClientError::Transport(_))));
}

#[tokio::test]
async fn database_credentials_can_come_from_the_managed_secret() {
    let postgres = Postgres::start();
    postgres.database("cards");
    let emulator = Emulator::start();
    let secrets = aws_sdk_secretsmanager::Client::new(&emulator.sdk_config().await);
    let created = secrets
        .create_secret()
        .name("rds-cards")
        .secret_string(r#"{"username": "postgres", "password": "unused-with-trust-auth"}"#)
        .send()
        .await
        .unwrap();
    let vars: std::collections::HashMap<String, String> = [
        ("DB_HOST", "127.0.0.1".to_string()),
        ("DB_PORT", postgres.port.to_string()),
        ("DB_NAME", "cards".into()),
        ("DB_SECRET_ARN", created.arn().unwrap().to_string()),
        ("CARD_IMAGES_BUCKET", "images".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let config = card_service::config::Config::from_vars(&vars).unwrap();
    let options = config.resolve_credentials(&secrets).await.unwrap();
    let db = pool(options);
    MIGRATOR.run(&db).await.expect("connected with the secret's user");
    let missing = card_service::config::Config {
        db_secret_arn: Some("arn:aws:secretsmanager:us-east-1:123456789012:secret:nope".into()),
        ..config
    };
    let err = missing.resolve_credentials(&secrets).await.unwrap_err().to_string();
    assert!(err.starts_with("reading the database secret arn:aws:secretsmanager"), "{err}");
}
