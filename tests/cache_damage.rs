//! The call cache on disk is right or empty, and no store can stop a
//! server: server processes over one cache directory, with `calls.redb`
//! damaged between runs (seeded bit flips, a truncated file, a damaged
//! header), and a second server on the same directory.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use tonic::transport::{Channel, Endpoint};

use common::{connect_worker, items, ok_result, reply_text, spec, start_job};
use symbatcher::pb::v1::status_service_client::StatusServiceClient;
use symbatcher::pb::v1::{
    worker_message, CacheMode, EngineCall, JobSpec, JobSummary, StatusRequest, WorkerEngineCall,
    WorkerEngineCallChunk, WorkerMessage,
};

/// Items of each job: one echo call each.
const ITEMS: usize = 120;

/// A server process on a free port; killed when dropped.
struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the server binary on `cache_dir` with `extra` flags. `Err` holds
/// its exit status and stderr when it exits without saying it listens.
fn try_start(cache_dir: &Path, extra: &[&str]) -> Result<Server, String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_symbatcher-server"))
        .args(["--listen", "127.0.0.1:0", "--shutdown-grace-ms", "100"])
        .arg("--cache-dir")
        .arg(cache_dir)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("server binary runs");
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().expect("stdout"))
        .read_line(&mut line)
        .expect("read stdout");
    match line.trim().strip_prefix("listening on ") {
        Some(addr) => {
            // Its log is drained, so that a full pipe never blocks it.
            let mut stderr = child.stderr.take().expect("stderr");
            std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
            Ok(Server {
                addr: addr.to_string(),
                child,
            })
        }
        None => {
            let status = child.wait().expect("reaped");
            let mut stderr = String::new();
            let _ = child
                .stderr
                .take()
                .expect("stderr")
                .read_to_string(&mut stderr);
            Err(format!("{status}: {line}{stderr}"))
        }
    }
}

fn start(cache_dir: &Path) -> Server {
    try_start(cache_dir, &[]).expect("server starts")
}

impl Server {
    /// Stops the server with SIGTERM, as an operator would, so that redb
    /// closes its file cleanly (a killed server's file is checked by redb's
    /// own recovery on the next start; a cleanly closed one is not).
    fn stop(mut self) {
        let signalled = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(signalled.success());
        let status = self.child.wait().expect("reaped");
        assert!(status.success(), "the server exited with {status}");
    }

    async fn channel(&self) -> Channel {
        Endpoint::from_shared(format!("http://{}", self.addr))
            .expect("endpoint")
            .connect()
            .await
            .expect("connect to the server process")
    }

    /// Asserts the process still runs and answers `Status`.
    async fn assert_alive(&mut self) {
        assert!(
            self.child.try_wait().expect("try_wait").is_none(),
            "the server exited"
        );
        StatusServiceClient::new(self.channel().await)
            .status(StatusRequest {})
            .await
            .expect("the server answers Status");
    }
}

fn prompt(index: usize) -> String {
    format!("question {index} of the cached job")
}

/// The echo engine's live answer to `prompt(index)`.
fn live_answer(index: usize) -> String {
    format!("echo: {}", prompt(index))
}

/// Runs a job of [`ITEMS`] items on `echo` with the cache in use; each item
/// makes one call. Returns each item's reply text and the summary.
async fn cached_job(channel: &Channel) -> (BTreeMap<u64, String>, JobSummary) {
    let expression = "tests.cache_damage:Ask";
    let mut worker = connect_worker(channel, "w", &[expression], ITEMS as u32).await;
    let mut job = start_job(
        channel,
        JobSpec {
            engine: "echo".into(),
            cache: CacheMode::Use as i32,
            ..spec(expression, 32)
        },
    )
    .await;
    job.send_items(items(0..ITEMS as u64)).await;
    job.end().await;
    let tasks = worker.assignments(ITEMS).await;
    let calls = tasks
        .iter()
        .map(|t| WorkerEngineCall {
            task_id: t.task_id,
            call: Some(EngineCall {
                call_id: t.index,
                prompt: prompt(t.index as usize),
                ..Default::default()
            }),
        })
        .collect();
    worker
        .send(WorkerMessage {
            kind: Some(worker_message::Kind::EngineCalls(WorkerEngineCallChunk {
                calls,
            })),
        })
        .await;
    let task_of: BTreeMap<u64, u64> = tasks.iter().map(|t| (t.index, t.task_id)).collect();
    let mut texts = BTreeMap::new();
    while texts.len() < ITEMS {
        let replies = worker.next_replies().await;
        let results = replies
            .iter()
            .map(|r| ok_result(task_of[&r.call_id], b"1"))
            .collect();
        for reply in &replies {
            let text = reply_text(reply).to_string();
            assert!(texts.insert(reply.call_id, text).is_none(), "two replies");
        }
        worker.send_results(results).await;
    }
    let summary = job.collect().await.expect("the job finishes").summary;
    (texts, summary)
}

