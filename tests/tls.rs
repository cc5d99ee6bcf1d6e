//! TLS end to end on a loopback socket, with certificates the test makes:
//! a TLS client reaches the server and a plaintext one does not; with a
//! client CA (mutual TLS) only a client with a certificate from that CA does.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, ExtendedKeyUsagePurpose, IsCa, KeyPair,
};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use symbatcher::pb::v1::status_service_client::StatusServiceClient;
use symbatcher::pb::v1::StatusRequest;
use symbatcher::tls::TlsSettings;

/// A CA, a server certificate for localhost and a client certificate, as PEM.
struct Pki {
    ca: String,
    server_cert: String,
    server_key: String,
    client_cert: String,
    client_key: String,
}

fn make_pki() -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("key"))
        .expect("CA certificate");
    let leaf = |names: Vec<String>, usage: ExtendedKeyUsagePurpose| {
        let mut params = CertificateParams::new(names).expect("params");
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &ca).expect("signed");
        (cert.pem(), key.serialize_pem())
    };
    let (server_cert, server_key) = leaf(
        vec!["localhost".into(), "127.0.0.1".into()],
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    let (client_cert, client_key) =
        leaf(vec!["worker-1".into()], ExtendedKeyUsagePurpose::ClientAuth);
    Pki {
        ca: ca.pem(),
        server_cert,
        server_key,
        client_cert,
        client_key,
    }
}

/// PEM files in a directory of their own, removed on drop.
struct Files {
    dir: PathBuf,
}

impl Files {
    fn write(name: &str, files: &[(&str, &str)]) -> Files {
        let dir = std::env::temp_dir().join(format!("symbatcher-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        for (file, text) in files {
            std::fs::write(dir.join(file), text).expect("write PEM");
        }
        Files { dir }
    }

    fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Serves with `tls` on a loopback port; returns the port and the stop switch.
async fn serve_tls(tls: TlsSettings) -> (u16, oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let mut config = common::config();
    config.tls = Some(tls);
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    tokio::spawn(symbatcher::run(listener, config, async move {
        let _ = stop_rx.await;
    }));
    (port, stop_tx)
}

async fn status_over(channel: Channel) -> Result<(), tonic::Status> {
    StatusServiceClient::new(channel)
        .status(StatusRequest {})
        .await
        .map(|_| ())
}

async fn connect(
    port: u16,
    tls: Option<ClientTlsConfig>,
) -> Result<Channel, tonic::transport::Error> {
    let scheme = if tls.is_some() { "https" } else { "http" };
    let mut endpoint = Endpoint::from_shared(format!("{scheme}://localhost:{port}"))
        .expect("uri")
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(5));
    if let Some(tls) = tls {
        endpoint = endpoint.tls_config(tls).expect("client TLS config");
    }
    endpoint.connect().await
}

#[tokio::test]
async fn tls_clients_connect_and_plaintext_clients_do_not() {
    let pki = make_pki();
    let files = Files::write(
        "tls",
        &[("cert.pem", &pki.server_cert), ("key.pem", &pki.server_key)],
    );
    let tls = TlsSettings::load(&files.path("cert.pem"), &files.path("key.pem"), None)
        .expect("valid PEM files");
    drop(files);
    let (port, _stop) = serve_tls(tls).await;

    let trusted = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&pki.ca))
        .domain_name("localhost");
    let channel = connect(port, Some(trusted)).await.expect("TLS handshake");
    status_over(channel).await.expect("Status over TLS");

    // Plaintext HTTP/2 to a TLS port: the call fails.
    let plain = connect(port, None).await;
    let refused = match plain {
        Ok(channel) => status_over(channel).await.is_err(),
        Err(_) => true,
    };
    assert!(
        refused,
        "a plaintext client got an answer from the TLS server"
    );

    // A client that does not trust the server's CA fails the handshake.
    let other = make_pki();
    let untrusted = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&other.ca))
        .domain_name("localhost");
    let refused = match connect(port, Some(untrusted)).await {
        Ok(channel) => status_over(channel).await.is_err(),
        Err(_) => true,
    };
    assert!(refused, "a client trusting another CA connected");
}

#[tokio::test]
async fn with_a_client_ca_only_clients_with_its_certificates_connect() {
    let pki = make_pki();
    let files = Files::write(
        "mtls",
        &[
            ("cert.pem", &pki.server_cert),
            ("key.pem", &pki.server_key),
            ("ca.pem", &pki.ca),
        ],
    );
    let tls = TlsSettings::load(
        &files.path("cert.pem"),
        &files.path("key.pem"),
        Some(&files.path("ca.pem")),
    )
    .expect("valid PEM files");
    drop(files);
    let (port, _stop) = serve_tls(tls).await;
    let base = || {
        ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&pki.ca))
            .domain_name("localhost")
    };

    let without = match connect(port, Some(base())).await {
        Ok(channel) => status_over(channel).await.is_err(),
        Err(_) => true,
    };
    assert!(without, "a client without a certificate connected");

    let with = base().identity(Identity::from_pem(&pki.client_cert, &pki.client_key));
    let channel = connect(port, Some(with))
        .await
        .expect("mutual TLS handshake");
    status_over(channel).await.expect("Status over mutual TLS");
}

#[test]
fn unusable_pem_files_are_refused_at_startup_naming_the_files() {
    let files = Files::write(
        "bad-pem",
        &[("cert.pem", "not a certificate"), ("key.pem", "nor a key")],
    );
    let err = TlsSettings::load(&files.path("cert.pem"), &files.path("key.pem"), None)
        .expect_err("refused");
    assert!(err.contains("cert.pem"), "{err}");
    let missing = TlsSettings::load(&files.path("absent.pem"), &files.path("key.pem"), None)
        .expect_err("refused");
    assert!(
        missing.contains("absent.pem") && missing.contains("cannot read"),
        "{missing}"
    );
}
