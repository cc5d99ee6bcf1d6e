//! Group commit: the cache's writes share their commits.
//!
//! Every write commits durably before its replies are delivered, and a redb
//! commit waits for the disk (fsync). An engine that answers call by call
//! (spread latencies, hundreds of calls a second) would otherwise pay one
//! commit per reply, in CPU and in the reply's wait. Here the writes that
//! come while a commit is under way wait for it to end and then go together,
//! in one transaction: under load, one commit serves every write that came
//! during the last one; a write alone commits at once, as before. Each
//! writer still returns only once its own entries are committed (or the
//! write failed, which `CallCache` logs).

use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use super::{CachedReply, CallKey};

/// Entries to write, in the order they came.
pub(super) type Entries = Vec<(CallKey, CachedReply)>;

/// The writes waiting for the next commit, and whether a drain runs.
#[derive(Debug, Default)]
pub(super) struct Pending {
    writes: Vec<(Entries, oneshot::Sender<()>)>,
    draining: bool,
}

/// Commits one group of entries; the cache's own write (on the blocking
/// pool, errors logged there).
pub(super) trait Committer: Send + Sync + 'static {
    fn commit(self: Arc<Self>, entries: Entries) -> impl std::future::Future<Output = ()> + Send;
    fn pending(&self) -> &Mutex<Pending>;
}

/// Queues `entries` for the next commit and waits until it is done. The
/// first write that finds no drain running starts one.
pub(super) async fn write<C: Committer>(committer: &Arc<C>, entries: Entries) {
    let (done_tx, done_rx) = oneshot::channel();
    let start = {
        let Ok(mut pending) = committer.pending().lock() else {
            return;
        };
        pending.writes.push((entries, done_tx));
        !std::mem::replace(&mut pending.draining, true)
    };
    if start {
        tokio::spawn(drain(committer.clone()));
    }
    // Err only when the drain task was dropped (runtime shutdown).
    let _ = done_rx.await;
}

/// Commits what is pending, group after group, until nothing is left.
async fn drain<C: Committer>(committer: Arc<C>) {
    loop {
        let group = {
            let Ok(mut pending) = committer.pending().lock() else {
                return;
            };
            if pending.writes.is_empty() {
                pending.draining = false;
                return;
            }
            std::mem::take(&mut pending.writes)
        };
        let writers = group.len();
        let mut entries = Vec::new();
        let mut done = Vec::with_capacity(writers);
        for (some, done_tx) in group {
            entries.extend(some);
            done.push(done_tx);
        }
        tracing::trace!(writers, entries = entries.len(), "call cache commit");
        committer.clone().commit(entries).await;
        for done_tx in done {
            let _ = done_tx.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use tokio::task::JoinSet;

    use super::*;

    /// Records each commit's entries; each commit takes 10 ms.
    #[derive(Default)]
    struct Recorder {
        pending: Mutex<Pending>,
        commits: Mutex<Vec<Vec<u8>>>,
        committing: AtomicUsize,
    }

    impl Committer for Recorder {
        async fn commit(self: Arc<Self>, entries: Entries) {
            assert_eq!(
                self.committing.fetch_add(1, Ordering::SeqCst),
                0,
                "one commit at a time"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
            self.commits
                .lock()
                .unwrap()
                .push(entries.iter().map(|(key, _)| key[0]).collect());
            self.committing.fetch_sub(1, Ordering::SeqCst);
        }

        fn pending(&self) -> &Mutex<Pending> {
            &self.pending
        }
    }

    fn entry(id: u8) -> Entries {
        vec![(
            [id; 32],
            CachedReply::new("r".into(), "{}".into(), "m".into(), 1, 1, false),
        )]
    }

    /// Whether the entry `id` is in a commit that ended.
    fn committed(recorder: &Recorder, id: u8) -> bool {
        recorder
            .commits
            .lock()
            .unwrap()
            .iter()
            .any(|c| c.contains(&id))
    }

    #[tokio::test(start_paused = true)]
    async fn writes_that_come_during_a_commit_share_the_next_one() {
        let recorder = Arc::new(Recorder::default());
        let mut writers = JoinSet::new();
        let first = recorder.clone();
        writers.spawn(async move {
            write(&first, entry(0)).await;
            assert!(committed(&first, 0), "returned before its commit ended");
        });
        tokio::time::sleep(Duration::from_millis(2)).await; // the first commit is under way
        for id in 1..=20 {
            let recorder = recorder.clone();
            writers.spawn(async move {
                write(&recorder, entry(id)).await;
                assert!(committed(&recorder, id), "returned before its commit ended");
            });
        }
        while let Some(joined) = writers.join_next().await {
            joined.expect("a writer failed");
        }
        let commits = recorder.commits.lock().unwrap().clone();
        assert_eq!(commits, vec![vec![0], (1..=20).collect::<Vec<u8>>()]);
        assert!(
            !recorder.pending.lock().unwrap().draining,
            "the drain ends when nothing is left"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_write_alone_commits_at_once_every_time() {
        let recorder = Arc::new(Recorder::default());
        for id in 0..3 {
            let started = tokio::time::Instant::now();
            write(&recorder, entry(id)).await;
            assert_eq!(
                started.elapsed(),
                Duration::from_millis(10),
                "only its own commit"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(recorder.commits.lock().unwrap().len(), 3);
    }
}
