//! A fake of OpenAI's Files and Batches endpoints on 127.0.0.1, written for
//! the tests (plain HTTP/1.1 with keep-alive, like `fake_openai`).
//!
//! - `POST /v1/files` (multipart, purpose=batch) keeps the file;
//! - `POST /v1/batches` validates the input file (JSON lines, a custom id
//!   each, unique, url `/v1/chat/completions`): a bad file gives a batch
//!   that ends `failed`;
//! - `GET /v1/batches/{id}` moves the batch on by one step per poll:
//!   validating → in_progress → finalizing (for `finalizing_polls` polls:
//!   a slow finalizing step) → completed, or expired when a request holds
//!   `[expire]`; while [`FakeBatchApi::hold`] is set, batches stay
//!   in_progress;
//! - `POST /v1/batches/{id}/cancel`: cancelling, then cancelled;
//! - `GET /v1/files/{id}/content`: output and error files.
//!
//! Each request is answered as the online fake answers it: `"reply to: " +`
//! the last message's content, usage 10 prompt and 5 completion tokens.
//! `[400]` in the content fails it with a 400; `[500-once]` with a 500 the
//! first time; `[expire]` expires it (and its batch) the first time.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

use super::fake_openai::{error_body, header, http_response, read_request};

/// How the fake behaves.
#[derive(Debug, Clone, Default)]
pub struct FakeBatchSettings {
    /// Polls a batch stays in `finalizing`.
    pub finalizing_polls: u32,
}

/// One batch as the fake keeps it.
#[derive(Debug, Clone)]
pub struct FakeBatch {
    pub id: String,
    pub status: String,
    pub input_file_id: String,
    /// Custom ids of its requests, in file order.
    pub custom_ids: Vec<String>,
    pub polls: u32,
    finalizing_left: u32,
    output_file_id: Option<String>,
    error_file_id: Option<String>,
    completed: u32,
    failed: u32,
}

#[derive(Debug, Default)]
struct State {
    files: HashMap<String, Vec<u8>>,
    batches: Vec<FakeBatch>,
    /// Contents already failed once (`[500-once]`, `[expire]`).
    failed_once: HashSet<String>,
    hold: bool,
    next_id: u64,
    cancels: u32,
}

/// A running fake; it stops with the test's runtime.
#[derive(Clone)]
pub struct FakeBatchApi {
    pub addr: SocketAddr,
    settings: FakeBatchSettings,
    state: Arc<Mutex<State>>,
}

