//! Latency histograms with fixed relative precision, for the engine latency
//! percentiles of job summaries and `Status`.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::engine::CallStats;
use crate::pb::v1::LatencyPercentiles;

/// Growth factor between bucket bounds: a reported percentile is at most 5%
/// above the true value (and never above the largest sample).
const BUCKET_GROWTH: f64 = 1.05;

/// Sums of what engines measured over a set of calls (one job's, or one
/// engine's).
#[derive(Debug, Clone, Default)]
pub struct CallTotals {
    pub retries: u64,
    pub rate_limited: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub failed: u64,
    pub latency: LatencyHistogram,
}

impl CallTotals {
    /// Adds what the engine measured about one call.
    pub fn record(&mut self, stats: &CallStats, failed: bool) {
        self.retries += stats.retries as u64;
        self.rate_limited += stats.rate_limited as u64;
        self.prompt_tokens += stats.prompt_tokens;
        self.completion_tokens += stats.completion_tokens;
        self.latency.record(stats.latency);
        if failed {
            self.failed += 1;
        }
    }
}

/// Counts latencies in logarithmic buckets. Memory grows with the number of
/// distinct buckets used (at most a few hundred for 1 µs .. 1 h), never with
/// the number of samples.
#[derive(Debug, Clone, Default)]
pub struct LatencyHistogram {
    buckets: BTreeMap<u16, u64>,
    count: u64,
    max: Duration,
}

fn bucket_of(latency: Duration) -> u16 {
    let micros = latency.as_secs_f64() * 1e6;
    if micros <= 1.0 {
        return 0;
    }
    (micros.ln() / BUCKET_GROWTH.ln())
        .ceil()
        .min(u16::MAX as f64) as u16
}

/// The upper bound of a bucket, in ms.
fn bucket_upper_ms(bucket: u16) -> f64 {
    BUCKET_GROWTH.powi(bucket as i32) / 1000.0
}

impl LatencyHistogram {
    pub fn record(&mut self, latency: Duration) {
        *self.buckets.entry(bucket_of(latency)).or_default() += 1;
        self.count += 1;
        self.max = self.max.max(latency);
    }

    /// The `q`-quantile (0..=1) in ms; 0 without samples.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let max_ms = self.max.as_secs_f64() * 1000.0;
        let mut seen = 0;
        for (bucket, n) in &self.buckets {
            seen += n;
            if seen >= rank {
                return bucket_upper_ms(*bucket).min(max_ms);
            }
        }
        max_ms
    }

    /// p50, p90, p99 and max, as the protocol reports them.
    pub fn percentiles(&self) -> LatencyPercentiles {
        LatencyPercentiles {
            count: self.count,
            p50_ms: self.quantile_ms(0.50),
            p90_ms: self.quantile_ms(0.90),
            p99_ms: self.quantile_ms(0.99),
            max_ms: self.max.as_secs_f64() * 1000.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_histogram_reports_zero() {
        let h = LatencyHistogram::default();
        assert_eq!(h.percentiles().p99_ms, 0.0);
    }

    #[test]
    fn percentiles_are_within_five_percent() {
        let mut h = LatencyHistogram::default();
        for ms in 1..=1000u64 {
            h.record(Duration::from_millis(ms));
        }
        let p = h.percentiles();
        assert_eq!(p.count, 1000);
        for (got, want) in [(p.p50_ms, 500.0), (p.p90_ms, 900.0), (p.p99_ms, 990.0)] {
            assert!(got >= want && got <= want * 1.05, "{got} vs {want}");
        }
        assert_eq!(p.max_ms, 1000.0);
    }

    #[test]
    fn a_single_sample_is_exact() {
        let mut h = LatencyHistogram::default();
        h.record(Duration::from_millis(42));
        assert_eq!(h.quantile_ms(0.5), 42.0);
    }
}
