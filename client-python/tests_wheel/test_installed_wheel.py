"""The wheel that `make wheel` builds, installed as a user would: into a
fresh virtualenv outside the repository, with no Rust toolchain on PATH, no
SYMBATCHER_SERVER_BIN and nothing of the repository on sys.path. It must
carry a stripped, glibc-only server binary, tagged manylinux for the glibc it
needs; `BatchScheduler()` must find that binary and run a job, and
`symbatcher status` must read a server started from it.

Run by `make test-wheel` (SYMBATCHER_WHEEL_DIR names the directory holding
the wheels to test; default: the repository's dist/). `make wheel` builds one
wheel per Linux architecture, both tagged manylinux2014 (glibc 2.17): the one
for this machine's architecture is installed and run; the other is checked
for its tag, its architecture and the glibc symbols it needs.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BINARY = "symbatcher-server"
#: The shared libraries of glibc (and libgcc, which every glibc system has):
#: all a manylinux wheel may link against that the server uses.
GLIBC_LIBRARIES = {
    "libc.so.6", "libm.so.6", "libdl.so.2", "librt.so.1", "libpthread.so.0",
    "libgcc_s.so.1", "ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1",
}
#: A wheel's name: its platform tags, dot-separated (manylinux2014_x86_64.manylinux_2_17_x86_64).
WHEEL_NAME = re.compile(r"^symbatcher-[\w.]+-py3-none-(?P<platforms>[\w.]+)\.whl$")
#: The glibc every wheel is built for: manylinux2014.
TARGET_GLIBC = (2, 17)
#: Each Linux architecture `make wheel` builds, with what readelf calls its machine.
ARCHITECTURES = {"x86_64": "Advanced Micro Devices X86-64", "aarch64": "AArch64"}


def wheel_for(arch: str) -> Path:
    directory = Path(os.environ.get("SYMBATCHER_WHEEL_DIR", REPO / "dist"))
    found = sorted(directory.glob(f"symbatcher-*_{arch}.whl"))
    assert len(found) == 1, f"want exactly one symbatcher wheel for {arch} in {directory} (build them with `make wheel`), found {found}"
    return found[0]


@pytest.fixture(scope="module")
def wheel() -> Path:
    """The wheel for this machine's architecture, the one installed and run."""
    return wheel_for(platform.machine())


@pytest.fixture(scope="module")
def workdir():
    with tempfile.TemporaryDirectory(prefix="wheel-test-") as tmp:
        yield Path(tmp)


@pytest.fixture(scope="module")
def venv(wheel: Path, workdir: Path) -> Path:
    """A new virtualenv with the wheel (and its dependencies) installed."""
    venv = workdir / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    # --no-compile: byte-compiling symai's dependencies (pandas, numpy, ...)
    # would take most of the install's time; imports compile what they use.
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-compile", str(wheel)],
        check=True, env=user_env(venv), cwd=workdir,
    )
    return venv


def user_env(venv: Path) -> dict[str, str]:
    """A user's environment: the venv's bin and the system's, no Rust
    toolchain, nothing of symbatcher's or of the repository's."""
    env = {
        k: v for k, v in os.environ.items()
        if not k.startswith(("SYMBATCHER_", "PYTHON", "CARGO", "RUST")) and k != "VIRTUAL_ENV"
    }
    env["PATH"] = f"{venv / 'bin'}:/usr/bin:/bin"
    return env


