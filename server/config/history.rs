//! How many ended jobs the server remembers for `Status`, and for how long.

use std::time::Duration;

use clap::Args;

/// Default of `--keep-finished-jobs`.
pub const DEFAULT_KEEP_FINISHED_JOBS: u32 = 100;
/// Largest `--keep-finished-jobs`.
pub const MAX_KEEP_FINISHED_JOBS: u32 = 100_000;
/// Default of `--keep-finished-jobs-ms`: one hour.
pub const DEFAULT_KEEP_FINISHED_JOBS_MS: u64 = 3_600_000;
/// Longest `--keep-finished-jobs-ms`: one week.
pub const MAX_KEEP_FINISHED_JOBS_MS: u64 = 7 * 24 * 3_600_000;

/// The ended jobs `Status` shows (`StatusResponse.finished_jobs`).
#[derive(Debug, Clone, Args)]
pub struct JobHistoryFlags {
    /// Most ended jobs (finished, failed or cancelled) Status keeps showing,
    /// with their final counts, state, engine, cost and end time; the
    /// oldest goes first. 0: none, a job leaves Status when it ends.
    #[arg(long, env = "SYMBATCHER_KEEP_FINISHED_JOBS", default_value_t = DEFAULT_KEEP_FINISHED_JOBS,
          value_parser = clap::value_parser!(u32).range(0..=MAX_KEEP_FINISHED_JOBS as i64))]
    pub keep_finished_jobs: u32,

    /// How long, in ms after it ended, Status keeps showing an ended job.
    #[arg(long, env = "SYMBATCHER_KEEP_FINISHED_JOBS_MS", default_value_t = DEFAULT_KEEP_FINISHED_JOBS_MS,
          value_parser = clap::value_parser!(u64).range(0..=MAX_KEEP_FINISHED_JOBS_MS))]
    pub keep_finished_jobs_ms: u64,
}

impl JobHistoryFlags {
    /// Most ended jobs kept.
    pub fn max_jobs(&self) -> usize {
        self.keep_finished_jobs as usize
    }

    /// How long an ended job is kept.
    pub fn max_age(&self) -> Duration {
        Duration::from_millis(self.keep_finished_jobs_ms)
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::config::ServerConfig;

    #[test]
    fn defaults_keep_a_hundred_jobs_for_an_hour() {
        let config = ServerConfig::parse_from(["symbatcher-server"]);
        assert_eq!(config.history.max_jobs(), 100);
        assert_eq!(config.history.max_age().as_secs(), 3600);
    }

    #[test]
    fn flags_parse_and_name_themselves_when_out_of_range() {
        let config = ServerConfig::parse_from([
            "symbatcher-server",
            "--keep-finished-jobs",
            "0",
            "--keep-finished-jobs-ms",
            "1500",
        ]);
        assert_eq!(config.history.max_jobs(), 0);
        assert_eq!(config.history.max_age().as_millis(), 1500);
        for (flag, bad) in [
            ("--keep-finished-jobs", "100001"),
            ("--keep-finished-jobs-ms", "604800001"),
            ("--keep-finished-jobs", "many"),
        ] {
            let err = ServerConfig::try_parse_from(["symbatcher-server", flag, bad])
                .expect_err("out of range");
            assert!(err.to_string().contains(flag), "{err}");
        }
    }
}
