//! An item at the scheduler between its runs: waiting for a worker
//! ([`PendingItem`]), or parked until the calls of its last run are
//! answered ([`ParkedItem`], see `replay`), with the replies its parked runs
//! were given ([`ReplayLog`]).

use rustc_hash::FxHashSet;
use tokio_util::sync::CancellationToken;

use crate::cache::{call_key, CallKey};
use crate::engine::Engine;
use crate::pb::v1::{EngineCall, EngineReply};

/// An item waiting for (or re-queued for) a worker.
#[derive(Debug, Clone)]
pub(super) struct PendingItem {
    pub index: u64,
    pub payload: Vec<u8>,
    pub local_only: bool,
    /// Runs of it that were in progress alone on a worker that disconnected
    /// (see `suspects`); it fails with WorkerLostError at its job's
    /// `max_attempts`.
    pub charged: u32,
    /// A run of it was in progress on a worker that disconnected: it runs
    /// alone on a worker until it ends (see `suspects`).
    pub suspect: bool,
    /// Replies to the calls of its earlier runs that parked (replay): its
    /// next run's identical calls are answered from here.
    pub replies: ReplayLog,
    /// Runs of it that parked (see `replay::MAX_PARKS_PER_ITEM`).
    pub parks: u32,
    /// The deadline of a run of it that a stalled worker held: its next runs
    /// end by then too (see `timeouts`).
    pub deadline: Option<tokio::time::Instant>,
}

/// An item whose run parked, until the calls it waits for are answered.
#[derive(Debug)]
pub(super) struct ParkedItem {
    pub item: PendingItem,
    /// Its calls not yet answered (server call ids).
    pub waiting: FxHashSet<u64>,
    /// Its run's token: cancelled when the item's job ends, so that its calls
    /// still at an engine that answers per call are given up.
    pub cancel: CancellationToken,
}

/// The replies an item's parked runs were given, by request. A handful per
/// item (one per engine call of its `forward()`), so a list.
#[derive(Debug, Clone, Default)]
pub(super) struct ReplayLog {
    replies: Vec<(CallKey, EngineReply)>,
}

impl ReplayLog {
    /// The reply to an earlier identical call, if there was one.
    pub fn get(&self, key: &CallKey) -> Option<&EngineReply> {
        self.replies.iter().find(|(k, _)| k == key).map(|(_, r)| r)
    }

    pub fn put(&mut self, key: CallKey, reply: EngineReply) {
        match self.replies.iter_mut().find(|(k, _)| *k == key) {
            Some(entry) => entry.1 = reply,
            None => self.replies.push((key, reply)),
        }
    }
}

/// What identifies a call's request for replay: its call-cache key where the
/// engine has one (two calls share it exactly when the provider would see
/// the same request), else its prompt, messages and kwargs as sent.
pub(super) fn replay_key(engine: &Engine, name: &str, call: &EngineCall) -> CallKey {
    match engine.cache_request(name, call) {
        Some(request) => call_key(&request.kind, &request.model, request.canonical.as_bytes()),
        None => call_key(
            &call.prompt,
            &call.messages_json,
            call.kwargs_json.as_bytes(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::EchoEngine;
    use crate::pb::v1::engine_reply;

    fn call(prompt: &str, kwargs: &str) -> EngineCall {
        EngineCall {
            call_id: 7,
            prompt: prompt.into(),
            messages_json: String::new(),
            kwargs_json: kwargs.into(),
            ..Default::default()
        }
    }

    #[test]
    fn the_same_request_has_the_same_key_whatever_its_call_id_or_kwargs_order() {
        let engine = Engine::Echo(EchoEngine::new(std::time::Duration::ZERO));
        let a = replay_key(&engine, "echo", &call("p", r#"{"a": 1, "b": 2}"#));
        let mut other = call("p", r#"{"b": 2, "a": 1}"#);
        other.call_id = 8;
        other.local_ref = "ref-1".into();
        assert_eq!(a, replay_key(&engine, "echo", &other));
        assert_ne!(
            a,
            replay_key(&engine, "echo", &call("q", r#"{"a": 1, "b": 2}"#))
        );
    }

    #[test]
    fn the_log_answers_a_request_it_holds_and_keeps_the_latest_reply() {
        let reply = |text: &str| EngineReply {
            call_id: 1,
            outcome: Some(engine_reply::Outcome::Text(text.into())),
            metadata_json: String::new(),
        };
        let mut log = ReplayLog::default();
        log.put([1; 32], reply("one"));
        log.put([2; 32], reply("two"));
        log.put([1; 32], reply("again"));
        assert_eq!(log.get(&[1; 32]), Some(&reply("again")));
        assert_eq!(log.get(&[2; 32]), Some(&reply("two")));
        assert_eq!(log.get(&[3; 32]), None);
    }
}
