//! A worker's command stream: what the scheduler sends a worker, in as few
//! messages as the worker can use.
//!
//! - **Gathering.** The engine replies (and assignments) queued behind a
//!   command of the same kind leave with it, in one message of at most
//!   `MAX_GATHERED` commands and `MAX_GATHERED_BYTES`
//!   (`WorkerCommandStream::gather`).
//! - **Pacing.** While the scheduler sends a worker replies or assignments
//!   faster than one per [`PACE`] on average (`Arrivals`), a message of them
//!   leaves at most once per `PACE`: one that comes sooner after the last
//!   waits out the rest of it, gathering what comes meanwhile. When an
//!   engine's answers trickle in one by one (hundreds of slots, calls of
//!   spread latencies), each would otherwise be a message of its own, and
//!   the worker would spend its CPU reading them one by one. Slower than
//!   that, nothing waits: a worker with few calls in flight, or whose
//!   replies come in whole batches, gets each at once.
//! - **Limits.** Every message is split below the message limit
//!   (`limits::split_worker_command`).
//! - **Kicks.** When the scheduler disconnects the worker, the stream ends at
//!   once with the scheduler's error.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use prost::Message;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Duration, Instant, Sleep};
use tokio_stream::Stream;
use tonic::Status;

use super::limits::split_worker_command;
use crate::error::Error;
use crate::pb::v1::{worker_command, WorkerCommand};
use crate::scheduler::WorkerBacklog;

/// The least time between two messages of replies or assignments to one
/// worker, while they come faster than that (see the module doc).
pub const PACE: Duration = Duration::from_millis(1);

/// How fast replies and assignments come from the scheduler: a moving
/// average of the time between two of their commands as the stream takes
/// them (each new gap weighs 1/8). It starts at `PACE`, so a new worker is
/// paced only once they come faster.
#[derive(Debug)]
struct Arrivals {
    last: Option<Instant>,
    mean_gap: Duration,
}

impl Arrivals {
    fn new() -> Self {
        Arrivals {
            last: None,
            mean_gap: PACE,
        }
    }

    fn arrived(&mut self, now: Instant) {
        if let Some(last) = self.last {
            let gap = now.saturating_duration_since(last);
            self.mean_gap = (self.mean_gap * 7 + gap) / 8;
        }
        self.last = Some(now);
    }

    /// Whether they come faster than one per `PACE`.
    fn fast(&self) -> bool {
        self.mean_gap < PACE
    }
}

/// Commands merged into one message at most (each already one scheduler
/// turn's replies or assignments for the worker).
const MAX_GATHERED: usize = 256;

/// Bytes of commands merged into one message at most: past them, the next
/// command starts a message of its own.
const MAX_GATHERED_BYTES: usize = 1 << 20;

