"""`endpointctl agent start|status|stop` and the single-agent lock."""

from __future__ import annotations

import subprocess
import sys

from endpointctl.backends.process.agent.agent import lock_holder
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
