//! The batcher's three flush triggers, observed end to end on a paused clock:
//! a fake engine process sees each batch and the virtual time it left at.
//!
//! - size: `batch_size` calls waiting leave at once;
//! - delay: a partial batch leaves `max_queue_delay_ms` after its oldest call;
//! - all parked: a partial batch leaves at once when every running item waits
//!   on an engine call.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use tokio::time::Instant;

use common::*;
use symbatcher::pb::v1::{Assignment, EngineBatch, JobSpec};

const EXPR: &str = "tests.flush:Expr";
const ENGINE: &str = "fake-python";

fn prompt(assignment: &Assignment) -> String {
    format!("prompt for item {}", assignment.index)
}

fn prompts(batch: &EngineBatch) -> BTreeSet<String> {
    batch.calls.iter().map(|c| c.prompt.clone()).collect()
}

/// Engine, worker and a job with `n` items, all assigned to the worker.
struct Setup {
    server: TestServer,
    engine: FakeEngine,
    worker: FakeWorker,
    job: JobClient,
    tasks: Vec<Assignment>,
}

async fn setup(concurrency: u32, n: u64, batch_size: u32, delay_ms: u32) -> Setup {
    let server = spawn_server(config()).await;
    let engine = connect_engine(&server.channel, ENGINE, 4).await;
    let mut worker = connect_worker(&server.channel, "w", &[EXPR], concurrency).await;
    let mut job = start_job(
        &server.channel,
        JobSpec {
            engine: ENGINE.to_string(),
            max_queue_delay_ms: Some(delay_ms),
            ..spec(EXPR, batch_size)
        },
    )
    .await;
    job.send_items(items(0..n)).await;
    job.end().await;
    let mut tasks = worker.assignments(n as usize).await;
    tasks.sort_by_key(|a| a.index);
    let indices: Vec<u64> = tasks.iter().map(|a| a.index).collect();
    assert_eq!(indices, (0..n).collect::<Vec<_>>());
    Setup {
        server,
        engine,
        worker,
        job,
        tasks,
    }
}

/// Call ids are the worker's own: 100 + item index.
fn call_for(task: &Assignment) -> (u64, u64, String) {
    (task.task_id, 100 + task.index, prompt(task))
}

/// Reads engine replies until `n` arrived; checks each answers its call.
async fn expect_replies(worker: &mut FakeWorker, tasks: &[Assignment], n: usize) {
    let by_call: HashMap<u64, &Assignment> = tasks.iter().map(|t| (100 + t.index, t)).collect();
    let mut seen = BTreeSet::new();
    while seen.len() < n {
        for reply in worker.next_replies().await {
            let task = by_call
                .get(&reply.call_id)
                .unwrap_or_else(|| panic!("reply to unknown call {}", reply.call_id));
            assert!(
                seen.insert(reply.call_id),
                "second reply to {}",
                reply.call_id
            );
            assert_eq!(reply_text(&reply), format!("engine: {}", prompt(task)));
        }
    }
    assert_eq!(seen.len(), n);
}

/// Finishes every task and checks the job's summary.
async fn finish(mut s: Setup, calls: u64, batches: u64, mean: f64) {
    let results = s
        .tasks
        .iter()
        .map(|t| ok_result(t.task_id, b"\"done\""))
        .collect();
    s.worker.send_results(results).await;
    let out = s.job.collect().await.expect("job succeeds");
    assert_eq!(out.results.len(), s.tasks.len());
    assert_eq!(out.summary.succeeded, s.tasks.len() as u64);
    assert_eq!(out.summary.engine_calls, calls);
    assert_eq!(out.summary.engine_batches, batches);
    assert_eq!(out.summary.mean_batch_size, mean);
    // The engine got nothing else.
    assert!(s
        .engine
        .batch_within(Duration::from_secs(30))
        .await
        .is_none());
    drop(s.server);
}