/// A worker's commands as the scheduler sends them, gathered, paced and split
/// below the message limit (see the module doc).
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
    /// Gathered replies or assignments waiting for their turn (`PACE`).
    waiting: Option<WorkerCommand>,
    /// Commands merged into the message being gathered (at most
    /// `MAX_GATHERED`: a full message waits for nothing, so a worker that
    /// stops reading still fills its channel and is let go).
    gathered: usize,
    /// Their encoded bytes (at most `MAX_GATHERED_BYTES`, unless one alone
    /// is larger).
    gathered_bytes: usize,
    /// When the last message of replies or assignments left.
    last_gathered: Option<Instant>,
    arrivals: Arrivals,
    /// Wakes the stream when `waiting` is due.
    due: Pin<Box<Sleep>>,
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
            waiting: None,
            gathered: 0,
            gathered_bytes: 0,
            last_gathered: None,
            arrivals: Arrivals::new(),
            due: Box::pin(tokio::time::sleep_until(Instant::now())),
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
        while self.gathered < MAX_GATHERED {
            if !gathers(&command) || self.held.is_some() {
                break;
            }
            let Poll::Ready(Some(next)) = self.commands_rx.poll_recv(cx) else {
                break;
            };
            self.took(&next);
            let size = next.encoded_len();
            if self.gathered_bytes + size > MAX_GATHERED_BYTES {
                self.held = Some(next);
                break;
            }
            self.gathered += 1;
            self.gathered_bytes += size;
            match (&mut command.kind, next.kind) {
                (Some(Kind::Replies(chunk)), Some(Kind::Replies(more))) => {
                    chunk.replies.extend(more.replies);
                }
                (Some(Kind::Assignments(chunk)), Some(Kind::Assignments(more))) => {
                    chunk.assignments.extend(more.assignments);
                }
                (_, kind) => self.held = Some(WorkerCommand { kind }),
            }
        }
        command
    }

    /// Whether gathered `command` must wait before it leaves: such commands
    /// come fast, it came within `PACE` of the last such message, and
    /// nothing of another kind waits behind it. Arms `due` when it must.
    fn must_wait(&mut self, command: &WorkerCommand, cx: &mut Context<'_>) -> bool {
        let Some(last) = self.last_gathered else {
            return false;
        };
        if !gathers(command)
            || self.held.is_some()
            || self.gathered >= MAX_GATHERED
            || !self.arrivals.fast()
        {
            return false;
        }
        let due = last + PACE;
        if Instant::now() >= due {
            return false;
        }
        if self.due.deadline() != due {
            self.due.as_mut().reset(due);
        }
        self.due.as_mut().poll(cx).is_pending()
    }

    /// Counts `command` as taken off the channel.
    fn took(&mut self, command: &WorkerCommand) {
        self.backlog.taken(command);
        if gathers(command) {
            self.arrivals.arrived(Instant::now());
        }
    }

    /// The next command to send: the one held back by the last gathering,
    /// else the channel's.
    fn next_command(&mut self, cx: &mut Context<'_>) -> Poll<Option<WorkerCommand>> {
        if let Some(command) = self.held.take() {
            return Poll::Ready(Some(command));
        }
        let command = ready!(self.commands_rx.poll_recv(cx));
        if let Some(command) = &command {
            self.took(command);
        }
        Poll::Ready(command)
    }
}

/// Whether `command` is of a kind that gathers (and is paced).
fn gathers(command: &WorkerCommand) -> bool {
    use worker_command::Kind;
    matches!(command.kind, Some(Kind::Replies(_) | Kind::Assignments(_)))
}

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
                    self.waiting = None;
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
        let command = match self.waiting.take() {
            Some(command) => command,
            None => match self.next_command(cx) {
                Poll::Ready(Some(command)) => {
                    self.gathered = 1;
                    self.gathered_bytes = command.encoded_len();
                    command
                }
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            },
        };
        let command = self.gather(command, cx);
        if self.must_wait(&command, cx) {
            self.waiting = Some(command);
            return Poll::Pending;
        }
        if gathers(&command) {
            self.last_gathered = Some(Instant::now());
        }
        let mut parts = split_worker_command(command, self.limit).into_iter();
        let first = parts.next();
        self.pending.extend(parts);
        Poll::Ready(first.map(Ok))
    }
}

#[cfg(test)]
mod tests {
    use tokio_stream::StreamExt;

    use super::*;
    use crate::pb::v1::{engine_reply, CancelTasks, EngineReply, EngineReplyChunk};

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

    fn cancel(task_id: u64) -> WorkerCommand {
        WorkerCommand {
            kind: Some(worker_command::Kind::Cancel(CancelTasks {
                task_ids: vec![task_id],
            })),
        }
    }

    fn stream(
        limit: usize,
    ) -> (
        mpsc::Sender<WorkerCommand>,
        WorkerCommandStream,
        WorkerBacklog,
    ) {
        let (tx, rx) = mpsc::channel(64);
        let (kick_tx, kick_rx) = oneshot::channel();
        std::mem::forget(kick_tx); // never kicked
        let backlog = WorkerBacklog::default();
        let stream = WorkerCommandStream::new(rx, backlog.clone(), kick_rx, limit);
        (tx, stream, backlog)
    }

