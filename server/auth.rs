//! Authentication: bearer tokens with roles, checked by a tower layer before
//! any service sees a request.
//!
//! A client sends `authorization: Bearer TOKEN` metadata. Each token has a
//! role, and each service admits the main token and one role:
//!
//! | service                                  | role     |
//! |------------------------------------------|----------|
//! | `symbatcher.v1.BatchService` (jobs)      | `client` |
//! | `symbatcher.v1.WorkerService`, `EngineService` | `worker` |
//! | `symbatcher.v1.StatusService`, reflection | `status` |
//! | `grpc.health.v1.Health`                  | anyone, without a token |
//!
//! Any other path needs the main token. With no token configured,
//! authentication is off and every request passes. Tokens are compared in
//! constant time ([`subtle`]), every configured token against the presented
//! one, and never appear in errors, logs or `Debug` output.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use subtle::ConstantTimeEq;
use tonic::Status;
use tower_layer::Layer;
use tower_service::Service;

use crate::error::Error;

/// Shortest token accepted: a guessable token is no protection.
pub const MIN_TOKEN_LEN: usize = 16;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Every service.
    Main,
    /// Submit jobs and read their results (`BatchService`).
    Client,
    /// Serve items and engine batches (`WorkerService`, `EngineService`).
    Worker,
    /// Read the server's state (`StatusService`, reflection).
    Status,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Main => "main",
            Role::Client => "client",
            Role::Worker => "worker",
            Role::Status => "status",
        }
    }
}

/// A secret token. Its `Debug` output is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// Checks a token's form; the reason names the limit, never the token.
    pub fn new(text: &str) -> Result<Token, String> {
        let text = text.trim();
        if text.len() < MIN_TOKEN_LEN {
            return Err(format!(
                "the token must be at least {MIN_TOKEN_LEN} characters long, got {}",
                text.len()
            ));
        }
        if !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("the token must be printable ASCII without spaces".to_string());
        }
        Ok(Token(text.to_string()))
    }

    fn matches(&self, presented: &[u8]) -> bool {
        self.0.as_bytes().ct_eq(presented).into()
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token([redacted])")
    }
}

/// The configured tokens; empty turns authentication off.
#[derive(Debug, Clone, Default)]
pub struct AuthConfig {
    tokens: Vec<(Role, Token)>,
}

impl AuthConfig {
    /// Every token, for the log writer that scrubs them from every line.
    pub(crate) fn secrets(&self) -> impl Iterator<Item = &str> {
        self.tokens.iter().map(|(_, token)| token.0.as_str())
    }

    /// Adds the token of `role`; a token may hold one role only, so that a
    /// role's token never opens another role's services.
    pub fn add(&mut self, role: Role, token: Token) -> Result<(), String> {
        if let Some((other, _)) = self.tokens.iter().find(|(_, t)| *t == token) {
            return Err(format!(
                "the {} token is the same as the {} token; give each role its own",
                role.name(),
                other.name()
            ));
        }
        self.tokens.retain(|(r, _)| *r != role);
        self.tokens.push((role, token));
        Ok(())
    }

    pub fn is_enabled(&self) -> bool {
        !self.tokens.is_empty()
    }

    /// Admits or refuses a request for `path` with `headers`.
    pub fn check(&self, path: &str, headers: &http::HeaderMap) -> Result<(), Error> {
        if !self.is_enabled() {
            return Ok(());
        }
        let Some(allowed) = allowed_role(path) else {
            return Ok(());
        };
        let presented = bearer(headers)?;
        // Every token is compared, so timing tells nothing about which matched.
        let mut role = None;
        for (r, token) in &self.tokens {
            if token.matches(presented) {
                role = Some(*r);
            }
        }
        match role {
            None => Err(Error::Unauthenticated("invalid token")),
            Some(Role::Main) => Ok(()),
            Some(role) if Some(role) == allowed => Ok(()),
            Some(role) => Err(Error::PermissionDenied {
                role: role.name(),
                service: service_of(path).to_string(),
                allowed: match allowed {
                    Some(allowed) => format!("the {} or main token", allowed.name()),
                    None => "the main token".to_string(),
                },
            }),
        }
    }
}

/// The role a path needs besides the main token: None inside means the main
/// token only; None outside means no token at all (health).
fn allowed_role(path: &str) -> Option<Option<Role>> {
    let role = match service_of(path) {
        "grpc.health.v1.Health" => return None,
        "symbatcher.v1.BatchService" => Role::Client,
        "symbatcher.v1.WorkerService" | "symbatcher.v1.EngineService" => Role::Worker,
        "symbatcher.v1.StatusService"
        | "grpc.reflection.v1.ServerReflection"
        | "grpc.reflection.v1alpha.ServerReflection" => Role::Status,
        _ => return Some(None),
    };
    Some(Some(role))
}

/// `/package.Service/Method` -> `package.Service`.
fn service_of(path: &str) -> &str {
    let path = path.strip_prefix('/').unwrap_or(path);
    path.split_once('/').map_or(path, |(service, _)| service)
}

/// The token of an `authorization: Bearer TOKEN` header.
fn bearer(headers: &http::HeaderMap) -> Result<&[u8], Error> {
    let Some(value) = headers.get(http::header::AUTHORIZATION) else {
        return Err(Error::Unauthenticated(
            "missing token: send `authorization: Bearer TOKEN` metadata",
        ));
    };
    let value = value.as_bytes();
    let scheme = b"bearer ";
    if value.len() <= scheme.len() || !value[..scheme.len()].eq_ignore_ascii_case(scheme) {
        return Err(Error::Unauthenticated(
            "malformed authorization metadata: expected `Bearer TOKEN`",
        ));
    }
    Ok(value[scheme.len()..].trim_ascii())
}

