//! A worker's backlog: what the scheduler sent to its command stream and the
//! stream has not taken yet, counted in entries (assignments, engine replies,
//! cancelled runs, and one per other command), so that a worker that does
//! not read its stream is noticed before it costs the server memory.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::pb::v1::{worker_command, WorkerCommand};

/// Entries of a worker's commands in flight between the scheduler, which
/// adds them as it sends, and the worker's command stream, which takes them.
#[derive(Debug, Clone, Default)]
pub struct WorkerBacklog(Arc<AtomicUsize>);

impl WorkerBacklog {
    /// The entries of one command: its assignments, replies or cancelled
    /// runs; 1 for any other command.
    pub fn entries(command: &WorkerCommand) -> usize {
        let n = match &command.kind {
            Some(worker_command::Kind::Assignments(chunk)) => chunk.assignments.len(),
            Some(worker_command::Kind::Replies(chunk)) => chunk.replies.len(),
            Some(worker_command::Kind::Cancel(cancel)) => cancel.task_ids.len(),
            _ => 1,
        };
        n.max(1)
    }

    /// Entries sent and not yet taken.
    pub fn get(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }

    pub(crate) fn add(&self, entries: usize) {
        self.0.fetch_add(entries, Ordering::Relaxed);
    }

    /// The stream took `command` off the channel.
    pub fn taken(&self, command: &WorkerCommand) {
        let entries = Self::entries(command);
        // Saturating: never below zero, whatever the interleaving.
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_sub(entries))
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb::v1::{CancelTasks, EngineReply, EngineReplyChunk, JobFinished};

    #[test]
    fn entries_count_replies_cancels_and_notices() {
        let replies = WorkerCommand {
            kind: Some(worker_command::Kind::Replies(EngineReplyChunk {
                replies: vec![EngineReply::default(); 5],
            })),
        };
        let cancel = WorkerCommand {
            kind: Some(worker_command::Kind::Cancel(CancelTasks {
                task_ids: vec![1, 2],
            })),
        };
        let finished = WorkerCommand {
            kind: Some(worker_command::Kind::JobFinished(JobFinished { job_id: 1 })),
        };
        let backlog = WorkerBacklog::default();
        for command in [&replies, &cancel, &finished] {
            backlog.add(WorkerBacklog::entries(command));
        }
        assert_eq!(backlog.get(), 8);
        backlog.taken(&replies);
        assert_eq!(backlog.get(), 3);
        backlog.taken(&replies);
        assert_eq!(backlog.get(), 0, "never below zero");
    }
}
