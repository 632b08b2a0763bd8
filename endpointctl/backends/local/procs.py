"""Process identity through /proc: a pid plus its start time names one process, even after pid reuse."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path


def start_time(pid: int) -> int | None:
    """Clock ticks since boot when `pid` started (field 22 of /proc/PID/stat), or None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) may contain spaces and parentheses; fields resume after the last ')'.
    fields = raw[raw.rindex(")") + 2 :].split()
    if fields[0] == "Z":
        return None  # a zombie has exited; only its exit status is left
    return int(fields[19])


def is_running(pid: int, started: int) -> bool:
    return start_time(pid) == started


def terminate(pid: int, started: int, *, grace_s: float) -> None:
    """SIGTERM (graceful: the scoring host finishes in-flight requests), then SIGKILL after `grace_s`."""
    if not is_running(pid, started):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if not is_running(pid, started):
            return
        time.sleep(0.02)
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
