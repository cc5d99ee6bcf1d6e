//! The HTTP client of a provider's batch endpoints. Each request is retried
//! like an online call (408, 409, 429, 5xx, timeouts, connection errors;
//! `Retry-After` honoured), with the online provider's headers (key,
//! version), rate-limit headers and error bodies.

use std::time::Duration;

use reqwest::RequestBuilder;
use serde::Deserialize;

use crate::engine::http::error::CallError;
use crate::engine::http::per_call::Provider;
use crate::engine::http::retry::backoff;
use crate::engine::http::{describe, host_of, ApiKey};

/// A client of one provider's batch endpoints; `online` is the provider's
/// online API (headers, error bodies, request bodies).
#[derive(Debug)]
pub struct BatchHttp<O> {
    client: reqwest::Client,
    base_url: String,
    /// The provider as messages name it.
    pub host: String,
    api_key: Option<ApiKey>,
    max_retries: u32,
    timeout: Duration,
    pub online: O,
}

impl<O: Provider> BatchHttp<O> {
    pub fn new(
        base_url: &str,
        api_key: Option<ApiKey>,
        max_retries: u32,
        timeout: Duration,
        online: O,
    ) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10).min(timeout))
            .user_agent(concat!("symbatcher/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(BatchHttp {
            client,
            base_url: base_url.trim_end_matches('/').to_string(),
            host: host_of(base_url),
            api_key,
            max_retries,
            timeout,
            online,
        })
    }

    /// The client requests are built with.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// `base_url` followed by `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// `text` without the API key.
    pub fn scrub(&self, text: &str) -> String {
        match &self.api_key {
            Some(key) => key.scrub(text),
            None => text.to_string(),
        }
    }

    /// A response body as `T`.
    pub fn parse<T: for<'de> Deserialize<'de>>(&self, body: &[u8]) -> Result<T, CallError> {
        serde_json::from_slice(body).map_err(|err| CallError::BadResponse {
            host: self.host.clone(),
            message: err.to_string(),
        })
    }

    /// Sends the request `make` builds until it succeeds, fails for good or
    /// runs out of retries; returns the response body.
    pub async fn send(
        &self,
        make: impl Fn() -> RequestBuilder + Send + Sync,
    ) -> Result<Vec<u8>, CallError> {
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let (error, hint) = match self.attempt(make()).await {
                Ok(body) => return Ok(body),
                Err(failed) => failed,
            };
            if !error.is_retryable() || attempts > self.max_retries {
                return Err(error);
            }
            tokio::time::sleep(backoff(attempts, hint)).await;
        }
    }

    async fn attempt(
        &self,
        request: RequestBuilder,
    ) -> Result<Vec<u8>, (CallError, Option<Duration>)> {
        let request = self.online.headers(request, self.api_key.as_ref());
        let exchange = async {
            let response = request.send().await?;
            let status = response.status();
            let headers = self.online.rate_limits(response.headers());
            let bytes = response.bytes().await?;
            Ok::<_, reqwest::Error>((status, headers, bytes))
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Err(_) => Err((
                CallError::Timeout {
                    host: self.host.clone(),
                    timeout: self.timeout,
                },
                None,
            )),
            Ok(Err(err)) => Err((
                CallError::Connection {
                    host: self.host.clone(),
                    message: self.scrub(&describe(err)),
                },
                None,
            )),
            Ok(Ok((status, _, bytes))) if status.is_success() => Ok(bytes.to_vec()),
            Ok(Ok((status, headers, bytes))) => Err((
                CallError::Status {
                    status: status.as_u16(),
                    host: self.host.clone(),
                    message: self.online.error_message(&bytes, &|t| self.scrub(t)),
                },
                headers.retry_hint(),
            )),
        }
    }
}
