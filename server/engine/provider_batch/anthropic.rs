//! The `anthropic-batch` engine's provider: Anthropic's Message Batches API.
//!
//! - a batch is one `POST {base_url}/v1/messages/batches` with
//!   `{"requests": [{"custom_id", "params"}]}`, `params` being the online
//!   `anthropic` engine's Messages body (system prompt, `max_tokens`, ...);
//!   a custom id is at most 64 of `[a-zA-Z0-9_-]` (a call key is 64 hex
//!   digits);
//! - polled with `GET /v1/messages/batches/{id}` (`processing_status`:
//!   in_progress, canceling, ended; `request_counts`: processing,
//!   succeeded, errored, canceled, expired; `results_url` once ended);
//! - cancelled with `POST /v1/messages/batches/{id}/cancel`;
//! - results read from `results_url`: JSON lines `{"custom_id", "result":
//!   {"type": "succeeded", "message"}}`, or `errored` with an error body
//!   (`{"type": "error", "error": {"type", "message"}}`), `canceled`,
//!   `expired`;
//! - limits: 100,000 requests and 256 MB a batch; `x-api-key` and
//!   `anthropic-version` headers on every request (the online engine's).

use reqwest::header::CONTENT_TYPE;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::http::BatchHttp;
use super::provider::{BatchProvider, Exchange, Polled, Submitted};
use super::requests::{Outcome, Request};
use super::settings::BatchSettings;
use super::store::BatchRecord;
use crate::engine::anthropic::request::parse_message;
use crate::engine::anthropic::{Anthropic, DEFAULT_MAX_TOKENS};
use crate::engine::http::error::CallError;

/// The path of the batches, after the base URL.
const BATCHES: &str = "/v1/messages/batches";
/// A batch's body before its requests.
const HEAD: &[u8] = br#"{"requests":["#;
/// A batch's body after its requests.
const TAIL: &[u8] = b"]}";

/// Settings of an anthropic-batch engine.
pub type AnthropicBatchSettings = BatchSettings<AnthropicBatch>;

/// What only anthropic-batch engines have.
#[derive(Debug, Clone)]
pub struct AnthropicBatchOptions {
    /// `max_tokens` of a call that sets none (Anthropic requires it).
    pub max_tokens: u32,
}

impl Default for AnthropicBatchOptions {
    fn default() -> Self {
        AnthropicBatchOptions {
            max_tokens: DEFAULT_MAX_TOKENS,
        }
    }
}

/// Anthropic's Message Batches API.
#[derive(Debug, Clone)]
pub struct AnthropicBatch;

/// Where an Anthropic batch's results are.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AnthropicResults {
    #[serde(default)]
    pub results_url: Option<String>,
}

/// A Message Batch as the provider describes it.
#[derive(Debug, Clone, Deserialize)]
struct MessageBatch {
    id: String,
    processing_status: String,
    #[serde(default)]
    request_counts: RequestCounts,
    #[serde(default)]
    results_url: Option<String>,
}

/// A batch's requests by where they are.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
struct RequestCounts {
    #[serde(default)]
    processing: u32,
    #[serde(default)]
    succeeded: u32,
    #[serde(default)]
    errored: u32,
    #[serde(default)]
    canceled: u32,
    #[serde(default)]
    expired: u32,
}

type Http = BatchHttp<Anthropic>;

impl BatchProvider for AnthropicBatch {
    const KIND: &'static str = "anthropic-batch";
    const MAX_REQUESTS: usize = 100_000;
    const MAX_BYTES: usize = 256_000_000;
    const ENVELOPE_BYTES: usize = HEAD.len() + TAIL.len();
    const TERMINAL: &'static [&'static str] = &["ended"];
    /// An ended batch may hold answers (until Anthropic archives its
    /// results, which then fail to download and go into a next batch).
    const DEAD: &'static [&'static str] = &[];
    type Options = AnthropicBatchOptions;
    type Refs = AnthropicResults;
    type Online = Anthropic;

    fn new(settings: &BatchSettings<Self>) -> (Self, Anthropic) {
        let online = Anthropic::new(
            &settings.model,
            settings.options.max_tokens,
            settings.strict,
        );
        (AnthropicBatch, online)
    }

    fn request_line(&self, key: &str, body: Map<String, Value>) -> String {
        json!({"custom_id": key, "params": Value::Object(body)}).to_string()
    }

    fn submit(
        &self,
        http: &Http,
        _engine: &str,
        requests: &[Request],
    ) -> impl Exchange<Submitted<AnthropicResults>> {
        let mut body = Vec::with_capacity(
            Self::ENVELOPE_BYTES + requests.iter().map(Request::bytes).sum::<usize>(),
        );
        body.extend_from_slice(HEAD);
        for (i, request) in requests.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(request.line.as_bytes());
        }
        body.extend_from_slice(TAIL);
        let url = http.url(BATCHES);
        async move {
            let response = http
                .send(|| {
                    http.client()
                        .post(&url)
                        .header(CONTENT_TYPE, "application/json")
                        .body(body.clone())
                })
                .await?;
            let batch: MessageBatch = http.parse(&response)?;
            Ok(Submitted {
                batch_id: batch.id,
                state: batch.processing_status,
                refs: AnthropicResults {
                    results_url: batch.results_url,
                },
            })
        }
    }

    fn poll(
        &self,
        http: &Http,
        batch: &BatchRecord<AnthropicResults>,
    ) -> impl Exchange<Polled<AnthropicResults>> {
        let url = http.url(&format!("{BATCHES}/{}", batch.batch_id));
        async move {
            let body = http.send(|| http.client().get(&url)).await?;
            let batch: MessageBatch = http.parse(&body)?;
            let c = batch.request_counts;
            Ok(Polled {
                state: batch.processing_status,
                total: c.processing + c.succeeded + c.errored + c.canceled + c.expired,
                completed: c.succeeded,
                failed: c.errored + c.canceled + c.expired,
                refs: AnthropicResults {
                    results_url: batch.results_url,
                },
            })
        }
    }

    fn cancel(&self, http: &Http, batch_id: &str) -> impl Exchange<()> {
        let url = http.url(&format!("{BATCHES}/{batch_id}/cancel"));
        async move {
            let body = http.send(|| http.client().post(&url)).await?;
            http.parse::<MessageBatch>(&body).map(|_| ())
        }
    }

    fn download(
        &self,
        http: &Http,
        batch: &BatchRecord<AnthropicResults>,
    ) -> impl Exchange<Vec<Vec<u8>>> {
        // The batch names where its results are; the documented path is
        // the fallback of a batch that does not.
        let url = batch
            .refs
            .results_url
            .clone()
            .unwrap_or_else(|| http.url(&format!("{BATCHES}/{}/results", batch.batch_id)));
        async move {
            let file = http.send(|| http.client().get(&url)).await?;
            Ok(vec![file])
        }
    }

    fn outcome(&self, http: &Http, line: &Value) -> Outcome {
        outcome_of(&line["result"], &http.host, &|t| http.scrub(t))
    }
}

