//! A fake OpenAI-compatible chat-completions server on 127.0.0.1, written for
//! the tests: plain HTTP/1.1 with keep-alive over tokio sockets.
//!
//! It answers `POST .../chat/completions` with `"reply to: " + the last
//! message's content` and a `usage` of 10 prompt and 5 completion tokens.
//! Markers in that content choose another answer:
//! - `[400]`: 400 with an OpenAI-style error message naming the content;
//! - `[401-key]`: 401 whose message repeats the Authorization header;
//! - `[429-once]`: 429 (with the configured retry-after-ms) the first time;
//! - `[500-once]`: 500 the first time;
//! - `[exhausted-once]`: 429 with `x-ratelimit-remaining-requests: 0` and
//!   `x-ratelimit-reset-requests: 600ms` the first time;
//! - `[hang]`: never answers.
//!
//! [`FakeSettings::rate_limit_every`] answers every n-th request with 429.
//! Every request is recorded with its arrival time, and the fake counts the
//! requests it holds at once ([`FakeOpenAi::peak_in_flight`]).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How the fake behaves.
#[derive(Debug, Clone, Default)]
pub struct FakeSettings {
    /// Added before every answer.
    pub latency: Duration,
    /// Every n-th request (1-based) is answered 429; 0: never.
    pub rate_limit_every: u64,
    /// `retry-after-ms` sent with 429s.
    pub retry_after_ms: Option<u64>,
    /// `retry-after` (seconds, as the provider writes them) sent with 429s.
    pub retry_after: Option<&'static str>,
}

/// One request as the fake received it.
#[derive(Debug, Clone)]
pub struct Arrival {
    pub at: Instant,
    pub body: Value,
    pub authorization: Option<String>,
    /// The status the fake answered with (0: never answered).
    pub status: u16,
}

impl Arrival {
    /// Content of the request's last message.
    pub fn content(&self) -> String {
        self.body["messages"]
            .as_array()
            .and_then(|m| m.last())
            .and_then(|m| m["content"].as_str())
            .unwrap_or_default()
            .to_string()
    }
}

#[derive(Debug, Default)]
struct State {
    arrivals: Vec<Arrival>,
    /// Contents already answered with their one-time failure.
    failed_once: HashSet<String>,
    /// Requests received and not yet answered.
    in_flight: usize,
    /// The most requests ever in flight at once.
    peak_in_flight: usize,
}

/// A running fake server; it stops with the test's runtime.
#[derive(Clone)]
pub struct FakeOpenAi {
    pub addr: SocketAddr,
    settings: FakeSettings,
    state: Arc<Mutex<State>>,
}

impl FakeOpenAi {
    pub async fn start(settings: FakeSettings) -> FakeOpenAi {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let fake = FakeOpenAi {
            addr: listener.local_addr().expect("local addr"),
            settings,
            state: Arc::default(),
        };
        let server = fake.clone();
        serve(listener, move |head, body| {
            let server = server.clone();
            async move { server.answer(&head, &body).await }
        });
        fake
    }

    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub fn arrivals(&self) -> Vec<Arrival> {
        self.state.lock().expect("fake state").arrivals.clone()
    }

    /// The most requests the fake has held at once (received, not yet
    /// answered).
    pub fn peak_in_flight(&self) -> usize {
        self.state.lock().expect("fake state").peak_in_flight
    }