/// Runs [`cached_job`] and asserts every reply is the live engine's answer;
/// returns the calls answered from the cache.
async fn run_and_check(server: &mut Server) -> u64 {
    let (texts, summary) = cached_job(&server.channel().await).await;
    for (index, text) in &texts {
        assert_eq!(text, &live_answer(*index as usize), "item {index}");
    }
    server.assert_alive().await;
    summary.saved.map(|s| s.cache_hits).unwrap_or(0)
}

/// Where `needle` starts in `bytes`.
fn find(bytes: &[u8], needle: &[u8]) -> Option<usize> {
    bytes.windows(needle.len()).position(|w| w == needle)
}

/// The byte range of `calls.redb` that holds the cached replies (most of
/// the file is free space, where flips change nothing).
fn records_region(bytes: &[u8]) -> std::ops::Range<usize> {
    let marker = b"echo: question ";
    let offsets: Vec<usize> = (0..bytes.len().saturating_sub(marker.len()))
        .filter(|&i| bytes[i] == b'e' && bytes[i..].starts_with(marker))
        .collect();
    assert!(offsets.len() >= ITEMS, "every reply is in the file");
    let low = offsets.iter().min().expect("offsets").saturating_sub(4096);
    let high = (offsets.iter().max().expect("offsets") + 4096).min(bytes.len());
    low..high
}

/// Flips `flips` bits of `path` in the records' region, at places drawn
/// from `seed` (xorshift64).
fn flip_bits(path: &Path, seed: u64, flips: usize) {
    let mut bytes = std::fs::read(path).expect("read the store");
    let region = records_region(&bytes);
    let bits = (region.len() * 8) as u64;
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    for _ in 0..flips {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let bit = (state % bits) as usize;
        bytes[region.start + bit / 8] ^= 1 << (bit % 8);
    }
    std::fs::write(path, bytes).expect("write the store");
}

