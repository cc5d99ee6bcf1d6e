//! Message limits at the edge: what the scheduler gathered in one turn (a
//! worker's assignments and engine replies, a job's results) leaves in
//! messages below `--max-message-bytes`, and a single reply or result that
//! cannot fit is replaced by an error that names the limit. A message that
//! could not be encoded would end the whole stream, and with it every other
//! item of the worker or the job.
//!
//! Also here: a request the server cannot decode is the client's error
//! (InvalidArgument, kind `protocol`), not an internal one.

use prost::Message;
use tonic::{Code, Status};

use crate::error::Error;
use crate::pb::v1::{
    engine_reply, outcome, worker_command, AssignmentChunk, EngineReply, EngineReplyChunk,
    ErrorKind, ItemError, ItemResult, Outcome, WorkerCommand,
};

/// Bytes of a message that are not its entries (envelope, tags, lengths).
const ENVELOPE_BYTES: usize = 1024;
/// Bytes one entry adds to a chunk besides its own encoding (tag, length).
const ENTRY_BYTES: usize = 16;

/// Splits `entries` into runs whose encodings fit in one message of `limit`
/// bytes. An entry too large alone goes through `shrink` first.
fn split<T: Message>(entries: Vec<T>, limit: usize, shrink: impl Fn(T) -> T) -> Vec<Vec<T>> {
    let budget = limit.saturating_sub(ENVELOPE_BYTES);
    let mut runs = Vec::new();
    let mut run = Vec::new();
    let mut size = 0;
    for entry in entries {
        let entry = if entry.encoded_len() + ENTRY_BYTES > budget {
            shrink(entry)
        } else {
            entry
        };
        let cost = entry.encoded_len() + ENTRY_BYTES;
        if !run.is_empty() && size + cost > budget {
            runs.push(std::mem::take(&mut run));
            size = 0;
        }
        run.push(entry);
        size += cost;
    }
    if !run.is_empty() {
        runs.push(run);
    }
    runs
}

fn too_large(what: String, size: usize, limit: usize) -> String {
    format!(
        "{what} is {size} bytes encoded, over the {limit}-byte message limit \
         (--max-message-bytes, SYMBATCHER_MAX_MESSAGE_BYTES)"
    )
}

fn encoding_error(message: String) -> ItemError {
    ItemError {
        kind: ErrorKind::Encoding as i32,
        r#type: "EncodingError".to_string(),
        message,
        traceback: String::new(),
    }
}

/// A worker command as one or more messages below `limit` bytes.
pub fn split_worker_command(command: WorkerCommand, limit: usize) -> Vec<WorkerCommand> {
    let wrap = |kind| WorkerCommand { kind: Some(kind) };
    match command.kind {
        Some(worker_command::Kind::Assignments(chunk)) if command_too_large(&chunk, limit) => {
            // Items arrive below the limit; an assignment adds a few ids.
            split(chunk.assignments, limit, |a| a)
                .into_iter()
                .map(|assignments| {
                    wrap(worker_command::Kind::Assignments(AssignmentChunk {
                        assignments,
                    }))
                })
                .collect()
        }
        Some(worker_command::Kind::Replies(chunk)) if command_too_large(&chunk, limit) => {
            let shrink = |reply: EngineReply| EngineReply {
                call_id: reply.call_id,
                outcome: Some(engine_reply::Outcome::Error(encoding_error(too_large(
                    format!("engine reply to call {}", reply.call_id),
                    reply.encoded_len(),
                    limit,
                )))),
                metadata_json: String::new(),
            };
            split(chunk.replies, limit, shrink)
                .into_iter()
                .map(|replies| wrap(worker_command::Kind::Replies(EngineReplyChunk { replies })))
                .collect()
        }
        kind => vec![WorkerCommand { kind }],
    }
}

