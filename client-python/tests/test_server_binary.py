"""Which `symbatcher-server` the client runs: $SYMBATCHER_SERVER_BIN first,
then the binary the installed distribution carries (its RECORD)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from symbatcher import BatchScheduler
from symbatcher._errors import ServerStartError
from symbatcher.client._embedded_server import BINARY_NAME, ENV_BINARY, bundled_server_binary, find_server_binary


def test_the_installed_distribution_carries_the_binary():
    # `make install` installs the package with maturin (editable), which
    # records the binary it put in the environment's scripts directory.
    bundled = bundled_server_binary()
    assert bundled == str((Path(sys.executable).parent / BINARY_NAME).resolve())
    assert os.access(bundled, os.X_OK)


def test_symbatcher_server_bin_overrides_the_bundled_binary(monkeypatch):
    monkeypatch.setenv(ENV_BINARY, "/nonexistent/symbatcher-server-override")
    assert find_server_binary() == "/nonexistent/symbatcher-server-override"
    with pytest.raises(ServerStartError, match="cannot run /nonexistent/symbatcher-server-override"):
        BatchScheduler()
