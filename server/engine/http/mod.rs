//! What the engines that call a provider's HTTP API one request per call
//! share, whatever the provider (`openai`, `anthropic`):
//!
//! - [`per_call`]: the engine itself: every call of an engine batch its own
//!   request, under the limiter, retried after a retryable failure; a
//!   [`per_call::Provider`] holds what differs (body, headers, reply);
//! - [`limiter`]: the rate-limit actor (rpm, tpm, AIMD concurrency, pauses);
//! - [`retry`]: rate-limit headers and backoff;
//! - [`tokens`]: the token estimate charged before a request;
//! - [`request`]: kwargs passed on, a reply's text and usage, the
//!   provider's error message;
//! - [`error`]: why a call failed;
//! - here: the API key, and names for messages.

pub mod circuit;
pub mod error;
pub mod limiter;
pub mod per_call;
pub mod request;
pub mod retry;
pub mod tokens;

use std::fmt;

use reqwest::header::HeaderValue;

/// An API key. Its `Debug` output is redacted, and it is sent as a
/// sensitive header, so it reaches neither logs, errors nor `Status`.
#[derive(Clone)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(key: impl Into<String>) -> Self {
        ApiKey(key.into())
    }

    /// `Authorization: Bearer <key>`'s value.
    pub(crate) fn header(&self) -> Option<HeaderValue> {
        sensitive(&format!("Bearer {}", self.0))
    }

    /// The key alone, as a header value (Anthropic's `x-api-key`).
    pub(crate) fn bare_header(&self) -> Option<HeaderValue> {
        sensitive(&self.0)
    }

    /// The key itself, for the log writer that scrubs it from every line.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// `text` with every occurrence of the key replaced.
    pub(crate) fn scrub(&self, text: &str) -> String {
        if self.0.is_empty() {
            text.to_string()
        } else {
            text.replace(&self.0, "[redacted]")
        }
    }
}

/// A header value marked sensitive (hidden from the HTTP stack's debug
/// output); None when `text` cannot be a header value.
fn sensitive(text: &str) -> Option<HeaderValue> {
    let mut value = HeaderValue::from_str(text).ok()?;
    value.set_sensitive(true);
    Some(value)
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey([redacted])")
    }
}

/// `host[:port]` of a base URL, for messages (the URL itself when it has
/// no host).
pub(crate) fn host_of(base_url: &str) -> String {
    reqwest::Url::parse(base_url)
        .ok()
        .and_then(|url| {
            url.host_str()
                .map(|h| url.port().map_or(h.to_string(), |p| format!("{h}:{p}")))
        })
        .unwrap_or_else(|| base_url.to_string())
}

/// A reqwest error with its causes, without the URL (the host is named
/// separately).
pub(crate) fn describe(err: reqwest::Error) -> String {
    let err = err.without_url();
    let mut text = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A header map of `pairs`, for the tests of header readers.
    pub(crate) fn headers(pairs: &[(&'static str, &'static str)]) -> reqwest::header::HeaderMap {
        let mut map = reqwest::header::HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn the_key_is_redacted_in_debug_output_and_scrubbed_from_text() {
        let key = ApiKey::new("sk-secret-123");
        assert_eq!(format!("{key:?}"), "ApiKey([redacted])");
        assert_eq!(key.scrub("bad key sk-secret-123!"), "bad key [redacted]!");
        assert!(key.header().expect("valid header").is_sensitive());
        let bare = key.bare_header().expect("valid header");
        assert!(bare.is_sensitive());
        assert_eq!(bare.to_str().ok(), Some("sk-secret-123"));
    }

    #[test]
    fn a_key_straddling_the_message_cut_is_scrubbed_whole() {
        let key = ApiKey::new("sk-proj-abcdefghijklmnopqrstuvwxyz0123456789");
        // The key starts 10 bytes before the 2,000-byte cut.
        for message in [
            format!("{}{}", "x".repeat(1990), key.0),
            format!("{} {} tail", "y".repeat(1994), key.0),
        ] {
            let body = serde_json::json!({"error": {"message": message}}).to_string();
            for body in [body.as_bytes(), message.as_bytes()] {
                let text = request::error_message(body, |t| key.scrub(t));
                assert!(!text.contains("sk-"), "{}", &text[1980..]);
                assert!(text.len() <= 2003, "{}", text.len());
            }
        }
    }
}
