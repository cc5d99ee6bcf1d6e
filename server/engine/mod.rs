//! Engines: what a formed batch of engine calls is sent to.
//!
//! - [`echo`]: built in; answers `"echo: " + prompt`, with simulated latency.
//! - [`python`]: a connected engine process (`EngineService.Serve`).

pub mod echo;
pub mod python;

use crate::pb::v1::{EngineCall, EngineReply, ErrorKind, ItemError};

pub use echo::EchoEngine;
pub use python::PythonEngine;

/// Why an engine could not answer a batch. Every call of the batch fails with it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EngineError {
    /// The engine reported a failure; the text is the engine's own message.
    #[error("{message}")]
    Failed { type_name: String, message: String },
    /// The engine's connection ended before it answered.
    #[error("engine {0:?} disconnected before answering the batch")]
    Disconnected(String),
    /// The engine answered, but not with one reply per call.
    #[error("engine {engine:?} sent no reply for call {call_id}")]
    MissingReply { engine: String, call_id: u64 },
}

impl EngineError {
    /// A stable label for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            EngineError::Failed { .. } => "engine_failed",
            EngineError::Disconnected(_) => "engine_disconnected",
            EngineError::MissingReply { .. } => "engine_missing_reply",
        }
    }

    /// The error as it reaches the worker for each call of the batch.
    pub fn to_item_error(&self) -> ItemError {
        let type_name = match self {
            EngineError::Failed { type_name, .. } if !type_name.is_empty() => type_name.clone(),
            _ => "EngineError".to_string(),
        };
        ItemError {
            kind: ErrorKind::Engine as i32,
            r#type: type_name,
            message: self.to_string(),
            traceback: String::new(),
        }
    }
}

/// The result of one batch: one reply per call (a reply may itself be an
/// error), or a failure of the whole batch.
pub type BatchOutcome = Result<Vec<EngineReply>, EngineError>;

/// An engine the scheduler can send batches to. Cheap to clone.
#[derive(Debug, Clone)]
pub enum Engine {
    Echo(EchoEngine),
    Python(PythonEngine),
}

impl Engine {
    /// Engine kind label, as `Status` reports it.
    pub fn kind(&self) -> &'static str {
        match self {
            Engine::Echo(_) => "echo",
            Engine::Python(_) => "python",
        }
    }

    /// Whether the engine reads `EngineCall.messages_json` (echo uses only
    /// the prompt).
    pub fn wants_messages(&self) -> bool {
        !matches!(self, Engine::Echo(_))
    }

    /// Answers one batch.
    pub async fn run(&self, calls: Vec<EngineCall>) -> BatchOutcome {
        match self {
            Engine::Echo(engine) => Ok(engine.run(calls).await),
            Engine::Python(engine) => engine.run(calls).await,
        }
    }
}
