//! Outcomes and replies the scheduler makes itself: an item's error
//! outcome (a timeout, a lost worker, a spend cap), and the error reply to
//! an engine call that was not answered by its engine.

use crate::engine::EngineError;
use crate::pb::v1::{engine_reply, outcome, EngineReply, ErrorKind, ItemError, Outcome};

/// An error outcome produced by the scheduler itself.
pub(super) fn error_outcome(kind: ErrorKind, type_name: &str, message: String) -> Outcome {
    Outcome {
        value: Some(outcome::Value::Error(ItemError {
            kind: kind as i32,
            r#type: type_name.to_string(),
            message,
            traceback: String::new(),
        })),
        local_only: false,
    }
}

/// The reply to engine call `call_id` that failed with `err`.
pub(super) fn error_reply(call_id: u64, err: &EngineError) -> EngineReply {
    EngineReply {
        call_id,
        outcome: Some(engine_reply::Outcome::Error(err.to_item_error())),
        metadata_json: String::new(),
    }
}
