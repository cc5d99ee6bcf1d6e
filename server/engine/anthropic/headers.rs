//! Anthropic's rate-limit headers, read into the limiter's terms
//! ([`RateLimitHeaders`]): `anthropic-ratelimit-requests-remaining` /
//! `-reset`, the same for `-tokens-` (and for `-input-tokens-` and
//! `-output-tokens-`, of which the budget with the fewest left counts), and
//! `retry-after` in seconds. Reset times are RFC 3339 instants
//! (`2026-12-06T09:00:30Z`), turned into the wait from now.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::HeaderMap;

use crate::engine::http::retry::{retry_after_at, RateLimitHeaders};

/// The token budgets, each as a header family; the one with the fewest
/// tokens left is the engine's tokens budget.
const TOKEN_BUDGETS: [&str; 3] = ["tokens", "input-tokens", "output-tokens"];

/// The rate-limit headers of an Anthropic response, read at `now`.
pub fn rate_limits_at(headers: &HeaderMap, now: SystemTime) -> RateLimitHeaders {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let remaining = |budget: &str| {
        text(&format!("anthropic-ratelimit-{budget}-remaining"))
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    let reset = |budget: &str| {
        text(&format!("anthropic-ratelimit-{budget}-reset"))
            .and_then(parse_rfc3339)
            .map(|at| at.duration_since(now).unwrap_or(Duration::ZERO))
    };
    let tokens = TOKEN_BUDGETS
        .iter()
        .filter_map(|budget| remaining(budget).map(|left| (left, reset(budget))))
        .min_by_key(|(left, _)| *left);
    RateLimitHeaders {
        retry_after: retry_after_at(headers, now),
        remaining_requests: remaining("requests"),
        remaining_tokens: tokens.map(|(left, _)| left),
        reset_requests: reset("requests"),
        reset_tokens: tokens.and_then(|(_, reset)| reset),
    }
}

/// An RFC 3339 instant: `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`.
pub fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    let text = text.trim();
    let (date, time) = text.split_once(['T', 't', ' '])?;
    let mut date = date.splitn(3, '-');
    let year: i64 = date.next()?.parse().ok()?;
    let month: u32 = date.next()?.parse().ok()?;
    let day: u32 = date.next()?.parse().ok()?;
    let (clock, offset) = match time.find(['Z', 'z', '+', '-']) {
        Some(at) => time.split_at(at),
        None => return None,
    };
    let offset_s: i64 = match offset {
        "Z" | "z" => 0,
        _ => {
            let sign = if offset.starts_with('-') { -1 } else { 1 };
            let (h, m) = offset[1..].split_once(':')?;
            sign * (h.parse::<i64>().ok()? * 3600 + m.parse::<i64>().ok()? * 60)
        }
    };
    let mut clock = clock.splitn(3, ':');
    let hour: i64 = clock.next()?.parse().ok()?;
    let minute: i64 = clock.next()?.parse().ok()?;
    let seconds: f64 = clock.next()?.parse().ok()?;
    let valid = (1..=12).contains(&month)
        && (1..=31).contains(&day)
        && hour < 24
        && minute < 60
        && (0.0..61.0).contains(&seconds);
    if !valid {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let whole = days * 86_400 + hour * 3600 + minute * 60 - offset_s;
    let at = Duration::from_secs(u64::try_from(whole).ok()?) + Duration::from_secs_f64(seconds);
    UNIX_EPOCH.checked_add(at)
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar
/// (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::http::tests::headers;

    fn at(text: &str) -> SystemTime {
        parse_rfc3339(text).expect("an RFC 3339 instant")
    }

    #[test]
    fn rfc3339_instants_parse_with_offsets_and_fractions() {
        let epoch = |s: u64| UNIX_EPOCH + Duration::from_secs(s);
        assert_eq!(at("1970-01-01T00:00:00Z"), epoch(0));
        assert_eq!(at("2026-12-06T09:00:30Z"), epoch(1_796_547_630));
        assert_eq!(at("2026-12-06T10:00:30+01:00"), epoch(1_796_547_630));
        assert_eq!(
            at("2026-12-06T09:00:30.250Z"),
            epoch(1_796_547_630) + Duration::from_millis(250)
        );
        assert_eq!(at("2024-02-29T00:00:00Z"), epoch(1_709_164_800));
        assert_eq!(parse_rfc3339("soon"), None);
        assert_eq!(parse_rfc3339("2026-13-01T00:00:00Z"), None);
        assert_eq!(parse_rfc3339("2026-12-06T09:00:30"), None);
    }

    #[test]
    fn an_exhausted_budget_pauses_until_its_reset_instant() {
        let now = at("2026-12-06T09:00:00Z");
        let requests_out = [
            ("anthropic-ratelimit-requests-remaining", "0"),
            ("anthropic-ratelimit-requests-reset", "2026-12-06T09:00:02Z"),
            ("anthropic-ratelimit-tokens-remaining", "5000"),
            ("anthropic-ratelimit-tokens-reset", "2026-12-06T09:00:09Z"),
        ];
        let h = rate_limits_at(&headers(&requests_out), now);
        assert_eq!(h.exhausted_for(), Some(Duration::from_secs(2)));
        assert_eq!(h.retry_hint(), Some(Duration::from_secs(2)));
    }

    #[test]
    fn the_emptiest_token_budget_counts_and_retry_after_wins() {
        let now = at("2026-12-06T09:00:00Z");
        let h = rate_limits_at(
            &headers(&[
                ("retry-after", "3"),
                ("anthropic-ratelimit-tokens-remaining", "900"),
                ("anthropic-ratelimit-tokens-reset", "2026-12-06T09:00:09Z"),
                ("anthropic-ratelimit-output-tokens-remaining", "0"),
                (
                    "anthropic-ratelimit-output-tokens-reset",
                    "2026-12-06T09:00:04Z",
                ),
            ]),
            now,
        );
        assert_eq!(h.remaining_tokens, Some(0));
        assert_eq!(h.exhausted_for(), Some(Duration::from_secs(4)));
        assert_eq!(h.retry_hint(), Some(Duration::from_secs(3)));
        // A reset in the past is no wait.
        let reset = [
            ("anthropic-ratelimit-requests-remaining", "0"),
            ("anthropic-ratelimit-requests-reset", "2026-12-06T08:59:00Z"),
        ];
        let late = rate_limits_at(&headers(&reset), now);
        assert_eq!(late.exhausted_for(), Some(Duration::ZERO));
    }
}
