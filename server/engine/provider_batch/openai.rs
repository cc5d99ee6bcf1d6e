//! The `openai-batch` engine's provider: OpenAI's Files + Batches API.
//!
//! - a batch is a JSONL file uploaded to `POST {base_url}/files`
//!   (`purpose=batch`), then `POST {base_url}/batches` with its
//!   `input_file_id`, the endpoint and the `completion_window`; a line is
//!   `{"custom_id", "method": "POST", "url": "/v1/chat/completions",
//!   "body"}` with the online engine's body;
//! - polled with `GET /batches/{id}` (`status`: validating, in_progress,
//!   finalizing, completed, failed, expired, cancelling, cancelled;
//!   `request_counts`; `output_file_id`, `error_file_id`);
//! - cancelled with `POST /batches/{id}/cancel`;
//! - results read from `GET /files/{id}/content` of the output and error
//!   files: `{"custom_id", "response": {"status_code", "body"}, "error":
//!   {"code", "message"}}`;
//! - limits: 50,000 requests and 200 MB a file; `Authorization: Bearer`.

use reqwest::multipart;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::http::BatchHttp;
use super::provider::{BatchProvider, Exchange, Polled, Submitted};
use super::requests::{jsonl, Outcome, Request};
use super::settings::BatchSettings;
use super::store::BatchRecord;
use crate::engine::http::error::CallError;
use crate::engine::http::request::error_message;
use crate::engine::openai::request::parse_completion;
use crate::engine::openai::OpenAi;

/// The endpoint every request of a batch goes to.
pub const ENDPOINT: &str = "/v1/chat/completions";

/// Settings of an openai-batch engine.
pub type OpenAiBatchSettings = BatchSettings<OpenAiBatch>;

/// What only openai-batch engines have.
#[derive(Debug, Clone)]
pub struct OpenAiBatchOptions {
    /// The batch's completion window ("24h").
    pub completion_window: String,
}

impl Default for OpenAiBatchOptions {
    fn default() -> Self {
        OpenAiBatchOptions {
            completion_window: "24h".to_string(),
        }
    }
}

/// OpenAI's Files + Batches API.
#[derive(Debug, Clone)]
pub struct OpenAiBatch {
    completion_window: String,
}

/// Where an OpenAI batch's requests and results are: its files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenAiFiles {
    pub input_file_id: String,
    #[serde(default)]
    pub output_file_id: Option<String>,
    #[serde(default)]
    pub error_file_id: Option<String>,
}

/// A batch as the provider describes it.
#[derive(Debug, Clone, Deserialize)]
struct BatchObject {
    id: String,
    status: String,
    #[serde(default)]
    output_file_id: Option<String>,
    #[serde(default)]
    error_file_id: Option<String>,
    #[serde(default)]
    request_counts: Option<RequestCounts>,
}

/// A batch's request counts.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
struct RequestCounts {
    #[serde(default)]
    total: u32,
    #[serde(default)]
    completed: u32,
    #[serde(default)]
    failed: u32,
}

#[derive(Deserialize)]
struct FileObject {
    id: String,
}

type Http = BatchHttp<OpenAi>;

impl BatchProvider for OpenAiBatch {
    const KIND: &'static str = "openai-batch";
    const MAX_REQUESTS: usize = 50_000;
    const MAX_BYTES: usize = 200_000_000;
    const ENVELOPE_BYTES: usize = 0;
    const TERMINAL: &'static [&'static str] = &["completed", "failed", "expired", "cancelled"];
    const DEAD: &'static [&'static str] = &["failed", "expired", "cancelled"];
    type Options = OpenAiBatchOptions;
    type Refs = OpenAiFiles;
    type Online = OpenAi;

    fn new(settings: &BatchSettings<Self>) -> (Self, OpenAi) {
        let provider = OpenAiBatch {
            completion_window: settings.options.completion_window.clone(),
        };
        (provider, OpenAi::new(&settings.model, settings.strict))
    }

    fn request_line(&self, key: &str, body: Map<String, Value>) -> String {
        json!({
            "custom_id": key,
            "method": "POST",
            "url": ENDPOINT,
            "body": Value::Object(body),
        })
        .to_string()
    }

    fn submit(
        &self,
        http: &Http,
        engine: &str,
        requests: &[Request],
    ) -> impl Exchange<Submitted<OpenAiFiles>> {
        let name = format!("symbatcher-{engine}-{}.jsonl", super::unix_now());
        let bytes = jsonl(requests);
        async move {
            let input_file_id = upload(http, &name, bytes).await?;
            let request = json!({
                "input_file_id": input_file_id,
                "endpoint": ENDPOINT,
                "completion_window": self.completion_window,
                "metadata": {"symbatcher_engine": engine},
            });
            let url = http.url("/batches");
            let body = http
                .send(|| http.client().post(&url).json(&request))
                .await?;
            let batch: BatchObject = http.parse(&body)?;
            Ok(Submitted {
                batch_id: batch.id,
                state: batch.status,
                refs: OpenAiFiles {
                    input_file_id,
                    output_file_id: None,
                    error_file_id: None,
                },
            })
        }
    }

    fn poll(
        &self,
        http: &Http,
        batch: &BatchRecord<OpenAiFiles>,
    ) -> impl Exchange<Polled<OpenAiFiles>> {
        let url = http.url(&format!("/batches/{}", batch.batch_id));
        let input_file_id = batch.refs.input_file_id.clone();
        async move {
            let body = http.send(|| http.client().get(&url)).await?;
            let batch: BatchObject = http.parse(&body)?;
            let counts = batch.request_counts.unwrap_or_default();
            Ok(Polled {
                state: batch.status,
                total: counts.total,
                completed: counts.completed,
                failed: counts.failed,
                refs: OpenAiFiles {
                    input_file_id,
                    output_file_id: batch.output_file_id,
                    error_file_id: batch.error_file_id,
                },
            })
        }
    }

    fn cancel(&self, http: &Http, batch_id: &str) -> impl Exchange<()> {
        let url = http.url(&format!("/batches/{batch_id}/cancel"));
        async move {
            let body = http.send(|| http.client().post(&url)).await?;
            http.parse::<BatchObject>(&body).map(|_| ())
        }
    }

    fn download(
        &self,
        http: &Http,
        batch: &BatchRecord<OpenAiFiles>,
    ) -> impl Exchange<Vec<Vec<u8>>> {
        let ids: Vec<String> = [&batch.refs.output_file_id, &batch.refs.error_file_id]
            .into_iter()
            .flatten()
            .cloned()
            .collect();
        async move {
            let mut files = Vec::new();
            for id in ids {
                let url = http.url(&format!("/files/{id}/content"));
                let file = http.send(|| http.client().get(&url)).await;
                files.push(file.map_err(|err| CallError::Internal(format!("file {id}: {err}")))?);
            }
            Ok(files)
        }
    }

    fn outcome(&self, http: &Http, line: &Value) -> Outcome {
        outcome_of(line, &http.host, &|t| http.scrub(t))
    }
}

