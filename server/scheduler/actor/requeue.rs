//! Runs that go back to their job's queue (their worker stalled or
//! disconnected) with a request at an engine.
//!
//! Such a request is not given up: the provider may bill it, and the item's
//! next run makes the same call again. When the request leads an identical
//! call flight (its job coalesces and caches calls, the default for engines
//! that call a provider), it is *kept*: its reply goes to no worker, the
//! next run's identical call joins it while it is in flight (`reuse`), or
//! gets its reply once it is answered (kept by the reuse book for the job,
//! whatever the cache mode, with or without a cache on disk), and it is
//! billed to its item once, as any request. A kept request is given up
//! only when its job ends. Calls still queued, held for the cap, or joined to another
//! call are given up as when any run ends (nothing was sent for them), and
//! so are requests of calls that do not coalesce (cache mode `off`), whose
//! next run sends its own.
//!
//! Either way the old run's worker gets exactly one reply per call
//! (`Cancelled`), at once.

use super::super::call_book::KeptCall;
use super::super::run::Run;
use super::Scheduler;
use crate::engine::{is_error, CallStats, EngineError};
use crate::pb::v1::EngineReply;

impl Scheduler {
    /// Takes run `run_id` off its worker and job so that its item can run
    /// again (the caller queues it): as [`Scheduler::remove_run`], except
    /// that its requests at an engine that lead a flight are kept (see the
    /// module docs).
    pub(super) fn requeue_run(&mut self, run_id: u64, cancel_on_worker: bool) -> Option<Run> {
        let run = self.detach_run(run_id, &EngineError::Cancelled, cancel_on_worker)?;
        let mut given_up = Vec::new();
        let mut kept = 0usize;
        for &call_id in run.calls.keys() {
            let at_engine = self.calls.is_routed(call_id) && self.reuse.is_leader(call_id);
            if at_engine
                && self
                    .calls
                    .keep(call_id, run.job_id, run.item.index, run.cancel.clone())
            {
                kept += 1;
            } else {
                given_up.push(call_id);
            }
        }
        if kept == 0 {
            run.cancel.cancel();
        } else {
            tracing::debug!(
                run_id,
                job_id = run.job_id,
                index = run.item.index,
                kept,
                "run re-queued; its requests at an engine are kept for its next run"
            );
        }
        self.give_up_calls(given_up);
        Some(run)
    }

    /// The reply to a kept request (`call_id`): the calls that joined it
    /// get it (`land_flight`), and so does the job's next identical call
    /// if none has yet; it is counted with its engine and job, and billed to
    /// its item unless its reservation already was (`billed_by_reservation`).
    pub(super) fn kept_answered(
        &mut self,
        engine: &str,
        generation: u64,
        kept: KeptCall,
        reply: &EngineReply,
        stats: &CallStats,
        billed_by_reservation: bool,
    ) {
        let call_id = reply.call_id;
        let record = self
            .reuse
            .write_of(call_id)
            .and_then(|write| write.record(reply, stats));
        self.land_flight(engine, call_id, reply, stats);
        if let Some(record) = record {
            if self.jobs.get(&kept.job_id).is_some() {
                self.reuse.keep_reply(kept.job_id, record);
            }
        }
        let failed = is_error(reply);
        self.engines.record_call(engine, generation, stats, failed);
        if let Some(job) = self.jobs.get_mut(&kept.job_id) {
            job.record_call(stats, failed);
        }
        if !failed && !billed_by_reservation {
            let model = self.priced_model(engine, reply);
            let owner = Some((kept.job_id, kept.index));
            self.account_sent(engine, owner, &model, stats, kept.step);
        }
    }

    /// Job `job_id` ended: its kept requests are given up (their replies, if
    /// any still come, are settled as any request whose run is gone), and
    /// their replies dropped.
    pub(super) fn drop_kept(&mut self, job_id: u64) {
        for kept in self.calls.take_kept_of(job_id) {
            kept.cancel.cancel();
        }
        self.reuse.drop_kept_replies(job_id);
    }
}
