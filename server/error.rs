//! The server's error type and the one place where gRPC status codes are chosen.

use tonic::metadata::{AsciiMetadataValue, MetadataMap};
use tonic::{Code, Status};

/// Status metadata (sent as trailers) that makes errors machine-readable for
/// any gRPC client: the error's [`Error::kind`] always, and its fields where
/// it has them.
pub mod metadata {
    /// [`super::Error::kind`], e.g. `no_worker`, `invalid_argument`.
    pub const KIND: &str = "symbatcher-error-kind";
    /// InvalidArgument and UnknownEngine: the request field at fault, e.g.
    /// `batch_size`.
    pub const FIELD: &str = "symbatcher-field";
    /// NoWorker: the expression nobody served.
    pub const EXPRESSION: &str = "symbatcher-expression";
    /// NoWorker: how long the job waited, in milliseconds.
    pub const WAITED_MS: &str = "symbatcher-waited-ms";
}

/// Errors of the gRPC edge and the scheduler.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request field is missing or out of range.
    #[error("{field}: {reason}")]
    InvalidArgument { field: &'static str, reason: String },
    /// A message arrived out of order (e.g. items before the JobSpec).
    #[error("protocol: {0}")]
    Protocol(String),
    /// The named engine is not configured or connected. `field` is the
    /// JobSpec field that named it (`engine`, `embedding_engine`).
    #[error(
        "{field}: unknown engine {name:?} (known: {known}){}",
        engine_kind_hint(name)
    )]
    UnknownEngine {
        field: &'static str,
        name: String,
        known: String,
    },
    /// The named engine answers another kind of call than the field asks for.
    #[error(
        "{field}: engine {name:?} answers {kind} calls, not {wanted} calls; name an engine of \
         kind {wanted} (Status lists each engine's call_kind)"
    )]
    WrongEngineKind {
        field: &'static str,
        name: String,
        kind: &'static str,
        wanted: &'static str,
    },
    /// An engine name is already taken.
    #[error("engine: name {0:?} is already in use")]
    EngineNameTaken(String),
    /// No worker served the job's expression within its wait time.
    #[error(
        "no worker serves expression {expression:?} (waited {waited_ms} ms); {}",
        worker_hint(expression)
    )]
    NoWorker { expression: String, waited_ms: u64 },
    /// The server is draining and admits no new work.
    #[error("server is shutting down")]
    ShuttingDown,
    /// The client cancelled or disconnected.
    #[error("client went away")]
    ClientGone,
    /// Binding or serving failed.
    #[error("transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// An I/O error outside gRPC (e.g. binding the listener).
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// Authentication is on and the request has no valid token. The reason
    /// never contains the token.
    #[error("unauthenticated: {0}")]
    Unauthenticated(&'static str),
    /// A valid token whose role may not call the service.
    #[error("permission denied: a {role} token may not call {service} (it needs {allowed})")]
    PermissionDenied {
        role: &'static str,
        service: String,
        allowed: String,
    },
    /// A worker let more commands pile up on the server than its stream
    /// holds: it does not read its stream, and was disconnected.
    #[error(
        "worker {worker_id} was disconnected: it did not read its command stream, which \
         reached its capacity of {capacity} messages"
    )]
    WorkerTooSlow { worker_id: u64, capacity: usize },
    /// A configured engine could not be set up.
    #[error("engine {name:?}: cannot set up: {reason}")]
    EngineSetup { name: String, reason: String },
    /// The call cache could not be opened.
    #[error("call cache: cannot open: {0}")]
    CacheSetup(String),
    /// A listener of the server (other than the gRPC one) cannot be bound.
    #[error("{flag}: cannot listen on {addr}: {source}")]
    Bind {
        /// The flag that set the address.
        flag: &'static str,
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
}