/// A cache directory filled by one run, whose re-run is all hits (so the
/// damage tests start from a cache that serves).
async fn filled_cache() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut server = start(dir.path());
    assert_eq!(run_and_check(&mut server).await, 0, "a fresh cache");
    assert_eq!(run_and_check(&mut server).await, ITEMS as u64, "all hits");
    server.stop();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bit_flips_in_the_call_cache_never_serve_a_wrong_reply() {
    let filled = filled_cache().await;
    let good = std::fs::read(filled.path().join("calls.redb")).expect("read");
    let mut served_hits = 0;
    for (seed, flips) in [(1, 1), (2, 1), (3, 4), (4, 20), (5, 200), (6, 2000)] {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("calls.redb");
        std::fs::write(&path, &good).expect("copy");
        flip_bits(&path, seed, flips);
        let mut server = start(dir.path());
        served_hits += run_and_check(&mut server).await;
        // The damage is gone: the re-run is all hits again.
        assert_eq!(
            run_and_check(&mut server).await,
            ITEMS as u64,
            "seed {seed}: the cache does not serve after the damage"
        );
    }
    // Most single flips land where nothing reads them: hits still come.
    assert!(
        served_hits > 0,
        "no run after damage was served from the cache"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flipped_letter_in_a_cached_reply_is_never_served() {
    let dir = filled_cache().await;
    let path = dir.path().join("calls.redb");
    let mut bytes = std::fs::read(&path).expect("read");
    // "question 7 ..." becomes "puestion 7 ...": still valid text and JSON.
    // Every copy (copy-on-write leaves older ones in free pages).
    let needle = live_answer(7);
    let mut from = 0;
    while let Some(at) = find(&bytes[from..], needle.as_bytes()) {
        bytes[from + at + "echo: ".len()] ^= 0x01;
        from += at + needle.len();
    }
    assert!(from > 0, "reply 7 is in the file");
    std::fs::write(&path, bytes).expect("write");
    let mut server = start(dir.path());
    run_and_check(&mut server).await;
    assert_eq!(run_and_check(&mut server).await, ITEMS as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_call_cache_is_moved_aside_and_the_server_runs_on() {
    let dir = filled_cache().await;
    let path = dir.path().join("calls.redb");
    let len = std::fs::metadata(&path).expect("metadata").len();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("open");
    file.set_len(len / 3).expect("truncate");
    drop(file);
    let mut server = start(dir.path());
    assert_eq!(run_and_check(&mut server).await, 0, "nothing served");
    assert!(dir.path().join("calls.redb.damaged").exists());
    assert_eq!(run_and_check(&mut server).await, ITEMS as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_cache_with_a_damaged_header_is_moved_aside_and_the_server_starts() {
    let dir = filled_cache().await;
    let path = dir.path().join("calls.redb");
    let mut bytes = std::fs::read(&path).expect("read");
    for byte in bytes.iter_mut().take(512) {
        *byte ^= 0xa5;
    }
    std::fs::write(&path, bytes).expect("write");
    let mut server = start(dir.path());
    assert_eq!(run_and_check(&mut server).await, 0, "nothing served");
    assert!(dir.path().join("calls.redb.damaged").exists());
    assert_eq!(run_and_check(&mut server).await, ITEMS as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_server_on_the_same_cache_runs_without_it_and_the_first_keeps_serving() {
    let dir = filled_cache().await;
    let mut first = start(dir.path());
    let mut second = start(dir.path());
    assert_eq!(
        run_and_check(&mut second).await,
        0,
        "the second keeps no cache"
    );
    assert_eq!(run_and_check(&mut first).await, ITEMS as u64);
    drop(second);
    assert_eq!(run_and_check(&mut first).await, ITEMS as u64);
    assert!(!dir.path().join("calls.redb.damaged").exists());
}

/// A config file with an openai-batch engine (never called: no job uses it).
fn batch_engine_config(dir: &Path) -> std::path::PathBuf {
    let config = dir.join("symbatcher.toml");
    std::fs::write(
        &config,
        "[engines.gpt-batch]\nkind = \"openai-batch\"\nbase_url = \"http://127.0.0.1:9/v1\"\n\
         api_key_env = \"\"\nmodel = \"m-1\"\n",
    )
    .expect("write config");
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_server_with_a_batch_engine_is_refused_before_listening() {
    let dir = filled_cache().await;
    let config = batch_engine_config(dir.path());
    let config = config.to_str().expect("utf-8 path");
    let mut first = try_start(dir.path(), &["--config", config]).expect("first starts");
    let refused = match try_start(dir.path(), &["--config", config]) {
        Ok(_) => panic!("a second server took batches.redb"),
        Err(err) => err,
    };
    assert!(refused.contains("batches.redb"), "{refused}");
    assert!(refused.contains("--cache-dir"), "{refused}");
    assert_eq!(run_and_check(&mut first).await, ITEMS as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_servers_with_a_batch_engine_started_at_once_one_serves_and_keeps_serving() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = batch_engine_config(dir.path());
    let cache = dir.path().join("cache");
    for _ in 0..3 {
        let (a, b) = std::thread::scope(|scope| {
            let config = config.to_str().expect("utf-8 path");
            let a = scope.spawn(|| try_start(&cache, &["--config", config]));
            let b = scope.spawn(|| try_start(&cache, &["--config", config]));
            (a.join().expect("thread a"), b.join().expect("thread b"))
        });
        let mut serving: Vec<Server> = [a, b].into_iter().filter_map(Result::ok).collect();
        assert_eq!(serving.len(), 1, "exactly one server takes the stores");
        let mut server = serving.pop().expect("one");
        run_and_check(&mut server).await;
    }
}
