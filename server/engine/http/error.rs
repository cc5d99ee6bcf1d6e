//! Why one call to a provider's HTTP API (OpenAI-compatible, Anthropic)
//! failed. Each failure fails only its own call; its text reaches the
//! item's exception.

use std::time::Duration;

use crate::pb::v1::{ErrorKind, ItemError};

/// A failed call. Messages never contain the API key (provider messages are
/// scrubbed of it before they get here).
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    /// The call's kwargs hold a parameter the engine does not pass on, and
    /// the engine is strict.
    #[error(
        "engine {engine:?} does not pass on the request kwarg {kwarg:?} (it is strict); \
         passed on are: {known}; or put provider-specific parameters in `extra_body`"
    )]
    UnknownKwarg {
        engine: String,
        kwarg: String,
        known: String,
    },
    /// The request's estimated tokens exceed the engine's whole tokens-per-
    /// minute budget, so it could never be sent within the limit.
    #[error(
        "engine {engine:?}: the request is estimated at {tokens} tokens, more than the \
         engine's whole tpm budget of {tpm}; lower max_tokens or shorten the prompt, or \
         raise tpm"
    )]
    ExceedsTpm {
        engine: String,
        tokens: u64,
        tpm: u64,
    },
    /// The call itself is malformed (e.g. `messages_json` is not a list).
    #[error("{field}: {reason}")]
    InvalidCall { field: &'static str, reason: String },
    /// The provider answered with an error status; `message` is its own.
    /// `host` is the engine's target as it names it in messages: the host,
    /// with the method and path where the engine adds them.
    #[error("HTTP {status} from {host}: {message}")]
    Status {
        status: u16,
        host: String,
        message: String,
    },
    /// No response within the per-request timeout.
    #[error("no response from {host} within the timeout of {}s", timeout.as_secs_f64())]
    Timeout { host: String, timeout: Duration },
    /// The request could not be sent or its response not read.
    #[error("cannot reach {host}: {message}")]
    Connection { host: String, message: String },
    /// The engine's endpoint failed every request for a while (unreachable,
    /// or 401/403/404), so the call was not sent (see `circuit`).
    #[error(
        "engine {engine:?} is unavailable: {failures} requests in a row to {request} failed, \
         the last with: {cause}; check that a server listens at that URL, that base_url is \
         right (with its path, e.g. .../v1) and the API key (api_key_env); calls fail at \
         once until a probe, one every {}s, gets through",
        probe_every.as_secs()
    )]
    Unavailable {
        engine: String,
        request: String,
        failures: u32,
        cause: String,
        probe_every: Duration,
    },
    /// A 2xx response that is not a chat completion.
    #[error("unexpected response from {host}: {message}")]
    BadResponse { host: String, message: String },
    /// The server is shutting down.
    #[error("server is shutting down")]
    ShuttingDown,
    /// The call's item no longer runs (its job ended or was cancelled, or its
    /// worker left), so it was not sent (or not sent again).
    #[error("call given up: its item no longer runs")]
    Cancelled,
    /// A fault of the engine itself.
    #[error("internal error: {0}")]
    Internal(String),
}

impl CallError {
    /// A stable label for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            CallError::UnknownKwarg { .. } => "unknown_kwarg",
            CallError::InvalidCall { .. } => "invalid_call",
            CallError::ExceedsTpm { .. } => "exceeds_tpm",
            CallError::Status { status: 429, .. } => "rate_limited",
            CallError::Status { status, .. } if *status >= 500 => "server_error",
            CallError::Status { .. } => "client_error",
            CallError::Timeout { .. } => "timeout",
            CallError::Connection { .. } => "connection",
            CallError::Unavailable { .. } => "unavailable",
            CallError::BadResponse { .. } => "bad_response",
            CallError::ShuttingDown => "shutting_down",
            CallError::Cancelled => "cancelled",
            CallError::Internal(_) => "internal",
        }
    }

    /// True when sending the request again may succeed: 408, 409, 429, 5xx
    /// (Anthropic's 529 included), timeouts and connection errors (as the
    /// OpenAI and Anthropic SDKs retry).
    pub fn is_retryable(&self) -> bool {
        match self {
            CallError::Status { status, .. } => matches!(status, 408 | 409 | 429) || *status >= 500,
            CallError::Timeout { .. } | CallError::Connection { .. } => true,
            _ => false,
        }
    }

    /// The exception type name the item sees, after the OpenAI and Anthropic
    /// SDKs' names (they agree but for Anthropic's 529).
    fn type_name(&self) -> &'static str {
        match self {
            CallError::UnknownKwarg { .. }
            | CallError::InvalidCall { .. }
            | CallError::ExceedsTpm { .. } => "InvalidRequestError",
            CallError::Status { status, .. } => match status {
                400 => "BadRequestError",
                401 => "AuthenticationError",
                403 => "PermissionDeniedError",
                404 => "NotFoundError",
                409 => "ConflictError",
                422 => "UnprocessableEntityError",
                429 => "RateLimitError",
                529 => "OverloadedError",
                s if *s >= 500 => "InternalServerError",
                _ => "APIStatusError",
            },
            CallError::Timeout { .. } => "APITimeoutError",
            CallError::Connection { .. } => "APIConnectionError",
            CallError::Unavailable { .. } => "EngineUnavailableError",
            CallError::BadResponse { .. } => "APIResponseValidationError",
            CallError::ShuttingDown | CallError::Cancelled | CallError::Internal(_) => {
                "EngineError"
            }
        }
    }

    /// The error as the item receives it, after `attempts` requests.
    pub fn to_item_error(&self, attempts: u32) -> ItemError {
        let message = if attempts > 1 {
            format!("{self} (gave up after {attempts} attempts)")
        } else {
            self.to_string()
        };
        ItemError {
            kind: ErrorKind::Engine as i32,
            r#type: self.type_name().to_string(),
            message,
            traceback: String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u16) -> CallError {
        CallError::Status {
            status,
            host: "h".into(),
            message: "m".into(),
        }
    }

    #[test]
    fn retryable_statuses_follow_the_sdks() {
        for s in [408, 409, 429, 500, 502, 503, 529] {
            assert!(status(s).is_retryable(), "{s}");
        }
        for s in [400, 401, 403, 404, 422] {
            assert!(!status(s).is_retryable(), "{s}");
        }
    }

    #[test]
    fn the_item_error_carries_the_provider_message_and_attempts() {
        let err = status(400).to_item_error(1);
        assert_eq!(err.r#type, "BadRequestError");
        assert_eq!(err.message, "HTTP 400 from h: m");
        let err = status(429).to_item_error(3);
        assert!(err.message.ends_with("(gave up after 3 attempts)"));
    }
}
