//! A fake of Anthropic's Message Batches API on 127.0.0.1, written from its
//! documented wire format for the tests (the socket plumbing is
//! `fake_openai`'s, the error bodies `fake_anthropic`'s).
//!
//! Every request needs `anthropic-version` (else 400
//! `invalid_request_error`) and the configured `x-api-key` (else 401
//! `authentication_error`).
//! - `POST /v1/messages/batches` takes `{"requests": [{"custom_id",
//!   "params"}]}`: 1 to 100,000 requests, custom ids of 1 to 64
//!   `[a-zA-Z0-9_-]`, unique (else 400), a body of at most 256 MB (else 413
//!   `request_too_large`); answers the Message Batch, `in_progress`;
//! - `GET /v1/messages/batches/{id}` moves it on one step a poll: after
//!   `in_progress_polls` polls (and not while [`FakeMessageBatches::hold`]
//!   is set) it is `ended`, with its `results_url`; a `canceling` batch
//!   ends at its next poll, its requests `canceled`;
//! - `POST /v1/messages/batches/{id}/cancel`: `canceling`;
//! - `GET /v1/messages/batches/{id}/results`: JSON lines `{"custom_id",
//!   "result"}` of an ended batch (else 400).
//!
//! A request is answered as the online fake answers it: a message whose text
//! is `"reply to: " + the last message's text`, usage 10 input and 5 output
//! tokens, or `errored` with an error body (`invalid_request_error` for a
//! params without `max_tokens`). Markers in that text: `[400]` errors it
//! (`invalid_request_error`), `[500-once]` the first time (`api_error`),
//! `[expire]` expires it the first time.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use super::fake_anthropic::error_body;
use super::fake_openai::{header, http_response, loopback, serve};

/// Requests in one batch at most.
const MAX_REQUESTS: usize = 100_000;
/// Bytes of a create request's body at most.
const MAX_BYTES: usize = 256_000_000;

/// How the fake behaves.
#[derive(Debug, Clone, Default)]
pub struct FakeBatchSettings {
    /// Polls a batch stays in_progress before it ends.
    pub in_progress_polls: u32,
    /// The key `x-api-key` must carry; None: any, or none.
    pub api_key: Option<String>,
}

/// One batch as the fake keeps it.
#[derive(Debug, Clone)]
pub struct FakeMessageBatch {
    pub id: String,
    /// in_progress, canceling or ended.
    pub status: String,
    /// Custom ids of its requests, in order.
    pub custom_ids: Vec<String>,
    /// The `params` of its requests, in order.
    pub params: Vec<Value>,
    pub polls: u32,
    canceled: bool,
    /// Result lines, once ended.
    results: Vec<Value>,
}

impl FakeMessageBatch {
    /// The `result.type` of each request, once ended.
    pub fn result_types(&self) -> Vec<String> {
        self.results
            .iter()
            .map(|r| r["result"]["type"].as_str().unwrap_or("").to_string())
            .collect()
    }
}

#[derive(Debug, Default)]
struct State {
    batches: Vec<FakeMessageBatch>,
    /// Contents already failed once (`[500-once]`, `[expire]`).
    failed_once: HashSet<String>,
    hold: bool,
    cancels: u32,
    /// From the settings.
    in_progress_polls: u32,
}

/// A running fake; it stops with the test's runtime.
#[derive(Clone)]
pub struct FakeMessageBatches {
    pub addr: SocketAddr,
    inner: Arc<Inner>,
}

struct Inner {
    addr: SocketAddr,
    settings: FakeBatchSettings,
    state: Mutex<State>,
}

impl FakeMessageBatches {
    pub async fn start(settings: FakeBatchSettings) -> FakeMessageBatches {
        let (listener, addr) = loopback().await;
        let state = State {
            in_progress_polls: settings.in_progress_polls,
            ..State::default()
        };
        let inner = Arc::new(Inner {
            addr,
            settings,
            state: Mutex::new(state),
        });
        let shared = Arc::clone(&inner);
        serve(listener, move |head, body| {
            let inner = Arc::clone(&shared);
            async move {
                let (status, payload) = inner.answer(&head, &body);
                http_response(status, &[], &payload)
            }
        });
        FakeMessageBatches { addr, inner }
    }

