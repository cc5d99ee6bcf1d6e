//! Job events: admission, items, end of input, completion, cancellation
//! and failure, and jobs that wait too long for a worker. A job's state is
//! the job book's (`job_book`).

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::super::engine_book::EngineSlot;
use super::super::handle::{JobParams, JobRegistration};
use super::super::item::{PendingItem, ReplayLog};
use super::super::job_book::Job;
use super::super::spend_book::budget_outcome;
use super::Scheduler;
use crate::batcher::policy;
use crate::cache::CacheMode;
use crate::config::MAX_WINDOW;
use crate::engine::{call_kind_name, CallKind, Engine};
use crate::error::Error;
use crate::pb::v1::{Item, JobState};

impl Scheduler {
    pub(super) fn submit_job(&mut self, mut params: JobParams) -> Result<JobRegistration, Error> {
        if self.draining {
            return Err(Error::ShuttingDown);
        }
        let engine = self.engine_of_kind("engine", &params.engine, CallKind::Neurosymbolic)?;
        let engine_wants_messages = engine.wants_messages();
        let batch_api = engine.engine.batch_api_flush();
        let call_batch_size =
            policy::job_call_batch_size(params.batch_size, engine.max_batch_size, &engine.engine);
        let cache_mode = params.cache.unwrap_or(default_cache_mode(&engine.engine));
        let embedding_cache_mode = match &params.embedding_engine {
            Some(name) => {
                let slot = self.engine_of_kind("embedding_engine", name, CallKind::Embedding)?;
                params.cache.unwrap_or(default_cache_mode(&slot.engine))
            }
            None => CacheMode::Off,
        };
        let id = self.fresh_id();
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let now = Instant::now();
        let served = self.workers.served(&params.expression);
        let replays = batch_api.is_some() && params.replay != Some(false);
        // A step of a replaying job goes out as one provider batch only if
        // the window holds that many items.
        let window = match batch_api {
            Some(flush) if replays && params.window_is_default => {
                let batch = u32::try_from(flush.batch_size).unwrap_or(MAX_WINDOW);
                params.window.max(batch).min(MAX_WINDOW)
            }
            _ => params.window,
        };
        params.window = window;
        params.span.record("id", id);
        params.span.in_scope(|| {
            tracing::info!(batch_size = params.batch_size, "job admitted");
        });
        let job = Job::new(
            id,
            params,
            (engine_wants_messages, call_batch_size, replays),
            [cache_mode, embedding_cache_mode],
            events_tx,
            now,
        );
        self.jobs.insert(job);
        if !served {
            self.jobs.set_no_worker_since(id, Some(now));
        }
        Ok(JobRegistration {
            job_id: id,
            window,
            events_rx,
        })
    }

    /// The engine `name` for a job's `field`, which must answer calls of
    /// `kind`.
    fn engine_of_kind(
        &self,
        field: &'static str,
        name: &str,
        kind: CallKind,
    ) -> Result<&EngineSlot, Error> {
        let Some(slot) = self.engines.get(name) else {
            return Err(Error::UnknownEngine {
                field,
                name: name.to_string(),
                known: self.engines.names(),
            });
        };
        let actual = slot.engine.call_kind();
        if actual != kind {
            return Err(Error::WrongEngineKind {
                field,
                name: name.to_string(),
                kind: call_kind_name(actual),
                wanted: call_kind_name(kind),
            });
        }
        Ok(slot)
    }

    pub(super) fn add_items(&mut self, job_id: u64, items: Vec<Item>) {
        let Some(job) = self.jobs.get_mut(&job_id) else {
            return;
        };
        for item in items {
            if !job.receive(item.index) {
                let err = Error::invalid(
                    "items.index",
                    format!("index {} is already in flight in this job", item.index),
                );
                self.fail_job(job_id, err);
                return;
            }
            if job.spend.exceeded {
                let outcome = budget_outcome(&job.spend);
                job.spend.budget_exceeded_items += 1;
                job.finish_item(item.index, outcome);
                continue;
            }
            job.queue.push_back(PendingItem {
                index: item.index,
                payload: item.payload,
                local_only: item.local_only,
                charged: 0,
                suspect: false,
                replies: ReplayLog::default(),
                parks: 0,
                deadline: None,
            });
        }
    }

