//! The deadline settings of provider-batch engines' tables (see
//! `engine::provider_batch::deadline`):
//!
//! ```toml
//! turnaround_guess_ms = 3600000   # batch turnaround planned with before one completed
//! deadline_margin_ms = 300000     # kept in hand before a job's deadline
//! cancel_wait_ms = 600000         # longest wait for a hedged batch to end
//! online_latency_ms = 60000       # time of one request to the fallback
//! ```

use std::time::Duration;

use super::engine_table::{range_reason, FieldError, FileEngine};
use crate::engine::provider_batch::{BatchProvider, BatchSettings};

/// Longest `turnaround_guess_ms`: a week.
const MAX_TURNAROUND_MS: u64 = 7 * 86_400_000;
/// Longest margin, cancel wait and online latency: a day.
const MAX_DAY_MS: u64 = 86_400_000;

/// The deadline fields a table sets, for the kinds that have none.
pub(super) fn set_fields(engine: &FileEngine) -> [(&'static str, bool); 4] {
    [
        ("turnaround_guess_ms", engine.turnaround_guess_ms.is_some()),
        ("deadline_margin_ms", engine.deadline_margin_ms.is_some()),
        ("cancel_wait_ms", engine.cancel_wait_ms.is_some()),
        ("online_latency_ms", engine.online_latency_ms.is_some()),
    ]
}

/// Checks the deadline fields of a provider-batch table into `settings`.
pub(super) fn apply<P: BatchProvider>(
    engine: &FileEngine,
    settings: &mut BatchSettings<P>,
) -> Result<(), FieldError> {
    let ms = |field: &'static str, value: Option<u64>, min: u64, max: u64, default: Duration| {
        match value {
            None => Ok(default),
            Some(v) if (min..=max).contains(&v) => Ok(Duration::from_millis(v)),
            Some(v) => Err((field, range_reason(min, max, v))),
        }
    };
    settings.turnaround_guess = ms(
        "turnaround_guess_ms",
        engine.turnaround_guess_ms,
        1,
        MAX_TURNAROUND_MS,
        settings.turnaround_guess,
    )?;
    settings.deadline_margin = ms(
        "deadline_margin_ms",
        engine.deadline_margin_ms,
        0,
        MAX_DAY_MS,
        settings.deadline_margin,
    )?;
    settings.cancel_wait = ms(
        "cancel_wait_ms",
        engine.cancel_wait_ms,
        0,
        MAX_DAY_MS,
        settings.cancel_wait,
    )?;
    settings.online_latency = ms(
        "online_latency_ms",
        engine.online_latency_ms,
        1,
        MAX_DAY_MS,
        settings.online_latency,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::file::parse;

    const HEAD: &str = "[engines.b]\nkind = \"openai-batch\"\napi_key_env = \"\"\nmodel = \"m\"\n";

    #[test]
    fn deadline_settings_are_read_and_checked_naming_the_field_and_limit() {
        let text = format!(
            "{HEAD}turnaround_guess_ms = 2000\ndeadline_margin_ms = 0\ncancel_wait_ms = 300\n\
             online_latency_ms = 40\n"
        );
        assert!(parse("f.toml", &text).is_ok());
        let err = parse("f.toml", &format!("{HEAD}turnaround_guess_ms = 0\n"))
            .expect_err("zero")
            .to_string();
        assert!(
            err.contains("engines.b.turnaround_guess_ms") && err.contains("between 1 and"),
            "{err}"
        );
        let err = parse("f.toml", &format!("{HEAD}cancel_wait_ms = 86400001\n"))
            .expect_err("over a day")
            .to_string();
        assert!(
            err.contains("cancel_wait_ms: must be between 0 and 86400000"),
            "{err}"
        );
        let err = parse(
            "f.toml",
            "[engines.e]\nkind = \"echo\"\nonline_latency_ms = 5\n",
        )
        .expect_err("not an echo setting")
        .to_string();
        assert!(err.contains("engines.e.online_latency_ms"), "{err}");
    }
}
