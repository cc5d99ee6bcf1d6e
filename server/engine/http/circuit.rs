//! Fail fast on a dead or wrong endpoint: after a few requests in a row that
//! could not reach it (refused, unresolvable) or that it refused for every
//! caller (401, 403, 404), the circuit opens and calls fail at once with an
//! `EngineUnavailableError` naming the URL and what to check, instead of each
//! retrying for seconds. Every [`COOL_DOWN`] one call goes through as a probe
//! (half-open) while the calls that arrive meanwhile wait for its outcome: a
//! success closes the circuit and they are sent, a failure fails them.

use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::error::CallError;

/// Endpoint failures in a row (no other outcome between them) that open
/// the circuit.
pub const OPEN_AFTER: u32 = 5;
/// How long an open circuit fails calls at once before one probe goes out.
pub const COOL_DOWN: Duration = Duration::from_secs(2);

/// The circuit of one engine's endpoint.
#[derive(Debug)]
pub struct Circuit {
    /// What calls report: `engine` and the method and URL they send to.
    engine: String,
    request: String,
    state: Mutex<State>,
    /// Wakes the calls waiting on a probe when it ends.
    probe_ended: Notify,
    /// A probe out longer than this (its call was given up before it could
    /// report) no longer holds the others: another call probes.
    probe_timeout: Duration,
}

#[derive(Debug, Default)]
struct State {
    /// Endpoint failures since the last other outcome.
    in_a_row: u32,
    /// The last endpoint failure, as calls failed at once report it.
    cause: String,
    /// Set while open: when the next probe may go out.
    open_until: Option<Instant>,
    /// When the probe that is out was sent: other calls wait for it.
    probing: Option<Instant>,
}

/// What a call may do now.
#[derive(Debug)]
pub enum Gate {
    /// Send (the circuit is closed, or this call is the probe).
    Send,
    /// Fail at once with this error.
    Fail(CallError),
}

impl Circuit {
    /// The circuit of `engine`, whose calls are `request` (e.g.
    /// `POST http://host/v1/chat/completions`) and time out after
    /// `request_timeout`.
    pub fn new(engine: &str, request: String, request_timeout: Duration) -> Self {
        Circuit {
            engine: engine.to_string(),
            request,
            state: Mutex::new(State::default()),
            probe_ended: Notify::new(),
            probe_timeout: request_timeout + Duration::from_secs(1),
        }
    }

    /// Before each attempt of a call: send, or fail at once; while a probe is
    /// out, wait for its outcome first.
    pub async fn gate(&self) -> Gate {
        loop {
            let ended = self.probe_ended.notified();
            tokio::pin!(ended);
            // Registered before the state is read, so no end is missed.
            ended.as_mut().enable();
            {
                let mut state = self.lock();
                let Some(until) = state.open_until else {
                    return Gate::Send;
                };
                let now = Instant::now();
                let probe_lost = state
                    .probing
                    .is_some_and(|sent| now >= sent + self.probe_timeout);
                if (state.probing.is_none() || probe_lost) && now >= until {
                    state.probing = Some(now);
                    return Gate::Send;
                }
                if state.probing.is_none() {
                    return Gate::Fail(self.unavailable(&state));
                }
            }
            let _ = tokio::time::timeout(self.probe_timeout, ended).await;
        }
    }

    /// The error every call would fail with at once now: Some while the
    /// circuit is open, no probe is out and its cool-down runs. The
    /// scheduler then fails its jobs' items that have not started, rather
    /// than run them only for their calls to fail (see
    /// `scheduler::actor::unavailable`).
    pub fn refusing(&self) -> Option<CallError> {
        let state = self.lock();
        let open = state
            .open_until
            .is_some_and(|until| Instant::now() < until && state.probing.is_none());
        open.then(|| self.unavailable(&state))
    }

    fn unavailable(&self, state: &State) -> CallError {
        CallError::Unavailable {
            engine: self.engine.clone(),
            request: self.request.clone(),
            failures: state.in_a_row,
            cause: state.cause.clone(),
            probe_every: COOL_DOWN,
        }
    }

