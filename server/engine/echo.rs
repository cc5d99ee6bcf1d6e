//! The built-in `echo` engine: deterministic, no network, optional latency.

use std::time::Duration;

use crate::pb::v1::{engine_reply, EngineCall, EngineReply};

/// Answers every call with `"echo: "` followed by the call's prompt, after a
/// simulated latency per batch.
#[derive(Debug, Clone)]
pub struct EchoEngine {
    latency: Duration,
}

impl EchoEngine {
    pub fn new(latency: Duration) -> Self {
        EchoEngine { latency }
    }

    pub async fn run(&self, calls: Vec<EngineCall>) -> Vec<EngineReply> {
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        calls
            .into_iter()
            .map(|call| EngineReply {
                call_id: call.call_id,
                outcome: Some(engine_reply::Outcome::Text(format!(
                    "echo: {}",
                    call.prompt
                ))),
                metadata_json: String::new(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn replies_echo_prompt_after_latency() {
        let engine = EchoEngine::new(Duration::from_millis(50));
        let start = tokio::time::Instant::now();
        let calls = vec![EngineCall {
            call_id: 7,
            prompt: "hi".into(),
            ..Default::default()
        }];
        let replies = engine.run(calls).await;
        assert_eq!(start.elapsed(), Duration::from_millis(50));
        assert_eq!(replies[0].call_id, 7);
        assert_eq!(
            replies[0].outcome,
            Some(engine_reply::Outcome::Text("echo: hi".into()))
        );
    }
}
