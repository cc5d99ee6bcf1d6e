//! Settings of an `openai-batch` engine and the provider's limits.

use std::time::Duration;

use crate::engine::openai::ApiKey;

/// The provider's limit of requests in one batch file.
pub const MAX_REQUESTS_PER_FILE: usize = 50_000;
/// The provider's limit of one batch file's size: 200 MB.
pub const MAX_FILE_BYTES: usize = 200_000_000;
/// Times a request that expired or failed for a passing reason goes into a
/// next batch (when there is no fallback engine) before its call fails.
pub const MAX_RESUBMITS: u32 = 2;

/// Settings of one openai-batch engine (see docs/engines.md).
#[derive(Debug, Clone)]
pub struct OpenAiBatchSettings {
    /// Base URL before `/files` and `/batches`, without a trailing slash.
    pub base_url: String,
    /// Model asked for when a call's kwargs name none.
    pub model: String,
    /// Sent as `Authorization: Bearer ...`; None sends no such header.
    pub api_key: Option<ApiKey>,
    /// The batch's completion window ("24h").
    pub completion_window: String,
    /// First wait between two polls of a batch's state.
    pub poll_interval: Duration,
    /// Longest wait between two polls (each wait is 1.5 times the last).
    pub poll_max_interval: Duration,
    /// Requests in one batch file at most (the scheduler's batch size).
    pub max_requests_per_batch: usize,
    /// Bytes in one batch file at most.
    pub max_file_bytes: usize,
    /// How long engine calls wait for more calls before they leave as a
    /// batch, unless every running item is parked on a call before that.
    pub max_queue_delay: Duration,
    /// Batches in flight at once.
    pub max_concurrency: usize,
    /// An online engine (kind `openai`) that gets requests that expired or
    /// failed for a passing reason; None: they go into the next batch.
    pub fallback: Option<String>,
    /// Retries of one files or batches request (429, 5xx, timeouts).
    pub max_retries: u32,
    /// Time limit of one files or batches request (uploads and downloads
    /// included).
    pub timeout: Duration,
    /// Fail calls with kwargs that are not passed on, instead of dropping them.
    pub strict: bool,
}

impl OpenAiBatchSettings {
    /// Settings with the defaults of the config file for `base_url` and `model`.
    pub fn new(base_url: &str, model: &str) -> Self {
        OpenAiBatchSettings {
            base_url: base_url.trim_end_matches('/').to_string(),
            model: model.to_string(),
            api_key: None,
            completion_window: "24h".to_string(),
            poll_interval: Duration::from_secs(10),
            poll_max_interval: Duration::from_secs(300),
            max_requests_per_batch: MAX_REQUESTS_PER_FILE,
            max_file_bytes: MAX_FILE_BYTES,
            max_queue_delay: Duration::from_secs(600),
            max_concurrency: 64,
            fallback: None,
            max_retries: 5,
            timeout: Duration::from_secs(600),
            strict: false,
        }
    }
}
