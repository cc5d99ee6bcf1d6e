//! Message limits at the edge: what the scheduler gathered in one turn (a
//! worker's assignments and engine replies, a job's results) leaves in
//! messages below `--max-message-bytes`, and a single reply or result that
//! cannot fit is replaced by an error that names the limit. A message that
//! could not be encoded would end the whole stream, and with it every other
//! item of the worker or the job.
//!
//! A worker's command stream also gathers the engine replies (and
//! assignments) queued for it when it reads slower than they come, into one
//! message (`WorkerCommandStream::gather`).
//!
//! Also here: a request the server cannot decode is the client's error
//! (InvalidArgument, kind `protocol`), not an internal one.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use prost::Message;
use tokio::sync::{mpsc, oneshot};
use tokio_stream::Stream;
use tonic::{Code, Status};

use crate::error::Error;
use crate::pb::v1::{
    engine_reply, outcome, worker_command, AssignmentChunk, EngineReply, EngineReplyChunk,
    ErrorKind, ItemError, ItemResult, Outcome, WorkerCommand,
};
use crate::scheduler::WorkerBacklog;

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

/// A worker's commands as the scheduler sends them, each split below the
/// message limit; it ends with the scheduler's error at once when the
/// scheduler disconnects the worker.
pub struct WorkerCommandStream {
    commands_rx: mpsc::Receiver<WorkerCommand>,
    /// Entries sent and not yet taken; this stream takes them.
    backlog: WorkerBacklog,
    /// Why the scheduler disconnected the worker.
    kick_rx: Option<oneshot::Receiver<Error>>,
    /// Parts of a split command not yet sent.
    pending: VecDeque<WorkerCommand>,
    /// The command that ended the last gathering (another kind), next to send.
    held: Option<WorkerCommand>,
    limit: usize,
}

impl WorkerCommandStream {
    pub fn new(
        commands_rx: mpsc::Receiver<WorkerCommand>,
        backlog: WorkerBacklog,
        kick_rx: oneshot::Receiver<Error>,
        limit: usize,
    ) -> Self {
        WorkerCommandStream {
            commands_rx,
            backlog,
            kick_rx: Some(kick_rx),
            pending: VecDeque::new(),
            held: None,
            limit,
        }
    }

    /// Adds to a chunk of engine replies (or of assignments) those of the
    /// commands queued right behind it, so that what the scheduler sent over
    /// several turns while the worker read slower leaves in one message
    /// instead of one each. The first command of another kind is held, to
    /// go next: the order stays the scheduler's. Takes only what is ready.
    fn gather(&mut self, mut command: WorkerCommand, cx: &mut Context<'_>) -> WorkerCommand {
        use worker_command::Kind;
        for _ in 0..MAX_GATHERED {
            if !matches!(command.kind, Some(Kind::Replies(_) | Kind::Assignments(_))) {
                break;
            }
            let Poll::Ready(Some(next)) = self.commands_rx.poll_recv(cx) else {
                break;
            };
            self.backlog.taken(&next);
            match (&mut command.kind, next.kind) {
                (Some(Kind::Replies(chunk)), Some(Kind::Replies(more))) => {
                    chunk.replies.extend(more.replies);
                }
                (Some(Kind::Assignments(chunk)), Some(Kind::Assignments(more))) => {
                    chunk.assignments.extend(more.assignments);
                }
                (_, kind) => {
                    self.held = Some(WorkerCommand { kind });
                    break;
                }
            }
        }
        command
    }

    /// The next command to send: the one held back by the last gathering,
    /// else the channel's.
    fn next_command(&mut self, cx: &mut Context<'_>) -> Poll<Option<WorkerCommand>> {
        if let Some(command) = self.held.take() {
            return Poll::Ready(Some(command));
        }
        let command = ready!(self.commands_rx.poll_recv(cx));
        if let Some(command) = &command {
            self.backlog.taken(command);
        }
        Poll::Ready(command)
    }
}

/// Commands merged into one message at most (each already one scheduler
/// turn's replies or assignments for the worker).
const MAX_GATHERED: usize = 256;

