//! Batch files: requests become JSONL input lines (split at the provider's
//! limits), and output and error files become one outcome per `custom_id`.
//!
//! An input line is `{"custom_id", "method": "POST", "url":
//! "/v1/chat/completions", "body"}`; the custom id is the call's key. An
//! output or error line is `{"custom_id", "response": {"status_code",
//! "body"}, "error": {"code", "message"}}`.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use crate::engine::openai::request::{error_message, parse_completion, Completion};
use crate::engine::openai::OpenAiError;

/// The endpoint every request of a batch goes to.
pub(crate) const ENDPOINT: &str = "/v1/chat/completions";

/// One request of a batch file.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    /// The call key, used as the `custom_id`.
    pub key: String,
    /// The JSONL line, without its newline.
    pub line: String,
}

impl Request {
    pub fn new(key: String, body: Map<String, Value>) -> Self {
        let line = json!({
            "custom_id": key,
            "method": "POST",
            "url": ENDPOINT,
            "body": Value::Object(body),
        })
        .to_string();
        Request { key, line }
    }

    /// Bytes the request takes in its file, newline included.
    pub fn bytes(&self) -> usize {
        self.line.len() + 1
    }
}

/// Splits requests into files of at most `max_requests` lines and
/// `max_bytes` bytes, in order. A request larger than `max_bytes` on its own
/// cannot go in any file; it is returned apart.
pub(crate) fn split(
    requests: Vec<Request>,
    max_requests: usize,
    max_bytes: usize,
) -> (Vec<Vec<Request>>, Vec<Request>) {
    let mut files: Vec<Vec<Request>> = Vec::new();
    let mut too_large = Vec::new();
    let mut current: Vec<Request> = Vec::new();
    let mut current_bytes = 0;
    for request in requests {
        let bytes = request.bytes();
        if bytes > max_bytes {
            too_large.push(request);
            continue;
        }
        if !current.is_empty()
            && (current.len() >= max_requests || current_bytes + bytes > max_bytes)
        {
            files.push(std::mem::take(&mut current));
            current_bytes = 0;
        }
        current_bytes += bytes;
        current.push(request);
    }
    if !current.is_empty() {
        files.push(current);
    }
    (files, too_large)
}

/// The file's bytes.
pub(crate) fn file_bytes(requests: &[Request]) -> Vec<u8> {
    let mut out = Vec::with_capacity(requests.iter().map(Request::bytes).sum());
    for request in requests {
        out.extend_from_slice(request.line.as_bytes());
        out.push(b'\n');
    }
    out
}

/// How one request of a batch ended.
#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    Answered(Completion),
    /// Failed for good (a 4xx, an invalid request): its call fails with it.
    Failed(OpenAiError),
    /// Not answered for a reason that may pass (expired, 429, 5xx, batch
    /// failed or cancelled): it goes to the fallback engine or the next batch.
    Retry(String),
}

/// Custom ids that came back more than once, across the output and error
/// files: the first line of an id is its outcome, every later one is
/// counted here and reported, never taken silently.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Duplicates {
    /// Lines whose custom id was seen before.
    pub count: u64,
    /// The first few such ids, for the report.
    pub examples: Vec<String>,
}

/// Ids of duplicates a report names at most.
const DUPLICATE_EXAMPLES: usize = 5;

/// Reads output and error files into one outcome per custom id (the first
/// line of an id), and the duplicate lines. `host` names the provider in
/// messages; `scrub` removes secrets from them.
pub(crate) fn parse_results(
    files: &[&[u8]],
    host: &str,
    scrub: impl Fn(&str) -> String,
) -> (HashMap<String, Outcome>, Duplicates) {
    let mut out = HashMap::new();
    let mut duplicates = Duplicates::default();
    for file in files {
        for line in file.split(|b| *b == b'\n') {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let Ok(value) = serde_json::from_slice::<Value>(line) else {
                tracing::warn!(host, "batch result line is not JSON; skipped");
                continue;
            };
            let Some(custom_id) = value["custom_id"].as_str() else {
                continue;
            };
            if out.contains_key(custom_id) {
                duplicates.count += 1;
                if duplicates.examples.len() < DUPLICATE_EXAMPLES
                    && !duplicates.examples.iter().any(|id| id == custom_id)
                {
                    duplicates.examples.push(custom_id.to_string());
                }
                continue;
            }
            out.insert(custom_id.to_string(), outcome_of(&value, host, &scrub));
        }
    }
    (out, duplicates)
}

fn outcome_of(value: &Value, host: &str, scrub: &impl Fn(&str) -> String) -> Outcome {
    let response = &value["response"];
    if let Some(status) = response["status_code"].as_u64() {
        let body = response["body"].to_string();
        if (200..300).contains(&status) {
            return match parse_completion(body.as_bytes()) {
                Ok(completion) => Outcome::Answered(completion),
                Err(message) => Outcome::Failed(OpenAiError::BadResponse {
                    host: host.to_string(),
                    message,
                }),
            };
        }
        let error = OpenAiError::Status {
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
        Outcome::Failed(OpenAiError::Status {
            status: 400,
            host: host.to_string(),
            message: format!("{code}: {message}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(key: &str, content: &str) -> Request {
        let body = json!({"model": "m", "messages": [{"role": "user", "content": content}]});
        Request::new(key.into(), body.as_object().expect("object").clone())
    }

    #[test]
    fn files_split_at_the_request_count() {
        let requests = (0..5).map(|i| request(&format!("k{i}"), "x")).collect();
        let (files, too_large) = split(requests, 2, 1 << 20);
        assert_eq!(files.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2, 1]);
        assert!(too_large.is_empty());
    }

    #[test]
    fn files_split_at_the_byte_cap_and_oversized_requests_stay_out() {
        let one = request("k0", "x").bytes();
        let mut requests: Vec<Request> = (0..4).map(|i| request(&format!("k{i}"), "x")).collect();
        requests.push(request("big", &"y".repeat(3 * one)));
        let (files, too_large) = split(requests, 100, 2 * one + 1);
        assert_eq!(files.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2]);
        assert!(files.iter().all(|f| file_bytes(f).len() <= 2 * one + 1));
        assert_eq!(too_large[0].key, "big");
    }

    #[test]
    fn lines_carry_the_key_as_custom_id() {
        let line: Value = serde_json::from_str(&request("k9", "x").line).expect("json");
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
        let (results, duplicates) = parse_results(&[output, errors], "h", scrub);
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

    #[test]
    fn duplicate_custom_ids_are_counted_and_the_first_line_kept() {
        let output = br#"{"custom_id": "a", "response": {"status_code": 200, "body": {"choices": [{"message": {"content": "first"}}]}}}
{"custom_id": "a", "response": {"status_code": 200, "body": {"choices": [{"message": {"content": "forged"}}]}}}
{"custom_id": "b", "response": {"status_code": 200, "body": {"choices": [{"message": {"content": "b"}}]}}}"#;
        let errors = br#"{"custom_id": "a", "response": null, "error": {"code": "batch_expired", "message": "late"}}"#;
        let (results, duplicates) = parse_results(&[output, errors], "h", |t: &str| t.to_string());
        assert_eq!(duplicates.count, 2);
        assert_eq!(duplicates.examples, ["a"]);
        let Outcome::Answered(c) = &results["a"] else {
            panic!("a answered")
        };
        assert_eq!(c.text, "first");
        assert_eq!(results.len(), 2);
    }
}
