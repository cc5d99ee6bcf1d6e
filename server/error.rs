//! The server's error type and the one place where gRPC status codes are chosen.

use tonic::{Code, Status};

/// Errors of the gRPC edge and the scheduler.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request field is missing or out of range.
    #[error("{field}: {reason}")]
    InvalidArgument { field: &'static str, reason: String },
    /// A message arrived out of order (e.g. items before the JobSpec).
    #[error("protocol: {0}")]
    Protocol(String),
    /// The named engine is not configured or connected.
    #[error("engine: unknown engine {name:?} (known: {known})")]
    UnknownEngine { name: String, known: String },
    /// An engine name is already taken.
    #[error("engine: name {0:?} is already in use")]
    EngineNameTaken(String),
    /// No worker served the job's expression within its wait time.
    #[error("no worker serves expression {expression:?} (waited {waited_ms} ms); start one with `symbatcher worker {expression} --server ADDR`")]
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
    /// A configured engine could not be set up.
    #[error("engine {name:?}: cannot set up: {reason}")]
    EngineSetup { name: String, reason: String },
}

impl Error {
    /// A stable label for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::InvalidArgument { .. } => "invalid_argument",
            Error::Protocol(_) => "protocol",
            Error::UnknownEngine { .. } => "unknown_engine",
            Error::EngineNameTaken(_) => "engine_name_taken",
            Error::NoWorker { .. } => "no_worker",
            Error::ShuttingDown => "shutting_down",
            Error::ClientGone => "client_gone",
            Error::Transport(_) => "transport",
            Error::Io(_) => "io",
            Error::EngineSetup { .. } => "engine_setup",
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
            Error::InvalidArgument { .. } | Error::Protocol(_) | Error::UnknownEngine { .. } => {
                Code::InvalidArgument
            }
            Error::EngineNameTaken(_) => Code::AlreadyExists,
            Error::NoWorker { .. } => Code::FailedPrecondition,
            Error::ShuttingDown => Code::Unavailable,
            Error::ClientGone => Code::Cancelled,
            Error::Transport(_) | Error::Io(_) | Error::EngineSetup { .. } => Code::Internal,
        };
        Status::new(code, err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_maps_to_invalid_argument_naming_the_field() {
        let status = Status::from(Error::invalid("batch_size", "must be 1..=4096, got 0"));
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(status.message().starts_with("batch_size:"));
    }

    #[test]
    fn shutdown_maps_to_unavailable() {
        assert_eq!(Status::from(Error::ShuttingDown).code(), Code::Unavailable);
    }
}
