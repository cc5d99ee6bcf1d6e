//! When to send a failed request again: the provider's hints (`Retry-After`,
//! `retry-after-ms`, the reset times of its rate-limit headers) and
//! exponential backoff with jitter.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use reqwest::header::HeaderMap;

/// Backoff before the first retry; doubled for each further one.
const BACKOFF_BASE: Duration = Duration::from_millis(250);
/// Longest backoff without a provider hint.
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// Longest wait a provider hint may ask for; longer hints are capped.
const HINT_MAX: Duration = Duration::from_secs(600);

/// The rate-limit headers of a response, whatever the provider's names
/// for them. [`RateLimitHeaders::from_headers`] reads the `x-ratelimit-*`
/// names of OpenAI-compatible APIs; the anthropic engine reads its own
/// (`anthropic::headers`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RateLimitHeaders {
    /// `retry-after-ms`, else `retry-after` (seconds, or an HTTP date).
    pub retry_after: Option<Duration>,
    pub remaining_requests: Option<u64>,
    pub remaining_tokens: Option<u64>,
    pub reset_requests: Option<Duration>,
    pub reset_tokens: Option<Duration>,
}

impl RateLimitHeaders {
    /// The `x-ratelimit-*` headers (OpenAI's names, which vLLM, OpenRouter
    /// and others reuse) and `retry-after`.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        Self::from_headers_at(headers, SystemTime::now())
    }

    /// As [`RateLimitHeaders::from_headers`], with `now` for a `Retry-After`
    /// given as an HTTP date.
    pub fn from_headers_at(headers: &HeaderMap, now: SystemTime) -> Self {
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let number = |name: &str| text(name).and_then(|v| v.trim().parse::<u64>().ok());
        RateLimitHeaders {
            retry_after: retry_after_at(headers, now),
            remaining_requests: number("x-ratelimit-remaining-requests"),
            remaining_tokens: number("x-ratelimit-remaining-tokens"),
            reset_requests: text("x-ratelimit-reset-requests").and_then(parse_duration),
            reset_tokens: text("x-ratelimit-reset-tokens").and_then(parse_duration),
        }
    }

    /// How long the provider's budget is exhausted: the reset time of the
    /// requests or tokens budget whose remaining count is 0. Every request
    /// of the engine waits this long, not only the one that was refused.
    pub fn exhausted_for(&self) -> Option<Duration> {
        let requests = (self.remaining_requests == Some(0))
            .then_some(self.reset_requests)
            .flatten();
        let tokens = (self.remaining_tokens == Some(0))
            .then_some(self.reset_tokens)
            .flatten();
        requests.max(tokens).map(|d| d.min(HINT_MAX))
    }

    /// How long to wait before retrying a refused request: `Retry-After`,
    /// else the reset time of an exhausted budget, else of any budget.
    pub fn retry_hint(&self) -> Option<Duration> {
        self.retry_after
            .or_else(|| self.exhausted_for())
            .or_else(|| self.reset_requests.max(self.reset_tokens))
            .map(|d| d.min(HINT_MAX))
    }
}

/// The wait a response asks for: `retry-after-ms`, else `retry-after`
/// (seconds, or an HTTP date read against `now`).
pub fn retry_after_at(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    text("retry-after-ms")
        .and_then(|v| v.trim().parse::<f64>().ok())
        .and_then(|ms| secs(ms / 1000.0))
        .or_else(|| text("retry-after").and_then(|v| parse_retry_after(v, now)))
}

/// `Retry-After`: delay-seconds, or an HTTP date (a date in the past means
/// now).
fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<f64>() {
        return secs(seconds);
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

fn secs(value: f64) -> Option<Duration> {
    (value.is_finite() && value >= 0.0).then(|| Duration::from_secs_f64(value.min(1e6)))
}

/// Parses the durations of `x-ratelimit-reset-*`: "1s", "6m0s", "20ms",
/// "1h2m3.5s", or a plain number of seconds.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<f64>() {
        return secs(seconds);
    }
    let mut total = 0.0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .filter(|&i| i > 0)?;
        let value: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        total += value * scale;
        rest = &rest[unit_len..];
    }
    secs(total)
}

