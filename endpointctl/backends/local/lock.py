"""The agent's lock file: held for exactly as long as an agent runs, and naming its pid."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from endpointctl.backends.local.layout import Layout


class AlreadyRunning(Exception):
    pass


def acquire(layout: Layout) -> int:
    """Take the lock or raise AlreadyRunning; returns the descriptor to keep open while the agent runs."""
    layout.root.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(layout.lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise AlreadyRunning(f"another agent holds {layout.lock}") from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def lock_holder(layout: Layout) -> int | None:
    """The pid of the running agent, or None: the lock file is held for exactly as long as an agent runs."""
    try:
        fd = os.open(layout.lock, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = Path(layout.lock).read_text().strip()
            return int(text) if text.isdigit() else -1
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
