//! Security flags: tokens (main and per role), TLS, `--insecure` and
//! `--allow-pickle`, and how they resolve into an [`AuthConfig`] and
//! [`TlsSettings`].
//!
//! Tokens come from environment variables or files, never from the command
//! line (where other users of the machine can read them in the process list).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::Args;

use super::ConfigError;
use crate::auth::{AuthConfig, Role, Token};
use crate::tls::TlsSettings;

/// Environment variable of the main token.
pub const AUTH_TOKEN_ENV: &str = "SYMBATCHER_AUTH_TOKEN";
/// Environment variable of the client-role token.
pub const CLIENT_TOKEN_ENV: &str = "SYMBATCHER_CLIENT_TOKEN";
/// Environment variable of the worker-role token.
pub const WORKER_TOKEN_ENV: &str = "SYMBATCHER_WORKER_TOKEN";
/// Environment variable of the status-role token.
pub const STATUS_TOKEN_ENV: &str = "SYMBATCHER_STATUS_TOKEN";

/// Authentication, TLS and payload-safety flags.
#[derive(Debug, Clone, Default, Args)]
pub struct SecurityFlags {
    /// File holding the main token, allowed on every service (instead of
    /// $SYMBATCHER_AUTH_TOKEN). With any token set, every RPC but health
    /// needs `authorization: Bearer TOKEN` metadata; tokens are at least 16
    /// characters.
    #[arg(long, value_name = "PATH")]
    pub auth_token_file: Option<PathBuf>,

    /// File holding the client token: submit jobs (BatchService) only
    /// (instead of $SYMBATCHER_CLIENT_TOKEN).
    #[arg(long, value_name = "PATH")]
    pub client_token_file: Option<PathBuf>,

    /// File holding the worker token: register workers and engines
    /// (WorkerService, EngineService) only (instead of $SYMBATCHER_WORKER_TOKEN).
    #[arg(long, value_name = "PATH")]
    pub worker_token_file: Option<PathBuf>,

    /// File holding the status token: Status and reflection only (instead of
    /// $SYMBATCHER_STATUS_TOKEN).
    #[arg(long, value_name = "PATH")]
    pub status_token_file: Option<PathBuf>,

    /// Serve TLS with this PEM certificate (chain); needs --tls-key.
    #[arg(long, value_name = "PATH", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key of --tls-cert.
    #[arg(long, value_name = "PATH", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Mutual TLS: accept only clients whose certificate chains to this PEM
    /// CA; needs --tls-cert.
    #[arg(long, value_name = "PATH", requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,

    /// Listen on a non-loopback address without authentication (no token
    /// and no --tls-client-ca). Without it such a server refuses to start:
    /// anyone who reaches it could submit jobs and register workers.
    #[arg(long)]
    pub insecure: bool,

    /// Accept jobs with the pickle codec. Unpickling runs code, so only
    /// clients and workers that trust each other may use it; without this
    /// flag such a JobSpec is refused (field `codec`).
    #[arg(long)]
    pub allow_pickle: bool,
}

