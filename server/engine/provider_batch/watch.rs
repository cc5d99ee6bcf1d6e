//! One watcher per provider batch: a task that polls the batch with backoff
//! until it ends (a terminal state of its provider), keeps its state in
//! the store and in the engine's view for `Status`, cancels it on the
//! provider once every run waiting on it is cancelled or a run hedges it
//! (its deadline is near: `hedge`), and finally downloads its result files
//! (a cancelled batch's hold what it completed). A batch that completes
//! without being cancelled adds its turnaround to the engine's. Every run whose calls are in the
//! batch (across jobs, and after a restart) waits on the same watcher.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::{watch, Notify};
use tokio_util::sync::CancellationToken;

use super::provider::BatchProvider;
use super::requests::{parse_results, Outcome};
use super::store::BatchRecord;
use super::Inner;

/// How a batch ended: one outcome per custom id found in its result files.
#[derive(Debug)]
pub(crate) struct Finished {
    pub outcomes: HashMap<String, Outcome>,
    /// Why requests without an outcome have none (for their error message).
    pub note: String,
}

/// The runs waiting on a batch, by the token each cancels when every one of
/// its calls is given up.
#[derive(Debug, Default)]
pub(crate) struct Interest {
    runs: Mutex<Vec<CancellationToken>>,
    /// Set when a run hedges the batch: it is then cancelled on the
    /// provider, whoever else waits on it.
    hedged: AtomicBool,
    pub changed: Notify,
}

impl Interest {
    pub fn add(&self, run: CancellationToken) {
        self.runs.lock().expect("interest lock").push(run);
    }

    /// Asks for the batch to be cancelled now: a run's deadline is near,
    /// and its calls go online unless the batch ends first.
    pub fn hedge(&self) {
        self.hedged.store(true, Ordering::SeqCst);
        self.changed.notify_one();
    }

    fn is_hedged(&self) -> bool {
        self.hedged.load(Ordering::SeqCst)
    }

    /// True when runs wait on the batch and every one of them is cancelled.
    fn all_cancelled(&self) -> bool {
        let runs = self.runs.lock().expect("interest lock");
        !runs.is_empty() && runs.iter().all(CancellationToken::is_cancelled)
    }
}

/// A batch's watcher as runs see it.
#[derive(Debug, Clone)]
pub(crate) struct Watcher {
    pub result: watch::Receiver<Option<Arc<Finished>>>,
    pub interest: Arc<Interest>,
}

/// Starts watching `record`'s batch.
pub(crate) fn spawn<P: BatchProvider>(
    inner: &Arc<Inner<P>>,
    record: BatchRecord<P::Refs>,
) -> Watcher {
    let (tx, rx) = watch::channel(None);
    let interest = Arc::new(Interest::default());
    let watcher = Watcher {
        result: rx,
        interest: interest.clone(),
    };
    inner
        .tracker
        .spawn(watch_task(inner.clone(), record, tx, interest));
    watcher
}