    /// What a worker's stream sends for `commands` queued before it is read.
    async fn sent(commands: Vec<WorkerCommand>, limit: usize) -> (Vec<WorkerCommand>, usize) {
        let (tx, stream, backlog) = stream(limit);
        for command in commands {
            backlog.add(WorkerBacklog::entries(&command));
            tx.send(command).await.unwrap();
        }
        drop(tx);
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
        let commands = vec![replies(0..1), replies(1..2), cancel(7), replies(2..3)];
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

    /// Sends `count` single replies with no time between them, each read
    /// as it comes: the stream now sees replies faster than one per pace.
    async fn come_fast(
        tx: &mpsc::Sender<WorkerCommand>,
        stream: &mut WorkerCommandStream,
        ids: std::ops::Range<u64>,
    ) {
        for id in ids {
            tx.send(replies(id..id + 1)).await.unwrap();
            stream.next().await.unwrap().unwrap();
        }
    }

    #[tokio::test(start_paused = true)]
    async fn replies_that_trickle_in_fast_leave_together_once_per_pace() {
        let (tx, mut stream, _) = stream(1 << 20);
        let start = Instant::now();
        come_fast(&tx, &mut stream, 0..20).await;
        // Once they came fast, each waited for the pace after the last.
        assert!(
            start.elapsed() >= PACE * 15,
            "paced for {:?}",
            start.elapsed()
        );

        // Three replies come one by one within the pace (two of them while
        // the stream already waits): they leave as one message, a pace after
        // the last one.
        let before = Instant::now();
        tx.send(replies(20..21)).await.unwrap();
        let sender = tx.clone();
        tokio::spawn(async move {
            for id in 21..23 {
                tokio::task::yield_now().await;
                sender.send(replies(id..id + 1)).await.unwrap();
            }
        });
        let gathered = stream.next().await.unwrap().unwrap();
        assert_eq!(call_ids(&gathered), vec![20, 21, 22]);
        assert!(Instant::now() > before, "they waited for the pace");
        assert!(Instant::now() <= before + PACE, "no longer than the pace");
    }

    #[tokio::test(start_paused = true)]
    async fn replies_slower_than_one_per_pace_never_wait() {
        let (tx, mut stream, _) = stream(1 << 20);
        for id in 0..20 {
            tokio::time::sleep(PACE * 3).await;
            let sent = Instant::now();
            tx.send(replies(id..id + 1)).await.unwrap();
            // A second one right behind it still leaves at once.
            tx.send(replies(100 + id..101 + id)).await.unwrap();
            let message = stream.next().await.unwrap().unwrap();
            assert_eq!(call_ids(&message), vec![id, 100 + id]);
            assert_eq!(Instant::now(), sent, "reply {id} waited");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_command_of_another_kind_releases_waiting_replies_in_order() {
        let (tx, mut stream, _) = stream(1 << 20);
        let start = Instant::now();
        tx.send(replies(0..1)).await.unwrap();
        stream.next().await.unwrap().unwrap();
        tx.send(replies(1..2)).await.unwrap();
        tx.send(cancel(9)).await.unwrap();
        let second = stream.next().await.unwrap().unwrap();
        assert_eq!(call_ids(&second), vec![1]);
        assert_eq!(
            Instant::now(),
            start,
            "a cancel never waits behind the pace"
        );
        let third = stream.next().await.unwrap().unwrap();
        assert!(
            matches!(&third.kind, Some(worker_command::Kind::Cancel(c)) if c.task_ids == vec![9])
        );
    }

    #[tokio::test(start_paused = true)]
    async fn waiting_replies_still_leave_when_the_scheduler_closes_the_channel() {
        let (tx, mut stream, _) = stream(1 << 20);
        come_fast(&tx, &mut stream, 0..20).await;
        tx.send(replies(20..22)).await.unwrap();
        drop(tx);
        let last = stream.next().await.unwrap().unwrap();
        assert_eq!(call_ids(&last), vec![20, 21]);
        assert!(stream.next().await.is_none());
    }
}
