"""`endpointctl agent start|status|stop` and the single-agent lock."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from endpointctl.backends.local.layout import SPAWNED_AT_VARIABLE
from endpointctl.backends.local.lock import lock_holder
from endpointctl.backends.process.layout import Layout
from endpointctl.core.home import Home
from tests.conftest import Run


def test_agent_start_status_stop(cli: Run, process_home: Home) -> None:
    layout = Layout(process_home)
    assert lock_holder(layout) is None
    assert "starts on first use" in cli("agent", "status", "-o", "tsv", "--query", "context").out
    started = cli("agent", "start", "-o", "json")
    assert started.code == 0, started.err
    pid = lock_holder(layout)
    assert pid is not None and pid > 0
    assert layout.socket.stat().st_mode & 0o777 == 0o600
    # A second agent refuses to run next to the first and exits cleanly.
    second = subprocess.run(
        [sys.executable, "-m", "endpointctl.backends.process.agent", "--home", str(process_home.root)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode == 0 and "another agent holds" in second.stderr
    assert lock_holder(layout) == pid
    assert cli("agent", "stop", "-o", "tsv", "--query", "stopped").out == "True\n"
    assert lock_holder(layout) is None
    assert cli("agent", "stop", "-o", "tsv", "--query", "stopped").out == "False\n"


def test_a_spare_agent_that_gets_the_lock_after_a_stop_exits(cli: Run, process_home: Home) -> None:
    """ensure_agent may spawn a spare when the first agent is slow to start; if the first one's whole life
    (start, work, stop) passes before the spare gets the lock, the spare must not run on unasked."""
    layout = Layout(process_home)
    spawned_at = time.time()
    assert cli("agent", "start").code == 0
    assert cli("agent", "stop").code == 0
    assert float(layout.stopped_marker.read_text()) >= spawned_at
    spare = subprocess.run(
        [sys.executable, "-m", "endpointctl.backends.process.agent", "--home", str(process_home.root)],
        env={**os.environ, SPAWNED_AT_VARIABLE: repr(spawned_at)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert spare.returncode == 0
    assert lock_holder(layout) is None
    assert "a stop was requested after it was started" in layout.agent_log.read_text() + spare.stderr
    # An agent spawned after the stop runs as usual.
    assert cli("agent", "start").code == 0
    assert lock_holder(layout) is not None
