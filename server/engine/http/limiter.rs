//! The rate limiter of one HTTP engine (openai, anthropic): an actor that
//! every call of every engine batch asks for a permit before each request.
//! One limiter per engine holds the limits for all jobs, workers and
//! machines that use the engine.
//!
//! A request is admitted when all of these hold, in arrival order, except
//! that a request sent again after a failure (a retry) goes ahead of every
//! request not yet sent: otherwise a retried call joins the back of the queue
//! and, with a provider that refuses a fixed share of requests, can keep
//! landing on a refused turn until it runs out of retries.
//! - **concurrency**: fewer requests run than the current limit (AIMD). With
//!   a `max_concurrency`, the limit starts there and never exceeds it;
//!   without one there is no limit until the provider pushes back. A 429
//!   cuts the limit to half of what was in flight (at most once a second, and
//!   only for requests sent after the previous cut, so one burst of 429s
//!   counts once); it then grows back by one per limit's worth of successes,
//!   up to `max_concurrency` if there is one, else without end;
//! - **rpm**: a token bucket refilled at `rpm / 60` requests per second,
//!   and never more than `rpm` requests sent within any [`MINUTE`] (the
//!   bucket's burst would otherwise let a minute that starts with it hold
//!   a few more);
//! - **tpm**: a token bucket refilled at `tpm / 60` tokens per second,
//!   charged the request's estimated tokens and corrected to its reported
//!   usage afterwards;
//! - **pause**: the provider has not said that its budget is exhausted (a
//!   response whose rate-limit headers say 0 remaining, `x-ratelimit-*` or
//!   `anthropic-ratelimit-*`, pauses admission until the matching reset).
//!
//! Both buckets are kept as a GCRA "theoretical arrival time" and may run
//! ahead of real time by at most [`BURST`], so a burst holds at most 100 ms
//! of the rate (at least one request): over any window of a few seconds the
//! rate stays within a few percent of the limit. A refused (429) request
//! keeps its charge: providers count refused requests against the limit. Any
//! other failure (5xx, timeout, connection error) gives its token charge
//! back: the provider generated nothing for it.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How far ahead of real time a bucket may run (its burst).
const BURST: Duration = Duration::from_millis(100);
/// Share of the requests in flight that the concurrency limit keeps after a 429.
const DECREASE: f64 = 0.5;
/// Least time between two cuts of the concurrency limit.
const MIN_DECREASE_INTERVAL: Duration = Duration::from_secs(1);
/// Commands handled per loop turn before admitting.
const MAX_COMMANDS_PER_TURN: usize = 256;
/// The window that holds at most `rpm` requests: a minute, and 100 ms more
/// so that network jitter cannot make the provider see one too many within
/// its own minute.
pub const MINUTE: Duration = Duration::from_millis(60_100);

/// What a limiter enforces.
#[derive(Debug, Clone, Copy)]
pub struct LimiterSettings {
    pub rpm: Option<u32>,
    pub tpm: Option<u64>,
    /// Requests at once at most; None: no fixed cap (only 429s set one).
    pub max_concurrency: Option<usize>,
}

/// Live state, for `Status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LimiterSnapshot {
    /// The AIMD limit now; None: no limit (no cap set and no 429 yet).
    pub concurrency_limit: Option<u32>,
    pub in_flight: u32,
    pub waiting: u32,
    /// When a request asked for now would be admitted by the time-based
    /// limits (rpm, its minute, tpm, a provider's pause), if that is later
    /// than when the snapshot was taken; None: at once (the concurrency
    /// limit aside).
    pub ready_at: Option<Instant>,
}

/// How a permitted request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// Answered; `tokens` is its reported usage (prompt + completion), if any.
    Succeeded { tokens: Option<u64> },
    /// Refused with 429.
    RateLimited,
    /// Any other failure (5xx, timeout, connection, 4xx).
    Failed,
}

/// Where a request joins the limiter's queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// A call's first request: behind every request already waiting.
    First,
    /// A call's request sent again after a failure: ahead of every first
    /// request (behind earlier retries).
    Retry,
}

