//! The requests of provider batches, and their results: requests split
//! into batches at the provider's limits, and result files read into one
//! outcome per custom id (the provider says what each line means).

use std::collections::HashMap;

use serde_json::Value;

use crate::engine::http::error::CallError;
use crate::engine::http::request::Completion;

/// One request of a batch.
#[derive(Debug, Clone)]
pub struct Request {
    /// The call key, used as the `custom_id`.
    pub key: String,
    /// The request as the batch holds it, without separator.
    pub line: String,
}

impl Request {
    pub fn new(key: String, line: String) -> Self {
        Request { key, line }
    }

    /// Bytes the request takes in its batch, separator included.
    pub fn bytes(&self) -> usize {
        self.line.len() + 1
    }
}

/// Splits requests into batches of at most `max_requests` requests and
/// `max_bytes` bytes (`envelope` bytes of each batch included), in order. A
/// request too large on its own cannot go in any batch; it is returned
/// apart.
pub fn split(
    requests: Vec<Request>,
    max_requests: usize,
    max_bytes: usize,
    envelope: usize,
) -> (Vec<Vec<Request>>, Vec<Request>) {
    let max_bytes = max_bytes.saturating_sub(envelope);
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

/// The requests as JSON lines, each ended by a newline.
pub fn jsonl(requests: &[Request]) -> Vec<u8> {
    let mut out = Vec::with_capacity(requests.iter().map(Request::bytes).sum());
    for request in requests {
        out.extend_from_slice(request.line.as_bytes());
        out.push(b'\n');
    }
    out
}

/// How one request of a batch ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    Answered(Completion),
    /// Failed for good (a 4xx, an invalid request): its call fails with it.
    Failed(CallError),
    /// Not answered for a reason that may pass (expired, 429, 5xx, batch
    /// failed or cancelled): it goes to the fallback engine or the next batch.
    Retry(String),
}

/// Custom ids that came back more than once, across the output and error
/// files: the first line of an id is its outcome, every later one is
/// counted here and reported, never taken silently.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Duplicates {
    /// Lines whose custom id was seen before.
    pub count: u64,
    /// The first few such ids, for the report.
    pub examples: Vec<String>,
}

/// Ids of duplicates a report names at most.
const DUPLICATE_EXAMPLES: usize = 5;

/// Reads result files into one outcome per custom id (the first line of
/// an id; `outcome` reads a line), and the duplicate lines. `host` names
/// the provider in messages.
pub fn parse_results(
    files: &[&[u8]],
    host: &str,
    outcome: impl Fn(&Value) -> Outcome,
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
            out.insert(custom_id.to_string(), outcome(&value));
        }
    }
    (out, duplicates)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(key: &str, content: &str) -> Request {
        let line = serde_json::json!({"custom_id": key, "body": {"content": content}});
        Request::new(key.into(), line.to_string())
    }

    #[test]
    fn batches_split_at_the_request_count() {
        let requests = (0..5).map(|i| request(&format!("k{i}"), "x")).collect();
        let (files, too_large) = split(requests, 2, 1 << 20, 0);
        assert_eq!(files.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2, 1]);
        assert!(too_large.is_empty());
    }

    #[test]
    fn batches_split_at_the_byte_cap_and_oversized_requests_stay_out() {
        let one = request("k0", "x").bytes();
        let mut requests: Vec<Request> = (0..4).map(|i| request(&format!("k{i}"), "x")).collect();
        requests.push(request("big", &"y".repeat(3 * one)));
        let (files, too_large) = split(requests, 100, 2 * one + 1, 0);
        assert_eq!(files.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2]);
        assert!(files.iter().all(|f| jsonl(f).len() <= 2 * one + 1));
        assert_eq!(too_large[0].key, "big");
    }

    #[test]
    fn the_envelope_counts_against_the_byte_cap() {
        let one = request("k0", "x").bytes();
        let requests = (0..4).map(|i| request(&format!("k{i}"), "x")).collect();
        let (files, _) = split(requests, 100, 2 * one + 10, 10);
        assert_eq!(files.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2]);
    }

    #[test]
    fn duplicate_custom_ids_are_counted_and_the_first_line_kept() {
        let output = br#"{"custom_id": "a", "text": "first"}
{"custom_id": "a", "text": "forged"}
not json
{"custom_id": "b", "text": "b"}"#;
        let errors = br#"{"custom_id": "a", "text": "late"}"#;
        let read = |line: &Value| Outcome::Retry(line["text"].as_str().unwrap_or("").into());
        let (results, duplicates) = parse_results(&[output, errors], "h", read);
        assert_eq!(duplicates.count, 2);
        assert_eq!(duplicates.examples, ["a"]);
        assert!(matches!(&results["a"], Outcome::Retry(t) if t == "first"));
        assert_eq!(results.len(), 2);
    }
}
