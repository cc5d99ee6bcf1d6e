//! A fake of Anthropic's Messages API on 127.0.0.1, written from its
//! documented wire format for the tests: plain HTTP/1.1 with keep-alive
//! (the socket plumbing is `fake_openai`'s).
//!
//! `POST /v1/messages` needs `anthropic-version` and a JSON content type
//! (else 400), and the configured `x-api-key` (else 401
//! `authentication_error`). It answers a message whose one `text` block is
//! `"reply to: " + the last message's text`, with `usage` of 10 input and 5
//! output tokens, `stop_reason: "end_turn"`, and the
//! `anthropic-ratelimit-requests-*` headers. Errors are
//! `{"type": "error", "error": {"type": ..., "message": ...}}`. Markers in
//! the last message's text choose another answer:
//! - `[400]`: 400 `invalid_request_error` naming the content;
//! - `[401-key]`: 401 whose message repeats the `x-api-key` header;
//! - `[529-once]`: 529 `overloaded_error` the first time;
//! - `[exhausted-once]`: 429 with `anthropic-ratelimit-requests-remaining: 0`
//!   and a reset 600 ms ahead (RFC 3339), no `retry-after`, the first time.
//!
//! [`FakeSettings::refuse_every`] refuses every n-th request, 429
//! `rate_limit_error` and 529 `overloaded_error` in turn, each with
//! `retry-after` (seconds). Every request is recorded with its arrival time.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use super::fake_openai::{header, http_response, loopback, serve};

/// How the fake behaves.
#[derive(Debug, Clone, Default)]
pub struct FakeSettings {
    /// Added before every answer.
    pub latency: Duration,
    /// Every n-th request (1-based) is refused (429 and 529 in turn); 0: never.
    pub refuse_every: u64,
    /// `retry-after` in seconds sent with refusals.
    pub retry_after_s: Option<u64>,
    /// The key `x-api-key` must carry; None: any, or none.
    pub api_key: Option<String>,
}

/// One request as the fake received it.
#[derive(Debug, Clone)]
pub struct Arrival {
    pub at: Instant,
    pub path: String,
    pub body: Value,
    pub api_key: Option<String>,
    pub version: Option<String>,
    pub content_type: Option<String>,
    pub authorization: Option<String>,
    /// The status the fake answered with.
    pub status: u16,
}

impl Arrival {
    /// Text of the request's last message (a string, or its text blocks).
    pub fn content(&self) -> String {
        let last = self.body["messages"]
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
}

#[derive(Debug, Default)]
struct State {
    arrivals: Vec<Arrival>,
    failed_once: HashSet<String>,
    refusals: u64,
}

/// A running fake; it stops with the test's runtime.
#[derive(Clone)]
pub struct FakeAnthropic {
    pub addr: SocketAddr,
    inner: Arc<Inner>,
}

/// What the fake's connections share.
struct Inner {
    settings: FakeSettings,
    state: Mutex<State>,
}

impl FakeAnthropic {
    pub async fn start(settings: FakeSettings) -> FakeAnthropic {
        let (listener, addr) = loopback().await;
        let inner = Arc::new(Inner {
            settings,
            state: Mutex::default(),
        });
        let shared = Arc::clone(&inner);
        serve(listener, move |head, body| {
            let inner = Arc::clone(&shared);
            async move { inner.answer(&head, &body).await }
        });
        FakeAnthropic { addr, inner }
    }

    /// The base URL (before `/v1/messages`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn arrivals(&self) -> Vec<Arrival> {
        self.inner
            .state
            .lock()
            .expect("fake state")
            .arrivals
            .clone()
    }

    /// The most requests that arrived within any `window`.
    pub fn peak_in(&self, window: Duration) -> usize {
        let times: Vec<Instant> = self.arrivals().iter().map(|a| a.at).collect();
        let mut peak = 0;
        let mut start = 0;
        for (end, at) in times.iter().enumerate() {
            while at.duration_since(times[start]) >= window {
                start += 1;
            }
            peak = peak.max(end - start + 1);
        }
        peak
    }
}