#[derive(Debug)]
enum LimiterCommand {
    Acquire {
        tokens: u64,
        turn: Turn,
        reply: oneshot::Sender<Instant>,
    },
    Release {
        sent: Instant,
        tokens: u64,
        finish: Finish,
        pause_until: Option<Instant>,
    },
}

/// Handle to a limiter task. Cheap to clone.
#[derive(Debug, Clone)]
pub struct LimiterHandle {
    /// Unbounded, but holds at most one Acquire per call waiting for a
    /// request slot (bounded by the engine's batches in flight times their
    /// size) and one Release per running request.
    tx: mpsc::UnboundedSender<LimiterCommand>,
    snapshot: watch::Receiver<LimiterSnapshot>,
}

/// Permission to send one request. Report how it ended with
/// [`Permit::finish`]; dropping it unreported counts as a failure.
#[derive(Debug)]
pub struct Permit {
    tx: mpsc::UnboundedSender<LimiterCommand>,
    sent: Instant,
    tokens: u64,
    finished: bool,
}

impl LimiterHandle {
    /// Starts a limiter task that stops with `cancel`.
    pub fn spawn(
        settings: LimiterSettings,
        cancel: CancellationToken,
        tracker: &TaskTracker,
    ) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut limiter = Limiter::new(settings, Instant::now());
        let (snapshot_tx, snapshot) = watch::channel(limiter.snapshot(Instant::now()));
        tracker.spawn(limiter_task(limiter, rx, snapshot_tx, cancel));
        LimiterHandle { tx, snapshot }
    }

    /// Waits until a request estimated at `tokens` may be sent. None when
    /// the limiter has stopped (shutdown).
    pub async fn acquire(&self, tokens: u64) -> Option<Permit> {
        self.acquire_turn(tokens, Turn::First).await
    }

    /// As [`LimiterHandle::acquire`], queued by `turn`.
    pub async fn acquire_turn(&self, tokens: u64, turn: Turn) -> Option<Permit> {
        let (reply, granted) = oneshot::channel();
        self.tx
            .send(LimiterCommand::Acquire {
                tokens,
                turn,
                reply,
            })
            .ok()?;
        let sent = granted.await.ok()?;
        Some(Permit {
            tx: self.tx.clone(),
            sent,
            tokens,
            finished: false,
        })
    }

    pub fn snapshot(&self) -> LimiterSnapshot {
        *self.snapshot.borrow()
    }
}

impl Permit {
    /// Reports how the request ended; `pause_until` stops every request of
    /// the engine until then (the provider said its budget is exhausted).
    pub fn finish(mut self, finish: Finish, pause_until: Option<Instant>) {
        self.finished = true;
        let _ = self.tx.send(LimiterCommand::Release {
            sent: self.sent,
            tokens: self.tokens,
            finish,
            pause_until,
        });
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if !self.finished {
            let _ = self.tx.send(LimiterCommand::Release {
                sent: self.sent,
                tokens: self.tokens,
                finish: Finish::Failed,
                pause_until: None,
            });
        }
    }
}

/// A token bucket as a GCRA theoretical arrival time: each admitted unit
/// moves `tat` by `interval`; admission needs `tat - now <= BURST`.
#[derive(Debug)]
struct Bucket {
    /// Seconds per unit.
    interval: f64,
    tat: Instant,
}

impl Bucket {
    fn new(per_minute: u64, now: Instant) -> Self {
        Bucket {
            interval: 60.0 / per_minute.max(1) as f64,
            tat: now,
        }
    }

    /// Earliest instant at which the bucket admits again.
    fn ready_at(&self, now: Instant) -> Instant {
        self.tat.checked_sub(BURST).map_or(now, |t| t.max(now))
    }

    fn charge(&mut self, now: Instant, units: u64) {
        self.tat = self.tat.max(now) + Duration::from_secs_f64(self.interval * units as f64);
    }

    /// Moves the charge by `delta` units (negative gives back).
    fn correct(&mut self, delta: i64) {
        let shift = Duration::from_secs_f64(self.interval * delta.unsigned_abs() as f64);
        if delta >= 0 {
            self.tat += shift;
        } else if let Some(tat) = self.tat.checked_sub(shift) {
            self.tat = tat;
        }
    }
}

struct Waiter {
    tokens: u64,
    reply: oneshot::Sender<Instant>,
}