impl FakeBatchApi {
    pub async fn start(settings: FakeBatchSettings) -> FakeBatchApi {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let fake = FakeBatchApi {
            addr: listener.local_addr().expect("local addr"),
            settings,
            state: Arc::default(),
        };
        let server = fake.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let server = server.clone();
                tokio::spawn(async move { server.connection(stream).await });
            }
        });
        fake
    }

    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// While set, batches stay in_progress.
    pub fn hold(&self, hold: bool) {
        self.state.lock().expect("fake state").hold = hold;
    }

    /// Every batch submitted so far, in order.
    pub fn batches(&self) -> Vec<FakeBatch> {
        self.state.lock().expect("fake state").batches.clone()
    }

    /// Cancel requests received.
    pub fn cancels(&self) -> u32 {
        self.state.lock().expect("fake state").cancels
    }

    async fn connection(&self, mut stream: TcpStream) {
        let mut buffer = Vec::new();
        loop {
            let Some((head, body)) = read_request(&mut stream, &mut buffer).await else {
                return;
            };
            let (status, payload) = self.answer(&head, &body);
            let response = match payload {
                Payload::Json(value) => http_response(status, &[], &value.to_string()),
                Payload::Bytes(bytes) => {
                    let mut out = http_response(status, &[], "");
                    // Replace the empty body's length with the file's.
                    let text = String::from_utf8_lossy(&out).replace(
                        "content-length: 0",
                        &format!("content-length: {}", bytes.len()),
                    );
                    out = text.into_bytes();
                    out.extend_from_slice(&bytes);
                    out
                }
            };
            if stream.write_all(&response).await.is_err() {
                return;
            }
        }
    }

    fn answer(&self, head: &str, body: &[u8]) -> (u16, Payload) {
        let request_line = head.lines().next().unwrap_or_default();
        let mut parts = request_line.split_whitespace();
        let method = parts.next().unwrap_or_default();
        let path = parts.next().unwrap_or_default();
        let segments: Vec<&str> = path.trim_start_matches("/v1/").split('/').collect();
        let mut state = self.state.lock().expect("fake state");
        match (method, segments.as_slice()) {
            ("POST", ["files"]) => {
                let Some(file) = multipart_file(head, body) else {
                    return bad("no file part in the upload");
                };
                let id = state.fresh("file");
                state.files.insert(id.clone(), file);
                (
                    200,
                    Payload::Json(json!({"id": id, "object": "file", "purpose": "batch"})),
                )
            }
            ("POST", ["batches"]) => {
                let request: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
                let input = request["input_file_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                let Some(file) = state.files.get(&input).cloned() else {
                    return (404, Payload::Json(error_body("no such file", "not_found")));
                };
                let (custom_ids, valid) = validate(&file);
                let id = state.fresh("batch");
                let batch = FakeBatch {
                    id,
                    status: if valid { "validating" } else { "failed" }.to_string(),
                    input_file_id: input,
                    custom_ids,
                    polls: 0,
                    finalizing_left: self.settings.finalizing_polls,
                    output_file_id: None,
                    error_file_id: None,
                    completed: 0,
                    failed: 0,
                };
                let object = batch_object(&batch);
                state.batches.push(batch);
                (200, Payload::Json(object))
            }
            ("GET", ["batches", id]) => match state.advance(id) {
                Some(object) => (200, Payload::Json(object)),
                None => (404, Payload::Json(error_body("no such batch", "not_found"))),
            },
            ("POST", ["batches", id, "cancel"]) => {
                state.cancels += 1;
                let Some(batch) = state.batches.iter_mut().find(|b| b.id == *id) else {
                    return (404, Payload::Json(error_body("no such batch", "not_found")));
                };
                batch.status = "cancelling".into();
                (200, Payload::Json(batch_object(batch)))
            }
            ("GET", ["files", id, "content"]) => match state.files.get(*id) {
                Some(bytes) => (200, Payload::Bytes(bytes.clone())),
                None => (404, Payload::Json(error_body("no such file", "not_found"))),
            },
            _ => (
                404,
                Payload::Json(error_body(&format!("no route {path}"), "not_found")),
            ),
        }
    }
}

enum Payload {
    Json(Value),
    Bytes(Vec<u8>),
}

fn bad(message: &str) -> (u16, Payload) {
    (
        400,
        Payload::Json(error_body(message, "invalid_request_error")),
    )
}

