//! Status keeps showing the jobs that ended lately (`finished_jobs`), the
//! newest first, with how each ended and its final counts, up to
//! `--keep-finished-jobs`.

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use common::*;
use symbatcher::pb::v1::{JobSpec, JobState};

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as u64
}

#[tokio::test]
async fn ended_jobs_stay_in_status_with_how_they_ended_and_their_counts() {
    let server = spawn_server(config()).await;
    let before = now_ms();

    // Finished: three items, each with one engine call.
    let (_, summary) = run_engine_job(&server, "echo", &prompt_calls(&["a", "b", "c"]), 2).await;
    assert_eq!(summary.succeeded, 3);

    // Failed: no worker serves its expression, and it waits for none.
    let failing = JobSpec {
        worker_wait_ms: Some(0),
        ..spec("tests.job_history:NoWorker", 4)
    };
    let mut job = start_job(&server.channel, failing).await;
    job.send_items(items(0..2)).await;
    job.end().await;
    let err = job.collect().await.expect_err("no worker");
    assert!(err.message().contains("NoWorker"), "{err:?}");

    // Cancelled: its client goes away with items still queued.
    let cancelled = start_job(&server.channel, spec("tests.job_history:Gone", 4)).await;
    cancelled.send_items(items(0..5)).await;
    let cancelled_id = cancelled.accepted.job_id;
    while server.status().await.jobs.iter().all(|j| j.received < 5) {
        tokio::task::yield_now().await;
    }
    drop(cancelled);
    let status = loop {
        let status = server.status().await;
        if status.jobs.is_empty() {
            break status;
        }
        tokio::task::yield_now().await;
    };

    let ended = &status.finished_jobs;
    assert_eq!(ended.len(), 3, "{ended:?}");
    // The newest first.
    assert_eq!(ended[0].job_id, cancelled_id);
    assert_eq!(ended[0].state, JobState::Cancelled as i32);
    assert_eq!(
        (ended[0].received, ended[0].queued),
        (5, 0),
        "{:?}",
        ended[0]
    );

    assert_eq!(ended[1].state, JobState::Failed as i32);
    assert!(ended[1].error.contains("NoWorker"), "{:?}", ended[1]);
    assert_eq!(ended[1].expression, "tests.job_history:NoWorker");

    let finished = &ended[2];
    assert_eq!(finished.state, JobState::Finished as i32);
    assert_eq!(finished.engine, "echo");
    assert_eq!(
        (finished.received, finished.completed, finished.failed),
        (3, 3, 0)
    );
    assert_eq!((finished.running, finished.queued), (0, 0));
    assert!(finished.error.is_empty());
    for job in ended {
        assert!(
            (before..=now_ms()).contains(&job.ended_unix_ms),
            "end time {} not within the test",
            job.ended_unix_ms
        );
    }
}

#[tokio::test]
async fn status_keeps_at_most_the_configured_number_of_ended_jobs() {
    let mut config = config();
    config.history.keep_finished_jobs = 2;
    let server = spawn_server(config).await;
    let mut ids = Vec::new();
    for prompt in ["a", "b", "c"] {
        run_engine_job(&server, "echo", &prompt_calls(&[prompt]), 1).await;
        ids.push(server.status().await.finished_jobs[0].job_id);
    }
    let kept: Vec<u64> = server
        .status()
        .await
        .finished_jobs
        .iter()
        .map(|j| j.job_id)
        .collect();
    assert_eq!(kept, [ids[2], ids[1]]);

    let mut none = common::config();
    none.history.keep_finished_jobs = 0;
    let server = spawn_server(none).await;
    run_engine_job(&server, "echo", &prompt_calls(&["a"]), 1).await;
    assert!(server.status().await.finished_jobs.is_empty());
}
