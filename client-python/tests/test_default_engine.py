"""With no engine named, a scheduler's calls go to the engine symai itself
would use; only when symai has none does the echo engine answer, with a
warning. The choice shows in the job summary and in `symbatcher status`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from fake_openai import FakeOpenAI
from symai import Expression, Symbol

from helpers import server_status
from mock_symai_engines import ANSWER_PREFIX, MockEngine, registered
from symbatcher import BatchScheduler
from symbatcher.cli.status import describe

TESTS_DIR = Path(__file__).resolve().parent


class Ask(Expression):
    def forward(self, input, **kwargs):
        return Symbol(input).query("Answer briefly", **kwargs).value


def test_the_default_answer_is_the_one_symai_gives_without_symbatcher():
    with registered(MockEngine()) as engine:
        # Outside any worker slot: symai's own query path, no symbatcher.
        direct = [Ask().forward(item, temperature=0.3) for item in ("alpha", "beta")]
        direct_inputs = list(engine.inputs)
        engine.inputs.clear()
        with BatchScheduler() as scheduler:
            results = scheduler(Ask, 2, ["alpha", "beta"], temperature=0.3)
            summary = scheduler.last_summary
            status = server_status(scheduler.address)
    assert results == direct
    assert all(r.startswith(ANSWER_PREFIX) for r in results)
    # The engine got the very input symai builds, a string, not chat messages.
    assert sorted(engine.inputs) == sorted(direct_inputs)
    assert all(isinstance(i, str) for i in engine.inputs)
    assert all(k.get("temperature") == 0.3 for k in engine.kwargs)
    assert summary.engine == "symai:MockEngine"
    assert "engine symai:MockEngine" in summary.describe()
    assert [e.name for e in status.engines if e.kind == "python"] == ["symai:MockEngine"]
    assert "symai:MockEngine (python" in describe(status, "here")


def _python(script: str, *, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=120,
    )


def _clean_env(home: Path) -> dict[str, str]:
    """A process whose symai sees no user configuration (a fresh HOME)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEUROSYMBOLIC_", "SYMBATCHER_"))}
    env["HOME"] = str(home)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS_DIR), env.get("PYTHONPATH")]))
    return env


def test_symai_configured_for_a_local_openai_compatible_server_is_the_default(tmp_path):
    script = """
        import json, sys
        from symai.backend import settings
        # As a user's symai.config.json and a running `symserver` set them.
        settings.SYMAI_CONFIG["NEUROSYMBOLIC_ENGINE_MODEL"] = "vllm-fake"
        settings.SYMSERVER_CONFIG.update({"online": True, "--host": "127.0.0.1", "--port": int(sys.argv[1])})
        from test_default_engine import Ask
        from symbatcher import BatchScheduler
        with BatchScheduler() as scheduler:
            results = scheduler(Ask, 3, ["p", "q", "r"], batch_size=3)
        print(json.dumps({"results": results, "engine": scheduler.last_summary.engine}))
    """
    with FakeOpenAI() as fake:
        done = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(script), str(fake.port)],
            env=_clean_env(tmp_path), cwd=tmp_path, capture_output=True, text=True, timeout=120,
        )
        assert done.returncode == 0, done.stderr
        out = json.loads(done.stdout.strip().splitlines()[-1])
        contents = sorted(a.content for a in fake.chat_arrivals())
    assert out["engine"] == "symai:VLLMEngine:vllm-fake"
    for item, result in zip("pqr", out["results"]):
        assert result.startswith("reply to: ") and f"\n{item}\n" in result, result
    assert len(contents) == 3 and all("Answer briefly" in c for c in contents)
    assert "EchoFallbackWarning" not in done.stderr


def test_without_a_symai_engine_echo_answers_and_says_so_once(tmp_path):
    script = """
        import json
        from test_default_engine import Ask
        from symbatcher import BatchScheduler
        engines = []
        for _ in range(2):
            with BatchScheduler() as scheduler:
                result = scheduler(Ask, 1, ["x"])[0]
            engines.append(scheduler.last_summary.engine)
        print(json.dumps({"result": result, "engines": engines}))
    """
    done = _python(script, env=_clean_env(tmp_path), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["engines"] == ["echo", "echo"]
    assert out["result"].startswith("echo: ")
    assert done.stderr.count("EchoFallbackWarning") == 1, done.stderr
    assert "engine='echo'" in done.stderr and "OpenAIEngine" in done.stderr
    # It points at the user's line that built the scheduler (line 7 of the
    # script), not at the event loop's code where the choice is made.
    assert "<string>:7: EchoFallbackWarning" in done.stderr, done.stderr


def test_naming_echo_chooses_it_without_a_warning(tmp_path):
    script = """
        from test_default_engine import Ask
        from symbatcher import BatchScheduler
        with BatchScheduler(engine="echo") as scheduler:
            print(scheduler(Ask, 1, ["x"])[0][:6], scheduler.last_summary.engine)
    """
    done = _python(script, env=_clean_env(tmp_path), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["echo:", "echo"]
    assert "EchoFallbackWarning" not in done.stderr


def test_a_server_config_default_engine_wins_over_symai(tmp_path):
    config = tmp_path / "symbatcher.toml"
    config.write_text('default_engine = "slow-echo"\n[engines.slow-echo]\nkind = "echo"\n')
    with registered(MockEngine()) as engine, BatchScheduler(server_args=["--config", str(config)]) as s:
        results = s(Ask, 1, ["x"])
        summary = s.last_summary
        status = server_status(s.address)
    assert results[0].startswith("echo: ") and not engine.inputs
    assert summary.engine == "slow-echo"
    assert (status.default_engine, status.default_engine_source) == ("slow-echo", "config")


def test_with_an_address_the_servers_default_applies():
    with registered(MockEngine()) as engine, BatchScheduler(engine="echo") as server:
        with BatchScheduler(address=server.address) as client:
            result = client(Ask, 1, ["x"])[0]
            summary = client.last_summary
    assert result.startswith("echo: ") and not engine.inputs
    assert summary.engine == "echo"
