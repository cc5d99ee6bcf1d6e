//! The provider's Files and Batches endpoints: upload a batch file, create,
//! retrieve and cancel a batch, download its output and error files. Each
//! request is retried like a chat completion (408, 409, 429, 5xx,
//! timeouts, connection errors; `Retry-After` honoured), with the openai
//! engine's key handling and error mapping.

use std::time::Duration;

use reqwest::header::AUTHORIZATION;
use reqwest::{multipart, RequestBuilder};
use serde::Deserialize;
use serde_json::json;

use super::jsonl::ENDPOINT;
use crate::engine::openai::request::error_message;
use crate::engine::openai::retry::{backoff, RateLimitHeaders};
use crate::engine::openai::{describe, host_of, ApiKey, OpenAiError};

/// A batch as the provider describes it.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct BatchObject {
    pub id: String,
    pub status: String,
    #[serde(default)]
    pub output_file_id: Option<String>,
    #[serde(default)]
    pub error_file_id: Option<String>,
    #[serde(default)]
    pub request_counts: Option<RequestCounts>,
}

/// A batch's request counts.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub(crate) struct RequestCounts {
    #[serde(default)]
    pub total: u32,
    #[serde(default)]
    pub completed: u32,
    #[serde(default)]
    pub failed: u32,
}

#[derive(Deserialize)]
struct FileObject {
    id: String,
}

/// A client of one provider's Files and Batches endpoints.
#[derive(Debug)]
pub(crate) struct ProviderBatchClient {
    client: reqwest::Client,
    base_url: String,
    pub host: String,
    api_key: Option<ApiKey>,
    max_retries: u32,
    timeout: Duration,
}

impl ProviderBatchClient {
    pub fn new(
        base_url: &str,
        api_key: Option<ApiKey>,
        max_retries: u32,
        timeout: Duration,
    ) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10).min(timeout))
            .user_agent(concat!("symbatcher/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(ProviderBatchClient {
            client,
            base_url: base_url.trim_end_matches('/').to_string(),
            host: host_of(base_url),
            api_key,
            max_retries,
            timeout,
        })
    }

    /// `text` without the API key.
    pub fn scrub(&self, text: &str) -> String {
        match &self.api_key {
            Some(key) => key.scrub(text),
            None => text.to_string(),
        }
    }

    /// Uploads a batch input file (`purpose=batch`); returns its file id.
    pub async fn upload(&self, name: &str, bytes: Vec<u8>) -> Result<String, OpenAiError> {
        let url = format!("{}/files", self.base_url);
        let body = self
            .send(|| {
                let part = multipart::Part::bytes(bytes.clone())
                    .file_name(name.to_string())
                    .mime_str("application/jsonl")
                    .expect("a valid mime type");
                let form = multipart::Form::new()
                    .text("purpose", "batch")
                    .part("file", part);
                self.client.post(&url).multipart(form)
            })
            .await?;
        Ok(self.parse::<FileObject>(&body)?.id)
    }

    /// Creates a batch of the uploaded file.
    pub async fn create(
        &self,
        input_file_id: &str,
        completion_window: &str,
        engine: &str,
    ) -> Result<BatchObject, OpenAiError> {
        let url = format!("{}/batches", self.base_url);
        let request = json!({
            "input_file_id": input_file_id,
            "endpoint": ENDPOINT,
            "completion_window": completion_window,
            "metadata": {"symbatcher_engine": engine},
        });
        let body = self.send(|| self.client.post(&url).json(&request)).await?;
        self.parse(&body)
    }

    pub async fn retrieve(&self, batch_id: &str) -> Result<BatchObject, OpenAiError> {
        let url = format!("{}/batches/{batch_id}", self.base_url);
        let body = self.send(|| self.client.get(&url)).await?;
        self.parse(&body)
    }

    pub async fn cancel(&self, batch_id: &str) -> Result<BatchObject, OpenAiError> {
        let url = format!("{}/batches/{batch_id}/cancel", self.base_url);
        let body = self.send(|| self.client.post(&url)).await?;
        self.parse(&body)
    }

    /// A file's content (an output or error file).
    pub async fn content(&self, file_id: &str) -> Result<Vec<u8>, OpenAiError> {
        let url = format!("{}/files/{file_id}/content", self.base_url);
        self.send(|| self.client.get(&url)).await
    }

    fn parse<T: for<'de> Deserialize<'de>>(&self, body: &[u8]) -> Result<T, OpenAiError> {
        serde_json::from_slice(body).map_err(|err| OpenAiError::BadResponse {
            host: self.host.clone(),
            message: err.to_string(),
        })
    }

    /// Sends the request `make` builds until it succeeds, fails for good or
    /// runs out of retries; returns the response body.
    async fn send(&self, make: impl Fn() -> RequestBuilder) -> Result<Vec<u8>, OpenAiError> {
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
        mut request: RequestBuilder,
    ) -> Result<Vec<u8>, (OpenAiError, Option<Duration>)> {
        if let Some(value) = self.api_key.as_ref().and_then(ApiKey::header) {
            request = request.header(AUTHORIZATION, value);
        }
        let exchange = async {
            let response = request.send().await?;
            let status = response.status();
            let headers = RateLimitHeaders::from_headers(response.headers());
            let bytes = response.bytes().await?;
            Ok::<_, reqwest::Error>((status, headers, bytes))
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Err(_) => Err((
                OpenAiError::Timeout {
                    host: self.host.clone(),
                    timeout: self.timeout,
                },
                None,
            )),
            Ok(Err(err)) => Err((
                OpenAiError::Connection {
                    host: self.host.clone(),
                    message: self.scrub(&describe(err)),
                },
                None,
            )),
            Ok(Ok((status, _, bytes))) if status.is_success() => Ok(bytes.to_vec()),
            Ok(Ok((status, headers, bytes))) => Err((
                OpenAiError::Status {
                    status: status.as_u16(),
                    host: self.host.clone(),
                    message: error_message(&bytes, |t| self.scrub(t)),
                },
                headers.retry_hint(),
            )),
        }
    }
}