    /// Waits (real time, up to 10 s) until `n` requests have arrived.
    pub async fn wait_for_arrivals(&self, n: usize) -> Vec<Arrival> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let arrivals = self.arrivals();
            if arrivals.len() >= n || Instant::now() > deadline {
                return arrivals;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    async fn answer(&self, head: &str, body: &[u8]) -> Vec<u8> {
        let at = Instant::now();
        let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let authorization = header(head, "authorization");
        let mut arrival = Arrival {
            at,
            body,
            authorization,
            status: 0,
        };
        let content = arrival.content();
        let (status, headers, payload) = self.decide(&arrival, &content);
        arrival.status = status;
        {
            let mut state = self.state.lock().expect("fake state");
            state.arrivals.push(arrival.clone());
            state.in_flight += 1;
            state.peak_in_flight = state.peak_in_flight.max(state.in_flight);
        }
        if status == 0 {
            // [hang]: hold the connection without answering.
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        if !self.settings.latency.is_zero() {
            tokio::time::sleep(self.settings.latency).await;
        }
        self.state.lock().expect("fake state").in_flight -= 1;
        http_response(status, &headers, &payload.to_string())
    }

    /// (status, extra headers, body) for a request; status 0 hangs.
    fn decide(&self, arrival: &Arrival, content: &str) -> (u16, Vec<(String, String)>, Value) {
        let mut state = self.state.lock().expect("fake state");
        let number = state.arrivals.len() as u64 + 1;
        let first_time = |state: &mut State, marker: &str| {
            content.contains(marker) && state.failed_once.insert(content.to_string())
        };
        let retry_after = || {
            let ms = self
                .settings
                .retry_after_ms
                .map(|ms| ("retry-after-ms", ms.to_string()));
            let secs = self
                .settings
                .retry_after
                .map(|s| ("retry-after", s.to_string()));
            ms.into_iter()
                .chain(secs)
                .map(|(name, value)| (name.to_string(), value))
                .collect::<Vec<_>>()
        };
        if content.contains("[hang]") {
            return (0, vec![], Value::Null);
        }
        if content.contains("[400]") {
            let message = format!("provider says: cannot handle {content:?}");
            return (400, vec![], error_body(&message, "invalid_request_error"));
        }
        if content.contains("[401-key]") {
            let key = arrival.authorization.clone().unwrap_or_default();
            let message = format!("Incorrect API key provided: {key}");
            return (401, vec![], error_body(&message, "invalid_api_key"));
        }
        if first_time(&mut state, "[429-once]") {
            return (
                429,
                retry_after(),
                error_body("slow down", "rate_limit_exceeded"),
            );
        }
        if first_time(&mut state, "[500-once]") {
            return (
                500,
                vec![],
                error_body("the server had an error", "server_error"),
            );
        }
        if first_time(&mut state, "[exhausted-once]") {
            let headers = vec![
                (
                    "x-ratelimit-remaining-requests".to_string(),
                    "0".to_string(),
                ),
                (
                    "x-ratelimit-reset-requests".to_string(),
                    "600ms".to_string(),
                ),
            ];
            return (
                429,
                headers,
                error_body("requests exhausted", "rate_limit_exceeded"),
            );
        }
        let every = self.settings.rate_limit_every;
        if every > 0 && number.is_multiple_of(every) {
            return (
                429,
                retry_after(),
                error_body("slow down", "rate_limit_exceeded"),
            );
        }
        let model = arrival.body["model"].clone();
        let body = json!({
            "id": format!("chatcmpl-{number}"),
            "object": "chat.completion",
            "model": model,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": format!("reply to: {content}")},
                "finish_reason": "stop"
            }],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
        });
        (200, vec![], body)
    }
}

pub fn error_body(message: &str, code: &str) -> Value {
    json!({"error": {"message": message, "type": code, "code": code}})
}

pub fn http_response(status: u16, headers: &[(String, String)], body: &str) -> Vec<u8> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        429 => "Too Many Requests",
        _ => "Internal Server Error",
    };
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(body);
    out.into_bytes()
}

/// A listener on a free port of 127.0.0.1, and its address.
pub async fn loopback() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    (listener, addr)
}

/// Serves keep-alive HTTP/1.1 connections on `listener` (until the test's
/// runtime ends): every request, as (head, body), is answered with the
/// bytes `answer` returns.
pub fn serve<A, F>(listener: TcpListener, answer: A)
where
    A: Fn(String, Vec<u8>) -> F + Clone + Send + Sync + 'static,
    F: std::future::Future<Output = Vec<u8>> + Send + 'static,
{
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut buffer = Vec::new();
                while let Some((head, body)) = read_request(&mut stream, &mut buffer).await {
                    if stream.write_all(&answer(head, body).await).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
}

/// Reads one request (head and body) from a keep-alive connection.
pub async fn read_request(
    stream: &mut TcpStream,
    buffer: &mut Vec<u8>,
) -> Option<(String, Vec<u8>)> {
    let head_end = loop {
        if let Some(pos) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
        let mut chunk = [0u8; 8192];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_string();
    let length: usize = header(&head, "content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while buffer.len() < head_end + length {
        let mut chunk = [0u8; 8192];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
    let body = buffer[head_end..head_end + length].to_vec();
    buffer.drain(..head_end + length);
    Some((head, body))
}

pub fn header(head: &str, name: &str) -> Option<String> {
    head.lines().skip(1).find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim()
            .eq_ignore_ascii_case(name)
            .then(|| value.trim().to_string())
    })
}
