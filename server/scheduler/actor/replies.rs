//! Batches at their engines and the way back: each batch runs in a task of
//! its own ([`batch_task`]), which reports calls answered one by one
//! (`CallsAnswered`, from engines that answer per call) and then the end of
//! the batch (`BatchDone`); the actor routes every reply to the worker that
//! made the call and adds what the engine measured to its engine and job.
//! The batch task also counts the batch for the metrics endpoint, as it
//! leaves and as its answers come back (before they reach the actor, so a
//! job's summary never leaves before its batches are counted).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::super::handle::{SchedulerCommand, SchedulerHandle};
use super::super::outcome::error_reply;
use super::super::reuse_book::CacheWrite;
use super::reuse::is_cancelled;
use super::Scheduler;
use crate::cache::CallCache;
use crate::engine::{is_error, BatchAnswer, CallAnswer, CallStats, Engine, EngineError};
use crate::pb::v1::{EngineCall, EngineReply};
use crate::telemetry::EngineRecorder;

/// Stores a batch's successful replies in the call cache before they go to
/// the scheduler: a crash between the two costs nothing on the re-run.
#[derive(Debug)]
pub(super) struct CacheWriter {
    pub cache: CallCache,
    /// Calls whose reply is stored, by server call id.
    pub writes: HashMap<u64, CacheWrite>,
}

impl CacheWriter {
    async fn store<'a>(&self, replies: impl Iterator<Item = (&'a EngineReply, CallStats)>) {
        if self.writes.is_empty() {
            return;
        }
        let entries: Vec<_> = replies
            .filter_map(|(reply, stats)| self.writes.get(&reply.call_id)?.record(reply, &stats))
            .collect();
        self.cache.put_many(entries).await;
    }
}

/// Runs one batch on its engine, forwarding answers to the scheduler as they
/// come (coalesced: whatever is ready goes in one command), then reports the
/// batch done. Replies are written to the cache first (`writer`).
#[allow(clippy::too_many_arguments)]
pub(super) async fn batch_task(
    engine: Engine,
    name: String,
    generation: u64,
    batch_id: u64,
    calls: Vec<EngineCall>,
    cancels: Vec<CancellationToken>,
    writer: CacheWriter,
    handle: SchedulerHandle,
    recorder: EngineRecorder,
) {
    let started = Instant::now();
    let call_ids: Vec<u64> = calls.iter().map(|c| c.call_id).collect();
    recorder.batch_sent(calls.len());
    tracing::debug!(calls = calls.len(), "engine batch sent");
    // Unbounded, but holds at most this batch's calls.
    let (answers_tx, mut answers_rx) = mpsc::unbounded_channel();
    let run = engine.run(calls, cancels, answers_tx);
    tokio::pin!(run);
    let answer = loop {
        tokio::select! {
            answer = &mut run => break answer,
            Some(first) = answers_rx.recv() => {
                let mut answers = vec![first];
                while let Ok(more) = answers_rx.try_recv() {
                    answers.push(more);
                }
                record_answers(&recorder, &answers);
                writer.store(answers.iter().map(|a| (&a.reply, a.stats))).await;
                let answered = SchedulerCommand::CallsAnswered {
                    engine: name.clone(),
                    generation,
                    answers,
                };
                // Fails only when the scheduler has stopped (shutdown).
                let _ = handle.send(answered).await;
            }
        }
    };
    let mut late = Vec::new();
    while let Ok(more) = answers_rx.try_recv() {
        late.push(more);
    }
    if !late.is_empty() {
        record_answers(&recorder, &late);
        writer.store(late.iter().map(|a| (&a.reply, a.stats))).await;
        let answered = SchedulerCommand::CallsAnswered {
            engine: name.clone(),
            generation,
            answers: late,
        };
        let _ = handle.send(answered).await;
    }
    if let Ok(replies) = &answer.outcome {
        let stats = |id: u64| answer.stats.get(&id).copied().unwrap_or_default();
        writer
            .store(replies.iter().map(|r| (r, stats(r.call_id))))
            .await;
    }
    let elapsed = started.elapsed();
    record_batch(&recorder, &answer, elapsed);
    tracing::debug!(
        elapsed_ms = elapsed.as_secs_f64() * 1000.0,
        failed = answer.outcome.is_err(),
        "engine batch answered"
    );
    let done = SchedulerCommand::BatchDone {
        engine: name,
        generation,
        batch_id,
        call_ids,
        answer,
        elapsed,
    };
    let _ = handle.send(done).await;
}

/// Counts calls answered one by one.
fn record_answers(recorder: &EngineRecorder, answers: &[CallAnswer]) {
    for answer in answers {
        recorder.call_answered(&answer.stats, is_error(&answer.reply));
    }
}

/// Counts the calls answered with the batch, and the batch.
fn record_batch(recorder: &EngineRecorder, answer: &BatchAnswer, elapsed: Duration) {
    let failed_calls: HashSet<u64> = match &answer.outcome {
        Ok(replies) => {
            let answered: HashMap<u64, bool> =
                replies.iter().map(|r| (r.call_id, is_error(r))).collect();
            answer
                .stats
                .keys()
                .filter(|id| answered.get(id).copied().unwrap_or(true))
                .copied()
                .collect()
        }
        Err(_) => answer.stats.keys().copied().collect(),
    };
    for (call_id, stats) in &answer.stats {
        recorder.call_answered(stats, failed_calls.contains(call_id));
    }
    recorder.batch_answered(elapsed, answer.outcome.is_err());
}

impl Scheduler {
    pub(super) fn calls_answered(
        &mut self,
        engine: &str,
        generation: u64,
        answers: Vec<CallAnswer>,
    ) {
        for CallAnswer { reply, stats } in answers {
            self.deliver_answer(engine, generation, reply, &stats);
        }
    }

