//! Server configuration: command-line flags (and their environment variables),
//! each with a default that works out of the box.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;

/// Upper bound of `JobSpec.batch_size`.
pub const MAX_BATCH_SIZE: u32 = 4096;
/// Upper bound of a worker's `concurrency`.
pub const MAX_WORKER_CONCURRENCY: u32 = 4096;
/// Upper bound of `JobSpec.window`.
pub const MAX_WINDOW: u32 = 1_000_000;

/// `symbatcher-server`: schedules items onto workers and batches their engine calls.
#[derive(Debug, Clone, Parser)]
#[command(name = "symbatcher-server", version, about)]
pub struct ServerConfig {
    /// Address to listen on; port 0 picks a free port, printed on stdout as
    /// `listening on ADDR`.
    #[arg(long, env = "SYMBATCHER_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,

    /// Engine that jobs use when their JobSpec names none.
    #[arg(long, default_value = "echo")]
    pub default_engine: String,

    /// Simulated latency of the built-in `echo` engine, per batch, in ms.
    #[arg(long, default_value_t = 0)]
    pub echo_latency_ms: u64,

    /// Batches the `echo` engine runs at once.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub echo_max_concurrency: u32,

    /// Default longest wait of an engine call for its batch to fill, in ms
    /// (a job's `max_queue_delay_ms` overrides it). It matters only while
    /// some running item is busy with something other than an engine call:
    /// a full batch, or every running item waiting, sends a batch at once.
    #[arg(long, default_value_t = 50)]
    pub max_queue_delay_ms: u64,

    /// Default number of items the server holds per job at once (sent by the
    /// client, not yet answered); bounds server memory per job.
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u32).range(1..=MAX_WINDOW as i64))]
    pub window: u32,

    /// Default number of runs of an item before it fails because its workers
    /// keep disconnecting.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub max_attempts: u32,

    /// Default time a job waits for a worker serving its expression, in ms.
    #[arg(long, default_value_t = 30_000)]
    pub worker_wait_ms: u64,

    /// Grace period for running jobs to finish after SIGINT/SIGTERM, in ms.
    #[arg(long, default_value_t = 10_000)]
    pub shutdown_grace_ms: u64,

    /// Shut down when standard input reaches end of file: a parent process
    /// that holds the other end of a pipe takes the server down with it, even
    /// when it is killed.
    #[arg(long)]
    pub exit_with_stdin: bool,
}

impl ServerConfig {
    /// Configuration with every default, listening on `listen`.
    pub fn with_listen(listen: SocketAddr) -> Self {
        let mut config = ServerConfig::parse_from(["symbatcher-server"]);
        config.listen = listen;
        config
    }

    pub fn max_queue_delay(&self) -> Duration {
        Duration::from_millis(self.max_queue_delay_ms)
    }

    pub fn worker_wait(&self) -> Duration {
        Duration::from_millis(self.worker_wait_ms)
    }

    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_millis(self.shutdown_grace_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_parse_without_flags() {
        let config = ServerConfig::parse_from(["symbatcher-server"]);
        assert_eq!(config.default_engine, "echo");
        assert_eq!(config.echo_max_concurrency, 1);
        assert_eq!(config.max_queue_delay(), Duration::from_millis(50));
    }

    #[test]
    fn zero_echo_concurrency_is_rejected() {
        let err =
            ServerConfig::try_parse_from(["symbatcher-server", "--echo-max-concurrency", "0"])
                .expect_err("0 is out of range");
        assert!(err.to_string().contains("echo-max-concurrency"));
    }
}