/// Checks every request with an [`AuthConfig`].
#[derive(Debug, Clone)]
pub struct AuthLayer {
    auth: Arc<AuthConfig>,
}

impl AuthLayer {
    pub fn new(auth: AuthConfig) -> Self {
        AuthLayer {
            auth: Arc::new(auth),
        }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            auth: self.auth.clone(),
        }
    }
}

/// The service of [`AuthLayer`]: a refused request never reaches `inner`.
#[derive(Debug, Clone)]
pub struct AuthService<S> {
    inner: S,
    auth: Arc<AuthConfig>,
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S, B> Service<http::Request<B>> for AuthService<S>
where
    S: Service<http::Request<B>, Response = http::Response<tonic::body::Body>>,
    S::Future: Send + 'static,
    B: http_body::Body + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        match self.auth.check(request.uri().path(), request.headers()) {
            Ok(()) => Box::pin(self.inner.call(request)),
            Err(err) => {
                tracing::debug!(
                    path = request.uri().path(),
                    kind = err.kind(),
                    "request refused"
                );
                let response = Status::from(err).into_http();
                let body = request.into_body();
                Box::pin(async move {
                    refuse_after_first_frame(body).await;
                    Ok(response)
                })
            }
        }
    }
}

/// Longest wait for the first frame of a refused request.
const FIRST_FRAME_WAIT: Duration = Duration::from_secs(1);
/// Longest time the rest of a refused request's body is read.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Waits (at most [`FIRST_FRAME_WAIT`]) for the first frame of a refused
/// request's body, then leaves the rest to be read and discarded in the
/// background until the client ends it (at most [`DRAIN_TIMEOUT`]). A
/// streaming client (grpc's C core) whose first message is still being sent
/// when the refusal arrives, or whose stream is reset under it, reports
/// INTERNAL instead of the refusal; refused after its first message, it
/// sees the refusal, as it does for any other error of a streaming call.
async fn refuse_after_first_frame<B>(body: B)
where
    B: http_body::Body + Send + 'static,
{
    let mut body = Box::pin(body);
    let first = std::future::poll_fn(|cx| body.as_mut().poll_frame(cx));
    if let Ok(Some(Ok(_))) = tokio::time::timeout(FIRST_FRAME_WAIT, first).await {
        tokio::spawn(async move {
            let read = async {
                while let Some(Ok(_)) =
                    std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await
                {}
            };
            let _ = tokio::time::timeout(DRAIN_TIMEOUT, read).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(text: &str) -> Token {
        Token::new(text).expect("valid token")
    }

    fn headers(value: &str) -> http::HeaderMap {
        let mut map = http::HeaderMap::new();
        map.insert(http::header::AUTHORIZATION, value.parse().expect("ascii"));
        map
    }

    fn roles() -> AuthConfig {
        let mut auth = AuthConfig::default();
        auth.add(Role::Main, token("main-token-0123456789"))
            .unwrap();
        auth.add(Role::Worker, token("worker-token-0123456789"))
            .unwrap();
        auth
    }

    const WORK: &str = "/symbatcher.v1.WorkerService/Work";
    const BATCH: &str = "/symbatcher.v1.BatchService/Batch";

    #[test]
    fn without_tokens_everything_passes() {
        let auth = AuthConfig::default();
        assert!(auth.check(BATCH, &http::HeaderMap::new()).is_ok());
    }

    #[test]
    fn roles_open_their_services_only() {
        let auth = roles();
        assert!(auth
            .check(WORK, &headers("Bearer worker-token-0123456789"))
            .is_ok());
        assert!(auth
            .check(WORK, &headers("bearer main-token-0123456789"))
            .is_ok());
        assert!(auth
            .check(BATCH, &headers("Bearer main-token-0123456789"))
            .is_ok());
        let err = auth
            .check(BATCH, &headers("Bearer worker-token-0123456789"))
            .expect_err("a worker may not submit jobs");
        assert_eq!(err.kind(), "permission_denied");
        assert!(!err.to_string().contains("0123456789"), "{err}");
        let health = "/grpc.health.v1.Health/Check";
        assert!(auth.check(health, &http::HeaderMap::new()).is_ok());
        let other = "/some.Other/Method";
        assert!(auth
            .check(other, &headers("Bearer worker-token-0123456789"))
            .is_err());
    }

    #[test]
    fn missing_malformed_and_wrong_tokens_are_unauthenticated() {
        let auth = roles();
        for map in [
            http::HeaderMap::new(),
            headers("Basic main-token-0123456789"),
            headers("Bearer "),
            headers("Bearer wrong-token-0123456789"),
            headers("Bearer main-token-012345678"),
        ] {
            let err = auth.check(WORK, &map).expect_err("refused");
            assert_eq!(err.kind(), "unauthenticated");
            assert!(!err.to_string().contains("token-0123"), "{err}");
        }
    }

    #[test]
    fn tokens_are_checked_and_never_shown() {
        assert!(Token::new("short").unwrap_err().contains("at least 16"));
        assert!(Token::new("has a space in it 0123").is_err());
        assert_eq!(
            format!("{:?}", token("a-secret-token-0123")),
            "Token([redacted])"
        );
        let mut auth = roles();
        let err = auth
            .add(Role::Client, token("worker-token-0123456789"))
            .expect_err("shared between roles");
        assert!(err.contains("client") && err.contains("worker"), "{err}");
    }
}