/// A job's results as runs that each fit in one `ResultChunk` of `limit` bytes.
pub fn split_results(results: Vec<ItemResult>, limit: usize) -> Vec<Vec<ItemResult>> {
    let total: usize = results.iter().map(|r| r.encoded_len() + ENTRY_BYTES).sum();
    if total + ENVELOPE_BYTES <= limit {
        return vec![results];
    }
    let shrink = |result: ItemResult| ItemResult {
        index: result.index,
        outcome: Some(Outcome {
            value: Some(outcome::Value::Error(encoding_error(too_large(
                format!("result of item {}", result.index),
                result.encoded_len(),
                limit,
            )))),
            local_only: false,
        }),
        usage: result.usage,
    };
    split(results, limit, shrink)
}

fn command_too_large(chunk: &impl Message, limit: usize) -> bool {
    chunk.encoded_len() + ENVELOPE_BYTES > limit
}

/// The status for a request stream that failed: a message the server cannot
/// decode is the client's error, reported like any other invalid request.
pub fn inbound_error(status: Status) -> Status {
    if status.code() == Code::Internal
        && status
            .message()
            .starts_with("failed to decode Protobuf message")
    {
        let reason = format!("malformed message: {}", status.message());
        return Error::Protocol(reason).into();
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb::v1::Assignment;

    fn assignment(task_id: u64, bytes: usize) -> Assignment {
        Assignment {
            task_id,
            payload: vec![b'x'; bytes],
            ..Default::default()
        }
    }

    #[test]
    fn assignments_over_the_limit_leave_in_several_messages() {
        let limit = 64 * 1024;
        let chunk = AssignmentChunk {
            assignments: (0..10).map(|i| assignment(i, 20 * 1024)).collect(),
        };
        let command = WorkerCommand {
            kind: Some(worker_command::Kind::Assignments(chunk)),
        };
        let parts = split_worker_command(command, limit);
        assert!(parts.len() >= 4, "{} parts", parts.len());
        let mut ids = Vec::new();
        for part in &parts {
            assert!(part.encoded_len() <= limit, "{} bytes", part.encoded_len());
            let Some(worker_command::Kind::Assignments(chunk)) = &part.kind else {
                panic!("assignments expected");
            };
            ids.extend(chunk.assignments.iter().map(|a| a.task_id));
        }
        assert_eq!(ids, (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn a_reply_too_large_alone_becomes_an_error_naming_the_limit() {
        let limit = 64 * 1024;
        let replies = vec![
            EngineReply {
                call_id: 1,
                outcome: Some(engine_reply::Outcome::Text("small".into())),
                metadata_json: String::new(),
            },
            EngineReply {
                call_id: 2,
                outcome: Some(engine_reply::Outcome::Text("y".repeat(100 * 1024))),
                metadata_json: String::new(),
            },
        ];
        let command = WorkerCommand {
            kind: Some(worker_command::Kind::Replies(EngineReplyChunk { replies })),
        };
        let parts = split_worker_command(command, limit);
        let replies: Vec<EngineReply> = parts
            .into_iter()
            .flat_map(|part| match part.kind {
                Some(worker_command::Kind::Replies(chunk)) => chunk.replies,
                other => panic!("replies expected, got {other:?}"),
            })
            .collect();
        assert_eq!(replies.len(), 2);
        assert!(
            matches!(&replies[0].outcome, Some(engine_reply::Outcome::Text(t)) if t == "small")
        );
        let Some(engine_reply::Outcome::Error(err)) = &replies[1].outcome else {
            panic!("the large reply must fail");
        };
        assert_eq!(err.kind, ErrorKind::Encoding as i32);
        assert!(
            err.message.contains("65536-byte message limit"),
            "{}",
            err.message
        );
    }

    #[test]
    fn small_results_stay_in_one_chunk() {
        let results = vec![ItemResult::default(); 100];
        assert_eq!(split_results(results, 64 * 1024).len(), 1);
    }

    #[test]
    fn decode_failures_are_invalid_arguments() {
        let status = inbound_error(Status::internal(
            "failed to decode Protobuf message: invalid varint",
        ));
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(
            status
                .metadata()
                .get(crate::error::metadata::KIND)
                .map(|v| v.to_str().ok()),
            Some(Some("protocol"))
        );
        let other = inbound_error(Status::cancelled("gone"));
        assert_eq!(other.code(), Code::Cancelled);
    }
}