def readelf(flag: str, path: Path) -> str:
    readelf = shutil.which("readelf")
    assert readelf, "readelf (binutils) is needed to inspect the wheel's binary"
    return subprocess.run([readelf, "--wide", flag, str(path)], check=True, capture_output=True, text=True).stdout


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_each_linux_wheel_carries_a_stripped_glibc_only_server_for_glibc_2_17(arch: str, workdir: Path):
    wheel = wheel_for(arch)
    name = WHEEL_NAME.match(wheel.name)
    assert name, f"{wheel.name}: not a py3-none wheel"
    tags = name["platforms"].split(".")
    assert f"manylinux_2_17_{arch}" in tags and f"manylinux2014_{arch}" in tags, f"{wheel.name}: not tagged manylinux2014 for {arch}"
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        scripts = [n for n in names if n.endswith(f".data/scripts/{BINARY}")]
        assert len(scripts) == 1, f"no {BINARY} in the wheel's scripts: {names}"
        binary = Path(zf.extract(scripts[0], workdir / "unpacked" / arch))
    for module in ("symbatcher/__init__.py", "symbatcher/py.typed", "symbatcher/v1/batch_pb2.py", "symbatcher/v1/batch_pb2.pyi"):
        assert module in names, f"{module} missing from the wheel"
    assert not [n for n in names if "__pycache__" in n or n.startswith("tests")], "test or cache files in the wheel"

    sections = readelf("--section-headers", binary)
    assert ".symtab" not in sections, "the server binary is not stripped"
    needed = set(re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", readelf("--dynamic", binary)))
    assert needed and needed <= GLIBC_LIBRARIES, f"links more than glibc: {sorted(needed - GLIBC_LIBRARIES)}"
    versions = {tuple(map(int, v)) for v in re.findall(r"GLIBC_(\d+)\.(\d+)", readelf("--version-info", binary))}
    assert versions and max(versions) <= TARGET_GLIBC, f"needs glibc {max(versions)}, newer than manylinux2014's {TARGET_GLIBC}"
    machine = re.search(r"Machine:\s+(.+)", readelf("--file-header", binary))
    assert machine and machine[1].strip() == ARCHITECTURES[arch], f"the {arch} wheel's binary is for {machine}"


def test_batchscheduler_runs_a_job_on_the_bundled_server(venv: Path, workdir: Path):
    env = user_env(venv)
    for tool in ("cargo", "rustc"):
        assert shutil.which(tool, path=env["PATH"]) is None, f"{tool} is on the test's PATH"
    script = workdir / "job.py"
    shutil.copy(Path(__file__).with_name("job.py"), script)
    run = subprocess.run(
        [str(venv / "bin" / "python"), str(script)], env=env, cwd=workdir, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert Path(report["package"]).is_relative_to(venv), report["package"]
    # Found through the wheel's RECORD, not only because it sits beside python.
    assert report["bundled_binary"] == report["server_binary"] == str((venv / "bin" / BINARY).resolve())
    assert not [p for p in report["sys_path"] if p and Path(p).resolve().is_relative_to(REPO)], report["sys_path"]
    assert len(report["results"]) == 5
    for i, result in enumerate(report["results"]):
        assert result.startswith("echo: ") and f"item-{i}" in result, result
    assert report["succeeded"] == 5 and report["engine_calls"] == 5
    assert 2 <= report["engine_batches"] <= 5


def test_symbatcher_status_reads_a_server_started_from_the_wheel(venv: Path, workdir: Path):
    env = user_env(venv) | {"SYMBATCHER_AUTH_TOKEN": "wheel-test-token-0123456789"}
    server = subprocess.Popen(
        [BINARY, "--listen", "127.0.0.1:0", "--exit-with-stdin"],
        env=env, cwd=workdir, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )
    try:
        line = server.stdout.readline().decode().strip()
        assert line.startswith("listening on "), line
        address = line.removeprefix("listening on ")
        status = subprocess.run(
            ["symbatcher", "status", "--server", address], env=env, cwd=workdir,
            capture_output=True, text=True, timeout=60,
        )
        assert status.returncode == 0, status.stderr
        assert status.stdout.startswith(f"server {address} · up "), status.stdout
        unauthorized = subprocess.run(
            ["symbatcher", "status", "--server", address], env=env | {"SYMBATCHER_AUTH_TOKEN": "x" * 24},
            cwd=workdir, capture_output=True, text=True, timeout=60,
        )
        assert unauthorized.returncode != 0 and "UNAUTHENTICATED" in unauthorized.stderr, unauthorized.stderr
    finally:
        server.stdin.close()
        server.wait(timeout=30)
