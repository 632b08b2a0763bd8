"""Disk a local backend leaves behind, and taking it back: retired instances' logs, unused environments.

Every instance writes its own log file (``inference-server.<instance>.log``) and keeps it after it retires,
so an operator can read why an old revision's instance stopped. Without a bound, a deployment rolled out
thirteen times keeps forty files; only the last few revisions' worth are kept (`RETIRED_REVISIONS_KEPT`
times the deployment's instance count, newest first, by when they were last written).

Environments (uv venvs, Docker images) are found by digest and shared by every deployment that needs the
same requirements; they go only when nothing needs them: no recorded instance, no revision prepared for a
rollout in flight, no running process started from them, and not used for `min_idle_s` (a build that just
finished for a rollout about to spawn its first instance is recent, and so safe).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Collection, Iterator
from pathlib import Path

from endpointctl.core.views import DiskItem

# How many revisions' worth of retired instances' logs a deployment keeps.
RETIRED_REVISIONS_KEPT = 3
# An environment used (built, reused or started) this recently is never collected.
DEFAULT_MIN_IDLE_S = 600.0
INSTANCE_LOG_PREFIX = "inference-server."
INSTANCE_LOG_SUFFIX = ".log"


def instance_logs(log_dir: Path) -> dict[str, list[Path]]:
    """Each instance's log files (the live one and its rotated copies), by instance id."""
    found: dict[str, list[Path]] = {}
    if not log_dir.is_dir():
        return found
    for path in log_dir.iterdir():
        name = path.name
        if not name.startswith(INSTANCE_LOG_PREFIX) or INSTANCE_LOG_SUFFIX not in name:
            continue
        instance = name.removeprefix(INSTANCE_LOG_PREFIX).split(INSTANCE_LOG_SUFFIX)[0]
        found.setdefault(instance, []).append(path)
    return found


def retired_logs_beyond(log_dir: Path, running: Collection[str], keep: int) -> list[Path]:
    """The log files of retired instances beyond the `keep` most recently written ones."""
    retired = [
        (instance, paths) for instance, paths in instance_logs(log_dir).items() if instance not in running
    ]
    retired.sort(key=lambda pair: max(_mtime(p) for p in pair[1]), reverse=True)
    return [path for _, paths in retired[max(keep, 0) :] for path in sorted(paths)]


def prune_retired_logs(
    log_dir: Path, running: Collection[str], instance_count: int, *, dry_run: bool = False
) -> list[DiskItem]:
    keep = RETIRED_REVISIONS_KEPT * max(instance_count, 1)
    freed: list[DiskItem] = []
    for path in retired_logs_beyond(log_dir, running, keep):
        size = _size(path)
        if not dry_run:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        freed.append(
            DiskItem(
                "log", str(path), size, f"retired instance; the last {keep} retired instances' logs are kept"
            )
        )
    return freed


def tree_size(root: Path) -> int:
    """Bytes under `root` (files counted once per inode, symlinks not followed)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for directory, _dirs, files in os.walk(root):
        for name in files:
            with contextlib.suppress(OSError):
                st = (Path(directory) / name).lstat()
                if (st.st_dev, st.st_ino) not in seen:
                    seen.add((st.st_dev, st.st_ino))
                    total += st.st_blocks * 512 if hasattr(st, "st_blocks") else st.st_size
    return total


def processes_under(root: Path) -> dict[Path, int]:
    """Running processes whose program lies under `root`: {the top-level directory it lies in: a pid}.

    A venv's python is a symlink to the base interpreter, so /proc/<pid>/exe does not say which venv a
    process runs from; its argv[0] (how the runtime started it) does. Other users' processes are unreadable
    and skipped: environments are per user.
    """
    prefixes = {str(root) + os.sep, str(root.resolve()) + os.sep}
    found: dict[Path, int] = {}
    for pid, argv0 in _argv0s():
        for prefix in prefixes:
            if argv0.startswith(prefix):
                found.setdefault(root / argv0[len(prefix) :].split(os.sep, 1)[0], pid)
    return found


def _argv0s() -> Iterator[tuple[int, str]]:
    try:
        pids = [
            p.name for p in Path("/proc").iterdir() if p.name.isdigit()
        ]  # listed at once: they come and go
    except FileNotFoundError:
        return
    for pid in pids:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                raw = f.read(4096)
        except OSError:  # gone meanwhile, or not ours to read
            continue
        argv0 = raw.split(b"\0", 1)[0].decode(errors="replace")
        if argv0.startswith("/"):  # runtimes start interpreters by absolute path
            yield int(pid), argv0


def touch(path: Path) -> None:
    """Record a use now (an environment's `.last-used` marker)."""
    with contextlib.suppress(OSError):
        path.touch()


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0
