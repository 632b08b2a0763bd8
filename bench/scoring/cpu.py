"""CPU time (user + system) of a server's whole process tree, read from /proc.

CPU per request is much less sensitive to other load on a shared machine than requests per second: a busy
neighbour delays the server but does not make it execute more instructions.
"""

from __future__ import annotations

import os
from pathlib import Path

_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found.extend(int(child) for child in task.read_text().split())
        except OSError:
            continue
    return found


def _own_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # After the ")" closing the command name: fields[11] is utime, fields[12] stime (stat fields 14, 15).
    return (int(fields[11]) + int(fields[12])) / _TICKS_PER_S


def tree_seconds(pid: int) -> float:
    """CPU seconds used so far by ``pid`` and all its live descendants (gunicorn or our supervisor + workers)."""
    total, pending = 0.0, [pid]
    while pending:
        current = pending.pop()
        total += _own_seconds(current)
        pending.extend(_children(current))
    return total