    pub(super) fn batch_done(
        &mut self,
        engine: &str,
        generation: u64,
        batch_id: u64,
        call_ids: Vec<u64>,
        answer: BatchAnswer,
        elapsed: Duration,
    ) {
        let BatchAnswer {
            outcome,
            stats,
            late_copies,
        } = answer;
        self.bill_late_copies(engine, &call_ids, late_copies);
        self.engines
            .batch_done(engine, generation, call_ids.len(), outcome.is_err());
        for job_id in self.calls.batch_back(batch_id) {
            if let Some(job) = self.jobs.get_mut(&job_id) {
                job.engine_seconds += elapsed.as_secs_f64();
            }
        }
        let (mut replies, batch_error) = match outcome {
            Ok(replies) => (
                replies
                    .into_iter()
                    .map(|r| (r.call_id, r))
                    .collect::<HashMap<u64, EngineReply>>(),
                None,
            ),
            Err(err) => {
                tracing::warn!(engine, kind = err.kind(), %err, "engine batch failed");
                (HashMap::new(), Some(err))
            }
        };
        // An engine process that disconnected before answering: while its
        // name is registered (or waits for it, `engine_gone`), the calls go
        // back to the queue for whoever registers under it.
        let resend = matches!(batch_error, Some(EngineError::Disconnected(_)))
            && self.engines.contains(engine);
        for call_id in call_ids {
            if !self.calls.is_routed(call_id) && !self.reuse.is_leader(call_id) {
                // Answered on its own, or its run is gone (and no identical
                // call waits on it): a request answered all the same is
                // billed to its job.
                let reply = replies.get(&call_id);
                let abandoned = reply.is_some_and(is_cancelled);
                let reply = reply.filter(|reply| !is_error(reply));
                let call_stats = stats.get(&call_id).copied().unwrap_or_default();
                let billed = reply.map(|r| (r, &call_stats));
                self.settle_reservation(engine, call_id, billed, abandoned);
                continue;
            }
            if resend && self.calls.requeue(engine, call_id) {
                // Not answered: sent again, and reserved again as it leaves.
                self.settle_reservation(engine, call_id, None, false);
                continue;
            }
            let reply = match &batch_error {
                Some(err) => error_reply(call_id, err),
                None => replies.remove(&call_id).unwrap_or_else(|| {
                    let missing = EngineError::MissingReply {
                        engine: engine.to_string(),
                        call_id,
                    };
                    error_reply(call_id, &missing)
                }),
            };
            let call_stats = stats.get(&call_id).copied().unwrap_or(CallStats {
                latency: elapsed,
                ..Default::default()
            });
            self.deliver_answer(engine, generation, reply, &call_stats);
        }
    }

    /// Routes the reply to an in-flight call (by its server call id) back to
    /// its worker, and counts what the engine measured.
    fn deliver_answer(
        &mut self,
        engine: &str,
        generation: u64,
        mut reply: EngineReply,
        stats: &CallStats,
    ) {
        let server_call_id = reply.call_id;
        let routed = self.calls.is_routed(server_call_id);
        // The reservation comes back; a request answered after its run ended
        // is billed to its job all the same (a routed one is, below).
        let billed = (!routed && !is_error(&reply)).then_some((&reply, stats));
        let abandoned = is_cancelled(&reply);
        let reserved_for = self.settle_reservation(engine, server_call_id, billed, abandoned);
        if let Some(kept) = self.calls.take_kept(server_call_id) {
            let billed = reserved_for.is_some();
            self.kept_answered(engine, generation, kept, &reply, stats, billed);
            return;
        }
        self.land_flight(engine, server_call_id, &reply, stats);
        let Some(route) = self.calls.take_route(server_call_id) else {
            return; // its run ended, and the worker was answered `Cancelled`
        };
        let owner = self
            .workers
            .run(route.run_id)
            .map(|run| (run.job_id, run.item.index))
            .or_else(|| self.calls.parked_owner(server_call_id))
            .or(reserved_for);
        let sent_ok = !is_error(&reply);
        let model = sent_ok.then(|| self.priced_model(engine, &reply));
        reply.call_id = route.worker_call_id;
        let is_error = is_error(&reply);
        let job_id = self.deliver_reply(route.worker_id, route.run_id, server_call_id, reply);
        // A call whose run had ended (given up, or answered too late) is not
        // a failed call.
        let failed = is_error && job_id.is_some();
        self.engines.record_call(engine, generation, stats, failed);
        if let Some(job) = job_id.and_then(|id| self.jobs.get_mut(&id)) {
            job.record_call(stats, failed);
        }
        // After delivery: a job that reaches its cap now stops its other runs.
        if let Some(model) = model {
            self.account_sent(engine, owner, &model, stats, route.step);
        }
    }

    /// Hands an engine reply to the run that made the call (the run is
    /// parked while it has calls outstanding). Returns the run's job, or None
    /// when the run no longer exists (its reply is dropped).
    pub(super) fn deliver_reply(
        &mut self,
        worker_id: u64,
        run_id: u64,
        server_call_id: u64,
        reply: EngineReply,
    ) -> Option<u64> {
        if self.calls.is_parked_call(server_call_id) {
            return self.parked_call_answered(server_call_id, reply);
        }
        let run = self
            .workers
            .run_mut(run_id)
            .filter(|t| t.worker_id == worker_id)?;
        run.calls.remove(&server_call_id)?;
        run.last_activity = Instant::now();
        let job_id = run.job_id;
        self.reindex_run(run_id);
        let worker = self.workers.get_mut(&worker_id)?;
        worker.calls -= 1;
        worker.outbox.replies.push(reply);
        Some(job_id)
    }
}