async fn watch_task<P: BatchProvider>(
    inner: Arc<Inner<P>>,
    mut record: BatchRecord<P::Refs>,
    tx: watch::Sender<Option<Arc<Finished>>>,
    interest: Arc<Interest>,
) {
    let settings = &inner.settings;
    let mut interval = settings.poll_interval;
    let mut cancel_sent = false;
    let finished = loop {
        match inner.provider.poll(&inner.http, &record).await {
            Ok(polled) => {
                let changed = polled.state != record.state
                    || polled.completed != record.completed
                    || polled.failed != record.failed
                    || polled.refs != record.refs;
                record.state = polled.state;
                record.refs = polled.refs;
                (record.completed, record.failed) = (polled.completed, polled.failed);
                if polled.total > 0 {
                    record.total = polled.total;
                }
                if changed {
                    tracing::debug!(engine = %inner.name, batch = %record.batch_id,
                        state = %record.state, "batch state");
                    inner.remember(&record);
                }
                if P::TERMINAL.contains(&record.state.as_str()) {
                    let completed = !cancel_sent && !P::DEAD.contains(&record.state.as_str());
                    if let (true, Some(created_ms)) = (completed, record.created_ms) {
                        inner.record_turnaround(turnaround_since(created_ms));
                    }
                    break download(&inner, &record).await;
                }
            }
            Err(err) => {
                tracing::warn!(engine = %inner.name, batch = %record.batch_id, %err,
                    "cannot read the batch's state");
                if !err.is_retryable() {
                    break Finished {
                        outcomes: HashMap::new(),
                        note: format!("cannot read batch {}: {err}", record.batch_id),
                    };
                }
            }
        }
        let hedged = interest.is_hedged();
        if !cancel_sent && (hedged || interest.all_cancelled()) {
            cancel_sent = true;
            let why = if hedged {
                "its hedge point is reached: its calls not answered go online"
            } else {
                "every call in it was given up"
            };
            match inner.provider.cancel(&inner.http, &record.batch_id).await {
                Ok(_) => tracing::info!(engine = %inner.name, batch = %record.batch_id,
                    "batch cancelled: {why}"),
                Err(err) => tracing::warn!(engine = %inner.name, batch = %record.batch_id,
                    %err, "cannot cancel the batch"),
            }
            continue;
        }
        tokio::select! {
            _ = inner.cancel.cancelled() => {
                inner.forget_watcher(&record.batch_id);
                return; // shutdown: the batch stays recorded for the next server
            }
            _ = tokio::time::sleep(interval) => {}
            _ = interest.changed.notified() => {}
        }
        interval = next_interval(interval, settings.poll_max_interval);
    };
    inner.forget_watcher(&record.batch_id);
    let _ = tx.send(Some(Arc::new(finished)));
}

/// Seconds from `created_ms` (ms since the Unix epoch) to now.
fn turnaround_since(created_ms: u64) -> f64 {
    let now_ms = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    now_ms.saturating_sub(created_ms) as f64 / 1000.0
}

/// The poll interval after `interval`: 1.5 times longer, up to `max`.
fn next_interval(interval: Duration, max: Duration) -> Duration {
    interval.mul_f64(1.5).min(max)
}

/// Downloads a finished batch's result files.
async fn download<P: BatchProvider>(inner: &Inner<P>, record: &BatchRecord<P::Refs>) -> Finished {
    let files = match inner.provider.download(&inner.http, record).await {
        Ok(files) => files,
        Err(err) => {
            tracing::warn!(engine = %inner.name, batch = %record.batch_id, %err,
                "cannot download the batch's results");
            return Finished {
                outcomes: HashMap::new(),
                note: format!(
                    "cannot download the results of batch {}: {err}",
                    record.batch_id
                ),
            };
        }
    };
    let slices: Vec<&[u8]> = files.iter().map(Vec::as_slice).collect();
    let (outcomes, duplicates) = parse_results(&slices, &inner.http.host, |line| {
        inner.provider.outcome(&inner.http, line)
    });
    if duplicates.count > 0 {
        tracing::warn!(engine = %inner.name, batch = %record.batch_id,
            duplicates = duplicates.count, examples = ?duplicates.examples,
            "batch result files hold more than one line for some custom_ids; the first line \
             of each is used, the others are ignored");
    }
    Finished {
        note: format!(
            "batch {} ended {} without a result for the request",
            record.batch_id, record.state
        ),
        outcomes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polls_back_off_up_to_the_maximum() {
        let max = Duration::from_millis(300);
        let mut interval = Duration::from_millis(100);
        let mut seen = Vec::new();
        for _ in 0..4 {
            interval = next_interval(interval, max);
            seen.push(interval.as_millis());
        }
        assert_eq!(seen, [150, 225, 300, 300]);
    }

    #[test]
    fn a_batch_is_cancelled_only_when_every_waiting_run_is() {
        let interest = Interest::default();
        assert!(!interest.all_cancelled());
        let (a, b) = (CancellationToken::new(), CancellationToken::new());
        interest.add(a.clone());
        interest.add(b.clone());
        a.cancel();
        assert!(!interest.all_cancelled());
        b.cancel();
        assert!(interest.all_cancelled());
    }
}
