"""Fixtures for the process backend: a data directory whose agent is stopped and checked for leftovers."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from endpointctl.backends.process.launcher import stop_agent
from endpointctl.backends.process.layout import ENV_CACHE_VARIABLE, Layout
from endpointctl.core.home import Home

# Environments are shared across tests and runs: building the sample's numpy/scipy/sklearn stack once is enough.
ENV_CACHE = Path(
    os.environ.get("ENDPOINTCTL_TEST_ENV_CACHE", Path.home() / ".cache" / "endpointctl-tests" / "envs")
)


def scoring_processes(home: Home) -> list[int]:
    """Pids of scoring hosts started for this data directory, found through /proc (not through the agent)."""
    marker = str(home.root).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            environ = (entry / "cwd").resolve()
        except (OSError, RuntimeError):
            continue
        if b"endpointctl.serving.scoring" in cmdline and str(environ).encode().startswith(marker):
            found.append(int(entry.name))
    return found


@pytest.fixture
def process_home(home: Home, monkeypatch: pytest.MonkeyPatch) -> Iterator[Home]:
    monkeypatch.setenv(ENV_CACHE_VARIABLE, str(ENV_CACHE))
    yield home
    asyncio.run(stop_agent(Layout(home)))
    assert scoring_processes(home) == [], "the agent left scoring processes behind"
