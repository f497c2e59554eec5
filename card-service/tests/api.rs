//! The card service's API against a real PostgreSQL (a server of its own per test) and the
//! emulator's S3, through HTTP as clients use it. Every API response is checked against the
//! committed contract (`support::Contract`).

// Tests report what they measured (nextest shows it in the CI log).
#![allow(clippy::print_stdout)]

mod support;

use std::sync::Arc;

use card_service::cards::{Card, CardList};
use card_service::config::DEFAULT_POOL_SIZE;
use card_service::database::Database;
use card_service::images::Images;
use card_service::{pool, AppState, MIGRATOR};
use platform_tests::{Emulator, Postgres};
use support::{Checked, Contract};
use uuid::Uuid;

const CARDS: &str = "/cards/{account_id}";
const ACTIVATION: &str = "/cards/{card_id}/activation";

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
    http: reqwest::Client,
    contract: Contract,
    /// The secret the service reads its credentials from, when it does ([`start_with_secret`]).
    secret_arn: Option<String>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Running {
    /// `GET /cards/{account}`, checked against the contract.
    async fn cards(&self, account: impl std::fmt::Display) -> Checked {
        let response = self.http.get(format!("{}/cards/{account}", self.api)).send().await.unwrap();
        self.contract.check("GET", CARDS, response).await
    }

    /// `POST /cards/{card}/activation` as `request` sets it up, checked against the contract.
    async fn activation(
        &self,
        card: impl std::fmt::Display,
        request: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
    ) -> Checked {
        let builder = self.http.post(format!("{}/cards/{card}/activation", self.api));
        self.contract.check("POST", ACTIVATION, request(builder).send().await.unwrap()).await
    }

    /// Activates `card` (any text as its id) for `account`.
    async fn activate(&self, card: impl std::fmt::Display, account: Uuid) -> Checked {
        self.activation(card, |r| r.json(&serde_json::json!({ "account_id": account }))).await
    }

    /// Whether the API answers 200 again within fifteen seconds (after an outage).
    async fn recovers(&self) -> bool {
        for _ in 0..60 {
            if self.cards(ALICE).await.status == 200 {
                return true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
        false
    }
}

/// The service on a database of its own, connecting as its owner with fixed credentials (a role
/// with what RDS gives its master user, not a superuser: the migrations run as it).
async fn start() -> Running {
    start_as(None).await
}

/// The service connecting as `user` (a role the migrations made, given the password
/// `first-password` here as a deployment would give it credentials), its credentials read from a
/// secret in the emulator, as deployed.
async fn start_with_secret(user: &str) -> Running {
    start_as(Some(user)).await
}

async fn start_as(secret_user: Option<&str>) -> Running {
    let postgres = Postgres::start();
    let url = postgres.database_owned_by("cards", "cards_owner");
    let emulator = Emulator::start();
    let sdk = emulator.sdk_config().await;
    let s3 = aws_sdk_s3::Client::new(&sdk);
    s3.create_bucket().bucket("images").send().await.unwrap();
    s3.put_object()
        .bucket("images")
        .key("cards/1.png")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(IMAGE))
        .send()
        .await
        .unwrap();

    let db = pool(url.parse().unwrap(), DEFAULT_POOL_SIZE);
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
    let images = Images::new(&sdk, "images").await.unwrap();
    images.warm_up().await.unwrap();
    let (db, secret_arn) = match secret_user {
        None => (Database::fixed(db), None),
        Some(user) => {
            postgres.sql("cards", &format!("ALTER ROLE {user} PASSWORD 'first-password'"));
            let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
            let credentials = serde_json::json!({"username": user, "password": "first-password"});
            let created =
                secrets.create_secret().name("cards-db").secret_string(credentials.to_string()).send().await.unwrap();
            let arn = created.arn().unwrap().to_string();
            let db = Database::from_secret(secrets, &arn, url.parse().unwrap(), DEFAULT_POOL_SIZE).await.unwrap();
            (db, Some(arn))
        }
    };
    let state = AppState { db, images: Arc::new(images) };
    let api = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let health = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (api_url, health_url) =
        (format!("http://{}", api.local_addr().unwrap()), format!("http://{}", health.local_addr().unwrap()));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(card_service::serve(state, api, health, async {
        let _ = stopped.await;
    }));
    Running {
        api: api_url,
        health: health_url,
        postgres,
        _emulator: emulator,
        http: reqwest::Client::new(),
        contract: Contract::load(),
        secret_arn,
        _stop: stop,
    }
}

#[tokio::test]
async fn an_account_s_cards_come_with_image_urls_that_work() {
    let s = start().await;
    let list: CardList = s.cards(ALICE).await.json();
    assert_eq!(list.cards.iter().map(|c| c.id).collect::<Vec<_>>(), [CARD_1, CARD_2], "oldest first");
    assert_eq!(list.cards[0].last4, "1234");
    assert_eq!(list.cards[0].status, "inactive");
    let url = &list.cards[0].image_url;
    assert!(url.contains("X-Amz-Expires=600"), "valid ten minutes: {url}");
    let bytes = s.http.get(url).send().await.unwrap().bytes().await.unwrap();
    // The emulator serves presigned URLs without checking their signature; the signature itself
    // is checked against AWS's published example in `images.rs`.
    assert_eq!(&bytes[..], IMAGE, "the presigned URL serves the card's image");

    let empty: CardList = s.cards(BOB).await.json();
    assert!(empty.cards.is_empty());
    assert_eq!(s.cards("not-a-uuid").await.error(), (400, "bad_request".into()));
}

#[tokio::test]
async fn activation_is_idempotent_and_checks_the_account() {
    let s = start().await;
    let first: Card = s.activate(CARD_1, ALICE).await.json();
    assert_eq!(first.status, "active");
    let again = s.activate(CARD_1, ALICE).await;
    assert_eq!(again.status, 200, "repeating an activation is harmless");
    assert_eq!(again.json::<Card>().status, "active");
    assert_eq!(s.activate(CARD_1, BOB).await.error(), (404, "not_found".into()));
    assert_eq!(s.activate(Uuid::from_u128(99), ALICE).await.error(), (404, "not_found".into()));
    let list: CardList = s.cards(ALICE).await.json();
    assert_eq!(list.cards.iter().map(|c| c.status.as_str()).collect::<Vec<_>>(), ["active", "inactive"]);
}

#[tokio::test]
async fn bad_input_gets_a_json_4xx_never_a_500() {
    let s = start().await;
    let plain = s.activation(CARD_1, |r| r.body(r#"{"account_id": "x"}"#)).await;
    assert_eq!(plain.error(), (415, "unsupported_media_type".into()));
    let json = |body: String| move |r: reqwest::RequestBuilder| r.header("content-type", "application/json").body(body);
    assert_eq!(s.activation(CARD_1, json("{not json".into())).await.error(), (400, "bad_request".into()));
    assert_eq!(
        s.activation(CARD_1, json(r#"{"account_id": "nope"}"#.into())).await.error(),
        (400, "bad_request".into())
    );
    let unknown_field = r#"{"account_id": "00000000-0000-0000-0000-000000000001", "x": 1}"#;
    assert_eq!(s.activation(CARD_1, json(unknown_field.into())).await.status, 400);
    let huge = format!(r#"{{"account_id": "{}"}}"#, "a".repeat(64 * 1024));
    assert_eq!(s.activation(CARD_1, json(huge)).await.error(), (413, "too_large".into()));
    assert_eq!(s.activate("123", ALICE).await.error(), (400, "bad_request".into()));
    // Outside the contract's operations too: unknown routes, methods and undecodable paths.
    for (method, url, status, code) in [
        (reqwest::Method::GET, format!("{}/nope", s.api), 404, "not_found"),
        (reqwest::Method::GET, format!("{}/cards/%FF%FE", s.api), 400, "bad_request"),
        (reqwest::Method::DELETE, format!("{}/cards/{ALICE}", s.api), 405, "method_not_allowed"),
        (reqwest::Method::GET, format!("{}/nope", s.health), 404, "not_found"),
    ] {
        let answer = s.http.request(method.clone(), &url).send().await.unwrap();
        assert_eq!(answer.status().as_u16(), status, "{method} {url}");
        let kind = answer.headers()["content-type"].to_str().unwrap().to_string();
        assert!(kind.starts_with("application/json"), "{method} {url}: {kind}");
        let body: serde_json::Value = answer.json().await.unwrap();
        assert_eq!(body["error"]["code"], code, "{method} {url}: {body}");
    }
}

#[tokio::test]
async fn a_database_outage_answers_503_and_the_service_recovers_by_itself() {
    let s = start().await;
    let http = &s.http;
    let ready = |http: &reqwest::Client| http.get(format!("{}/health/ready", s.health)).send();
    assert_eq!(ready(http).await.unwrap().status(), 200);
    s.postgres.stop();
    assert_eq!(s.cards(ALICE).await.error(), (503, "unavailable".into()));
    assert_eq!(s.activate(CARD_1, ALICE).await.error(), (503, "unavailable".into()));
    assert_eq!(ready(http).await.unwrap().status(), 503);
    assert_eq!(http.get(format!("{}/health/live", s.health)).send().await.unwrap().status(), 200, "still alive");
    s.postgres.restart();
    assert!(s.recovers().await, "the service recovers when the database returns");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_restart_under_load_fails_no_liveness_check_and_answers_503_until_it_is_back() {
    let s = std::sync::Arc::new(start().await);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Load: clients asking for cards in a loop, each answer a 200 or a JSON 503, never a hang.
    let mut clients = vec![];
    for _ in 0..8 {
        let (s, stop) = (s.clone(), stop.clone());
        clients.push(tokio::spawn(async move {
            let (mut ok, mut unavailable, mut slowest) = (0, 0, std::time::Duration::ZERO);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let started = std::time::Instant::now();
                let answer = s.cards(ALICE).await;
                match answer.status {
                    200 => ok += 1,
                    503 => {
                        assert_eq!(answer.error(), (503, "unavailable".into()));
                        unavailable += 1;
                        slowest = slowest.max(started.elapsed());
                    }
                    other => panic!("during a database restart the API answered {other}"),
                }
            }
            (ok, unavailable, slowest)
        }));
    }
    // What the load balancer checks, throughout: liveness.
    let live = {
        let (s, stop) = (s.clone(), stop.clone());
        tokio::spawn(async move {
            let (mut checks, mut failed) = (0, 0);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let answer = s.http.get(format!("{}/health/live", s.health)).send().await;
                checks += 1;
                if !answer.is_ok_and(|a| a.status() == 200) {
                    failed += 1;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            (checks, failed)
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    s.postgres.stop();
    let ready = s.http.get(format!("{}/health/ready", s.health)).send().await.unwrap();
    assert_eq!(ready.status(), 503, "readiness reports the database away");
    // A failover's minute or two, shortened.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    s.postgres.restart();
    let recovered = s.recovers().await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (checks, failed) = live.await.unwrap();
    let (mut ok, mut unavailable, mut slowest) = (0, 0, std::time::Duration::ZERO);
    for client in clients {
        let (o, u, s) = client.await.unwrap();
        (ok, unavailable, slowest) = (ok + o, unavailable + u, slowest.max(s));
    }
    println!(
        "database restart under load: {ok} answered 200, {unavailable} answered 503 (slowest {slowest:?}); liveness {failed} of {checks} checks failed"
    );
    assert!(recovered, "the service recovers when the database is back");
    assert_eq!(failed, 0, "no liveness check failed: the load balancer would replace no task");
    assert!(unavailable > 0 && ok > 0, "the outage was seen, and served around");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_rotation_under_load_fails_no_request_beyond_the_bounded_retry() {
    // A task started before the rotation, its pool not connected yet (as after a scale-out, or a
    // pool growing under load): every connection it opens meets the rotation.
    let s = std::sync::Arc::new(start_with_secret("card_app").await);
    let secrets = aws_sdk_secretsmanager::Client::new(&s._emulator.sdk_config().await);
    let arn = s.secret_arn.clone().unwrap();
    let old = secrets.get_secret_value().secret_id(&arn).send().await.unwrap().version_id().unwrap().to_string();

    // Rotation by Secrets Manager's steps: createSecret stores the new password as AWSPENDING...
    let credentials = serde_json::json!({"username": "card_app", "password": "second-password"});
    let pending = secrets
        .put_secret_value()
        .secret_id(&arn)
        .secret_string(credentials.to_string())
        .version_stages("AWSPENDING")
        .send()
        .await
        .unwrap();
    let new = pending.version_id().unwrap().to_string();
    // ... setSecret changes it in the database: from here until finishSecret, AWSCURRENT holds a
    // password the database refuses.
    s.postgres.sql("cards", "ALTER ROLE card_app PASSWORD 'second-password'");

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut clients = vec![];
    for _ in 0..8 {
        let (s, stop) = (s.clone(), stop.clone());
        clients.push(tokio::spawn(async move {
            let (mut ok, mut failed, mut slowest) = (0, vec![], std::time::Duration::ZERO);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let started = std::time::Instant::now();
                match s.cards(ALICE).await.status {
                    200 => ok += 1,
                    other => failed.push(other),
                }
                slowest = slowest.max(started.elapsed());
            }
            (ok, failed, slowest)
        }));
    }
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    // ... finishSecret moves AWSCURRENT to the new version, under load.
    secrets
        .update_secret_version_stage()
        .secret_id(&arn)
        .version_stage("AWSCURRENT")
        .move_to_version_id(&new)
        .remove_from_version_id(&old)
        .send()
        .await
        .unwrap();
    secrets
        .update_secret_version_stage()
        .secret_id(&arn)
        .version_stage("AWSPENDING")
        .remove_from_version_id(&new)
        .send()
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (mut ok, mut failed, mut slowest) = (0, vec![], std::time::Duration::ZERO);
    for client in clients {
        let (o, f, s) = client.await.unwrap();
        (ok, slowest) = (ok + o, slowest.max(s));
        failed.extend(f);
    }
    let metrics = s.http.get(format!("{}/metrics", s.health)).send().await.unwrap().text().await.unwrap();
    let refused = metrics
        .lines()
        .find_map(|l| l.strip_prefix("database_credentials_refused_total "))
        .and_then(|n| n.trim().parse::<f64>().ok())
        .unwrap_or(0.0);
    let mut by_status = std::collections::BTreeMap::<u16, usize>::new();
    for status in &failed {
        *by_status.entry(*status).or_default() += 1;
    }
    println!(
        "password rotation under load: {ok} answered 200, {} failed {by_status:?} (slowest {slowest:?}); the database refused the credentials {refused} times, each followed by reading the secret again",
        failed.len()
    );
    assert!(failed.is_empty(), "no request failed beyond the bounded retry: {by_status:?}");
    assert!(refused >= 1.0, "the rotation was met (stale credentials refused, then read again)");
    assert!(ok > 0);

    // A task started after the rotation reads the new current version.
    let fresh = Database::from_secret(secrets, &arn, s.postgres.url("cards").parse().unwrap(), 1).await.unwrap();
    let (n,): (i64,) = fresh.run(|db| sqlx::query_as("SELECT count(*) FROM cards").fetch_one(db)).await.unwrap();
    assert_eq!(n, 2);
}

#[tokio::test]
async fn the_application_role_works_and_is_refused_ddl_and_other_tables() {
    // The service as deployed: connected as the role the migrations made, nothing else.
    let s = start_with_secret("card_app").await;
    let list: CardList = s.cards(ALICE).await.json();
    assert_eq!(list.cards.len(), 2);
    assert_eq!(s.activate(CARD_1, ALICE).await.status, 200);
    assert_eq!(s.activate(CARD_2, BOB).await.error(), (404, "not_found".into()));

    // What an injected statement could try, as that role: every one refused for its privileges
    // (42501), whatever it targets.
    let url =
        s.postgres.url("cards").replacen(&format!("postgres:{}", s.postgres.password), "card_app:first-password", 1);
    let mut app = <sqlx::PgConnection as sqlx::Connection>::connect(&url).await.unwrap();
    s.postgres.sql("cards", "CREATE TABLE audit (entry TEXT)");
    for statement in [
        "CREATE TABLE stolen (data TEXT)",
        "DROP TABLE cards",
        "ALTER TABLE cards ADD COLUMN pan TEXT",
        "TRUNCATE cards",
        "DELETE FROM cards",
        "INSERT INTO cards (id, account_id, holder, last4, status, image_key) VALUES (gen_random_uuid(), gen_random_uuid(), 'x', '0000', 'active', 'k')",
        "UPDATE cards SET holder = 'Mallory'",
        "UPDATE cards SET account_id = gen_random_uuid()",
        "SELECT * FROM audit",
        "SELECT * FROM _sqlx_migrations",
        "CREATE ROLE intruder LOGIN",
        "CREATE TEMPORARY TABLE scratch (data TEXT)",
        "CREATE SCHEMA stolen",
    ] {
        let refused = sqlx::query(statement).execute(&mut app).await.unwrap_err();
        let code = refused.as_database_error().and_then(|e| e.code()).map(|c| c.to_string());
        assert_eq!(code.as_deref(), Some("42501"), "{statement}: {refused}");
    }
    // What the code needs still works on the same connection.
    let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM cards").fetch_one(&mut app).await.unwrap();
    assert_eq!(n, 2);
}

#[tokio::test]
async fn requests_are_counted_by_route_and_status() {
    let s = start().await;
    s.cards(ALICE).await;
    s.cards("nope").await;
    let metrics = s.http.get(format!("{}/metrics", s.health)).send().await.unwrap().text().await.unwrap();
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
    let db = pool(s.postgres.url("cards").parse().unwrap(), DEFAULT_POOL_SIZE);
    let s3 = aws_sdk_s3::Client::new(&s._emulator.sdk_config().await);
    seed::seed(&db, &s3, "images", "cards/").await.unwrap();
    seed::seed(&db, &s3, "images", "cards/").await.unwrap();
    let list: CardList = s.cards(seed::ACCOUNT_WITH_CARDS).await.json();
    assert_eq!(list.cards.len(), 2, "loading twice changes nothing");
    let bytes = s.http.get(&list.cards[0].image_url).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(&bytes[..], seed::SAMPLE_IMAGE);
    let none: CardList = s.cards(seed::ACCOUNT_WITHOUT_CARDS).await.json();
    assert!(none.cards.is_empty());
}

#[tokio::test]
async fn the_typed_client_talks_to_the_running_service() {
    use card_client::{CardClient, ClientError};
    let s = start().await;
    let client = CardClient::new(&s.api);
    let cards = client.cards(ALICE, Some("req-1")).await.unwrap();
    let echoed = s.http.get(format!("{}/cards/{ALICE}", s.api)).header("x-request-id", "req-9").send().await.unwrap();
    let echoed = s.contract.check("GET", CARDS, echoed).await;
    assert_eq!(echoed.headers["x-request-id"], "req-9", "the request id comes back");
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
        .secret_string(serde_json::json!({"username": "postgres", "password": postgres.password}).to_string())
        .send()
        .await
        .unwrap();
    let vars: std::collections::HashMap<String, String> = [
        ("DB_HOST", "127.0.0.1".to_string()),
        ("DB_PORT", postgres.port.to_string()),
        ("DB_NAME", "cards".into()),
        ("DB_SECRET_ARN", created.arn().unwrap().to_string()),
        ("DB_CA_BUNDLE", postgres.ca.display().to_string()),
        ("CARD_IMAGES_BUCKET", "images".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let config = card_service::config::Config::from_vars(&vars).unwrap();
    let db = Database::from_secret(secrets.clone(), created.arn().unwrap(), config.database.clone(), DEFAULT_POOL_SIZE)
        .await
        .unwrap();
    MIGRATOR.run(db.pool()).await.expect("connected with the secret's user");
    let missing = "arn:aws:secretsmanager:us-east-1:123456789012:secret:nope";
    let err = Database::from_secret(secrets, missing, config.database, 1).await.err().unwrap().to_string();
    assert!(err.starts_with("reading the database secret arn:aws:secretsmanager"), "{err}");
}

#[tokio::test]
async fn the_database_is_reached_over_verified_tls_only() {
    // The service, its migrations and its readiness already run over verified TLS in every test
    // here (the server refuses anything else); a plain connection is refused by the server...
    let postgres = Postgres::start();
    let url = postgres.database("cards");
    let plain = url.replace("sslmode=verify-full", "sslmode=disable");
    let err = sqlx::PgPool::connect(&plain).await.unwrap_err().to_string();
    assert!(err.contains("no encryption"), "the server refuses plaintext: {err}");
    // ... and a server whose certificate names another host is refused by the service.
    let impostor = Postgres::start_as("DNS:db.elsewhere.example");
    let url = impostor.database("cards");
    let config = card_service::config::Config::from_vars(
        &[("DATABASE_URL", url.as_str()), ("CARD_IMAGES_BUCKET", "images")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
    .unwrap();
    let err = MIGRATOR.run(&pool(config.database, 1)).await.unwrap_err().to_string();
    assert!(err.contains("certificate") && err.contains("127.0.0.1"), "a clear refusal: {err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_connections_are_all_answered() {
    // Correctness under load, not speed (BENCHMARKS.md has the numbers): 100 clients, each on its
    // own connection, ask at the same time, repeatedly; every answer is a conforming 200.
    let s = std::sync::Arc::new(start().await);
    let started = std::sync::Arc::new(tokio::sync::Barrier::new(100));
    let clients: Vec<_> = (0..100)
        .map(|_| {
            let (s, started) = (s.clone(), started.clone());
            tokio::spawn(async move {
                let http = reqwest::Client::builder().pool_max_idle_per_host(1).build().unwrap();
                started.wait().await;
                let mut statuses = vec![];
                for _ in 0..10 {
                    let response = http.get(format!("{}/cards/{ALICE}", s.api)).send().await.unwrap();
                    let checked = s.contract.check("GET", CARDS, response).await;
                    statuses.push(checked.status);
                    if checked.status == 200 {
                        assert_eq!(checked.json::<CardList>().cards.len(), 2);
                    }
                }
                statuses
            })
        })
        .collect();
    let mut answered = std::collections::BTreeMap::<u16, usize>::new();
    for client in clients {
        for status in client.await.unwrap() {
            *answered.entry(status).or_default() += 1;
        }
    }
    assert_eq!(answered, std::collections::BTreeMap::from([(200, 1000)]), "every request answered 200");
}

/// Records the AWS calls (IAM action and resource ARN) made through the clients it is installed
/// in.
#[derive(Debug, Clone, Default)]
struct Recorder {
    calls: Arc<std::sync::Mutex<std::collections::BTreeSet<(String, String)>>>,
}

impl aws_sdk_s3::config::Intercept for Recorder {
    fn name(&self) -> &'static str {
        "aws-call-recorder"
    }

    fn read_before_execution(
        &self,
        context: &aws_sdk_s3::config::interceptors::BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut aws_sdk_s3::config::ConfigBag,
    ) -> Result<(), aws_sdk_s3::error::BoxError> {
        let input = context.input();
        let call = if let Some(get) =
            input.downcast_ref::<aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueInput>()
        {
            ("secretsmanager:GetSecretValue".to_string(), get.secret_id().unwrap().to_string())
        } else {
            // Any other call is recorded by its input's type, so the test fails on it by name.
            let described = format!("{input:?}");
            (format!("unexpected call: {}", described.chars().take(80).collect::<String>()), "?".to_string())
        };
        self.calls.lock().unwrap().insert(call);
        Ok(())
    }
}

/// The S3 call a presigned URL makes, as IAM sees it. The emulator is addressed by IP, so its
/// URLs are path-style (`/bucket/key`).
fn presigned_call(url: &str) -> (String, String) {
    let url = reqwest::Url::parse(url).unwrap();
    assert!(url.query_pairs().any(|(name, _)| name == "X-Amz-Signature"), "a presigned URL: {url}");
    ("s3:GetObject".to_string(), format!("arn:aws:s3:::{}", &url.path()[1..]))
}

/// `value` with references replaced by `known` (`address.attr` → value) and joins concatenated.
fn resolve(value: &serde_json::Value, known: &std::collections::BTreeMap<String, String>) -> String {
    if let Some(address) = value.get("$ref").and_then(|a| a.as_str()) {
        let key = format!("{address}.{}", value["attr"].as_str().unwrap());
        return known.get(&key).cloned().unwrap_or(format!("<{key}>"));
    }
    if let Some(parts) = value.get("$join").and_then(|p| p.as_array()) {
        return parts.iter().map(|p| resolve(p, known)).collect();
    }
    value.as_str().expect("a literal, a reference or a join").to_string()
}

/// `*` in an IAM resource matches any text.
fn iam_matches(pattern: &str, arn: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == arn,
        Some((head, tail)) => arn.starts_with(head) && (head.len()..=arn.len()).any(|i| iam_matches(tail, &arn[i..])),
    }
}

#[tokio::test]
async fn the_roles_allow_exactly_what_the_code_calls_plus_what_ecs_needs() {
    // What the code does: serve requests (list cards, activate one), and read the database secret
    // (at start-up, and its current and pending versions after a rotation). The service makes no S3 call itself: the presigned URLs it hands out are
    // GetObject calls made with its credentials by whoever follows them, so each counts as a call.
    let recorder = Recorder::default();
    let s = start().await;
    for account in [ALICE, BOB] {
        let list: CardList = s.cards(account).await.json();
        for card in list.cards {
            recorder.calls.lock().unwrap().insert(presigned_call(&card.image_url));
        }
    }
    assert_eq!(s.activate(CARD_1, ALICE).await.status, 200);
    let sdk = s._emulator.sdk_config().await;
    let secrets = aws_sdk_secretsmanager::Client::from_conf(
        aws_sdk_secretsmanager::config::Builder::from(&sdk).interceptor(recorder.clone()).build(),
    );
    let setup = aws_sdk_secretsmanager::Client::new(&sdk);
    let secret = setup.create_secret().name("rds-db").secret_string(r#"{"username":"u","password":"p"}"#).send().await;
    let secret_arn = secret.unwrap().arn().unwrap().to_string();
    let config = card_service::config::Config {
        db_secret_arn: Some(secret_arn.clone()),
        ..card_service::config::Config::from_vars(
            &[("DATABASE_URL", "postgres://x@127.0.0.1/cards"), ("CARD_IMAGES_BUCKET", "images")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
        .unwrap()
    };
    Database::from_secret(secrets, &secret_arn, config.database, 1).await.unwrap();
    let calls = recorder.calls.lock().unwrap().clone();
    let actions: std::collections::BTreeSet<&str> = calls.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(actions, ["s3:GetObject", "secretsmanager:GetSecretValue"].into(), "{calls:?}");

    // What the card stacks grant, with the test's bucket and secret in place of the stacks' own.
    let env = stacks::Environments::builtin().get("prod").unwrap().clone();
    let foundation = stacks::foundation(&env).unwrap();
    let specs = card_stacks::card_stacks(&env, &foundation, "1.0.0").unwrap();
    let service = specs.iter().find(|s| s.name == "card-service").unwrap();
    let known = std::collections::BTreeMap::from([
        ("card-dependencies.images.arn".to_string(), "arn:aws:s3:::images".to_string()),
        ("card-dependencies.db-instance.master_user_secret_arn".to_string(), secret_arn.clone()),
    ]);
    let grants = |logical: &str| -> Vec<(String, String)> {
        let role =
            service.resources.iter().find(|r| r.address.to_string() == format!("card-service.{logical}")).unwrap();
        assert_eq!(role.props["managed_policies"], serde_json::json!([]), "{logical}: no managed policies");
        let mut out = vec![];
        for policy in role.props["policies"].as_object().unwrap().values() {
            for statement in policy["statements"].as_array().unwrap() {
                assert_eq!(statement["effect"], "Allow");
                for action in statement["actions"].as_array().unwrap() {
                    for resource in statement["resources"].as_array().unwrap() {
                        out.push((action.as_str().unwrap().to_string(), resolve(resource, &known)));
                    }
                }
            }
        }
        out
    };
    let task = grants("task-role");
    let execution = grants("execution-role");

    // Every call the code makes is allowed, by the task role (the code reads the secret itself).
    for (action, arn) in &calls {
        let role = &task;
        assert!(
            role.iter().any(|(a, r)| a == action && iam_matches(r, arn)),
            "{action} on {arn} is not allowed: {role:?}"
        );
    }
    // The task role allows nothing else: only the actions called, only on resources called.
    for (action, pattern) in &task {
        assert!(
            calls.iter().any(|(a, arn)| a == action && iam_matches(pattern, arn)),
            "the task role allows {action} on {pattern}, which the code never calls"
        );
    }
    assert_eq!(
        task,
        [
            ("s3:GetObject".to_string(), "arn:aws:s3:::images/cards/*".to_string()),
            ("secretsmanager:GetSecretValue".to_string(), secret_arn.clone()),
        ]
    );
    // The execution role: what ECS itself needs to pull the image and ship logs, nothing else.
    let ecs_needs = [
        "ecr:GetAuthorizationToken",
        "ecr:BatchCheckLayerAvailability",
        "ecr:GetDownloadUrlForLayer",
        "ecr:BatchGetImage",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
    ];
    for (action, pattern) in &execution {
        let called = calls.iter().any(|(a, arn)| a == action && iam_matches(pattern, arn));
        assert!(
            called || ecs_needs.contains(&action.as_str()),
            "the execution role allows {action} on {pattern}, which neither the code nor ECS needs"
        );
        if pattern == "*" {
            assert_eq!(action, "ecr:GetAuthorizationToken", "only the action AWS cannot scope is on `*`");
        }
    }
    let granted: std::collections::BTreeSet<&str> = execution.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(granted, ecs_needs.into_iter().collect());
}
