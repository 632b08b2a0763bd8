"""End to end in a real terminal: tmux runs the TUI, send-keys drives it, capture-pane text is asserted.

Needs `tmux` (apt-get install -y tmux); skipped where it is missing.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import pytest

from endpointctl.backends.process.launcher import stop_agent
from endpointctl.backends.process.layout import ENV_CACHE_VARIABLE, Layout
from endpointctl.core.home import HOME_ENV, Home
from tests.backends.process.conftest import ENV_CACHE
from tests.conftest import REPO

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
WAIT_S = 30.0


class Terminal:
    def __init__(self, session: str) -> None:
        self.session = session

    def capture(self) -> str:
        return subprocess.run(
            ["tmux", "capture-pane", "-p", "-t", self.session], capture_output=True, text=True, check=True
        ).stdout

    def keys(self, *keys: str) -> None:
        for key in keys:
            subprocess.run(["tmux", "send-keys", "-t", self.session, key], check=True)
            time.sleep(0.15)  # pacing, not an assertion: a real user does not type 100 keys at once

    def wait_for(self, text: str) -> str:
        deadline = time.monotonic() + WAIT_S
        while True:
            screen = self.capture()
            if text in screen:
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} never appeared; the screen was:\n{screen}")
            time.sleep(0.2)


@pytest.fixture
def terminal(home: Home) -> Iterator[Terminal]:
    session = f"endpointctl-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        HOME_ENV: str(home.root),
        ENV_CACHE_VARIABLE: str(ENV_CACHE),
        "TERM": "xterm-256color",
    }
    # What `make run` does: the sample endpoint on the real process backend, then the bare command opens the TUI.
    subprocess.run(
        [sys.executable, "-m", "endpointctl", "quickstart", "--backend", "process"],
        check=True,
        env=env,
        timeout=600,
    )
    # The tmux server may predate this test and hand its own environment to new sessions: pass the home inline.
    inline = " ".join(f"{k}={shlex.quote(env[k])}" for k in (HOME_ENV, ENV_CACHE_VARIABLE, "TERM"))
    command = f"env {inline} {shlex.quote(sys.executable)} -m endpointctl"
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", session, "-x", "100", "-y", "30", "-c", str(REPO), command],
        check=True,
        env=env,
    )
    try:
        yield Terminal(session)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], check=False)
        asyncio.run(stop_agent(Layout(home)))


@pytest.mark.slow
def test_navigate_logs_traffic_apply_and_invoke(terminal: Terminal) -> None:
    screen = terminal.wait_for("scoring: http://127.0.0.1:")
    assert "my-endpoint" in screen and "blue Succeeded 1/1 100%" in screen

    terminal.keys("Down", "l", "w")  # the blue deployment's logs, from its real instance, wrapped
    terminal.wait_for("wrap on")
    terminal.wait_for("ready for serving traffic")
    terminal.keys("c")
    terminal.wait_for("[storage-initializer]")
    terminal.wait_for("storage-initializer staging code from")

    terminal.keys("Escape", "Up", "t")  # back to the endpoint, traffic panel
    terminal.wait_for("mirror→none")
    terminal.keys("S-Left", "S-Left")
    screen = terminal.wait_for("blue: 100% → 90%")
    assert "green: 0% → 10%" in screen
    terminal.keys("a")
    terminal.wait_for("Apply traffic to my-endpoint?")
    terminal.keys("y")
    terminal.wait_for("blue Succeeded 1/1 90%")

    terminal.keys("i")
    terminal.wait_for('{"data": [[1,2,3,4,5,6,7,8,9,10]')
    terminal.keys("C-t", "C-t", "C-s")  # pinned to green
    screen = terminal.wait_for("served by: green")
    assert "200" in screen