impl Stream for WorkerCommandStream {
    type Item = Result<WorkerCommand, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(kick_rx) = self.kick_rx.as_mut() {
            match Pin::new(kick_rx).poll(cx) {
                Poll::Ready(Ok(err)) => {
                    // The buffered commands are dropped with the stream.
                    self.kick_rx = None;
                    self.commands_rx.close();
                    self.pending.clear();
                    self.held = None;
                    return Poll::Ready(Some(Err(err.into())));
                }
                // The scheduler let the worker go without a reason (it left).
                Poll::Ready(Err(_)) => self.kick_rx = None,
                Poll::Pending => {}
            }
        }
        if let Some(command) = self.pending.pop_front() {
            return Poll::Ready(Some(Ok(command)));
        }
        match self.next_command(cx) {
            Poll::Ready(Some(command)) => {
                let command = self.gather(command, cx);
                let mut parts = split_worker_command(command, self.limit).into_iter();
                let first = parts.next();
                self.pending.extend(parts);
                Poll::Ready(first.map(Ok))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
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
    use crate::pb::v1::{Assignment, CancelTasks};

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

    fn replies(ids: std::ops::Range<u64>) -> WorkerCommand {
        WorkerCommand {
            kind: Some(worker_command::Kind::Replies(EngineReplyChunk {
                replies: ids
                    .map(|call_id| EngineReply {
                        call_id,
                        outcome: Some(engine_reply::Outcome::Text("ok".into())),
                        metadata_json: String::new(),
                    })
                    .collect(),
            })),
        }
    }

    /// What a worker's stream sends for `commands` queued before it is read.
    async fn sent(commands: Vec<WorkerCommand>, limit: usize) -> (Vec<WorkerCommand>, usize) {
        use tokio_stream::StreamExt;
        let (tx, rx) = mpsc::channel(64);
        let (_kick_tx, kick_rx) = oneshot::channel();
        let backlog = WorkerBacklog::default();
        for command in commands {
            backlog.add(WorkerBacklog::entries(&command));
            tx.send(command).await.unwrap();
        }
        drop(tx);
        let stream = WorkerCommandStream::new(rx, backlog.clone(), kick_rx, limit);
        let sent = stream.map(|m| m.unwrap()).collect::<Vec<_>>().await;
        (sent, backlog.get())
    }

    fn call_ids(command: &WorkerCommand) -> Vec<u64> {
        match &command.kind {
            Some(worker_command::Kind::Replies(chunk)) => {
                chunk.replies.iter().map(|r| r.call_id).collect()
            }
            other => panic!("replies expected, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn replies_queued_while_the_worker_reads_leave_in_one_message() {
        let (sent, backlog) =
            sent(vec![replies(0..2), replies(2..3), replies(3..6)], 1 << 20).await;
        assert_eq!(sent.len(), 1, "{sent:?}");
        assert_eq!(call_ids(&sent[0]), (0..6).collect::<Vec<_>>());
        assert_eq!(backlog, 0, "every gathered command is counted as taken");
    }

    #[tokio::test]
    async fn gathering_keeps_the_order_of_other_commands() {
        let cancel = WorkerCommand {
            kind: Some(worker_command::Kind::Cancel(CancelTasks {
                task_ids: vec![7],
            })),
        };
        let commands = vec![replies(0..1), replies(1..2), cancel, replies(2..3)];
        let (sent, _) = sent(commands, 1 << 20).await;
        assert_eq!(sent.len(), 3, "{sent:?}");
        assert_eq!(call_ids(&sent[0]), vec![0, 1]);
        assert!(
            matches!(&sent[1].kind, Some(worker_command::Kind::Cancel(c)) if c.task_ids == vec![7])
        );
        assert_eq!(call_ids(&sent[2]), vec![2]);
    }

    #[tokio::test]
    async fn gathered_replies_still_split_at_the_message_limit() {
        let limit = 4 * 1024;
        let big = |id: u64| WorkerCommand {
            kind: Some(worker_command::Kind::Replies(EngineReplyChunk {
                replies: vec![EngineReply {
                    call_id: id,
                    outcome: Some(engine_reply::Outcome::Text("z".repeat(1024))),
                    metadata_json: String::new(),
                }],
            })),
        };
        let (sent, _) = sent((0..12).map(big).collect(), limit).await;
        assert!(
            sent.len() > 1,
            "12 KiB of replies cannot fit one 4 KiB message"
        );
        assert!(sent.iter().all(|m| m.encoded_len() <= limit));
        let ids: Vec<u64> = sent.iter().flat_map(call_ids).collect();
        assert_eq!(ids, (0..12).collect::<Vec<_>>());
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