    /// The base URL (before `/v1/messages/batches`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// While set, batches stay in_progress.
    pub fn hold(&self, hold: bool) {
        self.inner.state.lock().expect("fake state").hold = hold;
    }

    /// Every batch created so far, in order.
    pub fn batches(&self) -> Vec<FakeMessageBatch> {
        self.inner.state.lock().expect("fake state").batches.clone()
    }

    /// Cancel requests received.
    pub fn cancels(&self) -> u32 {
        self.inner.state.lock().expect("fake state").cancels
    }
}

impl Inner {
    /// (status, body) of a request.
    fn answer(&self, head: &str, body: &[u8]) -> (u16, String) {
        let mut parts = head.split_whitespace();
        let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        if header(head, "anthropic-version").is_none() {
            let message = "anthropic-version: header is required";
            return error(400, "invalid_request_error", message);
        }
        let key = header(head, "x-api-key");
        if self.settings.api_key.is_some() && key != self.settings.api_key {
            let message = format!("invalid x-api-key: {}", key.unwrap_or_default());
            return error(401, "authentication_error", &message);
        }
        let segments: Vec<&str> = path
            .strip_prefix("/v1/messages/batches")
            .unwrap_or("/-")
            .split('/')
            .skip(1)
            .collect();
        let mut state = self.state.lock().expect("fake state");
        match (method, segments.as_slice()) {
            ("POST", []) => self.create(&mut state, head, body),
            ("GET", [id]) => match state.batches.iter().position(|b| b.id == *id) {
                Some(index) => {
                    state.advance(index);
                    (200, self.object(&state.batches[index]).to_string())
                }
                None => not_found(id),
            },
            ("POST", [id, "cancel"]) => {
                state.cancels += 1;
                match state.batches.iter_mut().find(|b| b.id == *id) {
                    Some(batch) => {
                        if batch.status == "in_progress" {
                            batch.status = "canceling".into();
                            batch.canceled = true;
                        }
                        let batch = batch.clone();
                        (200, self.object(&batch).to_string())
                    }
                    None => not_found(id),
                }
            }
            ("GET", [id, "results"]) => match state.batches.iter().find(|b| b.id == *id) {
                Some(batch) if batch.status == "ended" => {
                    let mut lines = String::new();
                    for line in &batch.results {
                        lines.push_str(&line.to_string());
                        lines.push('\n');
                    }
                    (200, lines)
                }
                Some(_) => error(
                    400,
                    "invalid_request_error",
                    "results are available once the batch has ended",
                ),
                None => not_found(id),
            },
            _ => error(404, "not_found_error", &format!("no route {method} {path}")),
        }
    }

    fn create(&self, state: &mut State, head: &str, body: &[u8]) -> (u16, String) {
        if header(head, "content-type").as_deref() != Some("application/json") {
            return error(
                400,
                "invalid_request_error",
                "content-type must be application/json",
            );
        }
        if body.len() > MAX_BYTES {
            return error(
                413,
                "request_too_large",
                "Request exceeds the maximum allowed number of bytes.",
            );
        }
        let request: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let Some(requests) = request["requests"].as_array() else {
            return error(400, "invalid_request_error", "requests: Field required");
        };
        if requests.is_empty() || requests.len() > MAX_REQUESTS {
            let message = format!(
                "requests: must hold 1 to {MAX_REQUESTS} requests, got {}",
                requests.len()
            );
            return error(400, "invalid_request_error", &message);
        }
        let mut seen = HashSet::new();
        let mut batch = FakeMessageBatch {
            id: format!("msgbatch_{:04}", state.batches.len() + 1),
            status: "in_progress".into(),
            custom_ids: Vec::new(),
            params: Vec::new(),
            polls: 0,
            canceled: false,
            results: Vec::new(),
        };
        for (i, item) in requests.iter().enumerate() {
            let id = item["custom_id"].as_str().unwrap_or("");
            let valid = (1..=64).contains(&id.len())
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if !valid {
                let message = format!(
                    "requests.{i}.custom_id: String should match pattern '^[a-zA-Z0-9_-]{{1,64}}$'"
                );
                return error(400, "invalid_request_error", &message);
            }
            if !seen.insert(id.to_string()) {
                let message = format!("requests.{i}.custom_id: {id:?} is not unique in the batch");
                return error(400, "invalid_request_error", &message);
            }
            batch.custom_ids.push(id.to_string());
            batch.params.push(item["params"].clone());
        }
        let object = self.object(&batch);
        state.batches.push(batch);
        (200, object.to_string())
    }