/// Uploads a batch input file (`purpose=batch`); returns its file id.
async fn upload(http: &Http, name: &str, bytes: Vec<u8>) -> Result<String, CallError> {
    let url = http.url("/files");
    let body = http
        .send(|| {
            let part = multipart::Part::bytes(bytes.clone())
                .file_name(name.to_string())
                .mime_str("application/jsonl")
                .expect("a valid mime type");
            let form = multipart::Form::new()
                .text("purpose", "batch")
                .part("file", part);
            http.client().post(&url).multipart(form)
        })
        .await?;
    Ok(http.parse::<FileObject>(&body)?.id)
}

/// How the request of one output or error line ended.
fn outcome_of(value: &Value, host: &str, scrub: &dyn Fn(&str) -> String) -> Outcome {
    let response = &value["response"];
    if let Some(status) = response["status_code"].as_u64() {
        let body = response["body"].to_string();
        if (200..300).contains(&status) {
            return match parse_completion(body.as_bytes()) {
                Ok(completion) => Outcome::Answered(completion),
                Err(message) => Outcome::Failed(CallError::BadResponse {
                    host: host.to_string(),
                    message,
                }),
            };
        }
        let error = CallError::Status {
            status: status as u16,
            host: host.to_string(),
            message: error_message(body.as_bytes(), scrub),
        };
        return if error.is_retryable() {
            Outcome::Retry(error.to_string())
        } else {
            Outcome::Failed(error)
        };
    }
    let code = value["error"]["code"].as_str().unwrap_or("unknown");
    let message = scrub(value["error"]["message"].as_str().unwrap_or(""));
    if code == "batch_expired" || code == "batch_cancelled" {
        Outcome::Retry(format!("{code}: {message}"))
    } else {
        Outcome::Failed(CallError::Status {
            status: 400,
            host: host.to_string(),
            message: format!("{code}: {message}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::provider_batch::requests::{parse_results, Duplicates};

    #[test]
    fn lines_carry_the_key_as_custom_id() {
        let body = json!({"model": "m", "messages": [{"role": "user", "content": "x"}]});
        let provider = OpenAiBatch {
            completion_window: "24h".into(),
        };
        let line = provider.request_line("k9", body.as_object().expect("object").clone());
        let line: Value = serde_json::from_str(&line).expect("json");
        assert_eq!(line["custom_id"], "k9");
        assert_eq!(line["url"], ENDPOINT);
        assert_eq!(line["body"]["messages"][0]["content"], "x");
    }

    #[test]
    fn results_are_answers_failures_or_retries() {
        let output = br#"{"custom_id": "a", "response": {"status_code": 200, "body": {"choices": [{"message": {"content": "hi"}, "finish_reason": "stop"}], "usage": {"prompt_tokens": 3, "completion_tokens": 1}}}, "error": null}
{"custom_id": "b", "response": {"status_code": 400, "body": {"error": {"message": "bad sk-1"}}}, "error": null}
{"custom_id": "c", "response": {"status_code": 500, "body": {"error": {"message": "oops"}}}, "error": null}"#;
        let errors = br#"{"custom_id": "d", "response": null, "error": {"code": "batch_expired", "message": "This request could not be executed before the completion window expired."}}"#;
        let scrub = |t: &str| t.replace("sk-1", "[redacted]");
        let (results, duplicates) =
            parse_results(&[output, errors], "h", |line| outcome_of(line, "h", &scrub));
        assert_eq!(duplicates, Duplicates::default());
        let Outcome::Answered(c) = &results["a"] else {
            panic!("a answered")
        };
        assert_eq!(
            (c.text.as_str(), c.prompt_tokens, c.completion_tokens),
            ("hi", 3, 1)
        );
        let Outcome::Failed(err) = &results["b"] else {
            panic!("b failed")
        };
        assert_eq!(err.to_string(), "HTTP 400 from h: bad [redacted]");
        assert!(matches!(&results["c"], Outcome::Retry(r) if r.contains("500")));
        assert!(matches!(&results["d"], Outcome::Retry(r) if r.starts_with("batch_expired")));
    }
}