/// The limiter's state. Only [`limiter_task`] touches it.
struct Limiter {
    /// The user's cap; None: none.
    max_concurrency: Option<f64>,
    /// The AIMD concurrency limit (fractional; its floor applies); None: no
    /// limit (no cap, and no 429 since the start).
    window: Option<f64>,
    in_flight: usize,
    requests: Option<Bucket>,
    /// With an rpm: when the requests of the last [`MINUTE`] were sent, at
    /// most `rpm` of them.
    sent: Option<(usize, VecDeque<Instant>)>,
    tokens: Option<Bucket>,
    paused_until: Option<Instant>,
    last_decrease: Option<Instant>,
    /// Retries, admitted before `queue`.
    retries: VecDeque<Waiter>,
    /// First requests, in arrival order.
    queue: VecDeque<Waiter>,
}

impl Limiter {
    fn new(settings: LimiterSettings, now: Instant) -> Self {
        let max = settings.max_concurrency.map(|max| max.max(1) as f64);
        Limiter {
            max_concurrency: max,
            window: max,
            in_flight: 0,
            requests: settings.rpm.map(|rpm| Bucket::new(rpm as u64, now)),
            sent: settings
                .rpm
                .map(|rpm| (rpm.max(1) as usize, VecDeque::new())),
            tokens: settings.tpm.map(|tpm| Bucket::new(tpm, now)),
            paused_until: None,
            last_decrease: None,
            retries: VecDeque::new(),
            queue: VecDeque::new(),
        }
    }

    /// Requests that may run at once now; None: no limit.
    fn limit(&self) -> Option<usize> {
        self.window.map(|window| window.floor().max(1.0) as usize)
    }

    fn snapshot(&mut self, now: Instant) -> LimiterSnapshot {
        let ready = self.ready_at(now);
        LimiterSnapshot {
            concurrency_limit: self
                .limit()
                .map(|limit| u32::try_from(limit).unwrap_or(u32::MAX)),
            in_flight: self.in_flight as u32,
            waiting: (self.retries.len() + self.queue.len()) as u32,
            ready_at: (ready > now).then_some(ready),
        }
    }

    /// The earliest instant the time-based limits (a pause, rpm and its
    /// minute, tpm) admit the next request; `now` when they admit it at once.
    fn ready_at(&mut self, now: Instant) -> Instant {
        let mut ready = now;
        if let Some(until) = self.paused_until {
            if until > now {
                ready = until;
            } else {
                self.paused_until = None;
            }
        }
        if let Some(bucket) = &self.requests {
            ready = ready.max(bucket.ready_at(now));
        }
        if let Some((rpm, sent)) = &mut self.sent {
            while sent.front().is_some_and(|&at| at + MINUTE <= now) {
                sent.pop_front();
            }
            if sent.len() >= *rpm {
                ready = ready.max(sent[sent.len() - *rpm] + MINUTE);
            }
        }
        if let Some(bucket) = &self.tokens {
            ready = ready.max(bucket.ready_at(now));
        }
        ready
    }

    fn handle(&mut self, command: LimiterCommand, now: Instant) {
        match command {
            LimiterCommand::Acquire {
                tokens,
                turn,
                reply,
            } => {
                let waiter = Waiter { tokens, reply };
                match turn {
                    Turn::First => self.queue.push_back(waiter),
                    Turn::Retry => self.retries.push_back(waiter),
                }
            }
            LimiterCommand::Release {
                sent,
                tokens,
                finish,
                pause_until,
            } => self.release(sent, tokens, finish, pause_until, now),
        }
    }

