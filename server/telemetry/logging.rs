//! Logs: `--log-format text|json` to stderr, filtered by `SYMBATCHER_LOG`
//! (else `RUST_LOG`; tracing's EnvFilter syntax, default `info`), and the
//! spans that let one job be followed: `job{id=..}` around what the server
//! logs about a job, and `engine_batch{engine=.. batch_id=.. size=.. jobs=..}`
//! around a batch at its engine, a child of its job's span when all its
//! calls come from one job.
//!
//! Every line goes through [`ScrubbingWriter`], which replaces each
//! configured secret (API keys, auth tokens) wherever it appears in the
//! formatted line: the message, any field, any span (e.g. a provider that
//! echoes the key back as a model name).

use std::io::{IsTerminal, Write};
use std::sync::Arc;

use tracing_subscriber::fmt::MakeWriter;

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

/// What a secret becomes in a log line.
pub const REDACTED: &str = "[redacted]";

/// Installs the process's log subscriber (once, at startup); `secrets` are
/// scrubbed from every line.
pub fn init_logging(format: LogFormat, secrets: Vec<String>) {
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_writer(ScrubbingWriter::new(secrets, std::io::stderr));
    match format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .init(),
    }
}

/// Makes a writer per log line that buffers the line and writes it to the
/// sink with every secret replaced by [`REDACTED`]: as it is, JSON-escaped
/// (the json format), Debug-escaped (`?field`), and both.
#[derive(Clone)]
pub struct ScrubbingWriter<M> {
    needles: Arc<Vec<String>>,
    sink: M,
}

impl<M> ScrubbingWriter<M> {
    pub fn new(secrets: Vec<String>, sink: M) -> Self {
        let mut needles = Vec::new();
        for secret in secrets.iter().filter(|s| !s.is_empty()) {
            let unquote = |quoted: String, text: &str| {
                let inner = quoted.strip_prefix('"').and_then(|q| q.strip_suffix('"'));
                inner.unwrap_or(text).to_string()
            };
            let escape_json =
                |text: &str| unquote(serde_json::to_string(text).unwrap_or_default(), text);
            let debug = unquote(format!("{secret:?}"), secret);
            let forms = [
                secret.clone(),
                escape_json(secret),
                escape_json(&debug),
                debug,
            ];
            for needle in forms.iter().map(String::as_str) {
                if !needle.is_empty() && !needles.iter().any(|n| n == needle) {
                    needles.push(needle.to_string());
                }
            }
        }
        // Longest first, so that a secret holding another is replaced whole.
        needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
        ScrubbingWriter {
            needles: Arc::new(needles),
            sink,
        }
    }
}

impl<'a, M> MakeWriter<'a> for ScrubbingWriter<M>
where
    M: MakeWriter<'a>,
{
    type Writer = ScrubbedLine<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        ScrubbedLine {
            line: Vec::new(),
            needles: Arc::clone(&self.needles),
            sink: self.sink.make_writer(),
        }
    }
}

/// One log line on its way to the sink; scrubbed and written when dropped.
pub struct ScrubbedLine<W: Write> {
    line: Vec<u8>,
    needles: Arc<Vec<String>>,
    sink: W,
}

impl<W: Write> Write for ScrubbedLine<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.line.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<W: Write> Drop for ScrubbedLine<W> {
    fn drop(&mut self) {
        if self.line.is_empty() {
            return;
        }
        let mut text = String::from_utf8_lossy(&self.line).into_owned();
        for needle in self.needles.iter() {
            if text.contains(needle.as_str()) {
                text = text.replace(needle.as_str(), REDACTED);
            }
        }
        // A log line that cannot be written has nowhere else to go.
        let _ = self.sink.write_all(text.as_bytes());
        let _ = self.sink.flush();
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

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use tracing_subscriber::fmt::format::FmtSpan;

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("not poisoned").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn logged(json: bool, log: impl FnOnce()) -> String {
        let captured = Captured::default();
        let sink = captured.clone();
        let writer = ScrubbingWriter::new(vec!["sk-secret\"quoted".into()], move || sink.clone());
        let builder = tracing_subscriber::fmt()
            .with_writer(writer)
            .with_span_events(FmtSpan::NONE)
            .with_ansi(false);
        if json {
            tracing::subscriber::with_default(builder.json().finish(), log);
        } else {
            tracing::subscriber::with_default(builder.finish(), log);
        }
        let bytes = captured.0.lock().expect("not poisoned").clone();
        String::from_utf8(bytes).expect("utf-8")
    }

    fn log_everywhere() {
        let secret = "sk-secret\"quoted";
        let span = tracing::info_span!("job", engine = secret);
        let _entered = span.enter();
        tracing::warn!(model = %secret, debug = ?secret, "echoed {secret} back");
    }

    #[test]
    fn secrets_are_scrubbed_from_messages_fields_and_spans_in_text_lines() {
        let text = logged(false, log_everywhere);
        assert!(text.contains("WARN"), "{text}");
        assert!(!text.contains("sk-secret"), "{text}");
        assert_eq!(text.matches(REDACTED).count(), 4, "{text}");
    }

    #[test]
    fn secrets_are_scrubbed_from_json_lines() {
        let text = logged(true, log_everywhere);
        assert!(text.contains("\"level\":\"WARN\""), "{text}");
        assert!(!text.contains("sk-secret"), "{text}");
    }
}