impl State {
    fn fresh(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}-{}", self.next_id)
    }

    /// One poll: the batch moves on by one step.
    fn advance(&mut self, id: &str) -> Option<Value> {
        let index = self.batches.iter().position(|b| b.id == id)?;
        let hold = self.hold;
        let batch = &mut self.batches[index];
        batch.polls += 1;
        let next = match batch.status.as_str() {
            "validating" => Some("in_progress"),
            "in_progress" if !hold => Some("finalizing"),
            "finalizing" if batch.finalizing_left > 0 => {
                batch.finalizing_left -= 1;
                None
            }
            "finalizing" => Some("completed"),
            "cancelling" => Some("cancelled"),
            _ => None,
        };
        if let Some(next) = next {
            batch.status = next.to_string();
        }
        if matches!(next, Some("completed") | Some("cancelled")) {
            let batch = self.batches[index].clone();
            self.finish(index, &batch);
        }
        Some(batch_object(&self.batches[index]))
    }

    /// Answers every request of a batch into its output and error files.
    fn finish(&mut self, index: usize, batch: &FakeBatch) {
        let file = self
            .files
            .get(&batch.input_file_id)
            .cloned()
            .unwrap_or_default();
        let cancelled = batch.status == "cancelled";
        let (mut output, mut errors) = (String::new(), String::new());
        let (mut completed, mut failed, mut expired) = (0, 0, false);
        for line in file.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let request: Value = serde_json::from_slice(line).unwrap_or(Value::Null);
            let custom_id = request["custom_id"].clone();
            let content = request["body"]["messages"]
                .as_array()
                .and_then(|m| m.last())
                .and_then(|m| m["content"].as_str())
                .unwrap_or_default()
                .to_string();
            let once = |state: &mut State, marker: &str| {
                content.contains(marker) && state.failed_once.insert(format!("{marker}{content}"))
            };
            let error_line = |code: &str, message: &str| {
                json!({"custom_id": custom_id, "response": null,
                       "error": {"code": code, "message": message}})
            };
            let response_line = |status: u16, body: Value| {
                json!({"id": "batch_req", "custom_id": custom_id,
                       "response": {"status_code": status, "request_id": "r", "body": body},
                       "error": null})
            };
            let line = if cancelled {
                failed += 1;
                errors.push_str(&error_line("batch_cancelled", "cancelled").to_string());
                errors.push('\n');
                continue;
            } else if once(self, "[expire]") {
                expired = true;
                failed += 1;
                error_line(
                    "batch_expired",
                    "This request could not be executed before the completion window expired.",
                )
            } else if content.contains("[400]") {
                failed += 1;
                response_line(
                    400,
                    error_body(
                        &format!("provider says: cannot handle {content:?}"),
                        "invalid_request_error",
                    ),
                )
            } else if once(self, "[500-once]") {
                failed += 1;
                response_line(500, error_body("the server had an error", "server_error"))
            } else {
                completed += 1;
                response_line(
                    200,
                    json!({
                        "id": "chatcmpl", "object": "chat.completion",
                        "model": request["body"]["model"],
                        "choices": [{"index": 0, "finish_reason": "stop",
                            "message": {"role": "assistant", "content": format!("reply to: {content}")}}],
                        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
                    }),
                )
            };
            let target = if line["response"]["status_code"] == 200 {
                &mut output
            } else {
                &mut errors
            };
            target.push_str(&line.to_string());
            target.push('\n');
        }
        let output_id = (!output.is_empty()).then(|| self.fresh("file"));
        let error_id = (!errors.is_empty()).then(|| self.fresh("file"));
        if let Some(id) = &output_id {
            self.files.insert(id.clone(), output.into_bytes());
        }
        if let Some(id) = &error_id {
            self.files.insert(id.clone(), errors.into_bytes());
        }
        let batch = &mut self.batches[index];
        batch.output_file_id = output_id;
        batch.error_file_id = error_id;
        (batch.completed, batch.failed) = (completed, failed);
        if expired {
            batch.status = "expired".into();
        }
    }
}

fn batch_object(batch: &FakeBatch) -> Value {
    json!({
        "id": batch.id,
        "object": "batch",
        "endpoint": "/v1/chat/completions",
        "status": batch.status,
        "input_file_id": batch.input_file_id,
        "output_file_id": batch.output_file_id,
        "error_file_id": batch.error_file_id,
        "request_counts": {
            "total": batch.custom_ids.len(),
            "completed": batch.completed,
            "failed": batch.failed,
        },
    })
}

/// The custom ids of an input file, and whether it is valid.
fn validate(file: &[u8]) -> (Vec<String>, bool) {
    let mut ids = Vec::new();
    let mut seen = HashSet::new();
    let mut valid = true;
    for line in file.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let Ok(request) = serde_json::from_slice::<Value>(line) else {
            valid = false;
            continue;
        };
        let id = request["custom_id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        valid &= !id.is_empty() && seen.insert(id.clone());
        valid &= request["url"] == "/v1/chat/completions" && request["method"] == "POST";
        ids.push(id);
    }
    let valid = valid && !ids.is_empty();
    (ids, valid)
}

/// The content of the multipart part named `file`.
fn multipart_file(head: &str, body: &[u8]) -> Option<Vec<u8>> {
    let content_type = header(head, "content-type")?;
    let boundary = content_type.split("boundary=").nth(1)?.trim_matches('"');
    let delimiter = format!("--{boundary}");
    let text = body;
    let positions: Vec<usize> = (0..text.len().saturating_sub(delimiter.len()))
        .filter(|&i| text[i..].starts_with(delimiter.as_bytes()))
        .collect();
    for pair in positions.windows(2) {
        let part = &text[pair[0] + delimiter.len()..pair[1]];
        let head_end = part.windows(4).position(|w| w == b"\r\n\r\n")?;
        let part_head = String::from_utf8_lossy(&part[..head_end]);
        if part_head.contains("name=\"file\"") {
            let content = &part[head_end + 4..];
            let content = content.strip_suffix(b"\r\n").unwrap_or(content);
            return Some(content.to_vec());
        }
    }
    None
}
