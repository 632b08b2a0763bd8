"""End to end in a real terminal: tmux runs the TUI, send-keys drives it, capture-pane text is asserted.

At 80×24 (an SSH session's default) and at 160×48, each pane's main content must be on screen without extra keys:
a whole access-log line in the logs, `batch n/m` in the rollout view, the response body in invoke.
Needs `tmux` (apt-get install -y tmux); CI installs it.
"""

from __future__ import annotations

import asyncio
import os
import re
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
from tests.conftest import REPO, SAMPLES

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
WAIT_S = 30.0
SAMPLE = SAMPLES / "managed" / "sample"


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


@pytest.fixture(params=[(80, 24), (160, 48)], ids=["80x24", "160x48"])
def terminal(home: Home, request: pytest.FixtureRequest) -> Iterator[Terminal]:
    width, height = request.param
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
        [
            "tmux",
            "new-session",
            "-d",
            "-s",
            session,
            "-x",
            str(width),
            "-y",
            str(height),
            "-c",
            str(REPO),
            command,
        ],
        check=True,
        env=env,
    )
    try:
        yield Terminal(session)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], check=False)
        asyncio.run(stop_agent(Layout(home)))


def cli(*args: str) -> None:
    """The CLI in another terminal, on the same data directory."""
    subprocess.run([sys.executable, "-m", "endpointctl", *args], check=True, capture_output=True, timeout=300)


@pytest.mark.slow
def test_every_pane_shows_its_main_content(terminal: Terminal) -> None:
    screen = terminal.wait_for("scoring: http://127.0.0.1:")
    assert re.search(r"blue\s+█+\s+100%", screen), screen  # the overview's traffic bars

    # Invoke pinned to blue: the status and the response body are on screen.
    terminal.keys("i")
    terminal.wait_for('{"data": [[1,2,3,4,5,6,7,8,9,10]')
    terminal.keys("C-t", "C-s")
    screen = terminal.wait_for("served by: blue")
    assert "200" in screen
    assert len(re.findall(r"\d+\.\d{6,}", screen)) >= 2, screen  # the body: the model's two predictions

    # Blue's logs: the access-log line of that request, whole (not cut at the pane's edge).
    terminal.keys("Escape", ":", "logs blue", "Enter")
    screen = terminal.wait_for("POST /score 200")
    line = next(row for row in screen.splitlines() if "POST /score 200" in row)
    assert re.search(r"azmlinfsrv - POST /score 200 [\d.]+ms \d+\s*$", line.rstrip("▏▎▕ ")), line

    # A rollout started from another terminal shows in the YAML pane's rollout view: plan, batches, outcome.
    cli(
        "online-deployment",
        "update",
        "-f",
        str(SAMPLE / "blue-deployment.yml"),
        "--set",
        "instance_count=2",
        "--set",
        "environment_variables.ROLLOUT=two",
    )
    terminal.keys("e")
    terminal.wait_for("rolled out in")
    screen = terminal.wait_for("batch 2/2 ✔")
    assert "my-endpoint/blue rev 1→2" in screen

    # Traffic: the sliders and the change preview fit; apply after a confirm.
    terminal.keys("Escape", ":", "ep my-endpoint", "Enter", "t")
    terminal.wait_for("mirror→none")
    terminal.keys("S-Left", "S-Left")
    screen = terminal.wait_for("blue: 100% → 90%")
    assert "green: 0% → 10%" in screen
    terminal.keys("a")
    terminal.wait_for("Apply traffic to my-endpoint?")
    terminal.keys("y")
    terminal.keys("o")
    screen = terminal.wait_for("90% ● Succeeded")
    # The footer keeps help and quit at every size.
    assert "? Help" in screen and "q Quit" in screen
