"""`symbatcher status`: a server's workers, engines, queues and jobs, as text
and as JSON; a clear error when the server does not answer."""

from __future__ import annotations

import json
import threading

from helpers import wait_until, server_status
from remote_expressions import TwoCalls
from symbatcher import BatchScheduler, EchoEngine
from symbatcher.cli.main import main as cli_main


def test_status_shows_workers_engines_and_a_running_job(capsys):
    with BatchScheduler(engine=EchoEngine(latency_ms=20)) as scheduler:
        done = threading.Event()

        def job():
            scheduler(TwoCalls, 8, range(400), batch_size=8)
            done.set()

        threading.Thread(target=job, daemon=True).start()
        wait_until(
            lambda: any(j.completed for j in server_status(scheduler.address).jobs),
            20,
            "the job to complete some items",
        )
        assert cli_main(["status", "--server", scheduler.address]) == 0
        text = capsys.readouterr().out
        assert cli_main(["status", "--server", scheduler.address, "--json"]) == 0
        snapshot = json.loads(capsys.readouterr().out)
        assert done.wait(60)
    assert text.startswith(f"server {scheduler.address} · up ")
    assert "workers (1)\n  local-" in text and "8 slots" in text
    assert "serves remote_expressions:TwoCalls" in text
    assert "engines (1)\n  echo (echo): " in text and "latency p50 " in text
    assert "jobs (1)\n  job " in text and "remote_expressions:TwoCalls on echo: " in text
    assert "400 received" in text
    # JSON: protobuf's mapping of the same response.
    assert [w["expressions"] for w in snapshot["workers"]] == [["remote_expressions:TwoCalls"]]
    assert snapshot["workers"][0]["concurrency"] == 8
    assert snapshot["engines"][0]["kind"] == "echo"
    assert snapshot["jobs"][0]["received"] == "400"


def test_status_of_an_unreachable_server_fails_naming_it(capsys):
    assert cli_main(["status", "--server", "127.0.0.1:1", "--timeout", "1"]) == 1
    err = capsys.readouterr().err
    assert "no answer from the server at 127.0.0.1:1" in err and "UNAVAILABLE" in err


def test_status_arguments_are_checked(capsys, monkeypatch):
    monkeypatch.delenv("SYMBATCHER_SERVER", raising=False)
    assert cli_main(["status"]) == 2
    assert "--server HOST:PORT is required" in capsys.readouterr().err
    assert cli_main(["status", "--server", "127.0.0.1:1", "--watch", "0"]) == 2
    assert "--watch: must be > 0 seconds, got 0.0" in capsys.readouterr().err


def test_waiting_requests_name_what_holds_them():
    from symbatcher.cli.status import _waiting
    from symbatcher.v1 import status_pb2

    full = status_pb2.EngineStatus(requests_waiting=3, concurrency_limit=4, requests_in_flight=4, rpm=100)
    assert _waiting(full) == "3 waiting for a free place under the concurrency limit"
    budget = status_pb2.EngineStatus(requests_waiting=2, requests_in_flight=1, rpm=100)
    assert _waiting(budget) == "2 waiting for the rate limit (rpm/tpm)"
    assert _waiting(status_pb2.EngineStatus()) == "none waiting"


def test_status_shows_both_engines_of_a_job_that_embeds_and_queries():
    from symbatcher.cli.status import describe
    from symbatcher.v1 import status_pb2

    status = status_pb2.StatusResponse(
        default_engine="openai",
        default_engine_source="flag",
        default_embedding_engine="openai-embeddings",
        engines=[
            status_pb2.EngineStatus(name="openai", kind="openai", call_kind="neurosymbolic"),
            status_pb2.EngineStatus(
                name="openai-embeddings", kind="openai-embeddings", call_kind="embedding"
            ),
        ],
        jobs=[
            status_pb2.JobStatus(
                job_id=1, expression="m:E", engine="openai", embedding_engine="openai-embeddings"
            )
        ],
    )
    text = describe(status, "h:1")
    assert "default embedding engine openai-embeddings" in text
    assert "  openai-embeddings (openai-embeddings, embedding calls" in text
    assert "  job 1 m:E on openai (embedding: openai-embeddings): " in text


def test_status_shows_a_finished_job_as_finished_with_its_final_counts(capsys):
    with BatchScheduler(engine=EchoEngine()) as scheduler:
        results = scheduler(TwoCalls, 4, range(30), batch_size=8)
        assert len(results) == 30
        assert cli_main(["status", "--server", scheduler.address]) == 0
        text = capsys.readouterr().out
        assert cli_main(["status", "--server", scheduler.address, "--json"]) == 0
        snapshot = json.loads(capsys.readouterr().out)
    assert "jobs (0)\n" in text
    assert "ended jobs (1), the newest first\n  job " in text, text
    assert "remote_expressions:TwoCalls on echo: finished " in text
    assert "30 done (0 failed) of 30 received · cost $0" in text
    assert "jobs" not in snapshot
    [ended] = snapshot["finishedJobs"]
    assert ended["state"] == "JOB_STATE_FINISHED"
    assert (ended["completed"], ended["received"], ended["engine"]) == ("30", "30", "echo")
    assert int(ended["endedUnixMs"]) > 0
