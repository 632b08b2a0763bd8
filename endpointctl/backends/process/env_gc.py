"""Collecting the process backend's environments (uv venvs in the cache) that nothing needs any more.

An environment stays while a recorded instance or a prepared revision of this data directory names it, while
any running process was started from it (the cache may be shared between data directories through
ENDPOINTCTL_ENV_CACHE, whose agents this one cannot ask), and for `min_idle_s` after its last use (the
builder and the runtime touch its `.last-used` marker). A removal takes the environment's build lock, so it
never races a build or a reuse of the same environment, and renames the folder away first, so a reader sees
the whole environment or none of it.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Mapping
from pathlib import Path

from endpointctl.backends.local.disk import processes_under, tree_size
from endpointctl.core.filelock import exclusive
from endpointctl.core.views import DiskItem

LAST_USED = ".last-used"
TRASH_PREFIX = ".trash-"


def environment_of(python: str | Path, cache_root: Path) -> str | None:
    """The cache key of the environment an interpreter path lies in (None when outside the cache)."""
    try:
        return Path(python).relative_to(cache_root).parts[0]
    except (ValueError, IndexError):
        return None


def last_used(root: Path) -> float:
    for candidate in (root / LAST_USED, root):
        with contextlib.suppress(FileNotFoundError):
            return candidate.stat().st_mtime
    return 0.0


def collect_environments(
    cache_root: Path,
    needed: Mapping[str, str],
    *,
    min_idle_s: float,
    dry_run: bool = False,
    max_bytes: int | None = None,
) -> tuple[list[DiskItem], list[DiskItem]]:
    """(freed, kept). `needed` maps environment keys to who needs them ("my-endpoint/blue rev 3").

    With `max_bytes`, only as many of the collectable environments go (least recently used first) as it
    takes to bring the cache under it; without, all of them go.
    """
    freed: list[DiskItem] = []
    kept: list[DiskItem] = []
    if not cache_root.is_dir():
        return freed, kept
    for debris in cache_root.glob(TRASH_PREFIX + "*"):  # a removal interrupted half-way
        size = tree_size(debris)
        if not dry_run:
            shutil.rmtree(debris, ignore_errors=True)
        freed.append(DiskItem("environment", debris.name, size, "left over from an interrupted removal"))
    running = processes_under(cache_root)
    now = time.time()
    candidates: list[tuple[float, Path, int]] = []
    for root in sorted(p for p in cache_root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        size = tree_size(root)
        idle = now - last_used(root)
        if root.name in needed:
            kept.append(DiskItem("environment", root.name, size, f"used by {needed[root.name]}"))
        elif root in running:
            kept.append(
                DiskItem("environment", root.name, size, f"a running process uses it (pid {running[root]})")
            )
        elif idle < min_idle_s:
            kept.append(DiskItem("environment", root.name, size, f"used {idle:.0f} s ago"))
        else:
            candidates.append((last_used(root), root, size))
    total = sum(item.size_bytes for item in kept) + sum(size for _, _, size in candidates)
    for _, root, size in sorted(candidates, key=lambda c: c[0]):
        if max_bytes is not None and total <= max_bytes:
            kept.append(DiskItem("environment", root.name, size, "unused, but the cache is under its cap"))
            continue
        if dry_run or _remove(cache_root, root, min_idle_s):
            freed.append(DiskItem("environment", root.name, size, "no deployment uses it"))
            total -= size
        else:
            kept.append(DiskItem("environment", root.name, size, "used again while being collected"))
    return freed, kept


def _remove(cache_root: Path, root: Path, min_idle_s: float) -> bool:
    with exclusive(cache_root / f"{root.name}.lock"):
        # Checked again under the lock: a build or reuse may have touched it since it was listed.
        if (
            not root.is_dir()
            or time.time() - last_used(root) < min_idle_s
            or root in processes_under(cache_root)
        ):
            return False
        trash = cache_root / f"{TRASH_PREFIX}{root.name}"
        root.rename(trash)
    shutil.rmtree(trash, ignore_errors=True)
    return True
