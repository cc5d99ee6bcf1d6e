//! Reservations: a capped job's call is sent only when its worst case
//! (`cost::worst_case`, at its model's price) fits under the cap minus the
//! job's spend minus what its calls at engines have reserved. Every engine
//! batch passes here as it leaves (`dispatch`), so this covers every engine
//! kind, the provider batches, and calls an engine's rate limiter holds
//! (reserved before they reach it).
//!
//! A call that fits only once calls in flight give back their reservation
//! is held here, and goes back to its queue when its job is refunded; one
//! that cannot fit even then (spend only grows), or a provider batch's call
//! that does not fit now, stops its job: its items not sent fail with
//! `BudgetExceeded` (`budget`). The reply gives the
//! reservation back and bills the actual usage; a failure gives it back
//! whole.

use std::collections::HashSet;

use super::super::outcome::error_reply;
use super::super::spend::Fit;
use super::super::spend_book::Reservation;
use super::Scheduler;
use crate::batcher::{Flush, QueuedCall};
use crate::cost::worst_case;
use crate::engine::{CallStats, Engine, EngineError};
use crate::pb::v1::EngineReply;

/// A call's worst case in US dollars, or why it cannot be bounded.
type Worst = Result<f64, String>;

impl Scheduler {
    /// Reserves the worst case of every call of `flush` whose job has a
    /// cap, and keeps back the calls that do not fit. Returns the calls that
    /// go (all of them when no job of the batch has a cap), and the jobs to
    /// stop (`stop_over_budget`) once those are on their way.
    ///
    /// A provider batch takes hours, so its calls do not wait for room:
    /// those that do not fit stop their job, and the rest of the batch goes.
    pub(super) fn reserve_flush(&mut self, mut flush: Flush) -> (Vec<QueuedCall>, Vec<u64>) {
        let capped = |job_id: &u64| {
            self.jobs
                .get(job_id)
                .is_some_and(|job| job.spend.max_cost_usd.is_some())
        };
        if !flush.calls.iter().any(|queued| capped(&queued.job_id)) {
            return (flush.calls, Vec::new());
        }
        let provider_batch = self
            .engines
            .get(&flush.key.engine)
            .is_some_and(|slot| slot.engine.batch_api_flush().is_some());
        let worsts: Vec<Option<Worst>> = flush
            .calls
            .iter()
            .map(|queued| {
                capped(&queued.job_id)
                    .then(|| self.worst_usd(&flush.key.engine, queued))
                    .flatten()
            })
            .collect();
        // A job one of whose calls can never fit stops as a whole (as does
        // one stopped already, by an earlier batch of this turn), so none of
        // its calls of this batch leaves; a provider batch decides per call.
        let mut over = HashSet::new();
        for (queued, worst) in flush.calls.iter().zip(&worsts) {
            let Some(job) = self.jobs.get_mut(&queued.job_id) else {
                continue;
            };
            if let (Some(Ok(usd)), false) = (worst, provider_batch) {
                if job.spend.fit(*usd) == Fit::Never {
                    job.spend.refused_usd.get_or_insert(*usd);
                    over.insert(queued.job_id);
                }
            }
            if job.spend.exceeded {
                over.insert(queued.job_id);
            }
        }
        let mut going = Vec::with_capacity(flush.calls.len());
        let mut unbounded = Vec::new();
        for (queued, worst) in flush.calls.drain(..).zip(worsts) {
            let job_id = queued.job_id;
            if self.workers.run(queued.run_id).is_none()
                && !self.calls.is_parked_call(queued.call.call_id)
            {
                // Its run was stopped by an earlier batch of this turn: the
                // calls that joined it go on without it.
                self.leader_gone(queued.call.call_id);
                continue;
            }
            if over.contains(&job_id) {
                self.calls.hold(job_id, flush.key.clone(), queued);
                continue;
            }
            match worst {
                None => going.push(queued),
                Some(Err(reason)) => unbounded.push((queued, reason)),
                Some(Ok(usd)) => {
                    if self.try_reserve(&queued, usd) {
                        going.push(queued);
                    } else {
                        if provider_batch {
                            if let Some(job) = self.jobs.get_mut(&job_id) {
                                job.spend.refused_usd.get_or_insert(usd);
                            }
                            over.insert(job_id);
                        }
                        self.calls.hold(job_id, flush.key.clone(), queued);
                    }
                }
            }
        }
        for (queued, reason) in unbounded {
            self.fail_unbounded(&flush.key.engine, queued, reason);
        }
        (going, over.into_iter().collect())
    }