impl SecurityFlags {
    /// Reads the tokens (from `env` and the token files) and the TLS files,
    /// and refuses a non-loopback `listen` without authentication unless
    /// --insecure.
    pub fn resolve(
        &self,
        listen: SocketAddr,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<(AuthConfig, Option<TlsSettings>), ConfigError> {
        let mut auth = AuthConfig::default();
        let sources = [
            (
                Role::Main,
                "--auth-token-file",
                &self.auth_token_file,
                AUTH_TOKEN_ENV,
            ),
            (
                Role::Client,
                "--client-token-file",
                &self.client_token_file,
                CLIENT_TOKEN_ENV,
            ),
            (
                Role::Worker,
                "--worker-token-file",
                &self.worker_token_file,
                WORKER_TOKEN_ENV,
            ),
            (
                Role::Status,
                "--status-token-file",
                &self.status_token_file,
                STATUS_TOKEN_ENV,
            ),
        ];
        for (role, flag, file, var) in sources {
            let from_env = env(var).filter(|v| !v.trim().is_empty());
            let text = match (file, from_env) {
                (Some(_), Some(_)) => {
                    return Err(ConfigError::flag(
                        flag,
                        format!("{var} is set too; give the {} token one way", role.name()),
                    ))
                }
                (Some(path), None) => {
                    Some(read_token_file(path).map_err(|r| ConfigError::flag(flag, r))?)
                }
                (None, Some(text)) => Some(text),
                (None, None) => None,
            };
            let field = if file.is_some() { flag } else { var };
            if let Some(text) = text {
                let token = Token::new(&text).map_err(|r| ConfigError::flag(field, r))?;
                auth.add(role, token)
                    .map_err(|r| ConfigError::flag(field, r))?;
            }
        }
        let tls = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(
                TlsSettings::load(cert, key, self.tls_client_ca.as_deref())
                    .map_err(|r| ConfigError::flag("--tls-cert", r))?,
            ),
            _ => None,
        };
        let client_certs = tls
            .as_ref()
            .is_some_and(TlsSettings::requires_client_certificates);
        if !listen.ip().is_loopback() && !auth.is_enabled() && !client_certs && !self.insecure {
            return Err(ConfigError::flag(
                "--listen",
                format!(
                    "refusing to listen on {listen} without authentication: anyone who can \
                     reach it could submit jobs and register workers. Set {AUTH_TOKEN_ENV} \
                     (or --auth-token-file PATH), or pass --insecure to serve without \
                     authentication on a network you trust"
                ),
            ));
        }
        Ok((auth, tls))
    }
}

fn read_token_file(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|err| format!("cannot read {}: {err}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "a-main-token-0123456789";

    fn flags() -> SecurityFlags {
        SecurityFlags::default()
    }

    fn loopback() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 0))
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn no_tokens_leave_authentication_off_on_loopback() {
        let (auth, tls) = flags().resolve(loopback(), no_env).expect("resolves");
        assert!(!auth.is_enabled());
        assert!(tls.is_none());
    }

    #[test]
    fn an_open_non_loopback_listener_needs_insecure() {
        let any = SocketAddr::from(([0, 0, 0, 0], 50051));
        let err = flags().resolve(any, no_env).expect_err("refused");
        let text = err.to_string();
        assert!(
            text.contains("--insecure") && text.contains(AUTH_TOKEN_ENV),
            "{text}"
        );
        let insecure = SecurityFlags {
            insecure: true,
            ..flags()
        };
        assert!(insecure.resolve(any, no_env).is_ok());
        let env = |var: &str| (var == AUTH_TOKEN_ENV).then(|| TOKEN.to_string());
        let (auth, _) = flags()
            .resolve(any, env)
            .expect("a token is authentication");
        assert!(auth.is_enabled());
    }

    #[test]
    fn token_errors_name_the_source_and_never_the_token() {
        let env = |var: &str| (var == WORKER_TOKEN_ENV).then(|| "short-secret".to_string());
        let text = flags()
            .resolve(loopback(), env)
            .expect_err("too short")
            .to_string();
        assert!(
            text.contains(WORKER_TOKEN_ENV) && !text.contains("short-secret"),
            "{text}"
        );
        let dir = std::env::temp_dir().join(format!("symbatcher-token-{}", std::process::id()));
        std::fs::write(&dir, format!("{TOKEN}\n")).expect("write token file");
        let both = SecurityFlags {
            auth_token_file: Some(dir.clone()),
            ..flags()
        };
        let env = |var: &str| (var == AUTH_TOKEN_ENV).then(|| TOKEN.to_string());
        let text = both
            .resolve(loopback(), env)
            .expect_err("two sources")
            .to_string();
        let (auth, _) = both.resolve(loopback(), no_env).expect("file token");
        std::fs::remove_file(&dir).expect("remove token file");
        assert!(
            text.contains("--auth-token-file") && text.contains(AUTH_TOKEN_ENV),
            "{text}"
        );
        assert!(auth.is_enabled());
    }
}