    pub(super) fn close_input(&mut self, job_id: u64) {
        if let Some(job) = self.jobs.get_mut(&job_id) {
            job.input_closed = true;
        }
        self.maybe_finish(job_id);
    }

    /// Ends the job if its input is closed and every item is answered.
    pub(super) fn maybe_finish(&mut self, job_id: u64) {
        let Some(job) = self.jobs.get_mut(&job_id) else {
            return;
        };
        if job.finish_if_done() {
            self.remove_job(job_id, JobState::Finished, String::new());
        }
    }

    /// The client went away: drop the job's queue and tell its workers.
    pub(super) fn cancel_job(&mut self, job_id: u64) {
        if let Some(job) = self.jobs.get(&job_id) {
            job.params.span.in_scope(|| tracing::info!("job cancelled"));
            self.remove_job(job_id, JobState::Cancelled, String::new());
        }
    }

    /// Fails the whole job with `err` (ends the client's stream with it).
    pub(super) fn fail_job(&mut self, job_id: u64, err: Error) {
        if let Some(job) = self.jobs.get_mut(&job_id) {
            let error = err.to_string();
            job.fail(err);
            self.remove_job(job_id, JobState::Failed, error);
        }
    }

    /// Removes a job that ended in `state` (failed with `error`) with its
    /// runs and waiting engine calls; Status keeps showing its last status
    /// for a while (`JobHistory`).
    fn remove_job(&mut self, job_id: u64, state: JobState, error: String) {
        let Some(job) = self.jobs.remove(job_id) else {
            return;
        };
        self.history
            .record(job.ended_status(state, error), Instant::now());
        self.release_isolated_worker(&job);
        for &run_id in &job.runs {
            self.remove_run(run_id, true);
        }
        self.drop_parked(job.parked);
        self.drop_kept(job_id);
        for worker_id in job.informed_workers {
            if let Some(worker) = self.workers.get_mut(&worker_id) {
                worker.outbox.finished_jobs.push(job_id);
            }
        }
    }

    /// Fails jobs that have waited too long for a worker. O(log j) per job
    /// that expires.
    pub(super) fn expire_waiting_jobs(&mut self, now: Instant) {
        for job_id in self.jobs.take_worker_waits_due(now) {
            let Some(job) = self.jobs.get(&job_id) else {
                continue;
            };
            let err = Error::NoWorker {
                expression: job.params.expression.clone(),
                waited_ms: job.params.worker_wait.as_millis() as u64,
            };
            self.fail_job(job_id, err);
        }
    }

    /// Sends every job's results and every worker's commands of this turn.
    pub(super) fn flush_outboxes(&mut self) {
        loop {
            let too_slow = self.workers.flush_touched();
            if too_slow.is_empty() {
                break;
            }
            for worker_id in too_slow {
                self.disconnect_slow_worker(worker_id);
            }
            // Their runs went back to the queues: hand them out now.
            self.assign_items();
        }
        self.jobs.flush_all();
    }
}

/// How a job's calls to `engine` use the call cache when the job does not
/// say: only engines that call a provider are cached.
fn default_cache_mode(engine: &Engine) -> CacheMode {
    match engine {
        Engine::OpenAi(_)
        | Engine::OpenAiBatch(_)
        | Engine::Anthropic(_)
        | Engine::OpenAiEmbeddings(_) => CacheMode::Use,
        Engine::Connected(connected) if connected.cache_by_default() => CacheMode::Use,
        _ => CacheMode::Off,
    }
}
