//! The server process's telemetry: the Prometheus endpoint after a job
//! (its batch-size histogram and counters against the job's summary), the
//! Grafana dashboard's metric names, and JSON log lines that carry the job's
//! span.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;

use common::server_process::{ServerProcess, LINE_WAIT};
use common::{connect_worker, items, run_engine_job_on, spec, start_job};
use symbatcher::pb::v1::JobSummary;

/// Ten items, one echo call each, in batches of at most 4.
async fn run_job(server: &ServerProcess) -> JobSummary {
    let channel = server.channel().await;
    let calls: Vec<(String, String)> = (0..10)
        .map(|i| (format!("item {i}"), "{}".to_string()))
        .collect();
    let (replies, summary) = run_engine_job_on(&channel, "Telemetry", "echo", &calls, 4).await;
    assert_eq!(replies.len(), 10);
    summary
}

async fn scrape(addr: SocketAddr) -> String {
    let response = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .expect("the metrics endpoint answers");
    assert!(response.status().is_success(), "{}", response.status());
    let content_type = response.headers()["content-type"]
        .to_str()
        .expect("ASCII")
        .to_string();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    response.text().await.expect("a text body")
}

/// Samples by their name with labels, as written (`name{a="b"}`).
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let (name, value) = line.rsplit_once(' ').expect("name value");
            (name.to_string(), value.parse().expect("a number"))
        })
        .collect()
}

fn sample(samples: &BTreeMap<String, f64>, name: &str) -> f64 {
    *samples
        .get(name)
        .unwrap_or_else(|| panic!("no sample {name}; samples: {samples:#?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_after_a_job_match_its_summary() {
    let mut server = ServerProcess::start(&["--metrics-listen", "127.0.0.1:0"]);
    let metrics = server.metrics_addr();
    let summary = run_job(&server).await;
    assert_eq!(summary.succeeded, 10);
    assert!(summary.engine_batches >= 3, "{summary:?}");

    let text = scrape(metrics).await;
    let s = samples(&text);
    let echo = "{engine=\"echo\"}";
    // The histogram of batch sizes formed counts every batch of the job,
    // and sums to its calls.
    let count = sample(&s, &format!("symbatcher_engine_batch_size_count{echo}"));
    let sum = sample(&s, &format!("symbatcher_engine_batch_size_sum{echo}"));
    assert_eq!(count, summary.engine_batches as f64);
    assert_eq!(sum, summary.engine_calls as f64);
    assert!((sum / count - summary.mean_batch_size).abs() < 1e-9);
    let bucket = |le: &str| {
        sample(
            &s,
            &format!("symbatcher_engine_batch_size_bucket{{le=\"{le}\",engine=\"echo\"}}"),
        )
    };
    // Buckets are cumulative, and no batch is above the job's batch_size.
    assert!(bucket("1.0") <= bucket("2.0") && bucket("2.0") <= bucket("4.0"));
    assert_eq!(bucket("4.0"), count);
    assert_eq!(bucket("+Inf"), count);
    assert_eq!(
        sample(&s, &format!("symbatcher_engine_batches_total{echo}")),
        summary.engine_batches as f64
    );
    assert_eq!(
        sample(&s, &format!("symbatcher_engine_calls_total{echo}")),
        summary.engine_calls as f64
    );
    assert_eq!(
        sample(
            &s,
            &format!("symbatcher_engine_call_latency_seconds_count{echo}")
        ),
        summary.engine_calls as f64
    );
    assert_eq!(
        sample(&s, &format!("symbatcher_engine_failed_calls_total{echo}")),
        summary.failed_engine_calls as f64
    );
    let job = "expression=\"tests.engine_job:Telemetry\",engine=\"echo\"";
    assert_eq!(
        sample(
            &s,
            &format!("symbatcher_items_total{{{job},outcome=\"succeeded\"}}")
        ),
        summary.succeeded as f64
    );
    assert_eq!(
        sample(
            &s,
            &format!("symbatcher_items_total{{{job},outcome=\"failed\"}}")
        ),
        summary.failed as f64
    );
    assert_eq!(
        sample(
            &s,
            &format!("symbatcher_jobs_finished_total{{{job},outcome=\"completed\"}}")
        ),
        1.0
    );
    assert_eq!(
        sample(&s, &format!("symbatcher_items_requeued_total{{{}}}", job)),
        summary.requeued as f64
    );
    // Gauges come from the snapshot: the job is over, nothing waits.
    assert_eq!(
        sample(&s, "symbatcher_engine_batches_in_flight{engine=\"echo\"}"),
        0.0
    );
    let (_, status) = server.stop_with_status();
    assert!(status.success(), "server exit: {status}");
}

/// Sample names a scrape can hold: gauges as named, counters with
/// `_total`, histograms with `_bucket`, `_sum` and `_count`.
fn exported_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let (name, kind) = rest.split_once(' ').expect("name kind");
        match kind {
            "counter" => {
                names.insert(format!("{name}_total"));
            }
            "histogram" => {
                for suffix in ["_bucket", "_sum", "_count"] {
                    names.insert(format!("{name}{suffix}"));
                }
            }
            _ => {
                names.insert(name.to_string());
            }
        }
    }
    names
}

