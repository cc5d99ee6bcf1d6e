//! Late copies. A hedged batch that has not ended `cancel_wait` after its
//! cancel is given up: its calls not answered go online. The provider may
//! still complete some of its requests before the cancel takes, and bills
//! those. Once the fallback has answered, the run waits for such batches to
//! end (at most [`LATE_COPIES_WAIT`]) and reports every request the
//! provider completed whose calls were answered online: billed twice. Their
//! answers are not used (each call is answered once, by its first copy).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::requests::Outcome;
use super::watch::{Finished, Watcher};
use super::KeyCalls;
use crate::engine::CallStats;
use crate::pb::v1::EngineCall;

/// How long a run waits, after its calls are answered, for the batches it
/// gave up on to end. OpenAI documents that a cancelled batch may take up to
/// 10 minutes to end; a batch that takes longer is not waited for, and its
/// copies go uncounted (a warning says so).
pub(super) const LATE_COPIES_WAIT: Duration = Duration::from_secs(15 * 60);

/// A batch given up on after its hedge, and the requests (keys) the run
/// had in it.
#[derive(Debug)]
pub(super) struct Hedged {
    result: watch::Receiver<Option<Arc<Finished>>>,
    keys: Vec<String>,
}

/// The batches a run waits on, to follow after it gives up on them.
pub(super) fn watched(waits: &[(Watcher, Vec<String>)]) -> Vec<Hedged> {
    waits
        .iter()
        .map(|(watcher, keys)| Hedged {
            result: watcher.result.clone(),
            keys: keys.clone(),
        })
        .collect()
}

/// A request completed by a batch after its calls were answered online:
/// its key and usage (prompt, completion tokens).
pub(super) type Copy = (String, u64, u64);

/// Waits for the `hedged` batches to end and returns their completed
/// requests among `online` (the keys whose calls went online).
pub(super) async fn wait_for_copies(
    engine: &str,
    hedged: Vec<Hedged>,
    online: &HashSet<&String>,
) -> Vec<Copy> {
    let until = Instant::now() + LATE_COPIES_WAIT;
    let mut copies = Vec::new();
    for Hedged { mut result, keys } in hedged {
        let finished = match tokio::time::timeout_at(until, result.wait_for(Option::is_some)).await
        {
            Ok(Ok(value)) => value.clone(),
            // The watcher stopped (shutdown): nothing more is known.
            Ok(Err(_)) => None,
            Err(_) => {
                tracing::warn!(engine, requests = keys.len(), wait = ?LATE_COPIES_WAIT,
                    "a hedged batch given up on has not ended: requests it may still complete \
                     (and bill) are not counted in the cost");
                None
            }
        };
        let Some(finished) = finished else {
            continue;
        };
        copies.extend(completed_copies(&finished, &keys, online));
    }
    if !copies.is_empty() {
        tracing::warn!(
            engine,
            requests = copies.len(),
            "a hedged batch completed requests whose calls had gone online: they are billed \
             twice, and counted in the cost"
        );
    }
    copies
}

/// The requests of `keys` that `finished` answered and that went online.
fn completed_copies(finished: &Finished, keys: &[String], online: &HashSet<&String>) -> Vec<Copy> {
    keys.iter()
        .filter(|key| online.contains(key))
        .filter_map(|key| match finished.outcomes.get(key) {
            Some(Outcome::Answered(completion)) => Some((
                key.clone(),
                completion.prompt_tokens,
                completion.completion_tokens,
            )),
            _ => None,
        })
        .collect()
}

/// The copies by the call id of the first call of each request, as
/// [`crate::engine::BatchAnswer::late_copies`] holds them.
pub(super) fn by_call(
    copies: Vec<Copy>,
    by_key: &KeyCalls,
    calls: &[EngineCall],
) -> HashMap<u64, CallStats> {
    copies
        .into_iter()
        .filter_map(|(key, prompt_tokens, completion_tokens)| {
            let first = *by_key.get(&key)?.first()?;
            let stats = CallStats {
                prompt_tokens,
                completion_tokens,
                batch_priced: true,
                ..Default::default()
            };
            Some((calls[first].call_id, stats))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::http::request::Completion;

    fn answered(prompt_tokens: u64) -> Outcome {
        Outcome::Answered(Completion {
            text: "late".into(),
            prompt_tokens,
            completion_tokens: 5,
            metadata: Default::default(),
            embeddings: None,
        })
    }

    #[test]
    fn only_requests_completed_after_their_calls_went_online_are_copies() {
        let finished = Finished {
            outcomes: HashMap::from([
                ("a".to_string(), answered(10)),
                ("b".to_string(), answered(20)),
                ("c".to_string(), Outcome::Retry("cancelled".into())),
            ]),
            note: String::new(),
        };
        let keys: Vec<String> = ["a", "b", "c", "d"].map(String::from).to_vec();
        let (a, c, d) = ("a".to_string(), "c".to_string(), "d".to_string());
        // b was answered by the batch before it was given up: not online.
        let online = HashSet::from([&a, &c, &d]);
        assert_eq!(
            completed_copies(&finished, &keys, &online),
            vec![("a".to_string(), 10, 5)]
        );
    }

    #[test]
    fn a_request_shared_by_calls_is_one_copy_named_by_its_first_call() {
        let calls: Vec<EngineCall> = [11, 12, 13]
            .map(|call_id| EngineCall {
                call_id,
                ..Default::default()
            })
            .to_vec();
        let by_key: KeyCalls =
            HashMap::from([("a".to_string(), vec![1, 2]), ("b".into(), vec![0])]);
        let copies = by_call(vec![("a".into(), 10, 5)], &by_key, &calls);
        assert_eq!(copies.len(), 1);
        let stats = copies[&12];
        assert_eq!((stats.prompt_tokens, stats.completion_tokens), (10, 5));
        assert!(stats.batch_priced);
    }
}
