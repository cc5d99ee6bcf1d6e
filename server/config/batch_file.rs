//! `kind = "openai-batch"` and `kind = "anthropic-batch"` tables of the
//! config file (one reader; what differs is named per kind):
//!
//! ```toml
//! [engines.gpt-batch]
//! kind = "openai-batch"
//! base_url = "https://api.openai.com/v1"  # before /files and /batches
//! model = "gpt-4o-mini"
//! api_key_env = "OPENAI_API_KEY"
//! completion_window = "24h"               # openai-batch only
//! poll_interval_ms = 10000                # first wait between polls
//! poll_max_interval_ms = 300000           # each wait 1.5x the last, up to this
//! max_requests_per_batch = 50000          # at most 50000 (anthropic: 100000)
//! max_file_bytes = 200000000              # at most 200 MB (anthropic-batch:
//!                                         # max_batch_bytes, at most 256 MB)
//! max_queue_delay_ms = 600000             # unless every running item is parked
//! max_concurrency = 64                    # batches in flight
//! max_retries = 5                         # of one batch API request
//! timeout_s = 600                         # of one batch API request
//! fallback = "gpt"                        # an online engine of the provider
//! max_tokens = 4096                       # anthropic-batch only
//! ```
//!
//! and the deadline settings (`batch_deadline`).

use std::time::Duration;

use super::engine_table::{
    check_pricing, check_timeout, endpoint_or, range_reason, FieldError, FileEngine, FileKind,
    DEFAULT_API_KEY_ENV, DEFAULT_BASE_URL, DEFAULT_MAX_RETRIES, DEFAULT_MODEL,
};
use super::{batch_deadline, EngineKindSpec, EngineSpec, MAX_ENGINE_CONCURRENCY};
use crate::engine::anthropic;
use crate::engine::http::per_call::Provider;
use crate::engine::provider_batch::{AnthropicBatch, BatchProvider, BatchSettings, OpenAiBatch};

/// Longest poll interval: one hour.
const MAX_POLL_INTERVAL_MS: u64 = 3_600_000;
/// Longest `max_queue_delay_ms`: one day.
const MAX_QUEUE_DELAY_MS: u64 = 86_400_000;

/// Fields only batch engines have: an error for other kinds.
pub(super) fn reject_batch_fields(engine: &FileEngine) -> Result<(), FieldError> {
    let batch_only = [
        ("completion_window", engine.completion_window.is_some()),
        ("poll_interval_ms", engine.poll_interval_ms.is_some()),
        (
            "poll_max_interval_ms",
            engine.poll_max_interval_ms.is_some(),
        ),
        (
            "max_requests_per_batch",
            engine.max_requests_per_batch.is_some(),
        ),
        ("max_file_bytes", engine.max_file_bytes.is_some()),
        ("max_batch_bytes", engine.max_batch_bytes.is_some()),
        ("max_queue_delay_ms", engine.max_queue_delay_ms.is_some()),
        ("fallback", engine.fallback.is_some()),
    ];
    let deadline_fields = batch_deadline::set_fields(engine);
    match batch_only
        .iter()
        .chain(&deadline_fields)
        .find(|(_, set)| *set)
    {
        Some((field, _)) => Err((
            field,
            "is a setting of openai-batch and anthropic-batch engines only".to_string(),
        )),
        None => Ok(()),
    }
}

/// Checks an openai-batch or anthropic-batch table. The fallback's kind is
/// checked once every engine is known ([`super::ServerConfig::resolve`]).
pub(super) fn engine_spec(name: &str, engine: &FileEngine) -> Result<EngineSpec, FieldError> {
    let (kind, max_batch_size) = if engine.kind == FileKind::AnthropicBatch {
        not_here::<AnthropicBatch>(&[
            ("completion_window", engine.completion_window.is_some()),
            ("max_file_bytes", engine.max_file_bytes.is_some()),
        ])?;
        let defaults = [
            anthropic::DEFAULT_BASE_URL,
            anthropic::DEFAULT_MODEL,
            anthropic::DEFAULT_API_KEY_ENV,
        ];
        let bytes = ("max_batch_bytes", engine.max_batch_bytes);
        let mut settings = batch_settings::<AnthropicBatch>(name, engine, defaults, bytes)?;
        if let Some(max_tokens) = engine.max_tokens {
            if max_tokens == 0 {
                return Err(("max_tokens", "must be at least 1".to_string()));
            }
            settings.options.max_tokens = max_tokens;
        }
        let size = settings.max_requests_per_batch;
        (EngineKindSpec::AnthropicBatch(settings), size)
    } else {
        not_here::<OpenAiBatch>(&[
            ("max_tokens", engine.max_tokens.is_some()),
            ("max_batch_bytes", engine.max_batch_bytes.is_some()),
        ])?;
        let defaults = [DEFAULT_BASE_URL, DEFAULT_MODEL, DEFAULT_API_KEY_ENV];
        let bytes = ("max_file_bytes", engine.max_file_bytes);
        let mut settings = batch_settings::<OpenAiBatch>(name, engine, defaults, bytes)?;
        if let Some(window) = &engine.completion_window {
            if window.trim().is_empty() {
                return Err((
                    "completion_window",
                    "must not be empty (\"24h\")".to_string(),
                ));
            }
            settings.options.completion_window = window.trim().to_string();
        }
        let size = settings.max_requests_per_batch;
        (EngineKindSpec::OpenAiBatch(settings), size)
    };
    let pricing = engine.pricing.as_ref().map(check_pricing).transpose()?;
    Ok(EngineSpec {
        name: name.to_string(),
        max_batch_size,
        kind,
        pricing,
    })
}