/// Metric names in a Grafana dashboard's queries.
fn dashboard_metric_names(dashboard: &Value, names: &mut BTreeSet<String>) {
    match dashboard {
        Value::Object(map) => {
            if let Some(Value::String(expr)) = map.get("expr") {
                let mut rest = expr.as_str();
                while let Some(at) = rest.find("symbatcher_") {
                    let tail = &rest[at..];
                    let end = tail
                        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                        .unwrap_or(tail.len());
                    names.insert(tail[..end].to_string());
                    rest = &tail[end..];
                }
            }
            map.values().for_each(|v| dashboard_metric_names(v, names));
        }
        Value::Array(items) => items.iter().for_each(|v| dashboard_metric_names(v, names)),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_grafana_dashboard_uses_only_exported_metrics() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/grafana/symbatcher.json"
    );
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("the dashboard exists"))
            .expect("the dashboard is JSON");
    let mut used = BTreeSet::new();
    dashboard_metric_names(&dashboard, &mut used);
    assert!(
        used.len() >= 10,
        "the dashboard queries few metrics: {used:?}"
    );

    // A job with an item waiting and two running, whose calls wait behind
    // a slow echo batch: every family has a series (the job's counters from
    // its admission, the engines' from the snapshot).
    let mut server = ServerProcess::start(&[
        "--metrics-listen",
        "127.0.0.1:0",
        "--echo-latency-ms",
        "600000",
    ]);
    let metrics = server.metrics_addr();
    let channel = server.channel().await;
    let expression = "tests.telemetry:Dashboard";
    let mut worker = connect_worker(&channel, "dashboard", &[expression], 2).await;
    let job = start_job(&channel, spec(expression, 1)).await;
    job.send_items(items(0..3)).await;
    let tasks = worker.assignments(2).await;
    let calls: Vec<(u64, u64, String)> = tasks
        .iter()
        .map(|t| (t.task_id, t.index, format!("call {}", t.index)))
        .collect();
    worker.send_calls(&calls).await;
    // The calls reach the scheduler on the worker's stream, the scrape on
    // another connection: scrape until the second call waits for its batch.
    let deadline = tokio::time::Instant::now() + LINE_WAIT;
    let text = loop {
        let text = scrape(metrics).await;
        if text.contains("symbatcher_engine_calls_waiting{engine=\"echo\",model=\"\"} 1") {
            break text;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no call waits: {text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let exported = exported_names(&text);
    let unknown: Vec<&String> = used.difference(&exported).collect();
    assert!(
        unknown.is_empty(),
        "the dashboard queries metrics the server does not export: {unknown:?}; \
         exported: {exported:?}"
    );
    assert!(exported.contains("symbatcher_queue_depth"));
}

/// The `name` span of a JSON log line, if it is inside one.
fn span<'a>(line: &'a Value, name: &str) -> Option<&'a Value> {
    line["spans"]
        .as_array()?
        .iter()
        .find(|span| span["name"] == name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_the_job_span_on_every_line_of_the_job() {
    let mut server =
        ServerProcess::start_with_env(&[], &[("SYMBATCHER_LOG", "info,symbatcher=debug")]);
    let summary = run_job(&server).await;
    server.wait_for("job finished");
    let (lines, status) = server.stop_with_status();
    assert!(status.success(), "server exit: {status}");

    let parsed: Vec<Value> = lines
        .iter()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|err| panic!("not JSON ({err}): {line}"))
        })
        .collect();
    for line in &parsed {
        assert!(line["timestamp"].is_string(), "{line}");
        assert!(line["level"].is_string(), "{line}");
        assert!(line["fields"]["message"].is_string(), "{line}");
    }
    let message = |line: &Value| line["fields"]["message"].as_str().unwrap_or("").to_string();
    let admitted = parsed
        .iter()
        .find(|line| message(line) == "job admitted")
        .expect("a `job admitted` line");
    let job = span(admitted, "job").expect("`job admitted` is inside the job span");
    let job_id = job["id"].as_u64().expect("the job span carries its id");
    assert_eq!(job["expression"], "tests.engine_job:Telemetry");
    assert_eq!(job["engine"], "echo");

    // Every line about the job and its batches is inside its span.
    let mut batch_lines = 0u64;
    for line in &parsed {
        let text = message(line);
        let of_job = [
            "job admitted",
            "job finished",
            "batch formed",
            "engine batch sent",
            "engine batch answered",
        ];
        if !of_job.contains(&text.as_str()) {
            continue;
        }
        let span_of_job = span(line, "job").unwrap_or_else(|| panic!("no job span: {line}"));
        assert_eq!(span_of_job["id"].as_u64(), Some(job_id), "{line}");
        if text == "engine batch sent" {
            batch_lines += 1;
            let batch = span(line, "engine_batch").expect("inside the batch span");
            assert_eq!(batch["engine"], "echo");
            assert_eq!(batch["jobs"], job_id.to_string());
            assert!(batch["size"].as_u64().is_some_and(|n| (1..=4).contains(&n)));
        }
    }
    assert_eq!(batch_lines, summary.engine_batches);
}