    /// The worst case of `queued` on `engine` in US dollars; None: nothing
    /// to reserve (a free engine, or a model with no price, whose calls are
    /// counted as unpriced).
    fn worst_usd(&self, engine: &str, queued: &QueuedCall) -> Option<Worst> {
        let slot = self.engines.get(engine)?;
        if matches!(slot.engine, Engine::Echo(_)) {
            return None;
        }
        let body = slot.engine.request_body(&queued.call);
        let model = body
            .as_ref()
            .and_then(|body| body.get("model")?.as_str().map(str::to_string))
            .or_else(|| {
                let model = crate::batcher::model_of(&queued.call.kwargs_json);
                (!model.is_empty()).then_some(model)
            })
            .unwrap_or_else(|| slot.engine.limits().model);
        let pricing = self.spend.price(engine, &model)?;
        let ceiling = pricing.max_output_tokens;
        let worst = match &body {
            Some(body) => worst_case::of_body(body, &model, ceiling),
            None => worst_case::of_call(&queued.call, &model, ceiling),
        };
        // A call that may go online (a batch engine's fallback) is reserved
        // at the online price.
        let batch_priced = slot.engine.answers_at_batch_price_only();
        Some(worst.map(|w| pricing.cost(w.prompt_tokens, w.completion_tokens, batch_priced)))
    }

    /// Reserves `usd` for `queued` if it fits under its job's cap now.
    fn try_reserve(&mut self, queued: &QueuedCall, usd: f64) -> bool {
        let index = self
            .workers
            .run(queued.run_id)
            .map(|run| run.item.index)
            .or_else(|| {
                self.calls
                    .parked_owner(queued.call.call_id)
                    .map(|(_, index)| index)
            });
        let (Some(job), Some(index)) = (self.jobs.get_mut(&queued.job_id), index) else {
            return true; // nobody waits for it: it goes as before
        };
        if job.spend.fit(usd) != Fit::Now {
            return false;
        }
        job.spend.reserve(usd);
        let reservation = Reservation {
            job_id: queued.job_id,
            index,
            usd,
            step: queued.step,
        };
        self.spend.reserve(queued.call.call_id, reservation);
        true
    }

    /// A call whose cost cannot be bounded fails at once (not sent), and so
    /// do the calls that joined it.
    fn fail_unbounded(&mut self, engine: &str, queued: QueuedCall, reason: String) {
        let err = EngineError::Failed {
            type_name: "BudgetExceeded".to_string(),
            message: reason,
        };
        let reply = error_reply(queued.worker_call_id, &err);
        self.land_flight(engine, queued.call.call_id, &reply, &CallStats::default());
        self.deliver_reply(queued.worker_id, queued.run_id, queued.call.call_id, reply);
    }

    /// Gives back the reservation of call `call_id`; with a successful
    /// `reply` of a run that ended, bills it to the reservation's job (the
    /// request was paid all the same). A request `abandoned` at its engine
    /// (its run was cancelled) may be billed with no usage reported to us:
    /// its worst case stays spent. Returns the call's job and item.
    pub(super) fn settle_reservation(
        &mut self,
        engine: &str,
        call_id: u64,
        billed: Option<(&EngineReply, &CallStats)>,
        abandoned: bool,
    ) -> Option<(u64, u64)> {
        let reservation = self.spend.take_reservation(call_id)?;
        if let Some(job) = self.jobs.get_mut(&reservation.job_id) {
            job.spend.release(reservation.usd);
            if abandoned {
                job.spend.cost_usd += reservation.usd;
            }
        }
        if let Some((reply, stats)) = billed {
            let model = self.priced_model(engine, reply);
            let owner = Some((reservation.job_id, reservation.index));
            self.account_sent(engine, owner, &model, stats, reservation.step);
        }
        Some((reservation.job_id, reservation.index))
    }

    /// Jobs that got reservations back: their held calls that fit now go
    /// back to their queues (the batch that takes them reserves them), and
    /// a job whose held call can never fit stops.
    pub(super) fn wake_held(&mut self) {
        for job_id in self.spend.take_refunded() {
            let held = self.calls.take_held(job_id);
            if held.is_empty() {
                continue;
            }
            let mut requeued = 0.0;
            let mut over = false;
            for (key, queued) in held {
                let worst = match self.worst_usd(&key.engine, &queued) {
                    Some(Ok(usd)) => usd,
                    _ => 0.0, // decided again when its batch leaves
                };
                let (never, now) = match self.jobs.get_mut(&job_id) {
                    Some(job) => {
                        let never = job.spend.fit(worst) == Fit::Never;
                        if never {
                            job.spend.refused_usd.get_or_insert(worst);
                        }
                        (never, job.spend.fit(worst + requeued) == Fit::Now)
                    }
                    None => (false, true),
                };
                over |= never;
                if now && !never {
                    requeued += worst;
                    self.calls.queue(key, queued);
                } else {
                    self.calls.hold(job_id, key, queued);
                }
            }
            if over {
                self.stop_over_budget(job_id);
            }
        }
    }
}
