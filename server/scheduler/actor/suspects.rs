//! Poison items are found, not guessed. When a worker disconnects with
//! several runs in progress (its process died: a `forward()` that calls
//! `os._exit`, a crash in native code, the OOM killer), any of them may be
//! the cause. None is charged: each goes back to its job as a *suspect*
//! (`workers::worker_gone`), and suspects run again one at a time, each
//! alone on a worker set aside for them. A suspect that finishes was
//! innocent: its result is delivered like any other. A run that is lost
//! with its worker while it ran alone is charged one of its job's
//! `max_attempts` and runs alone again, until it fails with WorkerLostError.
//!
//! The cost is the suspects' runs, serialised: per job, one worker at a time
//! is set aside (the one holding the fewest runs); it takes no new item
//! until the runs it holds end, then runs the job's suspects one after the
//! other, alone, and goes back to the other items when none is left. The
//! job's other items go on meanwhile on its other workers.

use super::super::job_book::Job;
use super::super::queue::Line;
use super::Scheduler;

impl Scheduler {
    /// Runs the suspects of every job that has some: sets a worker aside
    /// for the job if it has none, hands its next suspect to that worker
    /// once the worker holds no run, and gives the worker back to the other
    /// items once the job has no suspect left. O(jobs) per turn, plus
    /// O(workers) for each job that needs a worker set aside.
    pub(super) fn run_suspects(&mut self) {
        let jobs: Vec<u64> = self
            .jobs
            .values()
            .filter(|job| job.isolation.is_some() || job.queue.front(Line::Suspects).is_some())
            .map(|job| job.id)
            .collect();
        for job_id in jobs {
            self.run_suspects_of(job_id);
        }
    }

    fn run_suspects_of(&mut self, job_id: u64) {
        let Some(job) = self.jobs.get(&job_id) else {
            return;
        };
        let has_suspect = job.queue.front(Line::Suspects).is_some();
        let worker_id = match job.isolation {
            Some(worker_id) => {
                let usable = self
                    .workers
                    .get(&worker_id)
                    .is_some_and(|w| !w.is_draining() && !w.stalled);
                if usable && has_suspect {
                    worker_id
                } else {
                    // Draining or stalled (its suspect, if it runs one,
                    // ends there alone), or no suspect left: it goes back
                    // to the other items once it is done with the job's
                    // suspects.
                    let idle = self.workers.get(&worker_id).is_none_or(|w| w.is_idle());
                    if usable && !idle {
                        return;
                    }
                    self.end_isolation(job_id);
                    if !has_suspect {
                        return;
                    }
                    match self.set_aside_worker(job_id) {
                        Some(worker_id) => worker_id,
                        None => return,
                    }
                }
            }
            None => match self.set_aside_worker(job_id) {
                Some(worker_id) => worker_id,
                None => return,
            },
        };
        if !self.workers.get(&worker_id).is_some_and(|w| w.is_idle()) {
            return; // its runs end first
        }
        let Some(item) = self
            .jobs
            .get_mut(&job_id)
            .and_then(|job| job.queue.pop_front(Line::Suspects))
        else {
            return;
        };
        self.hand_out(job_id, worker_id, item);
    }

    /// Sets aside for the job's suspects the worker that may run its next
    /// one and holds the fewest runs (it is free for them the soonest),
    /// one outside the client's own process if there is one (a suspect may
    /// kill the process that runs it). O(workers).
    fn set_aside_worker(&mut self, job_id: u64) -> Option<u64> {
        let job = self.jobs.get(&job_id)?;
        let next = job.queue.front(Line::Suspects)?;
        let expression = &job.params.expression;
        let token = &job.params.process_token;
        let worker_id = self
            .workers
            .values()
            .filter(|w| w.isolating.is_none() && !w.stalled && w.serves(expression))
            .filter(|w| !next.local_only || w.is_local_to(token))
            .min_by_key(|w| (w.is_local_to(token), w.held(), w.id))
            .map(|w| w.id)?;
        if let Some(worker) = self.workers.get_mut(&worker_id) {
            worker.isolating = Some(job_id);
        }
        if let Some(job) = self.jobs.get_mut(&job_id) {
            job.isolation = Some(worker_id);
        }
        tracing::info!(job_id, worker_id, "worker set aside to run suspects alone");
        Some(worker_id)
    }

    /// The job's worker set aside for suspects goes back to the other items.
    fn end_isolation(&mut self, job_id: u64) {
        let Some(worker_id) = self
            .jobs
            .get_mut(&job_id)
            .and_then(|job| job.isolation.take())
        else {
            return;
        };
        if let Some(worker) = self.workers.get_mut(&worker_id) {
            if worker.isolating == Some(job_id) {
                worker.isolating = None;
            }
        }
    }

    /// A job ended: the worker it set aside takes other items again.
    pub(super) fn release_isolated_worker(&mut self, job: &Job) {
        if let Some(worker) = job
            .isolation
            .and_then(|worker_id| self.workers.get_mut(&worker_id))
        {
            if worker.isolating == Some(job.id) {
                worker.isolating = None;
            }
        }
    }
}
