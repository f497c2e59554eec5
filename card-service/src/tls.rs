//! TLS on the API port, for the load balancer's connections to the tasks (`API_TLS=self-signed`).
//!
//! An Application Load Balancer encrypts its connections to a target group of protocol HTTPS
//! ("The load balancer establishes TLS connections with the targets using certificates that you
//! install on the targets. The load balancer does not validate these certificates. Therefore, you
//! can use self-signed certificates or certificates that have expired":
//! <https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-target-groups.html#target-group-routing-configuration>),
//! with TLS 1.2 or 1.3 and the ciphers of `ELBSecurityPolicy-2016-08` (or, when a listener uses a
//! TLS 1.3 policy, `ELBSecurityPolicy-TLS13-1-0-2021-06`), which rustls's defaults meet. So the
//! process makes its own certificate (ECDSA P-256) when it starts: the hop from the load balancer
//! to the task is encrypted, with no key to distribute, store or rotate (a new one each start).
//!
//! Handshakes run on their own tasks, each bounded in time, so a client that opens a connection
//! and says nothing delays no other connection.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// How long a client may take to complete its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The certificate could not be made.
    #[error("making the self-signed certificate")]
    Certificate(#[from] rcgen::Error),
    /// rustls refused the configuration.
    #[error("configuring TLS")]
    Config(#[from] rustls::Error),
}

/// A server configuration (TLS 1.2 and 1.3, rustls's safe defaults) with a new self-signed
/// certificate for `names` (the task's host names; the load balancer does not check them).
pub fn self_signed(names: &[String]) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    Ok(self_signed_with_certificate(names)?.0)
}

/// [`self_signed`], and the certificate it serves (for a client that is to trust it).
pub fn self_signed_with_certificate(
    names: &[String],
) -> Result<(Arc<rustls::ServerConfig>, rustls::pki_types::CertificateDer<'static>), TlsError> {
    let rcgen::CertifiedKey { cert, key_pair } = rcgen::generate_simple_self_signed(names.to_vec())?;
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(key_pair.serialize_der().into());
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], key)?;
    // HTTP/1.1 only: what the load balancer speaks to an HTTPS target group unless its protocol
    // version is set to HTTP/2 (it is not).
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((Arc::new(config), cert.der().clone()))
}

/// A listener whose connections are TLS: what `axum::serve` takes in place of a `TcpListener`.
pub struct TlsListener {
    accepted: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
    acceptor: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    /// Accepts TCP connections on `tcp` and completes their handshakes with `config`.
    pub fn new(tcp: TcpListener, config: Arc<rustls::ServerConfig>) -> std::io::Result<Self> {
        let local = tcp.local_addr()?;
        let (tx, accepted) = mpsc::channel(64);
        let tls = TlsAcceptor::from(config);
        let acceptor = tokio::spawn(async move {
            loop {
                let (stream, peer) = match tcp.accept().await {
                    Ok(accepted) => accepted,
                    Err(err) => {
                        // Out of file descriptors, say: wait a moment rather than spin.
                        tracing::warn!(error = %err, "accepting a connection");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let (tls, tx) = (tls.clone(), tx.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.accept(stream)).await {
                        Ok(Ok(stream)) => {
                            let _ = tx.send((stream, peer)).await;
                        }
                        Ok(Err(err)) => tracing::debug!(%peer, error = %err, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(Self { accepted, local, acceptor })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.acceptor.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.accepted.recv().await {
            Some(accepted) => accepted,
            // The accepting task ended (it only does when aborted): no connection comes again.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// A router answering `/hello`, served through a [`TlsListener`]; its address and the
    /// certificate it serves.
    async fn server() -> (SocketAddr, rustls::pki_types::CertificateDer<'static>) {
        let (config, certificate) = self_signed_with_certificate(&["localhost".into()]).unwrap();
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let listener = TlsListener::new(tcp, config).unwrap();
        let address = axum::serve::Listener::local_addr(&listener).unwrap();
        let router = axum::Router::new().route("/hello", axum::routing::get(|| async { "hello" }));
        tokio::spawn(async move { axum::serve(listener, router).await });
        (address, certificate)
    }

    /// `GET /hello` over TLS, trusting `certificate` for `localhost`: the status line.
    async fn get_over_tls(address: SocketAddr, certificate: &rustls::pki_types::CertificateDer<'static>) -> String {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(certificate.clone()).unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let tcp = TcpStream::connect(address).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let mut tls = connector.connect(name, tcp).await.expect("a TLS handshake with the served certificate");
        tls.write_all(b"GET /hello HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await.unwrap();
        let mut answer = String::new();
        tls.read_to_string(&mut answer).await.unwrap();
        assert!(answer.ends_with("hello"), "{answer}");
        answer.lines().next().unwrap_or_default().to_string()
    }

    #[tokio::test]
    async fn the_api_answers_over_tls_and_refuses_plain_http() {
        let (address, certificate) = server().await;
        assert_eq!(get_over_tls(address, &certificate).await, "HTTP/1.1 200 OK");

        // Plain HTTP to the TLS port gets no HTTP answer: the handshake fails, the connection closes.
        let mut plain = TcpStream::connect(address).await.unwrap();
        plain.write_all(b"GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n").await.unwrap();
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), plain.read_to_end(&mut answer)).await;
        assert!(!String::from_utf8_lossy(&answer).contains("hello"), "plain HTTP was served");
    }

    #[tokio::test]
    async fn a_client_that_never_completes_its_handshake_delays_no_other() {
        let (address, certificate) = server().await;
        // Connected, silent: its handshake waits on a task of its own.
        let _silent = TcpStream::connect(address).await.unwrap();
        let answered = tokio::time::timeout(Duration::from_secs(5), get_over_tls(address, &certificate)).await;
        assert_eq!(answered.expect("answered while the silent client waits"), "HTTP/1.1 200 OK");
    }
}