#[tokio::test(start_paused = true)]
async fn size_trigger_sends_full_batches_at_once() {
    // Five items run, four make a call, one never does: not all are parked,
    // and the delay (10 s) is far away, so only the size trigger can fire.
    let mut s = setup(5, 5, 2, 10_000).await;
    let calls: Vec<_> = s.tasks[..4].iter().map(call_for).collect();
    let start = Instant::now();
    s.worker.send_calls(&calls).await;

    let first = s.engine.next_batch().await.expect("first batch");
    let second = s.engine.next_batch().await.expect("second batch");
    assert!(
        start.elapsed() < Duration::from_millis(1),
        "size-triggered batches waited {:?}",
        start.elapsed()
    );
    assert_eq!(first.calls.len(), 2, "{first:?}");
    assert_eq!(second.calls.len(), 2, "{second:?}");
    let mut all = prompts(&first);
    all.extend(prompts(&second));
    let expected: BTreeSet<String> = s.tasks[..4].iter().map(prompt).collect();
    assert_eq!(all, expected);

    s.engine.answer(&first).await;
    s.engine.answer(&second).await;
    let tasks = s.tasks.clone();
    expect_replies(&mut s.worker, &tasks[..4], 4).await;
    finish(s, 4, 2, 2.0).await;
}

#[tokio::test(start_paused = true)]
async fn delay_trigger_sends_a_partial_batch_after_max_queue_delay() {
    // Three items run, two make a call, the third stays busy: only the
    // 100 ms delay can send the partial batch of two (batch_size 8).
    let mut s = setup(3, 3, 8, 100).await;
    let calls: Vec<_> = s.tasks[..2].iter().map(call_for).collect();
    let start = Instant::now();
    s.worker.send_calls(&calls).await;

    let batch = s.engine.next_batch().await.expect("a batch");
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(100),
        "batch left before the delay: {waited:?}"
    );
    assert!(
        waited < Duration::from_millis(150),
        "batch left late: {waited:?}"
    );
    assert_eq!(batch.calls.len(), 2, "{batch:?}");
    let expected: BTreeSet<String> = s.tasks[..2].iter().map(prompt).collect();
    assert_eq!(prompts(&batch), expected);

    s.engine.answer(&batch).await;
    let tasks = s.tasks.clone();
    expect_replies(&mut s.worker, &tasks[..2], 2).await;
    finish(s, 2, 1, 2.0).await;
}

#[tokio::test(start_paused = true)]
async fn a_max_queue_delay_of_zero_sends_each_partial_batch_at_once() {
    // As the delay test, but the job sets max_queue_delay_ms to 0: set is
    // not unset, so the server's default (50 ms) does not apply and the
    // partial batch leaves with no wait at all.
    let mut s = setup(3, 3, 8, 0).await;
    let calls: Vec<_> = s.tasks[..2].iter().map(call_for).collect();
    let start = Instant::now();
    s.worker.send_calls(&calls).await;

    let batch = s.engine.next_batch().await.expect("a batch");
    assert!(
        start.elapsed() < Duration::from_millis(1),
        "a zero-delay batch waited {:?}",
        start.elapsed()
    );
    let mut all = prompts(&batch);
    if batch.calls.len() < 2 {
        // The two calls may leave as two batches of one: each at once.
        let second = s.engine.next_batch().await.expect("second batch");
        assert!(start.elapsed() < Duration::from_millis(1));
        all.extend(prompts(&second));
        s.engine.answer(&second).await;
    }
    let expected: BTreeSet<String> = s.tasks[..2].iter().map(prompt).collect();
    assert_eq!(all, expected);

    s.engine.answer(&batch).await;
    let tasks = s.tasks.clone();
    expect_replies(&mut s.worker, &tasks[..2], 2).await;
    let results = s
        .tasks
        .iter()
        .map(|t| ok_result(t.task_id, b"\"done\""))
        .collect();
    s.worker.send_results(results).await;
    let out = s.job.collect().await.expect("job succeeds");
    assert_eq!(out.summary.engine_calls, 2);
}