/// How the request of one result ended.
fn outcome_of(result: &Value, host: &str, scrub: &dyn Fn(&str) -> String) -> Outcome {
    match result["type"].as_str().unwrap_or_default() {
        "succeeded" => match parse_message(result["message"].to_string().as_bytes()) {
            Ok(completion) => Outcome::Answered(completion),
            Err(message) => Outcome::Failed(CallError::BadResponse {
                host: host.to_string(),
                message,
            }),
        },
        "errored" => {
            let error = &result["error"]["error"];
            let kind = error["type"].as_str().unwrap_or("api_error");
            let error = CallError::Status {
                status: status_of(kind),
                host: host.to_string(),
                message: format!("{kind}: {}", scrub(error["message"].as_str().unwrap_or(""))),
            };
            if error.is_retryable() {
                Outcome::Retry(error.to_string())
            } else {
                Outcome::Failed(error)
            }
        }
        "canceled" => Outcome::Retry("canceled: the batch was canceled first".into()),
        "expired" => Outcome::Retry("expired: the batch reached its 24-hour limit first".into()),
        other => Outcome::Failed(CallError::BadResponse {
            host: host.to_string(),
            message: format!("a batch result of unknown type {other:?}"),
        }),
    }
}

/// The HTTP status Anthropic gives an error of type `kind`.
fn status_of(kind: &str) -> u16 {
    match kind {
        "invalid_request_error" => 400,
        "authentication_error" => 401,
        "billing_error" => 402,
        "permission_error" => 403,
        "not_found_error" => 404,
        "request_too_large" => 413,
        "rate_limit_error" => 429,
        "timeout_error" => 504,
        "overloaded_error" => 529,
        _ => 500, // api_error, and any type added later
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::provider_batch::requests::parse_results;

    #[test]
    fn a_request_is_a_custom_id_and_the_messages_params() {
        let body = json!({"model": "m", "max_tokens": 9, "system": "s",
            "messages": [{"role": "user", "content": "x"}]});
        let line = AnthropicBatch.request_line("k9", body.as_object().expect("object").clone());
        let line: Value = serde_json::from_str(&line).expect("json");
        assert_eq!(line["custom_id"], "k9");
        assert_eq!(line["params"], body);
        assert_eq!(AnthropicBatch::ENVELOPE_BYTES, r#"{"requests":[]}"#.len());
    }

    #[test]
    fn results_are_answers_failures_or_retries() {
        let results = br#"{"custom_id": "a", "result": {"type": "succeeded", "message": {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x", "content": [{"type": "text", "text": "hi"}], "stop_reason": "end_turn", "usage": {"input_tokens": 3, "output_tokens": 1}}}}
{"custom_id": "b", "result": {"type": "errored", "error": {"type": "error", "error": {"type": "invalid_request_error", "message": "bad sk-ant-1"}}}}
{"custom_id": "c", "result": {"type": "errored", "error": {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}}}
{"custom_id": "d", "result": {"type": "expired"}}
{"custom_id": "e", "result": {"type": "canceled"}}"#;
        let scrub = |t: &str| t.replace("sk-ant-1", "[redacted]");
        let (results, _) = parse_results(&[results], "h", |line| {
            outcome_of(&line["result"], "h", &scrub)
        });
        let Outcome::Answered(c) = &results["a"] else {
            panic!("a answered")
        };
        assert_eq!(
            (c.text.as_str(), c.prompt_tokens, c.completion_tokens),
            ("hi", 3, 1)
        );
        assert_eq!(c.metadata["finish_reason"], "stop");
        let Outcome::Failed(err) = &results["b"] else {
            panic!("b failed")
        };
        assert_eq!(
            err.to_string(),
            "HTTP 400 from h: invalid_request_error: bad [redacted]"
        );
        assert!(matches!(&results["c"], Outcome::Retry(r) if r.contains("529")));
        assert!(matches!(&results["d"], Outcome::Retry(r) if r.starts_with("expired")));
        assert!(matches!(&results["e"], Outcome::Retry(r) if r.starts_with("canceled")));
    }

    #[test]
    fn a_call_key_is_a_valid_custom_id() {
        let body = json!({"model": "m"});
        let key = super::super::key::call_key("m", body.as_object().expect("object"));
        assert!(key.len() <= 64);
        assert!(key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'));
    }
}