/// How to get a worker for `expression`: a `symbatcher worker` command where
/// one can work, and why not where it cannot (a class of a script run as
/// `__main__`, or an instance passed as `expr`, exists in one process only).
fn worker_hint(expression: &str) -> String {
    if expression.starts_with("__main__:") {
        "its class is defined in a script run as __main__, which no other process can \
         import: move it to a module, or run the job with local workers (num_workers > 0)"
            .to_string()
    } else if expression.contains('#') {
        "it names an Expression instance, which only its own process can serve: run the \
         job with local workers (num_workers > 0) or pass the class"
            .to_string()
    } else {
        format!("start one with `symbatcher worker {expression} --server ADDR`")
    }
}

/// For a job that names an engine kind instead of a configured engine: how
/// to get an engine of that kind.
fn engine_kind_hint(name: &str) -> String {
    let (class, kind) = match name.trim().to_ascii_lowercase().as_str() {
        "openai" => ("OpenAIEngine(base_url, model, api_key_env=...)", "openai"),
        "openai-batch" | "openai_batch" => (
            "OpenAIBatchEngine(base_url, model, fallback=OpenAIEngine(...))",
            "openai-batch",
        ),
        "anthropic" => ("AnthropicEngine(model=..., api_key_env=...)", "anthropic"),
        "anthropic-batch" | "anthropic_batch" => (
            "AnthropicBatchEngine(base_url, model, fallback=AnthropicEngine(...))",
            "anthropic-batch",
        ),
        "openai-embeddings" | "openai_embeddings" => (
            "OpenAIEmbeddingEngine(base_url, model, api_key_env=...)",
            "openai-embeddings",
        ),
        _ => return String::new(),
    };
    format!(
        "; {name:?} is a kind of engine, not the name of one: from Python pass \
         engine={class} (any OpenAI-compatible URL works with OpenAIEngine), or define \
         [engines.NAME] with kind = \"{kind}\" in a --config file and name it"
    )
}

impl Error {
    /// A stable label for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::InvalidArgument { .. } => "invalid_argument",
            Error::Protocol(_) => "protocol",
            Error::UnknownEngine { .. } => "unknown_engine",
            Error::WrongEngineKind { .. } => "wrong_engine_kind",
            Error::EngineNameTaken(_) => "engine_name_taken",
            Error::NoWorker { .. } => "no_worker",
            Error::ShuttingDown => "shutting_down",
            Error::ClientGone => "client_gone",
            Error::Transport(_) => "transport",
            Error::Io(_) => "io",
            Error::EngineSetup { .. } => "engine_setup",
            Error::CacheSetup(_) => "cache_setup",
            Error::Bind { .. } => "bind",
            Error::Unauthenticated(_) => "unauthenticated",
            Error::PermissionDenied { .. } => "permission_denied",
            Error::WorkerTooSlow { .. } => "worker_too_slow",
        }
    }

    /// Shorthand for [`Error::InvalidArgument`].
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidArgument {
            field,
            reason: reason.into(),
        }
    }
}

impl From<Error> for Status {
    fn from(err: Error) -> Status {
        let code = match &err {
            Error::InvalidArgument { .. }
            | Error::Protocol(_)
            | Error::UnknownEngine { .. }
            | Error::WrongEngineKind { .. } => Code::InvalidArgument,
            Error::EngineNameTaken(_) => Code::AlreadyExists,
            Error::NoWorker { .. } => Code::FailedPrecondition,
            Error::ShuttingDown => Code::Unavailable,
            Error::ClientGone => Code::Cancelled,
            Error::Unauthenticated(_) => Code::Unauthenticated,
            Error::PermissionDenied { .. } => Code::PermissionDenied,
            Error::WorkerTooSlow { .. } => Code::ResourceExhausted,
            Error::Transport(_)
            | Error::Io(_)
            | Error::EngineSetup { .. }
            | Error::CacheSetup(_)
            | Error::Bind { .. } => Code::Internal,
        };
        let mut status = Status::new(code, err.to_string());
        let map = status.metadata_mut();
        insert(map, metadata::KIND, err.kind());
        match &err {
            Error::InvalidArgument { field, .. } => insert(map, metadata::FIELD, field),
            Error::UnknownEngine { field, .. } | Error::WrongEngineKind { field, .. } => {
                insert(map, metadata::FIELD, field)
            }
            Error::NoWorker {
                expression,
                waited_ms,
            } => {
                insert(map, metadata::EXPRESSION, expression);
                insert(map, metadata::WAITED_MS, &waited_ms.to_string());
            }
            _ => {}
        }
        status
    }
}