#[tokio::test(start_paused = true)]
async fn all_parked_trigger_sends_a_partial_batch_at_once() {
    // Both running items call (in separate messages): once the second call
    // is in, nothing else can arrive, so the batch of two leaves at once
    // although it is not full and its delay is 10 s away.
    let mut s = setup(2, 2, 8, 10_000).await;
    let start = Instant::now();
    s.worker.send_calls(&[call_for(&s.tasks[0])]).await;
    s.worker.send_calls(&[call_for(&s.tasks[1])]).await;

    let batch = s.engine.next_batch().await.expect("a batch");
    assert!(
        start.elapsed() < Duration::from_millis(1),
        "all-parked batch waited {:?}",
        start.elapsed()
    );
    assert_eq!(batch.calls.len(), 2, "{batch:?}");

    s.engine.answer(&batch).await;
    let tasks = s.tasks.clone();
    expect_replies(&mut s.worker, &tasks, 2).await;
    finish(s, 2, 1, 2.0).await;
}

#[tokio::test(start_paused = true)]
async fn finished_items_do_not_hold_back_the_all_parked_trigger() {
    // Item 0 finishes without calling; item 1, now the only running item,
    // calls: it is parked alone, so its batch of one leaves at once.
    let mut s = setup(2, 2, 8, 10_000).await;
    s.worker
        .send_results(vec![ok_result(s.tasks[0].task_id, b"\"early\"")])
        .await;
    let first = s.job.next_results().await;
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].index, 0);
    assert_eq!(result_payload(&first[0]), b"\"early\"");

    let start = Instant::now();
    s.worker.send_calls(&[call_for(&s.tasks[1])]).await;
    let batch = s.engine.next_batch().await.expect("a batch");
    assert!(
        start.elapsed() < Duration::from_millis(1),
        "lone parked call waited {:?}",
        start.elapsed()
    );
    assert_eq!(batch.calls.len(), 1);
    assert_eq!(batch.calls[0].prompt, prompt(&s.tasks[1]));

    s.engine.answer(&batch).await;
    let tasks = s.tasks.clone();
    expect_replies(&mut s.worker, &tasks[1..], 1).await;
    s.worker
        .send_results(vec![ok_result(s.tasks[1].task_id, b"\"late\"")])
        .await;
    let out = s.job.collect().await.expect("job succeeds");
    assert_eq!(out.results.len(), 1);
    assert_eq!(out.results[0].index, 1);
    assert_eq!(out.summary.succeeded, 2);
    assert_eq!(out.summary.engine_batches, 1);
}

#[tokio::test(start_paused = true)]
async fn a_delayed_call_does_not_wait_for_the_whole_delay_once_all_park() {
    // One of two items calls; the delay is 10 s. When the other item calls
    // later, every item is parked and both leave together right then.
    let mut s = setup(2, 2, 8, 10_000).await;
    s.worker.send_calls(&[call_for(&s.tasks[0])]).await;
    assert!(
        s.engine
            .batch_within(Duration::from_secs(5))
            .await
            .is_none(),
        "a lone call of two running items left before its delay"
    );
    let start = Instant::now();
    s.worker.send_calls(&[call_for(&s.tasks[1])]).await;
    let batch = s.engine.next_batch().await.expect("a batch");
    assert!(start.elapsed() < Duration::from_millis(1));
    assert_eq!(batch.calls.len(), 2);
    s.engine.answer(&batch).await;
    let tasks = s.tasks.clone();
    expect_replies(&mut s.worker, &tasks, 2).await;
    finish(s, 2, 1, 2.0).await;
}

