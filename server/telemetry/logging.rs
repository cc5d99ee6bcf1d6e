//! Logs: `--log-format text|json` to stderr, filtered by `SYMBATCHER_LOG`
//! (else `RUST_LOG`; tracing's EnvFilter syntax, default `info`), and the
//! spans that let one job be followed: `job{id=..}` around what the server
//! logs about a job, and `engine_batch{engine=.. batch_id=.. size=.. jobs=..}`
//! around a batch at its engine, a child of its job's span when all its
//! calls come from one job.

use std::io::IsTerminal;

use tracing::field::Empty;
use tracing::Span;
use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines, with the spans before the message.
    #[default]
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`, `fields`
    /// (the message and its fields), `span` (the innermost span) and
    /// `spans` (every enclosing span, outermost first, with its fields).
    Json,
}

/// The log filter: `SYMBATCHER_LOG`, else `RUST_LOG`, else `info`.
fn filter() -> EnvFilter {
    EnvFilter::try_from_env("SYMBATCHER_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new("info"))
}

/// Installs the process's log subscriber (once, at startup).
pub fn init_logging(format: LogFormat) {
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .init(),
    }
}

/// The span of a job; its `id` is recorded when the scheduler admits it.
pub(crate) fn job_span(expression: &str, engine: &str) -> Span {
    tracing::info_span!("job", id = Empty, expression, engine)
}

/// The span of an engine batch holding calls of `jobs`: a child of the job's
/// span when there is exactly one.
pub(crate) fn batch_span(engine: &str, batch_id: u64, size: usize, jobs: &[(u64, &Span)]) -> Span {
    let ids = jobs
        .iter()
        .map(|(id, _)| id.to_string())
        .collect::<Vec<_>>()
        .join(",");
    match jobs {
        [(_, job)] => {
            tracing::info_span!(parent: *job, "engine_batch", engine, batch_id, size, jobs = %ids)
        }
        _ => tracing::info_span!(parent: None, "engine_batch", engine, batch_id, size, jobs = %ids),
    }
}
