//! Limits of every connection: HTTP/2 keepalive, which bounds how long a
//! frozen peer (a stopped worker, client or engine process, a dead network
//! path) holds its items and slots, and the largest gRPC message.
//!
//! The Python client reads the same environment variables, so one setting
//! configures both ends of every connection.

use std::time::Duration;

use clap::Args;

/// Default of `--max-message-bytes`: 64 MiB.
pub const DEFAULT_MAX_MESSAGE_BYTES: u32 = 64 * 1024 * 1024;
/// Smallest `--max-message-bytes`: room for any control message.
pub const MIN_MAX_MESSAGE_BYTES: u32 = 16 * 1024;
/// Largest `--max-message-bytes`: gRPC's own ceiling (a signed 32-bit length).
pub const MAX_MAX_MESSAGE_BYTES: u32 = i32::MAX as u32;
/// Default of `--metrics-max-connections`.
pub const DEFAULT_METRICS_MAX_CONNECTIONS: u32 = 64;
/// Largest `--metrics-max-connections`.
pub const MAX_METRICS_MAX_CONNECTIONS: u32 = 4096;
/// Default of `--metrics-idle-timeout-ms`.
pub const DEFAULT_METRICS_IDLE_TIMEOUT_MS: u64 = 10_000;
/// Default of `--keepalive-interval-ms`.
pub const DEFAULT_KEEPALIVE_INTERVAL_MS: u64 = 5_000;
/// Default of `--keepalive-timeout-ms`.
pub const DEFAULT_KEEPALIVE_TIMEOUT_MS: u64 = 10_000;

/// Bytes a peer may send on one HTTP/2 stream before the server reads them
/// (the stream's flow-control window): 256 KiB, so a stream moves at most
/// 256 KiB per round trip towards the server (about 5 MB/s at 50 ms).
pub const STREAM_WINDOW_BYTES: u32 = 256 * 1024;
/// Most concurrent streams on one connection.
pub const MAX_STREAMS_PER_CONNECTION: u32 = 256;
/// The connection's flow-control window: every stream's window at once. A
/// job stream whose window is full is not read (docs/protocol.md), and its
/// unread bytes hold connection window until it is; with a connection
/// window no larger than one stream's, as HTTP/2 servers have by default,
/// one such stream stops every other stream of its connection, including
/// the worker whose results would open that job's window. With room for
/// every stream's window, no stream waits on another's unread bytes. It is
/// a credit, not memory: what the server buffers per connection is still
/// bounded by the streams' windows, 64 MiB at most.
pub const CONNECTION_WINDOW_BYTES: u32 = STREAM_WINDOW_BYTES * MAX_STREAMS_PER_CONNECTION;

/// How many connections the metrics endpoint holds, and for how long when
/// idle.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    pub idle_timeout: Duration,
}

/// Keepalive and message size flags.
#[derive(Debug, Clone, Args)]
pub struct LimitFlags {
    /// Send an HTTP/2 PING on a connection after this many ms without
    /// receiving anything on it. With --keepalive-timeout-ms it bounds how
    /// long a frozen peer goes unnoticed: its connection closes at most
    /// interval + timeout after its last frame, and the items a frozen worker
    /// held go back to their jobs.
    #[arg(long, env = "SYMBATCHER_KEEPALIVE_INTERVAL_MS", default_value_t = DEFAULT_KEEPALIVE_INTERVAL_MS,
          value_parser = clap::value_parser!(u64).range(10..=3_600_000))]
    pub keepalive_interval_ms: u64,

    /// Close a connection whose peer has not acknowledged a keepalive PING
    /// within this many ms.
    #[arg(long, env = "SYMBATCHER_KEEPALIVE_TIMEOUT_MS", default_value_t = DEFAULT_KEEPALIVE_TIMEOUT_MS,
          value_parser = clap::value_parser!(u64).range(10..=3_600_000))]
    pub keepalive_timeout_ms: u64,

    /// Largest gRPC message the server receives or sends, in bytes (a chunk
    /// of items, results, engine calls or replies). Clients split chunks
    /// below it; a single item or result that cannot fit fails alone.
    #[arg(long, env = "SYMBATCHER_MAX_MESSAGE_BYTES", default_value_t = DEFAULT_MAX_MESSAGE_BYTES,
          value_parser = clap::value_parser!(u32).range(MIN_MAX_MESSAGE_BYTES as i64..=MAX_MAX_MESSAGE_BYTES as i64))]
    pub max_message_bytes: u32,

    /// Most connections the metrics endpoint (--metrics-listen) holds at
    /// once; one more is accepted and closed at once, so idle sockets there
    /// cannot use up the file descriptors the gRPC listener needs.
    #[arg(long, env = "SYMBATCHER_METRICS_MAX_CONNECTIONS", default_value_t = DEFAULT_METRICS_MAX_CONNECTIONS,
          value_parser = clap::value_parser!(u32).range(1..=MAX_METRICS_MAX_CONNECTIONS as i64))]
    pub metrics_max_connections: u32,

    /// Close a metrics endpoint connection that has moved no byte either way
    /// for this many ms.
    #[arg(long, env = "SYMBATCHER_METRICS_IDLE_TIMEOUT_MS", default_value_t = DEFAULT_METRICS_IDLE_TIMEOUT_MS,
          value_parser = clap::value_parser!(u64).range(10..=3_600_000))]
    pub metrics_idle_timeout_ms: u64,
}

impl LimitFlags {
    pub fn keepalive_interval(&self) -> Duration {
        Duration::from_millis(self.keepalive_interval_ms)
    }

    pub fn keepalive_timeout(&self) -> Duration {
        Duration::from_millis(self.keepalive_timeout_ms)
    }

    pub fn max_message_bytes(&self) -> usize {
        self.max_message_bytes as usize
    }

    /// The metrics endpoint's connection cap and idle timeout.
    pub fn metrics_connections(&self) -> ConnectionLimits {
        ConnectionLimits {
            max_connections: self.metrics_max_connections as usize,
            idle_timeout: Duration::from_millis(self.metrics_idle_timeout_ms),
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::config::ServerConfig;

    use super::*;

    #[test]
    fn defaults_notice_a_frozen_peer_within_fifteen_seconds() {
        let config = ServerConfig::parse_from(["symbatcher-server"]);
        let limits = &config.limits;
        assert_eq!(
            limits.keepalive_interval() + limits.keepalive_timeout(),
            Duration::from_secs(15)
        );
        assert_eq!(limits.max_message_bytes(), 64 * 1024 * 1024);
    }

    #[test]
    fn a_message_limit_below_the_minimum_names_the_flag() {
        let err =
            ServerConfig::try_parse_from(["symbatcher-server", "--max-message-bytes", "1000"])
                .expect_err("below the minimum");
        assert!(err.to_string().contains("--max-message-bytes"), "{err}");
    }

    #[test]
    fn keepalive_flags_parse() {
        let config = ServerConfig::parse_from([
            "symbatcher-server",
            "--keepalive-interval-ms",
            "500",
            "--keepalive-timeout-ms",
            "1000",
        ]);
        assert_eq!(
            config.limits.keepalive_interval(),
            Duration::from_millis(500)
        );
        assert_eq!(config.limits.keepalive_timeout(), Duration::from_secs(1));
    }
}
