"""`endpointctl gc` on a local backend, and the agent's own collection when the disk cap is exceeded.

The agent is the one that knows what is needed: every instance it supervises and every revision it has
prepared (a rollout in flight, the revision a rollback returns to). It asks the runtime to collect the
environments (venvs or images) nothing needs, prunes retired instances' logs beyond the last few revisions,
and removes the log folders of deployments that no longer exist.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from endpointctl.backends.local.controller import DeploymentController
from endpointctl.backends.local.disk import DEFAULT_MIN_IDLE_S, prune_retired_logs, tree_size
from endpointctl.backends.local.layout import Layout
from endpointctl.backends.local.runtime import Runtime
from endpointctl.core.views import DiskItem

# `configure --defaults disk_cap_gb=N`: above it, the agent collects unused environments by itself.
DISK_CAP_DEFAULT = "disk_cap_gb"
# How often the agent compares the cache with the cap (walking a few venvs costs a few hundred ms).
AUTO_COLLECT_EVERY_S = 600.0


def disk_cap_bytes(defaults: Mapping[str, str]) -> int | None:
    raw = defaults.get(DISK_CAP_DEFAULT, "")
    try:
        value = float(raw)
    except ValueError:
        return None
    return int(value * 1024**3) if value > 0 else None


async def collect(
    layout: Layout,
    runtime: Runtime,
    controllers: Iterable[DeploymentController],
    deployments: set[tuple[str, str]],
    *,
    dry_run: bool = False,
    min_idle_s: float = DEFAULT_MIN_IDLE_S,
    max_bytes: int | None = None,
) -> dict[str, Any]:
    """What was freed and kept, as the agent sends it over its socket. `deployments` are those in the store."""
    controllers = list(controllers)
    needed: dict[str, Mapping[str, Any]] = {}
    for controller in controllers:
        needed.update(controller.needed())
    freed, kept = await runtime.collect_garbage(
        needed, min_idle_s=min_idle_s, dry_run=dry_run, max_bytes=max_bytes
    )
    if max_bytes is None:  # an explicit collection also takes back logs
        for controller in controllers:
            running = {i.record.id for i in controller.instances}
            log_dir = layout.log_dir(controller.endpoint, controller.name)
            freed += await asyncio.to_thread(
                prune_retired_logs, log_dir, running, max(len(running), 1), dry_run=dry_run
            )
        freed += await asyncio.to_thread(_orphaned_log_dirs, layout, deployments, dry_run, min_idle_s)
    return {"freed": [asdict(i) for i in freed], "kept": [asdict(i) for i in kept]}


def _orphaned_log_dirs(
    layout: Layout, deployments: set[tuple[str, str]], dry_run: bool, min_idle_s: float
) -> list[DiskItem]:
    """Log folders of deployments the store no longer has (deleted while no agent ran to clean up).

    Only when nothing in them was written for `min_idle_s`: a deployment created since the store was read
    is writing its first build log."""
    now = time.time()
    freed: list[DiskItem] = []
    if not layout.logs.is_dir():
        return freed
    for endpoint_dir in sorted(p for p in layout.logs.iterdir() if p.is_dir()):
        for deployment_dir in sorted(p for p in endpoint_dir.iterdir() if p.is_dir()):
            if (endpoint_dir.name, deployment_dir.name) in deployments:
                continue
            if now - _newest_write(deployment_dir) < min_idle_s:
                continue
            size = tree_size(deployment_dir)
            if not dry_run:
                shutil.rmtree(deployment_dir, ignore_errors=True)
            freed.append(DiskItem("log", str(deployment_dir), size, "the deployment no longer exists"))
        if not dry_run and not any(endpoint_dir.iterdir()):
            endpoint_dir.rmdir()
    return freed


def _newest_write(root: Path) -> float:
    newest = 0.0
    for directory, _dirs, files in os.walk(root):
        for name in [*files, "."]:
            with contextlib.suppress(OSError):
                newest = max(newest, (Path(directory) / name).stat().st_mtime)
    return newest