    /// After each attempt: `Ok` when it was answered, else its error.
    pub fn record(&self, outcome: Result<(), &CallError>) {
        let mut state = self.lock();
        let probe_ended = state.probing.take().is_some();
        match outcome {
            Err(error) if is_endpoint_failure(error) => {
                state.in_a_row = state.in_a_row.saturating_add(1);
                state.cause = error.to_string();
                if probe_ended || (state.open_until.is_none() && state.in_a_row >= OPEN_AFTER) {
                    if !probe_ended {
                        tracing::warn!(engine = %self.engine, request = %self.request,
                            failures = state.in_a_row, cause = %state.cause,
                            "engine unavailable: calls fail at once until a probe succeeds");
                    }
                    state.open_until = Some(Instant::now() + COOL_DOWN);
                }
            }
            // Answered, or refused in a way that shows the endpoint is
            // there (a 400, a 429, a 5xx, a timeout): closed again.
            _ => {
                if state.open_until.is_some() {
                    tracing::info!(engine = %self.engine, "engine available again");
                }
                *state = State::default();
            }
        }
        drop(state);
        if probe_ended {
            self.probe_ended.notify_waiters();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding it cannot leave the state inconsistent.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Failures that every request to the endpoint would meet: it cannot be
/// reached, or it refuses the key or the path (401, 403, 404).
fn is_endpoint_failure(error: &CallError) -> bool {
    matches!(
        error,
        CallError::Connection { .. }
            | CallError::Status {
                status: 401 | 403 | 404,
                ..
            }
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn refused() -> CallError {
        CallError::Connection {
            host: "127.0.0.1:9 (POST /v1/chat/completions)".into(),
            message: "connection refused".into(),
        }
    }

    fn circuit() -> Circuit {
        Circuit::new(
            "gpt",
            "POST http://127.0.0.1:9/v1/chat/completions".into(),
            Duration::from_secs(60),
        )
    }

    async fn sends(circuit: &Circuit) -> bool {
        matches!(circuit.gate().await, Gate::Send)
    }

    #[tokio::test(start_paused = true)]
    async fn it_opens_after_failures_in_a_row_and_probes_after_the_cool_down() {
        let circuit = circuit();
        for _ in 0..OPEN_AFTER - 1 {
            circuit.record(Err(&refused()));
            assert!(sends(&circuit).await);
            assert!(circuit.refusing().is_none());
        }
        circuit.record(Err(&refused()));
        let Gate::Fail(err) = circuit.gate().await else {
            panic!("open after {OPEN_AFTER} failures in a row")
        };
        let text = err.to_string();
        assert!(
            text.contains("POST http://127.0.0.1:9/v1/chat/completions")
                && text.contains("connection refused")
                && text.contains("check that a server listens"),
            "{text}"
        );
        assert!(
            circuit.refusing().is_some(),
            "open: items fail before running"
        );
        tokio::time::advance(COOL_DOWN).await;
        assert!(circuit.refusing().is_none(), "a probe is due: items run");
        assert!(sends(&circuit).await, "one probe after the cool-down");
        assert!(
            circuit.refusing().is_none(),
            "while it is out, items run and wait"
        );
        circuit.record(Err(&refused()));
        assert!(
            matches!(circuit.gate().await, Gate::Fail(_)),
            "a failed probe reopens"
        );
        tokio::time::advance(COOL_DOWN).await;
        assert!(sends(&circuit).await);
        circuit.record(Ok(()));
        assert!(sends(&circuit).await, "a good probe closes");
    }

    #[tokio::test(start_paused = true)]
    async fn calls_beside_a_probe_wait_for_its_outcome() {
        let circuit = Arc::new(circuit());
        for _ in 0..OPEN_AFTER {
            circuit.record(Err(&refused()));
        }
        tokio::time::advance(COOL_DOWN).await;
        assert!(sends(&circuit).await, "the probe");
        let waiting = {
            let circuit = Arc::clone(&circuit);
            tokio::spawn(async move { sends(&circuit).await })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!waiting.is_finished(), "a call beside the probe waits");
        circuit.record(Ok(()));
        assert!(
            waiting.await.expect("joins"),
            "and is sent once it succeeds"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_probe_given_up_before_it_reports_frees_the_others_after_its_timeout() {
        let circuit = circuit();
        for _ in 0..OPEN_AFTER {
            circuit.record(Err(&refused()));
        }
        tokio::time::advance(COOL_DOWN).await;
        assert!(sends(&circuit).await, "a probe that never reports");
        let started = Instant::now();
        assert!(
            sends(&circuit).await,
            "the next call probes after the timeout"
        );
        assert!(started.elapsed() >= Duration::from_secs(61));
    }

    #[tokio::test]
    async fn other_outcomes_break_the_run_and_only_endpoint_failures_count() {
        let circuit = circuit();
        let bad_request = CallError::Status {
            status: 400,
            host: "h".into(),
            message: "m".into(),
        };
        let not_found = CallError::Status {
            status: 404,
            host: "h".into(),
            message: "model not found".into(),
        };
        for _ in 0..OPEN_AFTER - 1 {
            circuit.record(Err(&not_found));
        }
        circuit.record(Err(&bad_request));
        circuit.record(Err(&not_found));
        assert!(sends(&circuit).await, "the 400 broke the run");
        for _ in 0..OPEN_AFTER {
            circuit.record(Err(&not_found));
        }
        assert!(
            matches!(circuit.gate().await, Gate::Fail(_)),
            "404s in a row open it"
        );
    }
}
