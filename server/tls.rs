//! TLS (rustls): the server's certificate and key, and optionally the CA that
//! client certificates must chain to (mutual TLS).

use std::fmt;
use std::path::Path;

use tonic::transport::{Certificate, Identity, ServerTlsConfig};

/// PEM files read at startup.
#[derive(Clone)]
pub struct TlsSettings {
    cert: Vec<u8>,
    key: Vec<u8>,
    client_ca: Option<Vec<u8>>,
}

impl fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSettings")
            .field("key", &"[redacted]")
            .field("client_ca", &self.client_ca.is_some())
            .finish()
    }
}

impl TlsSettings {
    /// Reads and checks the PEM files; the error names the file at fault.
    pub fn load(cert: &Path, key: &Path, client_ca: Option<&Path>) -> Result<Self, String> {
        let read = |path: &Path| {
            std::fs::read(path).map_err(|err| format!("cannot read {}: {err}", path.display()))
        };
        let settings = TlsSettings {
            cert: read(cert)?,
            key: read(key)?,
            client_ca: client_ca.map(read).transpose()?,
        };
        // Building the acceptor parses every file, so a bad one stops the
        // server at startup rather than at its first connection.
        tonic::transport::Server::builder()
            .tls_config(settings.server_config())
            .map_err(|err| {
                let mut text = err.to_string();
                let mut source = std::error::Error::source(&err);
                while let Some(cause) = source {
                    text = format!("{text}: {cause}");
                    source = cause.source();
                }
                format!(
                    "{} / {}: not a usable PEM certificate and key: {text}",
                    cert.display(),
                    key.display()
                )
            })?;
        Ok(settings)
    }

    /// Whether clients must present a certificate signed by the client CA.
    pub fn requires_client_certificates(&self) -> bool {
        self.client_ca.is_some()
    }

    pub fn server_config(&self) -> ServerTlsConfig {
        let mut config = ServerTlsConfig::new().identity(Identity::from_pem(&self.cert, &self.key));
        if let Some(ca) = &self.client_ca {
            config = config.client_ca_root(Certificate::from_pem(ca));
        }
        config
    }
}