    /// The Message Batch object of `batch`.
    fn object(&self, batch: &FakeMessageBatch) -> Value {
        let count = |kind: &str| batch.result_types().iter().filter(|t| *t == kind).count();
        let ended = batch.status == "ended";
        let processing = if ended { 0 } else { batch.custom_ids.len() };
        json!({
            "id": batch.id,
            "type": "message_batch",
            "processing_status": batch.status,
            "request_counts": {
                "processing": processing,
                "succeeded": count("succeeded"),
                "errored": count("errored"),
                "canceled": count("canceled"),
                "expired": count("expired"),
            },
            "ended_at": if ended { json!("2026-12-06T12:00:00Z") } else { Value::Null },
            "created_at": "2026-12-06T11:00:00Z",
            "expires_at": "2026-12-07T11:00:00Z",
            "archived_at": null,
            "cancel_initiated_at": if batch.canceled { json!("2026-12-06T11:30:00Z") } else { Value::Null },
            "results_url": if ended {
                json!(format!("http://{}/v1/messages/batches/{}/results", self.addr, batch.id))
            } else {
                Value::Null
            },
        })
    }
}

impl State {
    /// One poll: the batch moves on by one step.
    fn advance(&mut self, index: usize) {
        let hold = self.hold;
        let in_progress_polls = self.in_progress_polls;
        let batch = &mut self.batches[index];
        batch.polls += 1;
        let end = match batch.status.as_str() {
            "canceling" => true,
            "in_progress" => !hold && batch.polls > in_progress_polls,
            _ => false,
        };
        if end {
            let batch = self.batches[index].clone();
            let results = batch
                .custom_ids
                .iter()
                .zip(&batch.params)
                .map(|(id, params)| {
                    let result = if batch.canceled {
                        json!({"type": "canceled"})
                    } else {
                        self.result(params)
                    };
                    json!({"custom_id": id, "result": result})
                })
                .collect();
            let batch = &mut self.batches[index];
            batch.results = results;
            batch.status = "ended".into();
        }
    }

    /// The result of one request.
    fn result(&mut self, params: &Value) -> Value {
        let content = last_text(params);
        let mut first_time = |marker: &str| {
            content.contains(marker) && self.failed_once.insert(format!("{marker}{content}"))
        };
        let errored = |kind: &str, message: &str| json!({"type": "errored", "error": error_body(kind, message)});
        if params["max_tokens"].as_u64().is_none() {
            return errored("invalid_request_error", "max_tokens: Field required");
        }
        if first_time("[expire]") {
            return json!({"type": "expired"});
        }
        if content.contains("[400]") {
            let message = format!("provider says: cannot handle {content:?}");
            return errored("invalid_request_error", &message);
        }
        if first_time("[500-once]") {
            return errored("api_error", "Internal server error");
        }
        json!({"type": "succeeded", "message": {
            "id": "msg_batch",
            "type": "message",
            "role": "assistant",
            "model": params["model"],
            "content": [{"type": "text", "text": format!("reply to: {content}")}],
            "stop_reason": "end_turn",
            "stop_sequence": null,
            "usage": {"input_tokens": 10, "output_tokens": 5}
        }})
    }
}

/// Text of the last message of `params` (a string, or its text blocks).
fn last_text(params: &Value) -> String {
    let last = params["messages"]
        .as_array()
        .and_then(|m| m.last())
        .map(|m| m["content"].clone())
        .unwrap_or(Value::Null);
    match last {
        Value::String(text) => text,
        Value::Array(blocks) => blocks
            .iter()
            .filter_map(|b| b["text"].as_str())
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    }
}

fn error(status: u16, kind: &str, message: &str) -> (u16, String) {
    (status, error_body(kind, message).to_string())
}

fn not_found(id: &str) -> (u16, String) {
    error(404, "not_found_error", &format!("no message batch {id}"))
}