    fn release(
        &mut self,
        sent: Instant,
        estimate: u64,
        finish: Finish,
        pause_until: Option<Instant>,
        now: Instant,
    ) {
        let was_in_flight = self.in_flight;
        self.in_flight = self.in_flight.saturating_sub(1);
        if let Some(until) = pause_until {
            self.paused_until = Some(self.paused_until.map_or(until, |p| p.max(until)));
        }
        match finish {
            Finish::Succeeded { tokens } => {
                if let (Some(bucket), Some(used)) = (&mut self.tokens, tokens) {
                    bucket.correct(used as i64 - estimate as i64);
                }
                if let Some(window) = self.window {
                    let grown = window + 1.0 / window;
                    self.window = Some(self.max_concurrency.map_or(grown, |max| grown.min(max)));
                }
            }
            Finish::RateLimited => {
                let cut = self.last_decrease.is_none_or(|last| {
                    sent > last && now.duration_since(last) >= MIN_DECREASE_INTERVAL
                });
                if cut {
                    // What was in flight when the provider pushed back, no
                    // more than the limit: the load it refused.
                    let load = was_in_flight.max(1) as f64;
                    let load = self.window.map_or(load, |window| window.min(load));
                    self.window = Some((load * DECREASE).max(1.0));
                    self.last_decrease = Some(now);
                    tracing::debug!(limit = ?self.limit(), "429: concurrency limit cut");
                }
            }
            Finish::Failed => {
                if let Some(bucket) = &mut self.tokens {
                    bucket.correct(-(estimate as i64));
                }
            }
        }
    }

    /// Admits waiting requests in order while every limit allows; returns
    /// when to try again if a bucket or a pause holds the next one back
    /// (None: a release or a new request will wake the task).
    fn admit(&mut self, now: Instant) -> Option<Instant> {
        loop {
            let queue = if self.retries.is_empty() {
                &mut self.queue
            } else {
                &mut self.retries
            };
            let head = queue.front()?;
            if head.reply.is_closed() {
                queue.pop_front();
                continue;
            }
            if self.limit().is_some_and(|limit| self.in_flight >= limit) {
                return None;
            }
            let ready = self.ready_at(now);
            if ready > now {
                return Some(ready);
            }
            let queue = if self.retries.is_empty() {
                &mut self.queue
            } else {
                &mut self.retries
            };
            let waiter = queue.pop_front()?;
            if waiter.reply.send(now).is_ok() {
                self.in_flight += 1;
                if let Some(bucket) = &mut self.requests {
                    bucket.charge(now, 1);
                }
                if let Some((_, sent)) = &mut self.sent {
                    sent.push_back(now);
                }
                if let Some(bucket) = &mut self.tokens {
                    bucket.charge(now, waiter.tokens);
                }
            }
        }
    }
}

