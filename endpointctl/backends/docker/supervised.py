"""Instances as containers for the shared local agent: the Runtime the Docker backend's agent drives.

A revision is an environment image (built once per digest) plus an app volume filled by the
storage-initializer init container. Each instance is a container whose scoring host listens on a Unix
socket in its own bind-mounted directory under the agent's socket directory; a restart is a fresh container
on the same socket path, so the gateway's table stays valid. Container output is copied into the same log files the process backend writes, so logs stay
readable after a container is gone and both backends share one log reader.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from docker import DockerClient

from endpointctl.backends.docker.cleanup import collect_images
from endpointctl.backends.docker.containers import (
    SOCKET_NAME,
    InstanceError,
    InstanceSpec,
    death_filter,
    instance_logs,
)
from endpointctl.backends.docker.layout import engine_env
from endpointctl.backends.docker.resources import Limits, limits_for
from endpointctl.backends.docker.runtime import DockerRuntime
from endpointctl.backends.engine.client import connect
from endpointctl.backends.local.layout import Layout, private_dir
from endpointctl.backends.local.records import InstanceRecord
from endpointctl.backends.local.runtime import Prepared, Progress
from endpointctl.backends.local.sources import code_source, model_source, requirements
from endpointctl.core.context import BackendContext
from endpointctl.core.errors import InvalidInput, OperationFailed
from endpointctl.core.spec import DeploymentSpec
from endpointctl.core.views import DiskItem

LOG_DRAIN_S = 2.0


# A container that dies is usually reported by the engine's event stream at once; the API is asked
# directly this often anyway, in case an event was missed (stream reconnecting, engine restarted).
RECHECK_S = 2.0


class ContainerRuntime:
    # Cheap: a dictionary lookup fed by the event stream (the published port stays open in docker-proxy
    # after a container dies, so the gateway cannot notice by itself; every 100 ms counts).
    poll_s = 0.1

    def __init__(self, layout: Layout, context: BackendContext) -> None:
        self._layout = layout
        self._registry = context.registry
        self._env = engine_env(context.defaults)
        self._engine: DockerRuntime | None = None
        self._connecting = asyncio.Lock()
        self._pumps: dict[str, threading.Thread] = {}
        self._died: dict[str, int] = {}
        self._checked: dict[str, float] = {}
        self._events: threading.Thread | None = None
        self._closing = threading.Event()

    async def engine(self) -> DockerRuntime:
        async with self._connecting:
            if self._engine is None:
                self._engine = await DockerRuntime.connect(self._layout.root / "work", self._env)
                self._events = threading.Thread(
                    target=self._watch_deaths, args=(asyncio.get_running_loop(),), daemon=True
                )
                self._events.start()
            return self._engine

    async def prepare(self, spec: DeploymentSpec, revision: int, progress: Progress) -> Prepared:
        endpoint, name = spec.endpoint_name, spec.name
        wanted, base_image = requirements(spec, self._registry)
        if base_image is None:
            raise InvalidInput(
                f"deployment {endpoint}/{name}: the docker backend needs an environment with an `image`"
            )
        engine = await self.engine()
        progress(f"image: looking for the environment image of {base_image}")
        built = await engine.ensure_image(
            base_image,
            wanted,
            log=self._layout.build_log(endpoint, name),
            progress=lambda line: progress(f"image build: {line}"),
        )
        progress("storage-initializer: staging model and code into a volume")
        staged = await engine.stage(
            built.tag,
            endpoint=endpoint,
            deployment=name,
            revision=revision,
            model=model_source(spec, self._registry),
            code=code_source(spec),
            log=self._layout.storage_log(endpoint, name),
        )
        limits = limits_for(spec)
        notes = [*built.notes, *limits.notes]
        notes.append(
            f"environment image {built.tag} " + ("reused" if built.reused else f"built from {base_image}")
        )
        return Prepared(
            {**staged.env, **spec.environment_variables},
            {"image": built.tag, "volume": staged.volume, "staged": revision, "limits": asdict(limits)},
            (),
            tuple(notes),
        )

    def instance_data(self, prepared: Prepared, spec: DeploymentSpec) -> dict[str, Any]:
        return {key: prepared.data[key] for key in ("image", "volume", "staged", "limits")}

    async def spawn(self, record: InstanceRecord) -> None:
        engine = await self.engine()
        previous = record.runtime.get("container")
        if previous:
            await self._stop_pump(record.id)
            await engine.remove(previous)
            self._died.pop(previous, None)
        # One directory per instance, so a container sees its own socket and nothing else of the host's.
        socket_dir = await asyncio.to_thread(_socket_dir, self._layout, record.id)
        limits = dict(record.runtime["limits"])
        limits["notes"] = tuple(limits.get("notes", ()))
        try:
            started = await engine.start(
                InstanceSpec(
                    endpoint=record.endpoint,
                    deployment=record.deployment,
                    revision=record.revision,
                    instance=record.id,
                    image=record.runtime["image"],
                    volume=record.runtime["volume"],
                    env=record.env,
                    limits=Limits(**limits),
                    socket_dir=str(socket_dir),
                    socket_owner=f"{os.getuid()}:{os.getgid()}",
                )
            )
        except InstanceError as exc:
            raise OperationFailed(str(exc)) from exc
        record.port = 0
        record.socket = str(socket_dir / SOCKET_NAME)
        record.runtime["container"] = started.id
        self._pump(record, since=None)

    async def exit_code(self, record: InstanceRecord) -> int | None:
        container = record.runtime.get("container")
        if not container:
            return -1
        if container in self._died:
            return self._died[container]
        now = time.monotonic()
        if now - self._checked.get(container, 0.0) < RECHECK_S:
            return None
        self._checked[container] = now
        return await (await self.engine()).exit_status(container)

    async def adoptable(self, record: InstanceRecord) -> bool:
        container = record.runtime.get("container")
        if not container or not await (await self.engine()).is_running(container):
            return False
        # Only what the container wrote since the log file was last touched: no line twice.
        self._pump(record, since=_last_written(Path(record.log)))
        return True

    async def terminate(self, record: InstanceRecord, *, grace_s: float) -> None:
        container = record.runtime.get("container")
        if not container:
            return
        engine = await self.engine()
        await engine.stop(container, grace_s=max(1, round(grace_s)))
        await self._stop_pump(record.id)
        await engine.remove(container)
        self._died.pop(container, None)
        self._checked.pop(container, None)
        if record.socket:
            await asyncio.to_thread(shutil.rmtree, Path(record.socket).parent, True)

    async def remove_deployment(self, endpoint: str, deployment: str) -> None:
        engine = await self.engine()
        await engine.purge(endpoint=endpoint, deployment=deployment)
        await asyncio.to_thread(shutil.rmtree, self._layout.log_dir(endpoint, deployment), True)
        await asyncio.to_thread(shutil.rmtree, self._layout.deployment_dir(endpoint, deployment), True)

    async def forget_revisions(
        self, endpoint: str, deployment: str, running: Sequence[InstanceRecord]
    ) -> None:
        keep = frozenset(int(r.runtime["staged"]) for r in running if "staged" in r.runtime)
        await (await self.engine()).remove_revisions(endpoint, deployment, keep=keep)

    async def collect_garbage(
        self,
        needed: Mapping[str, Mapping[str, Any]],
        *,
        min_idle_s: float,
        dry_run: bool,
        max_bytes: int | None,
    ) -> tuple[list[DiskItem], list[DiskItem]]:
        tags: dict[str, str] = {}
        for owner, data in needed.items():
            tag = str(data.get("image", ""))
            if tag:
                tags[tag] = f"{tags[tag]}, {owner}" if tag in tags else owner
        engine = await self.engine()
        return await asyncio.to_thread(
            collect_images, engine.client, tags, min_idle_s=min_idle_s, dry_run=dry_run, max_bytes=max_bytes
        )

    async def close(self) -> None:
        for instance in list(self._pumps):
            await self._stop_pump(instance)
        self._closing.set()
        if self._engine is not None:
            await self._engine.close()

    # --- container output into the log files --------------------------------------------------------
    # Streams block for as long as a container lives: they get threads of their own, never the loop's
    # default executor (a handful of followed containers would starve every other call of it).
    def _pump(self, record: InstanceRecord, *, since: float | None) -> None:
        assert self._engine is not None
        thread = threading.Thread(
            target=_copy_logs,
            args=(self._engine.client, record.runtime["container"], Path(record.log), since),
            name=f"logs {record.id}",
            daemon=True,
        )
        thread.start()
        self._pumps[record.id] = thread

    async def _stop_pump(self, instance: str) -> None:
        thread = self._pumps.pop(instance, None)
        if thread is not None:
            # The stream ends by itself once the container is gone; this only waits for the last lines.
            await asyncio.to_thread(thread.join, LOG_DRAIN_S)

    # --- deaths, as the engine reports them ---------------------------------------------------------
    def _watch_deaths(self, loop: asyncio.AbstractEventLoop) -> None:
        def died(container: str, code: int) -> None:
            self._died[container] = code

        while not self._closing.is_set():
            # A dropped stream (engine restart) is reopened; meanwhile the periodic API check covers.
            with contextlib.suppress(Exception):
                client = connect(self._env, timeout=None)
                try:
                    for event in client.events(decode=True, filters=death_filter()):
                        attributes = (event.get("Actor") or {}).get("Attributes") or {}
                        code = int(attributes.get("exitCode", -1))
                        loop.call_soon_threadsafe(died, str(event.get("id", "")), code)
                finally:
                    client.close()
            self._closing.wait(1.0)


def _last_written(log: Path) -> float:
    try:
        return log.stat().st_mtime
    except FileNotFoundError:
        return time.time()


def _copy_logs(client: DockerClient, container: str, log: Path, since: float | None) -> None:
    log.parent.mkdir(parents=True, exist_ok=True)
    # A removed container ends the stream (or raises): either way there is nothing more to copy.
    with contextlib.suppress(Exception), log.open("a", encoding="utf-8") as out:
        for line in instance_logs(client, container, follow=True, since=since):
            out.write(line + "\n")
            out.flush()


def _socket_dir(layout: Layout, instance_id: str) -> Path:
    path = private_dir(layout.sockets) / instance_id
    path.mkdir(mode=0o700, exist_ok=True)
    # A socket left by a killed container: the new one binds afresh (the scoring host replaces only sockets).
    return path
