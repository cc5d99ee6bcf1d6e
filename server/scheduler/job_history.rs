//! The jobs that ended lately, for `Status`: each one's last status, kept
//! up to a count and an age (`--keep-finished-jobs`,
//! `--keep-finished-jobs-ms`), the oldest dropped first.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

use crate::config::history::JobHistoryFlags;
use crate::pb::v1::JobStatus;

#[derive(Debug)]
pub(super) struct JobHistory {
    /// When each job ended and its status then, the oldest first.
    ended: VecDeque<(Instant, JobStatus)>,
    max_jobs: usize,
    max_age: Duration,
}

impl JobHistory {
    pub fn new(flags: &JobHistoryFlags) -> Self {
        JobHistory {
            ended: VecDeque::new(),
            max_jobs: flags.max_jobs(),
            max_age: flags.max_age(),
        }
    }

    /// Keeps the status of a job that ended at `now`, dropping the oldest
    /// beyond the count and those beyond the age.
    pub fn record(&mut self, status: JobStatus, now: Instant) {
        if self.max_jobs == 0 {
            return;
        }
        self.ended.push_back((now, status));
        while self.ended.len() > self.max_jobs {
            self.ended.pop_front();
        }
        while self
            .ended
            .front()
            .is_some_and(|(ended, _)| now.duration_since(*ended) >= self.max_age)
        {
            self.ended.pop_front();
        }
    }

    /// The jobs ended less than the age ago at `now`, the newest first.
    pub fn statuses(&self, now: Instant) -> Vec<JobStatus> {
        self.ended
            .iter()
            .rev()
            .take_while(|(ended, _)| now.duration_since(*ended) < self.max_age)
            .map(|(_, status)| status.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history(max_jobs: u32, max_age_ms: u64) -> JobHistory {
        JobHistory::new(&JobHistoryFlags {
            keep_finished_jobs: max_jobs,
            keep_finished_jobs_ms: max_age_ms,
        })
    }

    fn job(id: u64) -> JobStatus {
        JobStatus {
            job_id: id,
            ..Default::default()
        }
    }

    fn ids(statuses: Vec<JobStatus>) -> Vec<u64> {
        statuses.into_iter().map(|s| s.job_id).collect()
    }

    #[test]
    fn keeps_the_newest_first_up_to_the_count() {
        let mut h = history(2, 60_000);
        let t = Instant::now();
        for id in 1..=3 {
            h.record(job(id), t);
        }
        assert_eq!(ids(h.statuses(t)), [3, 2]);
    }

    #[test]
    fn forgets_a_job_once_it_is_older_than_the_age() {
        let mut h = history(10, 1_000);
        let t = Instant::now();
        h.record(job(1), t);
        h.record(job(2), t + Duration::from_millis(600));
        let later = t + Duration::from_millis(1_100);
        assert_eq!(ids(h.statuses(later)), [2]);
        // Recording prunes what aged out, so memory follows the age too.
        h.record(job(3), later);
        assert_eq!(h.ended.len(), 2);
        assert_eq!(ids(h.statuses(t + Duration::from_millis(1_700))), [3]);
    }

    #[test]
    fn zero_keeps_nothing() {
        let t = Instant::now();
        let mut none = history(0, 60_000);
        none.record(job(1), t);
        assert!(none.statuses(t).is_empty());
        let mut instant = history(10, 0);
        instant.record(job(1), t);
        assert!(instant.statuses(t).is_empty());
    }
}
