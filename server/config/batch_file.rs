//! `kind = "openai-batch"` tables of the config file:
//!
//! ```toml
//! [engines.gpt-batch]
//! kind = "openai-batch"
//! base_url = "https://api.openai.com/v1"  # before /files and /batches
//! model = "gpt-4o-mini"
//! api_key_env = "OPENAI_API_KEY"
//! completion_window = "24h"
//! poll_interval_ms = 10000                # first wait between polls
//! poll_max_interval_ms = 300000           # each wait 1.5x the last, up to this
//! max_requests_per_batch = 50000          # at most 50000
//! max_file_bytes = 200000000              # at most 200 MB
//! max_queue_delay_ms = 600000             # unless every running item is parked
//! max_concurrency = 64                    # batches in flight
//! max_retries = 5                         # of one files/batches request
//! timeout_s = 600                         # of one files/batches request
//! fallback = "gpt"                        # an openai engine, or leave out
//! ```
//!
//! and the deadline settings (`batch_deadline`).

use std::time::Duration;

use super::engine_table::{
    check_pricing, check_timeout, endpoint, range_reason, Endpoint, FieldError, FileEngine,
    DEFAULT_MAX_RETRIES,
};
use super::{batch_deadline, EngineKindSpec, EngineSpec, MAX_ENGINE_CONCURRENCY};
use crate::engine::provider_batch::{BatchProvider, OpenAiBatch, OpenAiBatchSettings};

const MAX_REQUESTS_PER_FILE: usize = OpenAiBatch::MAX_REQUESTS;
const MAX_FILE_BYTES: usize = OpenAiBatch::MAX_BYTES;

/// Longest poll interval: one hour.
const MAX_POLL_INTERVAL_MS: u64 = 3_600_000;
/// Longest `max_queue_delay_ms`: one day.
const MAX_QUEUE_DELAY_MS: u64 = 86_400_000;

/// Fields only openai-batch engines have: an error for other kinds.
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
            "is a setting of openai-batch engines only".to_string(),
        )),
        None => Ok(()),
    }
}

/// Checks an openai-batch table. The fallback's kind is checked once every
/// engine is known ([`super::ServerConfig::resolve`]).
pub(super) fn engine_spec(name: &str, engine: &FileEngine) -> Result<EngineSpec, FieldError> {
    let not_here = [
        ("rpm", engine.rpm.is_some()),
        ("tpm", engine.tpm.is_some()),
        ("latency_ms", engine.latency_ms.is_some()),
        ("max_batch_size", engine.max_batch_size.is_some()),
        ("max_tokens", engine.max_tokens.is_some()),
    ];
    if let Some((field, _)) = not_here.iter().find(|(_, set)| *set) {
        let reason = if *field == "max_batch_size" {
            "is not a setting of openai-batch engines; use max_requests_per_batch"
        } else {
            "is not a setting of openai-batch engines"
        };
        return Err((field, reason.to_string()));
    }
    let Endpoint {
        base_url,
        model,
        api_key,
    } = endpoint(engine)?;
    let mut settings = OpenAiBatchSettings {
        api_key,
        strict: engine.strict.unwrap_or(false),
        ..OpenAiBatchSettings::new(&base_url, &model)
    };
    if let Some(window) = &engine.completion_window {
        if window.trim().is_empty() {
            return Err((
                "completion_window",
                "must not be empty (\"24h\")".to_string(),
            ));
        }
        settings.options.completion_window = window.trim().to_string();
    }
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
        if !(1..=MAX_REQUESTS_PER_FILE as u32).contains(&n) {
            return Err((
                "max_requests_per_batch",
                range_reason(1, MAX_REQUESTS_PER_FILE as u64, n as u64),
            ));
        }
        settings.max_requests_per_batch = n as usize;
    }
    if let Some(n) = engine.max_file_bytes {
        if !(1..=MAX_FILE_BYTES as u64).contains(&n) {
            return Err(("max_file_bytes", range_reason(1, MAX_FILE_BYTES as u64, n)));
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
                format!("must name another engine (of kind openai), got {fallback:?}"),
            ));
        }
        settings.fallback = Some(fallback.clone());
    }
    batch_deadline::apply(engine, &mut settings)?;
    let pricing = engine.pricing.as_ref().map(check_pricing).transpose()?;
    Ok(EngineSpec {
        name: name.to_string(),
        max_batch_size: settings.max_requests_per_batch,
        kind: EngineKindSpec::OpenAiBatch(settings),
        pricing,
    })
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
    }

    #[test]
    fn batch_settings_on_another_kind_are_rejected() {
        let err = error_of("[engines.e]\nkind = \"echo\"\nfallback = \"x\"\n");
        assert!(
            err.contains("engines.e.fallback: is a setting of openai-batch engines only"),
            "{err}"
        );
    }
}