/// The wait before retry number `retry` (1 for the first): the provider's
/// hint plus up to 10% (so that refused requests do not return together),
/// else `250 ms × 2^(retry-1)` capped at 30 s, randomized into its upper
/// half ("equal jitter").
pub fn backoff(retry: u32, hint: Option<Duration>) -> Duration {
    match hint {
        Some(hint) => hint.mul_f64(1.0 + 0.1 * random_unit()),
        None => {
            let exponential = BACKOFF_BASE
                .saturating_mul(1u32 << retry.saturating_sub(1).min(16))
                .min(BACKOFF_MAX);
            exponential.mul_f64(0.5 + 0.5 * random_unit())
        }
    }
}

/// A uniform number in [0, 1). Seeded per call from the standard library's
/// random hasher keys; good enough for jitter, not for anything secret.
fn random_unit() -> f64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_durations_parse_in_openai_formats() {
        assert_eq!(parse_duration("1s"), Some(Duration::from_secs(1)));
        assert_eq!(parse_duration("6m0s"), Some(Duration::from_secs(360)));
        assert_eq!(parse_duration("20ms"), Some(Duration::from_millis(20)));
        assert_eq!(
            parse_duration("1h2m3.5s"),
            Some(Duration::from_secs_f64(3723.5))
        );
        assert_eq!(parse_duration("0.25"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("soon"), None);
        assert_eq!(parse_duration("5x"), None);
    }

    use super::super::tests::headers;

    #[test]
    fn retry_after_ms_wins_over_seconds() {
        let h = RateLimitHeaders::from_headers(&headers(&[
            ("retry-after", "3"),
            ("retry-after-ms", "150"),
        ]));
        assert_eq!(h.retry_hint(), Some(Duration::from_millis(150)));
    }

    #[test]
    fn retry_after_may_be_an_http_date() {
        let now = httpdate::parse_http_date("Sat, 28 Nov 2026 10:00:00 GMT").unwrap();
        let at = |value: &'static str| {
            RateLimitHeaders::from_headers_at(&headers(&[("retry-after", value)]), now).retry_after
        };
        assert_eq!(
            at("Sat, 28 Nov 2026 10:00:07 GMT"),
            Some(Duration::from_secs(7))
        );
        assert_eq!(at("Sat, 28 Nov 2026 09:59:00 GMT"), Some(Duration::ZERO));
        assert_eq!(at("2"), Some(Duration::from_secs(2)));
        assert_eq!(at("soon"), None);
    }

    #[test]
    fn an_exhausted_budget_pauses_until_its_reset() {
        let h = RateLimitHeaders::from_headers(&headers(&[
            ("x-ratelimit-remaining-requests", "0"),
            ("x-ratelimit-reset-requests", "2s"),
            ("x-ratelimit-remaining-tokens", "500"),
            ("x-ratelimit-reset-tokens", "9s"),
        ]));
        assert_eq!(h.exhausted_for(), Some(Duration::from_secs(2)));
        assert_eq!(h.retry_hint(), Some(Duration::from_secs(2)));
        let fine = RateLimitHeaders::from_headers(&headers(&[
            ("x-ratelimit-remaining-requests", "10"),
            ("x-ratelimit-reset-requests", "2s"),
        ]));
        assert_eq!(fine.exhausted_for(), None);
    }

    #[test]
    fn backoff_grows_with_jitter_and_honours_hints() {
        for retry in 1..=4 {
            let full = BACKOFF_BASE * (1 << (retry - 1));
            let wait = backoff(retry, None);
            assert!(wait >= full / 2 && wait <= full, "{retry}: {wait:?}");
        }
        assert!(backoff(40, None) <= BACKOFF_MAX);
        let hinted = backoff(1, Some(Duration::from_secs(2)));
        assert!(hinted >= Duration::from_secs(2) && hinted <= Duration::from_millis(2200));
    }
}
