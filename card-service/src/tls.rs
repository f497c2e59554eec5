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

/// How many handshakes may be under way at once; more connections wait to be accepted.
const CONCURRENT_HANDSHAKES: usize = 1024;

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
    // No ALPN list: a client offering protocols is not refused for them (the load balancer speaks
    // HTTP/1.1 to an HTTPS target group whose protocol version is not set to HTTP/2).
    config.alpn_protocols = vec![];
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
        let handshakes = Arc::new(tokio::sync::Semaphore::new(CONCURRENT_HANDSHAKES));
        let acceptor = tokio::spawn(async move {
            loop {
                let Ok(permit) = handshakes.clone().acquire_owned().await else { return };
                let (stream, peer) = match tcp.accept().await {
                    Ok(accepted) => accepted,
                    // The connection went away before it was accepted: the next one.
                    Err(err)
                        if matches!(
                            err.kind(),
                            std::io::ErrorKind::ConnectionRefused
                                | std::io::ErrorKind::ConnectionAborted
                                | std::io::ErrorKind::ConnectionReset
                        ) =>
                    {
                        continue
                    }
                    Err(err) => {
                        // Out of file descriptors, say: wait a moment rather than spin (as axum's
                        // own TCP listener does).
                        tracing::warn!(error = %err, "accepting a connection");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                };
                let (tls, tx) = (tls.clone(), tx.clone());
                tokio::spawn(async move {
                    let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.accept(stream)).await;
                    drop(permit);
                    match handshake {
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
            // The accepting task ended (it only does when aborted, as the listener is dropped):
            // no connection comes again.
            None => {
                tracing::error!("the TLS acceptor stopped: no connection is accepted any more");
                std::future::pending().await
            }
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

    /// What the load balancer is: a client that checks no certificate.
    #[derive(Debug)]
    struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

    impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
        fn verify_server_cert(
            &self,
            _: &rustls::pki_types::CertificateDer<'_>,
            _: &[rustls::pki_types::CertificateDer<'_>],
            _: &rustls::pki_types::ServerName<'_>,
            _: &[u8],
            _: rustls::pki_types::UnixTime,
        ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        }
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &rustls::pki_types::CertificateDer<'_>,
            dss: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
        }
        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &rustls::pki_types::CertificateDer<'_>,
            dss: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
        }
        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }

    /// A handshake as the load balancer makes it under `ELBSecurityPolicy-2016-08` (TLS 1.2,
    /// ECDHE with AES-GCM, no server name: it connects to the task's address,
    /// https://docs.aws.amazon.com/elasticloadbalancing/latest/application/describe-ssl-policies.html),
    /// checking no certificate, succeeds, and so does one with TLS 1.3.
    #[tokio::test]
    async fn a_load_balancer_like_client_completes_its_handshake_with_tls_1_2_and_1_3() {
        let (address, _) = server().await;
        let suites = [
            rustls::crypto::aws_lc_rs::cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            rustls::crypto::aws_lc_rs::cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        ];
        let tls12 = rustls::crypto::CryptoProvider {
            cipher_suites: suites.to_vec(),
            ..rustls::crypto::aws_lc_rs::default_provider()
        };
        for (provider, versions) in [
            (tls12, &[&rustls::version::TLS12][..]),
            (rustls::crypto::aws_lc_rs::default_provider(), &[&rustls::version::TLS13][..]),
        ] {
            let provider = Arc::new(provider);
            let config = rustls::ClientConfig::builder_with_provider(provider.clone())
                .with_protocol_versions(versions)
                .unwrap()
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
                .with_no_client_auth();
            let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
            let tcp = TcpStream::connect(address).await.unwrap();
            let name = rustls::pki_types::ServerName::IpAddress(address.ip().into());
            let mut tls = connector.connect(name, tcp).await.expect("the handshake the load balancer makes");
            tls.write_all(b"GET /hello HTTP/1.1\r\nHost: 10.0.0.1\r\nConnection: close\r\n\r\n").await.unwrap();
            let mut answer = String::new();
            tls.read_to_string(&mut answer).await.unwrap();
            assert!(answer.starts_with("HTTP/1.1 200"), "{versions:?}: {answer}");
        }
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