/// Adds `value` under `key` when it is valid ASCII metadata (the message
/// always carries the same facts in words).
fn insert(map: &mut MetadataMap, key: &'static str, value: &str) {
    if !value.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
        return;
    }
    if let Ok(value) = value.parse::<AsciiMetadataValue>() {
        map.insert(key, value);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn naming_an_engine_kind_points_to_its_python_class_and_the_config_file() {
        let err = Error::UnknownEngine {
            field: "engine",
            name: "openai".into(),
            known: "echo".into(),
        }
        .to_string();
        assert!(
            err.contains("engine=OpenAIEngine(base_url, model, api_key_env=...)")
                && err.contains("kind = \"openai\""),
            "{err}"
        );
        let err = Error::UnknownEngine {
            field: "engine",
            name: "gpt".into(),
            known: "echo".into(),
        }
        .to_string();
        assert_eq!(err, "engine: unknown engine \"gpt\" (known: echo)");
    }

    use super::*;

    #[test]
    fn validation_maps_to_invalid_argument_naming_the_field() {
        let status = Status::from(Error::invalid("batch_size", "must be 1..=4096, got 0"));
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(status.message().starts_with("batch_size:"));
    }

    #[test]
    fn statuses_carry_the_error_kind_and_fields_as_metadata() {
        let status = Status::from(Error::invalid("window", "must be 1..=65536, got 0"));
        let md = status.metadata();
        assert_eq!(md.get(metadata::KIND).unwrap(), "invalid_argument");
        assert_eq!(md.get(metadata::FIELD).unwrap(), "window");
        let status = Status::from(Error::NoWorker {
            expression: "pkg.mod:Summarize".into(),
            waited_ms: 300,
        });
        let md = status.metadata();
        assert_eq!(md.get(metadata::KIND).unwrap(), "no_worker");
        assert_eq!(md.get(metadata::EXPRESSION).unwrap(), "pkg.mod:Summarize");
        assert_eq!(md.get(metadata::WAITED_MS).unwrap(), "300");
        // Not ASCII: left out of the metadata, still in the message.
        let status = Status::from(Error::NoWorker {
            expression: "pkg:Zusammenfassung\u{e4}".into(),
            waited_ms: 1,
        });
        assert!(status.metadata().get(metadata::EXPRESSION).is_none());
        assert!(status.message().contains("Zusammenfassung\u{e4}"));
    }

    #[test]
    fn no_worker_suggests_a_worker_command_only_where_one_can_work() {
        let text = |expression: &str| {
            Error::NoWorker {
                expression: expression.into(),
                waited_ms: 1,
            }
            .to_string()
        };
        assert!(text("pkg.mod:Summarize").contains("`symbatcher worker pkg.mod:Summarize"));
        for expression in ["__main__:Summarize", "pkg.mod:Summarize#1a2b3c4d"] {
            let message = text(expression);
            assert!(!message.contains("symbatcher worker"), "{message}");
            assert!(message.contains("num_workers > 0"), "{message}");
        }
    }

    #[test]
    fn auth_failures_map_to_their_codes() {
        let status = Status::from(Error::Unauthenticated("invalid token"));
        assert_eq!(status.code(), Code::Unauthenticated);
        assert_eq!(
            status.metadata().get(metadata::KIND).unwrap(),
            "unauthenticated"
        );
        let status = Status::from(Error::PermissionDenied {
            role: "worker",
            service: "symbatcher.v1.BatchService".into(),
            allowed: "the client or main token".into(),
        });
        assert_eq!(status.code(), Code::PermissionDenied);
    }

    #[test]
    fn shutdown_maps_to_unavailable() {
        assert_eq!(Status::from(Error::ShuttingDown).code(), Code::Unavailable);
    }
}