async fn limiter_task(
    mut limiter: Limiter,
    mut rx: mpsc::UnboundedReceiver<LimiterCommand>,
    snapshot_tx: watch::Sender<LimiterSnapshot>,
    cancel: CancellationToken,
) {
    loop {
        let now = Instant::now();
        let wake = limiter.admit(now);
        let snapshot = limiter.snapshot(now);
        snapshot_tx.send_if_modified(|current| {
            let changed = *current != snapshot;
            *current = snapshot;
            changed
        });
        let sleep = tokio::time::sleep_until(wake.unwrap_or_else(Instant::now));
        tokio::select! {
            _ = cancel.cancelled() => break,
            command = rx.recv() => {
                let Some(command) = command else { break };
                let now = Instant::now();
                limiter.handle(command, now);
                for _ in 1..MAX_COMMANDS_PER_TURN {
                    match rx.try_recv() {
                        Ok(command) => limiter.handle(command, now),
                        Err(_) => break,
                    }
                }
            }
            _ = sleep, if wake.is_some() => {}
        }
    }
    // Waiting requests see the limiter gone (their reply senders drop).
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spawn(rpm: Option<u32>, tpm: Option<u64>, max_concurrency: Option<usize>) -> LimiterHandle {
        let settings = LimiterSettings {
            rpm,
            tpm,
            max_concurrency,
        };
        LimiterHandle::spawn(settings, CancellationToken::new(), &TaskTracker::new())
    }

    /// Admits `n` requests one after another (each finished at once) and
    /// returns the admission times relative to the start.
    async fn admit_sequentially(limiter: &LimiterHandle, n: usize, tokens: u64) -> Vec<Duration> {
        let start = Instant::now();
        let mut times = Vec::new();
        for _ in 0..n {
            let permit = limiter.acquire(tokens).await.expect("limiter runs");
            times.push(start.elapsed());
            permit.finish(Finish::Succeeded { tokens: None }, None);
        }
        times
    }

    #[tokio::test(start_paused = true)]
    async fn the_snapshot_says_when_the_rpm_limit_admits_the_next_request() {
        let unlimited = spawn(None, None, None);
        admit_sequentially(&unlimited, 3, 1).await;
        assert_eq!(limiter_snapshot(&unlimited).await.ready_at, None);

        let limiter = spawn(Some(60), None, None); // one a second
        let start = Instant::now();
        // The first at once, the second 0.9 s later (the burst is 100 ms);
        // the third waits until 1.9 s.
        admit_sequentially(&limiter, 2, 1).await;
        let ready = limiter_snapshot(&limiter)
            .await
            .ready_at
            .expect("the next request waits for the bucket");
        assert_eq!(ready.duration_since(start), Duration::from_millis(1900));
        tokio::time::sleep_until(ready).await;
        let permit = limiter.acquire(1).await.expect("admitted once ready");
        assert_eq!(start.elapsed(), Duration::from_millis(1900));
        drop(permit);
    }

    #[tokio::test(start_paused = true)]
    async fn rpm_spaces_requests_after_a_small_burst() {
        let limiter = spawn(Some(600), None, Some(16)); // one per 100 ms
        let times = admit_sequentially(&limiter, 21, 1).await;
        // Burst: 100 ms worth (one request) plus the first.
        assert_eq!(times[1], Duration::ZERO);
        let last = times[20];
        assert!(
            last >= Duration::from_millis(1900) && last <= Duration::from_millis(2000),
            "{last:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn no_minute_holds_more_than_rpm_requests_burst_included() {
        let limiter = spawn(Some(120), None, Some(64)); // one per 500 ms
        let times = admit_sequentially(&limiter, 300, 1).await;
        for (i, start) in times.iter().enumerate() {
            let within = times[i..].iter().filter(|t| **t < *start + MINUTE).count();
            assert!(
                within <= 120,
                "{within} requests in the minute from {start:?}"
            );
        }
        // The bucket still spaces them: 300 take about 150 s.
        assert!(times[299] >= Duration::from_secs(149), "{:?}", times[299]);
    }

    #[tokio::test(start_paused = true)]
    async fn tpm_is_corrected_by_reported_usage() {
        let limiter = spawn(None, Some(6000), Some(16)); // 100 tokens per second
        let start = Instant::now();
        let permit = limiter.acquire(500).await.expect("admitted");
        // The request used only 100 of its estimated 500 tokens.
        permit.finish(Finish::Succeeded { tokens: Some(100) }, None);
        let _second = limiter.acquire(100).await.expect("admitted");
        // 100 tokens charged: ready after 1 s minus the 100 ms burst.
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_millis(850) && waited <= Duration::from_millis(950),
            "{waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn concurrency_shrinks_after_429s_and_recovers() {
        let limiter = spawn(None, None, Some(8));
        let permits: Vec<Permit> = futures_all(&limiter, 8).await;
        assert_eq!(limiter_snapshot(&limiter).await.in_flight, 8);
        // A burst of 429s for requests sent together cuts the limit once.
        for permit in permits {
            permit.finish(Finish::RateLimited, None);
        }
        assert_eq!(limiter_snapshot(&limiter).await.concurrency_limit, Some(4));
        tokio::time::sleep(Duration::from_secs(2)).await;
        // Recovery: one step per limit's worth of successes, up to the cap.
        admit_sequentially(&limiter, 60, 1).await;
        assert_eq!(limiter_snapshot(&limiter).await.concurrency_limit, Some(8));
        admit_sequentially(&limiter, 60, 1).await;
        assert_eq!(limiter_snapshot(&limiter).await.concurrency_limit, Some(8));
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_cap_every_request_runs_until_a_429_cuts_what_was_in_flight() {
        let limiter = spawn(None, None, None);
        let mut permits: Vec<Permit> = futures_all(&limiter, 300).await;
        let snapshot = limiter_snapshot(&limiter).await;
        assert_eq!(
            (snapshot.in_flight, snapshot.concurrency_limit),
            (300, None)
        );
        // The provider refuses one of the 300: the limit becomes half of them.
        let refused = permits.pop().expect("300 permits");
        refused.finish(Finish::RateLimited, None);
        assert_eq!(
            limiter_snapshot(&limiter).await.concurrency_limit,
            Some(150)
        );
        // 299 still run, above the new limit: the next request waits.
        let waiting = tokio::spawn({
            let limiter = limiter.clone();
            async move { limiter.acquire(1).await.expect("admitted") }
        });
        assert_eq!(limiter_snapshot(&limiter).await.waiting, 1);
        // It goes once fewer than 150 run.
        for permit in permits.drain(..150) {
            permit.finish(Finish::Succeeded { tokens: None }, None);
        }
        let next = waiting.await.expect("admitted once below the limit");
        next.finish(Finish::Succeeded { tokens: None }, None);
        drop(permits);
        // And grows back without a ceiling: one step per limit's worth.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let before = limiter_snapshot(&limiter).await.concurrency_limit;
        admit_sequentially(&limiter, 2 * 151, 1).await;
        let after = limiter_snapshot(&limiter).await.concurrency_limit;
        assert!(
            after > before && after >= Some(151),
            "{before:?} -> {after:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_exhausted_budget_pauses_every_request() {
        let limiter = spawn(None, None, Some(8));
        let start = Instant::now();
        let permit = limiter.acquire(1).await.expect("admitted");
        permit.finish(
            Finish::Succeeded { tokens: None },
            Some(Instant::now() + Duration::from_secs(3)),
        );
        let _next = limiter.acquire(1).await.expect("admitted");
        assert_eq!(start.elapsed(), Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn a_dropped_permit_frees_its_slot() {
        let limiter = spawn(None, None, Some(1));
        let permit = limiter.acquire(1).await.expect("admitted");
        drop(permit);
        let again = tokio::time::timeout(Duration::from_secs(1), limiter.acquire(1)).await;
        assert!(again.expect("not stuck").is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn a_retry_goes_ahead_of_requests_not_yet_sent() {
        let limiter = spawn(None, None, Some(1));
        let running = limiter.acquire(1).await.expect("admitted");
        // Two first requests wait, then a retry arrives behind them.
        let (order_tx, mut order_rx) = mpsc::unbounded_channel();
        for (name, turn) in [
            ("first-a", Turn::First),
            ("first-b", Turn::First),
            ("retry", Turn::Retry),
        ] {
            let limiter = limiter.clone();
            let order_tx = order_tx.clone();
            tokio::spawn(async move {
                let permit = limiter.acquire_turn(1, turn).await.expect("admitted");
                order_tx.send(name).expect("test runs");
                permit.finish(Finish::Succeeded { tokens: None }, None);
            });
            // Each reaches the limiter before the next is spawned.
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(limiter_snapshot(&limiter).await.waiting, 3);
        running.finish(Finish::Succeeded { tokens: None }, None);
        let mut order = Vec::new();
        for _ in 0..3 {
            order.push(order_rx.recv().await.expect("admitted"));
        }
        assert_eq!(order, ["retry", "first-a", "first-b"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_request_gives_its_tokens_back_and_a_refused_one_does_not() {
        let limiter = spawn(None, Some(6000), Some(16)); // 100 tokens per second
        let start = Instant::now();
        let permit = limiter.acquire(500).await.expect("admitted");
        permit.finish(Finish::Failed, None);
        // The 500 tokens came back: the next request goes at once.
        let permit = limiter.acquire(500).await.expect("admitted");
        assert_eq!(start.elapsed(), Duration::ZERO);
        permit.finish(Finish::RateLimited, None);
        // A 429 keeps its charge: 500 tokens take 5 s, less the burst.
        let _third = limiter.acquire(1).await.expect("admitted");
        assert_eq!(start.elapsed(), Duration::from_millis(4900));
    }

    async fn futures_all(limiter: &LimiterHandle, n: usize) -> Vec<Permit> {
        let mut permits = Vec::new();
        for _ in 0..n {
            permits.push(limiter.acquire(1).await.expect("admitted"));
        }
        permits
    }

    /// The snapshot once the limiter has handled everything sent so far.
    async fn limiter_snapshot(limiter: &LimiterHandle) -> LimiterSnapshot {
        tokio::time::sleep(Duration::from_millis(1)).await;
        limiter.snapshot()
    }
}
