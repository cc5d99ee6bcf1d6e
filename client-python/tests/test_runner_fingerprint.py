"""`symbatcher run` resumes only the job that wrote its output: a changed
input file, expression, kwargs or engine (of either kind) stops the re-run before anything
runs (status 2, naming what changed); --force goes on and rewrites the
fingerprint; an output from before fingerprints resumes with a notice."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from symbatcher.cli.main import main as cli_main

TESTS_DIR = Path(__file__).resolve().parent


def argv(data: Path, out: Path, *extra: str, expression: str = "remote_expressions:Lines") -> list[str]:
    return ["run", expression, "--input", str(data), "--output", str(out), "--workers", "2",
            "--no-progress", "--app-dir", str(TESTS_DIR), "--engine", "echo", *extra]


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def sidecar(out: Path) -> dict:
    return json.loads(Path(str(out) + ".symbatcher.json").read_text())


@pytest.mark.parametrize("output_name", ["out.jsonl", "out.parquet"])
def test_a_changed_input_stops_the_resume_and_force_goes_on(tmp_path, capsys, output_name):
    data, out = tmp_path / "in.jsonl", tmp_path / output_name
    data.write_text("".join(json.dumps(f"line {i}") + "\n" for i in range(10)))
    assert cli_main(argv(data, out)) == 0
    kept = sidecar(out)
    assert kept["input"]["size"] == data.stat().st_size and kept["expression"] == "remote_expressions:Lines"
    before = out.read_bytes()
    capsys.readouterr()

    old_size = data.stat().st_size
    with data.open("a") as f:
        f.write(json.dumps("line 10") + "\n")
    assert cli_main(argv(data, out)) == 2
    err = capsys.readouterr().err
    assert f"the input file changed (size {old_size} -> {data.stat().st_size})" in err
    assert "--force" in err
    assert out.read_bytes() == before, "nothing ran"

    assert cli_main(argv(data, out, "--force")) == 0
    assert "--force: resuming although the input file changed" in capsys.readouterr().err
    assert sidecar(out)["input"]["size"] == data.stat().st_size
    assert cli_main(argv(data, out)) == 0
    assert "nothing to do" in capsys.readouterr().err


def test_same_size_other_content_and_a_new_mtime_are_noticed(tmp_path, capsys):
    data, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    data.write_text('"aaa"\n"bbb"\n')
    assert cli_main(argv(data, out)) == 0
    data.write_text('"aaa"\n"ccc"\n')
    assert cli_main(argv(data, out)) == 2
    assert "the input file changed (the content of its first or last MiB)" in capsys.readouterr().err
    assert cli_main(argv(data, out, "--force")) == 0
    stat = data.stat()
    os.utime(data, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    assert cli_main(argv(data, out)) == 2
    assert "the input file changed (modified " in capsys.readouterr().err


def test_changed_kwargs_expression_engine_and_column_are_named(tmp_path, capsys):
    data, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    data.write_text('{"input": "a", "text": "b"}\n')
    assert cli_main(argv(data, out, "--kwargs", '{"b": 1, "a": 2}')) == 0
    # The kwargs' canonical JSON: the order of keys does not matter.
    assert cli_main(argv(data, out, "--kwargs", '{"a": 2, "b": 1}')) == 0
    assert "nothing to do" in capsys.readouterr().err

    assert cli_main(argv(data, out, "--kwargs", '{"a": 3, "b": 1}')) == 2
    assert '--kwargs changed ({"a":2,"b":1} -> {"a":3,"b":1})' in capsys.readouterr().err
    assert cli_main(argv(data, out, "--kwargs", '{"a": 2, "b": 1}', expression="remote_expressions:Tagger")) == 2
    assert "the expression changed (remote_expressions:Lines -> remote_expressions:Tagger)" in capsys.readouterr().err
    config = tmp_path / "engines.toml"
    config.write_text('[engines.other]\nkind = "echo"\n')
    other = argv(data, out, "--kwargs", '{"a": 2, "b": 1}', "--config", str(config))
    other[other.index("echo")] = "other"
    assert cli_main(other) == 2
    assert "--engine changed (echo -> other)" in capsys.readouterr().err
    assert cli_main(argv(data, out, "--kwargs", '{"a": 2, "b": 1}', "--input-column", "text")) == 2
    assert "--input-column changed (the default -> text)" in capsys.readouterr().err
    # Two changes at once: both named.
    assert cli_main(argv(data, out, "--kwargs", "{}", "--input-column", "text")) == 2
    err = capsys.readouterr().err
    assert "--kwargs changed" in err and "--input-column changed" in err


def test_a_changed_embedding_engine_stops_the_resume_as_a_changed_engine_does(tmp_path, capsys):
    data, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    data.write_text('"a"\n"b"\n')
    config = tmp_path / "engines.toml"
    config.write_text(
        'default_embedding_engine = "emb"\n'
        '[engines.emb]\nkind = "openai-embeddings"\nbase_url = "http://127.0.0.1:9/v1"\n'
        'api_key_env = ""\n'
        'model = "text-embedding-3-small"\n'
        '[engines.emb2]\nkind = "openai-embeddings"\nbase_url = "http://127.0.0.1:9/v1"\n'
        'api_key_env = ""\n'
        'model = "text-embedding-3-small"\n'
    )
    with_config = ("--config", str(config))
    assert cli_main(argv(data, out, *with_config, "--embedding-engine", "emb")) == 0
    assert sidecar(out)["embedding_engine"] == "emb"
    assert cli_main(argv(data, out, *with_config, "--embedding-engine", "emb")) == 0
    assert "nothing to do" in capsys.readouterr().err
    assert cli_main(argv(data, out, *with_config, "--embedding-engine", "emb2")) == 2
    err = capsys.readouterr().err
    assert "--embedding-engine changed (emb -> emb2)" in err and "--force" in err
    assert cli_main(argv(data, out, *with_config)) == 2
    assert "--embedding-engine changed (emb -> the default)" in capsys.readouterr().err
    assert cli_main(argv(data, out, *with_config, "--embedding-engine", "emb2", "--force")) == 0
    assert sidecar(out)["embedding_engine"] == "emb2"


def test_a_fingerprint_kept_before_embedding_engines_resumes_with_the_default(tmp_path, capsys):
    data, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    data.write_text('"a"\n"b"\n')
    assert cli_main(argv(data, out)) == 0
    kept = sidecar(out)
    del kept["embedding_engine"]
    Path(str(out) + ".symbatcher.json").write_text(json.dumps(kept))
    assert cli_main(argv(data, out)) == 0
    assert "nothing to do" in capsys.readouterr().err


def test_an_output_without_a_fingerprint_resumes_with_a_notice(tmp_path, capsys):
    data, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    data.write_text('"a"\n"b"\n"c"\n')
    out.write_text(json.dumps({"index": 0, "result": "kept"}) + "\n")
    assert cli_main(argv(data, out)) == 0
    err = capsys.readouterr().err
    assert "has no fingerprint" in err and err.count("fingerprint") == 1
    assert sorted(r["index"] for r in lines(out)) == [0, 1, 2]
    assert lines(out)[0] == {"index": 0, "result": "kept"}
    assert sidecar(out)["input"]["size"] == data.stat().st_size


def test_a_fresh_output_ignores_a_stale_fingerprint(tmp_path):
    """The output was deleted, its sidecar was not: nothing to resume, so
    nothing to check; the run writes a new fingerprint."""
    data, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    data.write_text('"a"\n')
    assert cli_main(argv(data, out)) == 0
    out.unlink()
    data.write_text('"a"\n"b"\n')
    assert cli_main(argv(data, out)) == 0
    assert sorted(r["index"] for r in lines(out)) == [0, 1]
    assert sidecar(out)["input"]["size"] == data.stat().st_size
