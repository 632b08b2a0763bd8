"""The gateway's agent reviver: a killed agent is started again, a stopped one is not, attempts back off."""

from __future__ import annotations

import fcntl
import os
import sys
import time
from pathlib import Path

from endpointctl.serving.gateway.revive import FIRST_BACKOFF_S, AgentCommand, AgentReviver, lock_held


def _command(tmp_path: Path) -> AgentCommand:
    # The "agent" records that it ran and with which spawn time, then exits.
    script = "import os, sys; open(sys.argv[1], 'a').write(os.environ['SPAWNED'] + '\\n')"
    return AgentCommand(
        (sys.executable, "-c", script, str(tmp_path / "started")),
        tmp_path / "agent.lock",
        tmp_path / "agent.stopped",
        tmp_path / "logs" / "agent.log",
        "SPAWNED",
    )


def _started(tmp_path: Path, count: int) -> list[str]:
    deadline = time.monotonic() + 20
    path = tmp_path / "started"
    while time.monotonic() < deadline:
        lines = path.read_text().splitlines() if path.exists() else []
        if len(lines) >= count:
            return lines
        time.sleep(0.05)
    raise AssertionError(f"the agent was not started {count} time(s)")


def test_a_killed_agent_is_revived_a_held_lock_and_a_stop_are_respected(tmp_path: Path) -> None:
    command = _command(tmp_path)
    fd = os.open(command.lock, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    assert lock_held(command.lock)
    reviver = AgentReviver(command, clock=1000.0)
    assert not reviver.check(now=1001.0)  # running: nothing to do
    os.close(fd)  # the agent is killed: the kernel drops its lock
    assert not lock_held(command.lock)
    assert reviver.check(now=1002.0)
    assert _started(tmp_path, 1) == ["1002.0"]  # the spawn time the agent compares with the stop marker
    # Still no lock (the stand-in exits at once): the next attempts back off.
    assert not reviver.check(now=1003.0)
    assert reviver.check(now=1002.0 + FIRST_BACKOFF_S)
    assert not reviver.check(now=1002.0 + FIRST_BACKOFF_S + FIRST_BACKOFF_S)  # doubled
    assert reviver.check(now=1002.0 + FIRST_BACKOFF_S * 3)
    assert (tmp_path / "logs" / "agent.log").stat().st_mode & 0o777 == 0o600


def test_an_agent_stopped_on_request_stays_stopped(tmp_path: Path) -> None:
    command = _command(tmp_path)
    reviver = AgentReviver(command, clock=1000.0)
    fd = os.open(command.lock, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    assert not reviver.check(now=1010.0)
    command.stopped_marker.write_text("1010.5\n")  # `agent stop`: written while it still holds the lock
    os.close(fd)
    assert not reviver.check(now=1011.0)
    assert not reviver.check(now=1100.0)
    assert not (tmp_path / "started").exists()
    # A later agent that is killed (the marker is older than when it was last seen running) is revived.
    fd = os.open(command.lock, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    assert not reviver.check(now=2000.0)
    os.close(fd)
    assert reviver.check(now=2001.0)
    _started(tmp_path, 1)
