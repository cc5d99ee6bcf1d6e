//! Percentiles of per-call round trips, in microseconds.

/// Round trips of engine calls, as a worker measured them.
#[derive(Debug, Default, Clone)]
pub struct Latencies {
    micros: Vec<u32>,
}

impl Latencies {
    pub fn record(&mut self, elapsed: std::time::Duration) {
        self.micros
            .push(u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX));
    }

    pub fn extend(&mut self, other: Latencies) {
        self.micros.extend(other.micros);
    }

    /// The `q` quantile (0..=1) in milliseconds; `None` when nothing was
    /// recorded.
    pub fn quantile_ms(&mut self, q: f64) -> Option<f64> {
        if self.micros.is_empty() {
            return None;
        }
        self.micros.sort_unstable();
        let rank = ((self.micros.len() - 1) as f64 * q).round() as usize;
        Some(f64::from(self.micros[rank]) / 1000.0)
    }
}