/// The first of `fields` that is set, as an error: not a setting of `P`'s kind.
fn not_here<P: BatchProvider>(fields: &[(&'static str, bool)]) -> Result<(), FieldError> {
    match fields.iter().find(|(_, set)| *set) {
        Some((field, _)) => Err((field, format!("is not a setting of {} engines", P::KIND))),
        None => Ok(()),
    }
}

/// The settings every batch kind has, with the kind's `defaults` of
/// `base_url`, `model` and `api_key_env`, and its byte limit `bytes`
/// (field, value).
fn batch_settings<P: BatchProvider>(
    name: &str,
    engine: &FileEngine,
    defaults: [&str; 3],
    bytes: (&'static str, Option<u64>),
) -> Result<BatchSettings<P>, FieldError> {
    let not_here = [
        ("rpm", engine.rpm.is_some()),
        ("tpm", engine.tpm.is_some()),
        ("latency_ms", engine.latency_ms.is_some()),
        ("max_batch_size", engine.max_batch_size.is_some()),
    ];
    if let Some((field, _)) = not_here.iter().find(|(_, set)| *set) {
        let reason = if *field == "max_batch_size" {
            format!(
                "is not a setting of {} engines; use max_requests_per_batch",
                P::KIND
            )
        } else {
            format!("is not a setting of {} engines", P::KIND)
        };
        return Err((field, reason));
    }
    let endpoint = endpoint_or(engine, defaults)?;
    let mut settings = BatchSettings::<P> {
        api_key: endpoint.api_key,
        strict: engine.strict.unwrap_or(false),
        ..BatchSettings::new(&endpoint.base_url, &endpoint.model)
    };
    let ms = |field: &'static str, value: Option<u64>, max: u64, default: Duration| match value {
        None => Ok(default),
        Some(v) if (1..=max).contains(&v) => Ok(Duration::from_millis(v)),
        Some(v) => Err((field, range_reason(1, max, v))),
    };
    settings.poll_interval = ms(
        "poll_interval_ms",
        engine.poll_interval_ms,
        MAX_POLL_INTERVAL_MS,
        settings.poll_interval,
    )?;
    settings.poll_max_interval = ms(
        "poll_max_interval_ms",
        engine.poll_max_interval_ms,
        MAX_POLL_INTERVAL_MS,
        settings.poll_max_interval.max(settings.poll_interval),
    )?;
    if settings.poll_max_interval < settings.poll_interval {
        return Err((
            "poll_max_interval_ms",
            format!(
                "must be at least poll_interval_ms ({}), got {}",
                settings.poll_interval.as_millis(),
                settings.poll_max_interval.as_millis()
            ),
        ));
    }
    settings.max_queue_delay = ms(
        "max_queue_delay_ms",
        engine.max_queue_delay_ms,
        MAX_QUEUE_DELAY_MS,
        settings.max_queue_delay,
    )?;
    if let Some(n) = engine.max_requests_per_batch {
        if !(1..=P::MAX_REQUESTS as u32).contains(&n) {
            return Err((
                "max_requests_per_batch",
                range_reason(1, P::MAX_REQUESTS as u64, n as u64),
            ));
        }
        settings.max_requests_per_batch = n as usize;
    }
    if let (field, Some(n)) = bytes {
        if !(1..=P::MAX_BYTES as u64).contains(&n) {
            return Err((field, range_reason(1, P::MAX_BYTES as u64, n)));
        }
        settings.max_batch_bytes = n as usize;
    }
    if let Some(n) = engine.max_concurrency {
        if !(1..=MAX_ENGINE_CONCURRENCY).contains(&n) {
            return Err((
                "max_concurrency",
                range_reason(1, MAX_ENGINE_CONCURRENCY as u64, n as u64),
            ));
        }
        settings.max_concurrency = n as usize;
    }
    settings.max_retries = engine.max_retries.unwrap_or(DEFAULT_MAX_RETRIES);
    if settings.max_retries > 100 {
        return Err((
            "max_retries",
            range_reason(0, 100, settings.max_retries as u64),
        ));
    }
    if let Some(timeout) = engine.timeout_s {
        settings.timeout = check_timeout(timeout).map_err(|r| ("timeout_s", r))?;
    }
    if let Some(fallback) = &engine.fallback {
        if fallback.trim().is_empty() || fallback == name {
            return Err((
                "fallback",
                format!(
                    "must name another engine (of kind {}), got {fallback:?}",
                    <P::Online as Provider>::KIND
                ),
            ));
        }
        settings.fallback = Some(fallback.clone());
    }
    batch_deadline::apply(engine, &mut settings)?;
    Ok(settings)
}

#[cfg(test)]
mod tests {
    use super::super::file::parse;
    use super::*;

    fn error_of(text: &str) -> String {
        parse("f.toml", text).expect_err("invalid").to_string()
    }

    #[test]
    fn a_batch_engine_resolves_with_its_settings() {
        let loaded = parse(
            "f.toml",
            "[engines.b]\nkind = \"openai-batch\"\napi_key_env = \"\"\nmodel = \"m\"\n\
             poll_interval_ms = 20\npoll_max_interval_ms = 100\nmax_requests_per_batch = 7\n\
             max_file_bytes = 1000\nfallback = \"gpt\"\n",
        )
        .expect("valid");
        let spec = &loaded.engines[0];
        assert_eq!(spec.max_batch_size, 7);
        let EngineKindSpec::OpenAiBatch(s) = &spec.kind else {
            panic!("an openai-batch engine")
        };
        assert_eq!(s.options.completion_window, "24h");
        assert_eq!(s.poll_interval, Duration::from_millis(20));
        assert_eq!(
            (s.max_batch_bytes, s.fallback.as_deref()),
            (1000, Some("gpt"))
        );
    }

    #[test]
    fn limits_above_the_providers_name_the_field_and_the_limit() {
        let head = "[engines.b]\nkind = \"openai-batch\"\napi_key_env = \"\"\n";
        let err = error_of(&format!("{head}max_requests_per_batch = 50001\n"));
        assert!(
            err.contains(
                "engines.b.max_requests_per_batch: must be between 1 and 50000, got 50001"
            ),
            "{err}"
        );
        let err = error_of(&format!("{head}max_file_bytes = 200000001\n"));
        assert!(
            err.contains("engines.b.max_file_bytes: must be between 1 and 200000000"),
            "{err}"
        );
        let err = error_of(&format!("{head}poll_interval_ms = 0\n"));
        assert!(err.contains("engines.b.poll_interval_ms"), "{err}");
        let err = error_of(&format!("{head}max_batch_size = 5\n"));
        assert!(err.contains("use max_requests_per_batch"), "{err}");
        let err = error_of(&format!("{head}max_batch_bytes = 5\n"));
        assert!(
            err.contains("engines.b.max_batch_bytes: is not a setting of openai-batch engines"),
            "{err}"
        );
    }

    #[test]
    fn an_anthropic_batch_engine_has_anthropics_defaults_and_limits() {
        let loaded = parse(
            "f.toml",
            "[engines.c]\nkind = \"anthropic-batch\"\napi_key_env = \"\"\nmax_tokens = 64\n\
             fallback = \"claude\"\n",
        )
        .expect("valid");
        let spec = &loaded.engines[0];
        assert_eq!(spec.max_batch_size, 100_000);
        let EngineKindSpec::AnthropicBatch(s) = &spec.kind else {
            panic!("an anthropic-batch engine")
        };
        assert_eq!(
            (s.base_url.as_str(), s.model.as_str()),
            ("https://api.anthropic.com", "claude-sonnet-4-5")
        );
        assert_eq!((s.max_batch_bytes, s.options.max_tokens), (256_000_000, 64));
        let head = "[engines.c]\nkind = \"anthropic-batch\"\napi_key_env = \"\"\n";
        let err = error_of(&format!("{head}max_requests_per_batch = 100001\n"));
        assert!(
            err.contains("engines.c.max_requests_per_batch: must be between 1 and 100000"),
            "{err}"
        );
        let err = error_of(&format!("{head}max_batch_bytes = 256000001\n"));
        assert!(
            err.contains("engines.c.max_batch_bytes: must be between 1 and 256000000"),
            "{err}"
        );
        let err = error_of(&format!("{head}completion_window = \"24h\"\n"));
        assert!(
            err.contains(
                "engines.c.completion_window: is not a setting of anthropic-batch engines"
            ),
            "{err}"
        );
        let err = error_of(&format!("{head}fallback = \"c\"\n"));
        assert!(err.contains("of kind anthropic"), "{err}");
    }

    #[test]
    fn batch_settings_on_another_kind_are_rejected() {
        let err = error_of("[engines.e]\nkind = \"echo\"\nfallback = \"x\"\n");
        assert!(
            err.contains(
                "engines.e.fallback: is a setting of openai-batch and anthropic-batch engines only"
            ),
            "{err}"
        );
    }
}
