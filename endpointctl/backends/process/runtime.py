"""Instances as local processes: the scoring host started from a uv environment in its own session."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from endpointctl.backends.local import procs
from endpointctl.backends.local.disk import touch
from endpointctl.backends.local.layout import Layout, private_dir
from endpointctl.backends.local.records import InstanceRecord
from endpointctl.backends.local.runtime import Prepared, Progress
from endpointctl.backends.process.env_gc import LAST_USED, collect_environments, environment_of
from endpointctl.backends.process.environments import EnvironmentBuilder
from endpointctl.backends.process.prepare import prepare
from endpointctl.core.context import BackendContext
from endpointctl.core.errors import OperationFailed
from endpointctl.core.spec import DeploymentSpec
from endpointctl.core.views import DiskItem


class ProcessRuntime:
    poll_s = 0.1

    def __init__(self, layout: Layout, context: BackendContext) -> None:
        self._layout = layout
        self._registry = context.registry
        self._builder = EnvironmentBuilder(layout.environments)
        # Children this agent started: their exit status is known at once (adopted ones go through /proc).
        self._children: dict[str, subprocess.Popen[bytes]] = {}

    async def prepare(self, spec: DeploymentSpec, revision: int, progress: Progress) -> Prepared:
        return await prepare(
            spec,
            revision,
            layout=self._layout,
            registry=self._registry,
            builder=self._builder,
            progress=progress,
        )

    def instance_data(self, prepared: Prepared, spec: DeploymentSpec) -> dict[str, Any]:
        return {"python": prepared.data["python"], "app_dir": prepared.data["app_dir"]}

    async def spawn(self, record: InstanceRecord) -> None:
        # A restart keeps the socket: the gateway's table stays valid while the process comes back. Only an
        # instance adopted from before sockets keeps its loopback port.
        if not record.port and not record.socket:
            await asyncio.to_thread(private_dir, self._layout.sockets)
            record.socket = str(self._layout.instance_socket(record.id))
        popen = _start(record)
        env = environment_of(record.runtime["python"], self._layout.environments)
        if env is not None:
            touch(self._layout.environments / env / LAST_USED)
        self._children[record.id] = popen
        record.runtime["pid"] = popen.pid
        record.runtime["started"] = procs.start_time(popen.pid) or 0

    async def exit_code(self, record: InstanceRecord) -> int | None:
        child = self._children.get(record.id)
        if child is not None and child.pid == record.runtime.get("pid"):
            return child.poll()
        pid, started = int(record.runtime.get("pid", 0)), int(record.runtime.get("started", 0))
        return None if pid and procs.is_running(pid, started) else -1

    async def adoptable(self, record: InstanceRecord) -> bool:
        pid, started = int(record.runtime.get("pid", 0)), int(record.runtime.get("started", 0))
        return bool(pid) and procs.is_running(pid, started)

    async def terminate(self, record: InstanceRecord, *, grace_s: float) -> None:
        pid, started = int(record.runtime.get("pid", 0)), int(record.runtime.get("started", 0))
        if pid:
            await asyncio.to_thread(procs.terminate, pid, started, grace_s=grace_s)
        child = self._children.pop(record.id, None)
        if child is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                await asyncio.to_thread(child.wait, 1)
        if record.socket:
            await asyncio.to_thread(Path(record.socket).unlink, missing_ok=True)

    async def remove_deployment(self, endpoint: str, deployment: str) -> None:
        await asyncio.to_thread(shutil.rmtree, self._layout.deployment_dir(endpoint, deployment), True)
        await asyncio.to_thread(shutil.rmtree, self._layout.log_dir(endpoint, deployment), True)

    async def forget_revisions(
        self, endpoint: str, deployment: str, running: Sequence[InstanceRecord]
    ) -> None:
        in_use = {str(r.runtime.get("app_dir")) for r in running}
        folder = self._layout.deployment_dir(endpoint, deployment)

        def remove() -> None:
            for app_dir in folder.glob("rev-*"):
                if str(app_dir) not in in_use:
                    shutil.rmtree(app_dir, ignore_errors=True)

        await asyncio.to_thread(remove)

    async def collect_garbage(
        self,
        needed: Mapping[str, Mapping[str, Any]],
        *,
        min_idle_s: float,
        dry_run: bool,
        max_bytes: int | None,
    ) -> tuple[list[DiskItem], list[DiskItem]]:
        cache = self._layout.environments
        keys: dict[str, str] = {}
        for owner, data in needed.items():
            key = environment_of(str(data.get("python", "")), cache)
            if key is not None:
                keys[key] = f"{keys[key]}, {owner}" if key in keys else owner
        return await asyncio.to_thread(
            collect_environments, cache, keys, min_idle_s=min_idle_s, dry_run=dry_run, max_bytes=max_bytes
        )

    async def close(self) -> None:
        return None


def _start(record: InstanceRecord) -> subprocess.Popen[bytes]:
    # fork+exec returns at once; nothing here waits on the child.
    log = Path(record.log)
    log.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        return subprocess.Popen(
            [
                record.runtime["python"],
                "-m",
                "endpointctl.serving.scoring",
                *(
                    ("--uds", record.socket)
                    if record.socket
                    else ("--host", "127.0.0.1", "--port", str(record.port))
                ),
            ],
            cwd=record.runtime["app_dir"],
            env={**_base_env(), **record.env},
            stdin=subprocess.DEVNULL,
            stdout=fd,
            stderr=fd,
            start_new_session=True,  # instances outlive the agent; a restarted agent adopts them
            close_fds=True,
        )
    except OSError as exc:
        raise OperationFailed(f"could not start the scoring host: {exc}") from exc
    finally:
        os.close(fd)


def _base_env() -> dict[str, str]:
    # The instance sees a clean environment: nothing of the agent's (keys, tokens) leaks into user code.
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "SSL_CERT_FILE", "PIP_CERT")
    return {k: v for k, v in os.environ.items() if k in keep}