/// A call whose delay passed while its engine was busy leaves as soon as the
/// engine is free, and meanwhile the scheduler waits quietly.
async fn overdue_call_waits_for_a_busy_engine() {
    let server = spawn_server(config()).await;
    let mut engine = connect_engine(&server.channel, ENGINE, 1).await;
    let mut worker = connect_worker(&server.channel, "w", &[EXPR], 3).await;
    let mut job = start_job(
        &server.channel,
        JobSpec {
            engine: ENGINE.to_string(),
            max_queue_delay_ms: Some(10),
            ..spec(EXPR, 8)
        },
    )
    .await;
    job.send_items(items(0..3)).await;
    job.end().await;
    let mut tasks = worker.assignments(3).await;
    tasks.sort_by_key(|a| a.index);

    // Item 0's call leaves after its 10 ms delay and occupies the engine's
    // only slot (the engine does not answer yet).
    worker.send_calls(&[call_for(&tasks[0])]).await;
    let first = engine.next_batch().await.expect("first batch");
    assert_eq!(first.calls.len(), 1);
    // Item 1's call becomes overdue while the engine is busy: nothing can
    // leave, and virtual time must be able to pass.
    worker.send_calls(&[call_for(&tasks[1])]).await;
    assert!(engine.batch_within(Duration::from_secs(1)).await.is_none());

    let start = Instant::now();
    engine.answer(&first).await;
    let second = engine.next_batch().await.expect("second batch");
    assert!(start.elapsed() < Duration::from_millis(1));
    assert_eq!(second.calls.len(), 1);
    assert_eq!(second.calls[0].prompt, prompt(&tasks[1]));
    engine.answer(&second).await;
    expect_replies(&mut worker, &tasks[..2], 2).await;
    let results = tasks.iter().map(|t| ok_result(t.task_id, b"0")).collect();
    worker.send_results(results).await;
    let out = job.collect().await.expect("job succeeds");
    assert_eq!(out.summary.engine_batches, 2);
}

#[test]

fn an_overdue_call_waits_for_a_busy_engine_without_spinning() {
    // On a paused clock virtual time moves only when the runtime is idle. A
    // scheduler that busy-loops (re-arming a timer for a deadline already
    // past) never lets it idle, so the scenario would hang; real time bounds
    // the wait instead. The scenario runs on its own thread and runtime.
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .expect("runtime");
        runtime.block_on(overdue_call_waits_for_a_busy_engine());
        let _ = done_tx.send(());
    });
    match done_rx.recv_timeout(Duration::from_secs(5)) {
        Ok(()) => {}
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => panic!(
            "the scenario did not finish in 5 s of real time: the scheduler spins \
             while an overdue call waits for a busy engine"
        ),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            panic!("the scenario failed (its panic is printed above)")
        }
    }
}

#[tokio::test(start_paused = true)]
async fn an_item_of_another_engines_job_does_not_hold_back_all_parked() {
    // Job B (echo engine) has an item running that never calls: a hang, or
    // CPU work. Job A's two items both wait on their calls to another
    // engine, so A's partial batch leaves at once: B's item cannot add a call
    // to A's engine's queue.
    let server = spawn_server(config()).await;
    let mut engine = connect_engine(&server.channel, ENGINE, 4).await;
    let mut worker_a = connect_worker(&server.channel, "a", &[EXPR], 2).await;
    let mut worker_b = connect_worker(&server.channel, "b", &["tests.flush:Other"], 1).await;
    let job_b = start_job(
        &server.channel,
        JobSpec {
            max_queue_delay_ms: Some(10_000),
            ..spec("tests.flush:Other", 8)
        },
    )
    .await;
    job_b.send_items(items(0..1)).await;
    let hung = worker_b.assignments(1).await;
    let mut job_a = start_job(
        &server.channel,
        JobSpec {
            engine: ENGINE.to_string(),
            max_queue_delay_ms: Some(10_000),
            ..spec(EXPR, 8)
        },
    )
    .await;
    job_a.send_items(items(0..2)).await;
    job_a.end().await;
    let tasks = worker_a.assignments(2).await;
    let start = Instant::now();
    worker_a
        .send_calls(&tasks.iter().map(call_for).collect::<Vec<_>>())
        .await;

    let batch = engine.next_batch().await.expect("a batch");
    assert!(
        start.elapsed() < Duration::from_millis(1),
        "job A's batch waited {:?} for job B's hung item",
        start.elapsed()
    );
    assert_eq!(batch.calls.len(), 2, "{batch:?}");
    engine.answer(&batch).await;
    expect_replies(&mut worker_a, &tasks, 2).await;
    let results = tasks.iter().map(|t| ok_result(t.task_id, b"1")).collect();
    worker_a.send_results(results).await;
    let out = job_a.collect().await.expect("job A succeeds");
    assert_eq!(out.summary.mean_batch_size, 2.0);
    drop((hung, job_b, worker_b));
}
