//! A worker that follows docs/protocol.md to the letter, one step at a time
//! as a test directs it, and checks what the server sends it.
//!
//! It runs its assignments in assignment order on at most `concurrency`
//! slots and tells the server when it starts one (RunsStarted); it answers
//! every cancelled run with one WorkResult; while draining it gives back
//! every assignment it has not started. It checks that every engine call
//! gets exactly one reply, and the right one (its own call id, the engine's
//! text for its prompt), that a `Cancelled` reply never reaches a run before
//! its CancelTasks, that JobInfo precedes a job's assignments, and that the
//! server never holds more than `concurrency + prefetch` runs on it.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::task::Poll;

use symbatcher::pb::v1::{
    engine_reply, worker_command, worker_message, Assignment, DrainWorker, EngineReply, ErrorKind,
    RunsStarted,
};

use super::{ok_result, worker_msg, FakeWorker};

/// What became of one engine call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallState {
    Pending,
    /// Answered with the engine's text.
    Text,
    /// Answered with an error of this kind.
    Error(ErrorKind),
}

#[derive(Debug)]
struct Call {
    task_id: u64,
    prompt: String,
    state: CallState,
}

/// A run its slot has started: it occupies the slot until its result (or,
/// once cancelled, its acknowledgement) is sent.
#[derive(Debug)]
struct Run {
    task: Assignment,
    cancelled: bool,
}

/// A connected worker that keeps to the protocol.
pub struct ProtocolWorker {
    pub worker: FakeWorker,
    concurrency: usize,
    prefetch: usize,
    /// Assigned and not started, in assignment order.
    queued: VecDeque<Assignment>,
    /// Started and not yet finished.
    running: Vec<Run>,
    /// Cancelled runs not yet acknowledged.
    to_ack: Vec<u64>,
    /// Cancelled runs that never started (they occupy no slot).
    cancelled_queued: usize,
    /// Runs it sent a result (or an acknowledgement) for.
    done: HashSet<u64>,
    /// Runs given back with DrainWorker.
    given_back: HashSet<u64>,
    calls: BTreeMap<u64, Call>,
    next_call_id: u64,
    draining: bool,
}

impl ProtocolWorker {
    pub fn new(worker: FakeWorker, concurrency: u32, prefetch: u32) -> Self {
        ProtocolWorker {
            worker,
            concurrency: concurrency as usize,
            prefetch: prefetch as usize,
            queued: VecDeque::new(),
            running: Vec::new(),
            to_ack: Vec::new(),
            cancelled_queued: 0,
            done: HashSet::new(),
            given_back: HashSet::new(),
            calls: BTreeMap::new(),
            next_call_id: 1,
            draining: false,
        }
    }

    pub fn is_draining(&self) -> bool {
        self.draining
    }

    /// Whether it holds nothing: no run, no unacknowledged cancel, no call
    /// waiting for its reply.
    pub fn is_idle(&self) -> bool {
        self.queued.is_empty()
            && self.running.is_empty()
            && self.to_ack.is_empty()
            && self.pending_calls().next().is_none()
    }

