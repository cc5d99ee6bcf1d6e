//! Deadline policy of the provider batch engines: which calls go to a
//! provider batch and which online, and when a batch still running is
//! hedged. Pure: times in, decisions out.
//!
//! - A call goes to the provider batch while the time left before its
//!   deadline can absorb the batch turnaround, and still leave time to send
//!   the call online if the batch is late: it is submitted only when
//!   `now + turnaround <= hedge point`.
//! - The hedge point of a batch is the latest moment at which cancelling it
//!   (waiting at most `cancel_wait` for the provider to end it) and sending
//!   its unanswered calls online still meets the deadline with `margin` to
//!   spare: `deadline - margin - online time - cancel_wait`.
//! - The online time of n requests follows the fallback's limits: at most
//!   `concurrency` at once, each taking `latency`, and at most `rpm` a
//!   minute.
//! - The turnaround is the longest of the engine's recent completed batches
//!   (submit to end), or the configured guess before it has any.

use std::time::{Duration, SystemTime};

/// Completed batches whose turnaround the estimate keeps.
pub const TURNAROUND_SAMPLES: usize = 16;

/// The times the policy plans with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Expected time from a batch's submission to its end.
    pub turnaround: Duration,
    /// Kept in hand before the deadline.
    pub margin: Duration,
    /// Longest wait for a cancelled batch to end (and hand over what it
    /// completed) before its unanswered calls go online regardless.
    pub cancel_wait: Duration,
}

/// How fast the online fallback answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OnlinePace {
    /// Requests at once; 0: no limit.
    pub concurrency: u32,
    /// Requests a minute; 0: no limit.
    pub rpm: u32,
    /// Time one request takes.
    pub latency: Duration,
}

impl OnlinePace {
    /// Time to answer `requests` requests online.
    pub fn time_for(&self, requests: usize) -> Duration {
        if requests == 0 {
            return Duration::ZERO;
        }
        let n = requests as u32;
        let waves = if self.concurrency == 0 {
            1
        } else {
            n.div_ceil(self.concurrency)
        };
        let by_concurrency = self.latency.saturating_mul(waves);
        let by_rate = if self.rpm == 0 {
            Duration::ZERO
        } else {
            // The first request leaves at once; the rest at the rate.
            Duration::from_secs_f64(f64::from(n - 1) * 60.0 / f64::from(self.rpm)) + self.latency
        };
        by_concurrency.max(by_rate)
    }
}

/// Where the calls of an engine batch go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// To a provider batch; hedged at the instant given (None: never, no
    /// deadline).
    Batch { hedge_at: Option<SystemTime> },
    /// Online at once: a batch would end too late.
    Online,
}

/// The hedge point of a batch of `requests` requests due by `deadline`:
/// the latest moment at which cancelling it and sending its requests
/// online still meets the deadline. None when the clock cannot represent
/// it (never, in practice).
pub fn hedge_at(
    deadline: SystemTime,
    requests: usize,
    timing: &Timing,
    pace: &OnlinePace,
) -> Option<SystemTime> {
    deadline
        .checked_sub(timing.margin)?
        .checked_sub(pace.time_for(requests))?
        .checked_sub(timing.cancel_wait)
}

/// Where `requests` calls due by `deadline` (None: no deadline) go at
/// `now`.
pub fn route(
    now: SystemTime,
    deadline: Option<SystemTime>,
    requests: usize,
    timing: &Timing,
    pace: &OnlinePace,
) -> Route {
    let Some(deadline) = deadline else {
        return Route::Batch { hedge_at: None };
    };
    match hedge_at(deadline, requests, timing, pace) {
        Some(hedge) if now + timing.turnaround <= hedge => Route::Batch {
            hedge_at: Some(hedge),
        },
        _ => Route::Online,
    }
}

/// The turnaround to plan with: the longest of `samples` (seconds, the
/// newest last), or `guess` when there are none.
pub fn turnaround(samples: &[f64], guess: Duration) -> Duration {
    samples
        .iter()
        .copied()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .reduce(f64::max)
        .map_or(guess, Duration::from_secs_f64)
}

/// Adds a completed batch's turnaround to `samples`, keeping the newest
/// [`TURNAROUND_SAMPLES`].
pub fn record_turnaround(samples: &mut Vec<f64>, seconds: f64) {
    samples.push(seconds);
    let excess = samples.len().saturating_sub(TURNAROUND_SAMPLES);
    samples.drain(..excess);
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    fn timing(turnaround: u64) -> Timing {
        Timing {
            turnaround: S(turnaround),
            margin: S(60),
            cancel_wait: S(600),
        }
    }

    fn pace() -> OnlinePace {
        OnlinePace {
            concurrency: 10,
            rpm: 0,
            latency: S(30),
        }
    }

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + S(1_000_000 + secs)
    }

    #[test]
    fn online_time_follows_concurrency_and_rate() {
        let p = pace();
        assert_eq!(p.time_for(0), Duration::ZERO);
        assert_eq!(p.time_for(1), S(30));
        assert_eq!(p.time_for(10), S(30));
        assert_eq!(p.time_for(11), S(60), "two waves");
        let limited = OnlinePace {
            rpm: 60,
            concurrency: 0,
            ..p
        };
        let rate = "120 s of rate, then one latency";
        assert_eq!(limited.time_for(121), S(150), "{rate}");
        let both = OnlinePace { rpm: 60, ..p };
        assert_eq!(both.time_for(121), S(390), "13 waves of 10 take longer");
        let unlimited = OnlinePace {
            concurrency: 0,
            ..p
        };
        assert_eq!(unlimited.time_for(1_000_000), S(30));
    }

    #[test]
    fn no_deadline_always_goes_by_batch_unhedged() {
        let r = route(at(0), None, 5, &timing(86_400), &pace());
        assert_eq!(r, Route::Batch { hedge_at: None });
    }

    #[test]
    fn a_batch_goes_while_the_time_left_absorbs_its_turnaround() {
        // Deadline at 4000 s; 10 requests online take 30 s; hedge point
        // 4000 - 60 - 30 - 600 = 3310.
        let deadline = Some(at(4000));
        let hedge = at(3310);
        assert_eq!(
            route(at(0), deadline, 10, &timing(3310), &pace()),
            Route::Batch {
                hedge_at: Some(hedge)
            }
        );
        assert_eq!(
            route(at(1), deadline, 10, &timing(3310), &pace()),
            Route::Online,
            "one second later the batch would end after its hedge point"
        );
        assert_eq!(
            route(at(0), deadline, 11, &timing(3310), &pace()),
            Route::Online,
            "more requests take longer online, so the hedge point is earlier"
        );
    }

    #[test]
    fn a_deadline_too_close_for_any_hedge_goes_online() {
        assert_eq!(
            route(at(0), Some(at(100)), 1, &timing(1), &pace()),
            Route::Online
        );
    }

    #[test]
    fn the_turnaround_is_the_longest_recent_batch_or_the_guess() {
        let guess = S(3600);
        assert_eq!(turnaround(&[], guess), guess);
        let mut samples = Vec::new();
        for s in [100.0, 900.0, 300.0] {
            record_turnaround(&mut samples, s);
        }
        assert_eq!(turnaround(&samples, guess), S(900));
        for _ in 0..TURNAROUND_SAMPLES {
            record_turnaround(&mut samples, 50.0);
        }
        assert_eq!(samples.len(), TURNAROUND_SAMPLES);
        assert_eq!(
            turnaround(&samples, guess),
            S(50),
            "old samples age out: a provider that got faster is planned as faster"
        );
    }
}
