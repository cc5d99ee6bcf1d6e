//! The engines config file: jobs pick engines by name, the file's default
//! engine serves jobs that name none, and a bad file stops the server at
//! startup with the file, the field and the reason.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempPath;

use common::*;
use symbatcher::pb::v1::JobSpec;

/// A config file with `text`, removed when the returned path is dropped.
fn write_config(name: &str, text: &str) -> TempPath {
    let file = tempfile::Builder::new()
        .prefix(&format!("symbatcher-test-{name}-"))
        .suffix(".toml")
        .tempfile()
        .expect("create config file");
    std::fs::write(file.path(), text).expect("write config file");
    file.into_temp_path()
}

/// Runs the server binary with `args`; returns its exit code and stderr.
/// Fails the test if it is still running after 10 s.
fn run_server_binary(args: &[&str]) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_symbatcher-server"))
        .args(args)
        .args(["--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("server binary runs");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            let output = child.wait_with_output().expect("output");
            return (
                status.code(),
                String::from_utf8_lossy(&output.stderr).to_string(),
            );
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the server started although its config is invalid");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_bad_config_file_stops_startup_naming_file_field_and_reason() {
    let path = write_config(
        "bad-type",
        "default_engine = \"gpt\"\n[engines.gpt]\nkind = \"openai\"\napi_key_env = \"\"\nrpm = \"fast\"\n",
    );
    let path_text = path.display().to_string();
    let (code, stderr) = run_server_binary(&["--config", &path_text]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "error: {path_text}: engines.gpt.rpm: invalid type"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("line 5"), "{stderr}");

    let path = write_config(
        "bad-range",
        "[engines.gpt]\nkind = \"openai\"\napi_key_env = \"\"\nmax_concurrency = 0\n",
    );
    let (code, stderr) = run_server_binary(&["--config", &path.display().to_string()]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("engines.gpt.max_concurrency: must be between 1 and 1024, got 0"),
        "{stderr}"
    );

    let path = write_config(
        "missing-key",
        "[engines.gpt]\nkind = \"openai\"\napi_key_env = \"SYMBATCHER_TEST_NO_SUCH_KEY\"\n",
    );
    let (code, stderr) = run_server_binary(&["--config", &path.display().to_string()]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "engines.gpt.api_key_env: environment variable SYMBATCHER_TEST_NO_SUCH_KEY is not set"
        ),
        "{stderr}"
    );
}

#[test]
fn a_missing_config_file_stops_startup() {
    let (code, stderr) = run_server_binary(&["--config", "/nonexistent/symbatcher.toml"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("/nonexistent/symbatcher.toml: cannot read"),
        "{stderr}"
    );
}

#[tokio::test(start_paused = true)]
async fn jobs_pick_engines_by_name_and_the_files_default_serves_the_rest() {
    let path = write_config(
        "named",
        "default_engine = \"fast\"\n\
         [engines.fast]\nkind = \"echo\"\nmax_concurrency = 2\n\
         [engines.capped]\nkind = \"echo\"\nmax_batch_size = 2\n",
    );
    let mut config = config();
    config.config = Some(path.to_path_buf());
    config.resolve().expect("the file is valid");
    assert_eq!(config.default_engine(), "fast");
    assert_eq!(config.default_engine_source, "config");
    let server = spawn_server(config).await;

    let calls: Vec<(String, String)> = (0..6).map(|i| (format!("p{i}"), String::new())).collect();
    let (replies, summary) = run_engine_job(&server, "capped", &calls, 8).await;
    assert_eq!(reply_text(&replies[&0]), "echo: p0");
    // The engine's cap (2) wins over the job's batch size (8).
    assert_eq!(summary.engine_batches, 3, "{summary:?}");

    // A job that names no engine goes to the default.
    let mut worker = connect_worker(&server.channel, "w", &["tests:Default"], 1).await;
    let mut job = start_job(
        &server.channel,
        JobSpec {
            ..spec("tests:Default", 4)
        },
    )
    .await;
    job.send_items(items(0..1)).await;
    job.end().await;
    let task = worker.assignments(1).await.remove(0);
    worker
        .send_calls(&[(task.task_id, 7, "hello".to_string())])
        .await;
    let replies = worker.next_replies().await;
    assert_eq!(reply_text(&replies[0]), "echo: hello");
    worker
        .send_results(vec![ok_result(task.task_id, b"1")])
        .await;
    job.collect().await.expect("job finishes");

    let status = server.status().await;
    let batches = |name: &str| {
        status
            .engines
            .iter()
            .find(|e| e.name == name)
            .map(|e| (e.batches, e.max_batch_size, e.max_concurrency))
    };
    assert_eq!(batches("fast"), Some((1, 4096, 2)));
    assert_eq!(batches("capped"), Some((3, 2, 1)));
    assert_eq!(batches("echo"), Some((0, 4096, 1)));
}