    /// Calls still waiting for their reply.
    pub fn pending_calls(&self) -> impl Iterator<Item = u64> + '_ {
        self.calls
            .iter()
            .filter(|(_, call)| call.state == CallState::Pending)
            .map(|(id, _)| *id)
    }

    /// The started runs that go on (not cancelled).
    pub fn live_runs(&self) -> Vec<u64> {
        self.running
            .iter()
            .filter(|run| !run.cancelled)
            .map(|run| run.task.task_id)
            .collect()
    }

    fn has_pending_call(&self, task_id: u64) -> bool {
        self.calls
            .values()
            .any(|call| call.task_id == task_id && call.state == CallState::Pending)
    }

    /// Whether run `task_id` has made an engine call.
    pub fn has_called(&self, task_id: u64) -> bool {
        self.calls.values().any(|call| call.task_id == task_id)
    }

    /// Live runs not waiting on an engine call.
    pub fn unparked_runs(&self) -> Vec<u64> {
        self.live_runs()
            .into_iter()
            .filter(|&task_id| !self.has_pending_call(task_id))
            .collect()
    }

    /// What it still holds, for failure messages.
    pub fn describe(&self) -> String {
        let queued: Vec<u64> = self.queued.iter().map(|t| t.task_id).collect();
        let running: Vec<u64> = self.running.iter().map(|r| r.task.task_id).collect();
        let calls: Vec<u64> = self.pending_calls().collect();
        format!(
            "worker {}: queued {queued:?}, running {running:?}, unacknowledged cancels {:?}, \
             calls without a reply {calls:?}",
            self.worker.worker_id, self.to_ack
        )
    }

    pub fn can_start(&self) -> bool {
        !self.queued.is_empty() && self.running.len() < self.concurrency
    }

    /// Reads every command that has arrived and reacts as the protocol says
    /// (a draining worker gives new assignments back at once). Returns
    /// false when the server ended the stream.
    pub async fn pump(&mut self) -> bool {
        loop {
            let command = match self.worker.try_next_command() {
                Poll::Pending => return true,
                Poll::Ready(None) => return false,
                Poll::Ready(Some(command)) => command,
            };
            match command.kind {
                Some(worker_command::Kind::Assignments(chunk)) => {
                    self.assigned(chunk.assignments).await
                }
                Some(worker_command::Kind::Cancel(cancel)) => self.cancelled(cancel.task_ids),
                Some(worker_command::Kind::Replies(chunk)) => {
                    chunk.replies.iter().for_each(|r| self.replied(r))
                }
                _ => {}
            }
        }
    }

    async fn assigned(&mut self, assignments: Vec<Assignment>) {
        for task in &assignments {
            assert!(
                self.worker.jobs.iter().any(|j| j.job_id == task.job_id),
                "worker {}: assignment {} of job {} before its JobInfo",
                self.worker.worker_id,
                task.task_id,
                task.job_id
            );
        }
        if self.draining {
            let ids: Vec<u64> = assignments.iter().map(|t| t.task_id).collect();
            self.give_back(ids).await;
            return;
        }
        self.queued.extend(assignments);
        let held = self.queued.len() + self.running.len() + self.cancelled_queued;
        assert!(
            held <= self.concurrency + self.prefetch,
            "worker {} holds {held} runs, more than concurrency {} + prefetch {}",
            self.worker.worker_id,
            self.concurrency,
            self.prefetch
        );
    }

    fn cancelled(&mut self, task_ids: Vec<u64>) {
        let worker_id = self.worker.worker_id;
        for task_id in task_ids {
            assert!(
                !self.to_ack.contains(&task_id),
                "worker {worker_id}: run {task_id} cancelled twice"
            );
            if let Some(pos) = self.queued.iter().position(|t| t.task_id == task_id) {
                self.queued.remove(pos);
                self.cancelled_queued += 1;
            } else if let Some(run) = self.running.iter_mut().find(|r| r.task.task_id == task_id) {
                assert!(
                    !run.cancelled,
                    "worker {worker_id}: run {task_id} cancelled twice"
                );
                run.cancelled = true;
            } else if self.done.contains(&task_id) {
                // Its result crossed the cancel: that result is its answer.
                continue;
            } else {
                assert!(
                    self.given_back.contains(&task_id),
                    "worker {worker_id}: cancel of run {task_id}, which it never held"
                );
            }
            self.to_ack.push(task_id);
        }
    }

    fn replied(&mut self, reply: &EngineReply) {
        let worker_id = self.worker.worker_id;
        let Some(call) = self.calls.get_mut(&reply.call_id) else {
            panic!(
                "worker {worker_id}: reply to call {} it never made",
                reply.call_id
            );
        };
        assert_eq!(
            call.state,
            CallState::Pending,
            "worker {worker_id}: a second reply to call {}: {reply:?}",
            reply.call_id
        );
        call.state = match &reply.outcome {
            Some(engine_reply::Outcome::Text(text)) => {
                assert_eq!(
                    text,
                    &format!("engine: {}", call.prompt),
                    "worker {worker_id}: call {} got another call's reply",
                    reply.call_id
                );
                CallState::Text
            }
            Some(engine_reply::Outcome::Error(err)) => {
                CallState::Error(ErrorKind::try_from(err.kind).unwrap_or(ErrorKind::Unspecified))
            }
            Some(engine_reply::Outcome::Embeddings(_)) | None => {
                panic!("worker {worker_id}: reply without text or error: {reply:?}")
            }
        };
        let task_id = call.task_id;
        if call.state == CallState::Error(ErrorKind::Cancelled) {
            let still_wanted = self
                .running
                .iter()
                .any(|r| r.task.task_id == task_id && !r.cancelled);
            assert!(
                !still_wanted,
                "worker {worker_id}: call {} of run {task_id} answered Cancelled \
                 before the run was cancelled",
                reply.call_id
            );
        }
    }

    /// Starts the next queued run, if a slot is free; returns whether it did.
    pub async fn start_next(&mut self) -> bool {
        if !self.can_start() {
            return false;
        }
        let Some(task) = self.queued.pop_front() else {
            return false;
        };
        let started = RunsStarted {
            task_ids: vec![task.task_id],
        };
        self.running.push(Run {
            task,
            cancelled: false,
        });
        self.worker
            .send(worker_msg(worker_message::Kind::Started(started)))
            .await;
        true
    }

    /// Run `task_id` makes an engine call; its prompt names the run's job.
    pub async fn call(&mut self, task_id: u64) {
        let Some(run) = self.running.iter().find(|r| r.task.task_id == task_id) else {
            return;
        };
        let call_id = self.next_call_id;
        self.next_call_id += 1;
        let prompt = format!(
            "job {} worker {} call {call_id}",
            run.task.job_id, self.worker.worker_id
        );
        self.worker
            .send_calls(&[(task_id, call_id, prompt.clone())])
            .await;
        self.calls.insert(
            call_id,
            Call {
                task_id,
                prompt,
                state: CallState::Pending,
            },
        );
    }

    /// Run `task_id` returns: its result is `"j<job>-i<index>"`.
    pub async fn finish(&mut self, task_id: u64) {
        let Some(pos) = self.running.iter().position(|r| r.task.task_id == task_id) else {
            return;
        };
        let run = self.running.remove(pos);
        self.done.insert(task_id);
        let payload = result_payload_of(run.task.job_id, run.task.index);
        self.worker
            .send_results(vec![ok_result(task_id, payload.as_bytes())])
            .await;
    }

    /// Acknowledges every cancelled run with one WorkResult (a payload no
    /// item may end with, so that a delivered acknowledgement shows);
    /// returns whether there was any.
    pub async fn ack_cancels(&mut self) -> bool {
        if self.to_ack.is_empty() {
            return false;
        }
        let acks: Vec<u64> = std::mem::take(&mut self.to_ack);
        self.running
            .retain(|r| !(r.cancelled && acks.contains(&r.task.task_id)));
        self.cancelled_queued = 0;
        self.done.extend(acks.iter().copied());
        let results = acks
            .iter()
            .map(|&task_id| ok_result(task_id, b"\"acknowledged\""))
            .collect();
        self.worker.send_results(results).await;
        true
    }

    /// Stops taking items: sends DrainWorker with every unstarted run.
    pub async fn drain(&mut self) {
        self.draining = true;
        let ids: Vec<u64> = self.queued.drain(..).map(|t| t.task_id).collect();
        self.give_back(ids).await;
    }

    async fn give_back(&mut self, task_ids: Vec<u64>) {
        self.given_back.extend(task_ids.iter().copied());
        let drain = DrainWorker {
            unstarted_task_ids: task_ids,
        };
        self.worker
            .send(worker_msg(worker_message::Kind::Drain(drain)))
            .await;
    }
}

/// The result a [`ProtocolWorker`] returns for item `index` of `job_id`.
pub fn result_payload_of(job_id: u64, index: u64) -> String {
    format!("\"j{job_id}-i{index}\"")
}

/// The job named in a [`ProtocolWorker`] call's prompt.
pub fn job_of_prompt(prompt: &str) -> u64 {
    prompt
        .split_whitespace()
        .nth(1)
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("not a protocol worker's prompt: {prompt:?}"))
}