impl Inner {
    async fn answer(&self, head: &str, body: &[u8]) -> Vec<u8> {
        let mut arrival = Arrival {
            at: Instant::now(),
            path: head.split_whitespace().nth(1).unwrap_or("").to_string(),
            body: serde_json::from_slice(body).unwrap_or(Value::Null),
            api_key: header(head, "x-api-key"),
            version: header(head, "anthropic-version"),
            content_type: header(head, "content-type"),
            authorization: header(head, "authorization"),
            status: 0,
        };
        let (status, headers, payload) = self.decide(&arrival);
        arrival.status = status;
        self.state
            .lock()
            .expect("fake state")
            .arrivals
            .push(arrival);
        if !self.settings.latency.is_zero() {
            tokio::time::sleep(self.settings.latency).await;
        }
        http_response(status, &headers, &payload.to_string())
    }

    /// (status, headers, body) for a request.
    fn decide(&self, arrival: &Arrival) -> (u16, Vec<(String, String)>, Value) {
        let mut state = self.state.lock().expect("fake state");
        let number = state.arrivals.len() as u64 + 1;
        let content = arrival.content();
        if arrival.path != "/v1/messages" {
            let message = format!("no route {}", arrival.path);
            return (404, vec![], error_body("not_found_error", &message));
        }
        if arrival.version.is_none() {
            let message = "anthropic-version: header is required";
            return (400, vec![], error_body("invalid_request_error", message));
        }
        if arrival.content_type.as_deref() != Some("application/json") {
            let message = "content-type must be application/json";
            return (400, vec![], error_body("invalid_request_error", message));
        }
        let key_ok = self.settings.api_key.is_none() || arrival.api_key == self.settings.api_key;
        if content.contains("[401-key]") || !key_ok {
            let sent = arrival.api_key.clone().unwrap_or_default();
            let message = format!("invalid x-api-key: {sent}");
            return (401, vec![], error_body("authentication_error", &message));
        }
        if arrival.body["max_tokens"].as_u64().is_none() {
            let message = "max_tokens: Field required";
            return (400, vec![], error_body("invalid_request_error", message));
        }
        if content.contains("[400]") {
            let message = format!("provider says: cannot handle {content:?}");
            return (400, vec![], error_body("invalid_request_error", &message));
        }
        let mut first_time =
            |marker: &str| content.contains(marker) && state.failed_once.insert(content.clone());
        if first_time("[529-once]") {
            return (529, vec![], error_body("overloaded_error", "Overloaded"));
        }
        if first_time("[exhausted-once]") {
            let reset = rfc3339(SystemTime::now() + Duration::from_millis(600));
            let headers = vec![
                (
                    "anthropic-ratelimit-requests-remaining".to_string(),
                    "0".to_string(),
                ),
                ("anthropic-ratelimit-requests-reset".to_string(), reset),
            ];
            let message = "Number of requests has exceeded your per-minute rate limit";
            return (429, headers, error_body("rate_limit_error", message));
        }
        let every = self.settings.refuse_every;
        if every > 0 && number.is_multiple_of(every) {
            state.refusals += 1;
            let retry_after = self
                .settings
                .retry_after_s
                .map(|s| ("retry-after".to_string(), s.to_string()));
            let headers: Vec<_> = retry_after.into_iter().collect();
            return if state.refusals % 2 == 1 {
                let message = "Number of request tokens has exceeded your rate limit";
                (429, headers, error_body("rate_limit_error", message))
            } else {
                (529, headers, error_body("overloaded_error", "Overloaded"))
            };
        }
        let reset = rfc3339(SystemTime::now() + Duration::from_secs(60));
        let headers = vec![
            (
                "anthropic-ratelimit-requests-limit".to_string(),
                "100000".to_string(),
            ),
            (
                "anthropic-ratelimit-requests-remaining".to_string(),
                "99999".to_string(),
            ),
            ("anthropic-ratelimit-requests-reset".to_string(), reset),
        ];
        let body = json!({
            "id": format!("msg_{number:06}"),
            "type": "message",
            "role": "assistant",
            "model": arrival.body["model"],
            "content": [{"type": "text", "text": format!("reply to: {content}")}],
            "stop_reason": "end_turn",
            "stop_sequence": null,
            "usage": {"input_tokens": 10, "output_tokens": 5}
        });
        (200, headers, body)
    }
}

/// An Anthropic error body.
pub fn error_body(kind: &str, message: &str) -> Value {
    json!({"type": "error", "error": {"type": kind, "message": message}})
}

/// `at` as an RFC 3339 instant in UTC, to the millisecond.
pub fn rfc3339(at: SystemTime) -> String {
    let since = at.duration_since(UNIX_EPOCH).expect("after 1970");
    let (days, secs) = ((since.as_secs() / 86_400) as i64, since.as_secs() % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60,
        since.subsec_millis()
    )
}
