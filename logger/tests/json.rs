//! Log lines are JSON with the service's identity and, in a request, its request id.

use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::routing::get;
use axum::Router;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn lines_are_json_with_identity_and_request_id() {
    let captured = Captured::default();
    service_logger::init_with(
        service_logger::Identity { service: "card-service", version: "1.2.3", environment: "dev".into() },
        captured.clone(),
    );
    let app =
        Router::new().route("/", get(|| async { "ok" })).layer(axum::middleware::from_fn(service_logger::request_id));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream.write_all(b"GET / HTTP/1.1\r\nhost: x\r\nx-request-id: abc-123\r\nconnection: close\r\n\r\n").await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.to_lowercase().contains("x-request-id: abc-123"), "the id is returned: {answer}");

    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let line = text.lines().find(|l| l.contains("abc-123")).unwrap_or_else(|| panic!("a request line in {text}"));
    let json: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(json["level"], "INFO");
    assert!(json["timestamp"].is_string());
    let spans = json["spans"].as_array().unwrap();
    let field = |name: &str| spans.iter().find_map(|s| s.get(name).cloned());
    assert_eq!(field("request_id"), Some(serde_json::json!("abc-123")));
    assert_eq!(field("service"), Some(serde_json::json!("card-service")));
    assert_eq!(field("version"), Some(serde_json::json!("1.2.3")));
    assert_eq!(field("environment"), Some(serde_json::json!("dev")));
}
