//! A fake OpenAI embeddings server (`POST .../embeddings`) on 127.0.0.1,
//! written for the tests from OpenAI's documented wire format.
//!
//! Request: `{"model", "input": [texts] (or one text), "dimensions"?}`.
//! Response: `{"object": "list", "data": [{"object": "embedding", "index",
//! "embedding": [numbers]}], "model", "usage": {"prompt_tokens",
//! "total_tokens"}}`. Each text's vector is a function of the text alone
//! (8 numbers with many digits, or `dimensions` of them); a text's prompt
//! tokens are its words (at least 1).
//!
//! Errors as OpenAI answers them (`{"error": {"message", "type", "param",
//! "code"}}`): more than 2048 inputs or an empty text → 400; a text holding
//! `[429-once]` → 429 with `retry-after-ms: 20` the first time.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use super::fake_openai::{error_body, http_response, loopback, serve};

/// One request as received: its inputs.
#[derive(Debug, Clone)]
pub struct EmbeddingRequest {
    pub path: String,
    pub model: String,
    pub inputs: Vec<String>,
    pub status: u16,
}

#[derive(Debug, Default)]
struct State {
    requests: Vec<EmbeddingRequest>,
    failed_once: HashSet<String>,
}

/// A running fake; it stops with the test's runtime.
#[derive(Clone)]
pub struct FakeEmbeddings {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

/// The fake's vector of `text` with `dims` numbers.
pub fn vector_of(text: &str, dims: usize) -> Vec<f64> {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash = (hash ^ byte as u64).wrapping_mul(0x0100_0000_01b3);
    }
    (0..dims)
        .map(|j| {
            hash = hash
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(j as u64 + 1);
            // Many significant digits, so a lossy path would show.
            ((hash >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
        })
        .collect()
}

impl FakeEmbeddings {
    pub async fn start() -> FakeEmbeddings {
        let (listener, addr) = loopback().await;
        let fake = FakeEmbeddings {
            addr,
            state: Arc::default(),
        };
        let server = fake.clone();
        serve(listener, move |head, body| {
            let server = server.clone();
            async move { server.answer(&head, &body) }
        });
        fake
    }

    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub fn requests(&self) -> Vec<EmbeddingRequest> {
        self.state.lock().expect("fake state").requests.clone()
    }

    fn answer(&self, head: &str, body: &[u8]) -> Vec<u8> {
        let path = head
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_string();
        let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let inputs: Vec<String> = match &body["input"] {
            Value::String(text) => vec![text.clone()],
            Value::Array(items) => items
                .iter()
                .map(|v| v.as_str().unwrap_or_default().to_string())
                .collect(),
            _ => Vec::new(),
        };
        let model = body["model"].as_str().unwrap_or_default().to_string();
        let (status, headers, payload) = self.decide(&path, &model, &inputs, &body);
        self.state
            .lock()
            .expect("fake state")
            .requests
            .push(EmbeddingRequest {
                path,
                model,
                inputs,
                status,
            });
        http_response(status, &headers, &payload.to_string())
    }

    fn decide(
        &self,
        path: &str,
        model: &str,
        inputs: &[String],
        body: &Value,
    ) -> (u16, Vec<(String, String)>, Value) {
        if !path.ends_with("/embeddings") {
            return (
                404,
                vec![],
                error_body(&format!("no route {path}"), "not_found"),
            );
        }
        if inputs.is_empty() || inputs.len() > 2048 || inputs.iter().any(String::is_empty) {
            let message = "'$.input' is invalid. Please check the API reference: \
                           https://platform.openai.com/docs/api-reference.";
            return (400, vec![], error_body(message, "invalid_request_error"));
        }
        let mut state = self.state.lock().expect("fake state");
        if let Some(text) = inputs.iter().find(|t| t.contains("[429-once]")) {
            if state.failed_once.insert(text.clone()) {
                let headers = vec![("retry-after-ms".to_string(), "20".to_string())];
                let message = "Rate limit reached for requests";
                return (429, headers, error_body(message, "rate_limit_exceeded"));
            }
        }
        let dims = body["dimensions"].as_u64().unwrap_or(8) as usize;
        let data: Vec<Value> = inputs
            .iter()
            .enumerate()
            .map(|(index, text)| {
                json!({"object": "embedding", "index": index, "embedding": vector_of(text, dims)})
            })
            .collect();
        let tokens: usize = inputs
            .iter()
            .map(|t| t.split_whitespace().count().max(1))
            .sum();
        let body = json!({
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens}
        });
        (200, vec![], body)
    }
}
