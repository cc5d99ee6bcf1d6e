//! The openai engine's API key reaches the provider but never a log line,
//! an error or Status. In a test binary of its own: the logs are captured
//! with a subscriber scoped to this test's thread, and tracing caches each
//! log site's interest process-wide, so a test running beside it in the same
//! process could make it miss a site (and the absence checks would pass
//! without looking).

mod common;

use std::time::Duration;

use common::fake_openai::{FakeOpenAi, FakeSettings};
use common::*;
use symbatcher::config::EngineSpec;
use symbatcher::engine::openai::{ApiKey, OpenAiSettings};

const ENGINE: &str = "fake";

/// The test gets this long before it fails instead of hanging.
async fn limited<T>(fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), fut)
        .await
        .expect("test finished in time")
}

#[test]
fn the_api_key_reaches_the_provider_but_never_logs_errors_or_status() {
    const KEY: &str = "sk-test-VERY-SECRET-4242";
    let logs = LogBuffer::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(logs.clone())
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .finish();
    let status_text = tracing::subscriber::with_default(subscriber, || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(limited(async {
            let fake = FakeOpenAi::start(FakeSettings::default()).await;
            let settings = OpenAiSettings {
                api_key: Some(ApiKey::new(KEY)),
                rpm: Some(6000),
                ..OpenAiSettings::new(&fake.base_url(), "m")
            };
            let mut config = config();
            config.engines.push(EngineSpec::openai(ENGINE, settings));
            let server = spawn_server(config).await;
            let calls = vec![
                ("hello".to_string(), String::new()),
                ("bad key [401-key]".to_string(), String::new()),
            ];
            let (replies, _) = run_engine_job(&server, ENGINE, &calls, 2).await;

            let auth: Vec<_> = fake
                .arrivals()
                .iter()
                .map(|a| a.authorization.clone())
                .collect();
            assert!(auth
                .iter()
                .all(|a| a.as_deref() == Some(&*format!("Bearer {KEY}"))));
            let err = reply_error(&replies[&1]);
            assert!(
                err.message.contains("Incorrect API key provided"),
                "{}",
                err.message
            );
            assert!(!err.message.contains(KEY), "{}", err.message);
            let status = server.status().await;
            let engine = status
                .engines
                .iter()
                .find(|e| e.name == ENGINE)
                .expect("listed");
            assert_eq!((engine.rpm, engine.model.as_str()), (6000, "m"));
            format!("{status:?}")
        }))
    });
    assert!(!status_text.contains(KEY), "{status_text}");
    let logs = logs.text();
    assert!(
        logs.contains("engine configured"),
        "logs were captured: {logs}"
    );
    assert!(!logs.contains(KEY), "{logs}");
    assert!(!logs.contains("VERY-SECRET"), "{logs}");
}

/// A log writer that keeps everything written to it.
#[derive(Clone, Default)]
struct LogBuffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl LogBuffer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("logs")).to_string()
    }
}

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("logs").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogBuffer {
    type Writer = LogBuffer;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}
