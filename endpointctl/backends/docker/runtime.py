"""The Docker runtime as one async object: what a runtime-neutral supervisor needs from a container engine.

Each method runs the blocking SDK calls of one module (images, storage, containers, cleanup) in a thread.
Instances listen on a Unix socket in a bind-mounted directory (or, without one, a port on 127.0.0.1); they are
found again through labels alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

from docker import DockerClient

from endpointctl.backends.common.environments.conda import PythonRequirements
from endpointctl.backends.docker import cleanup, containers, storage
from endpointctl.backends.docker.containers import Instance, InstanceSpec
from endpointctl.backends.docker.storage import StagedVolume
from endpointctl.backends.engine.builder import EnvironmentImage, ImageBuilder, Progress
from endpointctl.backends.engine.client import connect
from endpointctl.core.assets.sources import CodeSource, ModelSource

_END = object()


class DockerRuntime:
    def __init__(self, client: DockerClient, work_dir: Path) -> None:
        self.client = client
        self.builder = ImageBuilder(client, work_dir)

    @classmethod
    async def connect(cls, work_dir: Path, env: Mapping[str, str] | None = None) -> DockerRuntime:
        """Raises BackendUnavailable, with the engine's address and the reason, when there is no engine."""
        return cls(await asyncio.to_thread(connect, env), work_dir)

    async def ensure_image(
        self,
        base_image: str,
        requirements: PythonRequirements,
        *,
        log: Path,
        progress: Progress | None = None,
    ) -> EnvironmentImage:
        # progress is called from the build thread; a caller on the loop hands lines over thread-safely.
        return await asyncio.to_thread(
            self.builder.ensure, base_image, requirements, log=log, progress=progress
        )

    async def stage(
        self,
        image: str,
        *,
        endpoint: str,
        deployment: str,
        revision: int,
        model: ModelSource | None,
        code: CodeSource | None,
        log: Path,
    ) -> StagedVolume:
        return await asyncio.to_thread(
            storage.stage_volume,
            self.client,
            image,
            endpoint=endpoint,
            deployment=deployment,
            revision=revision,
            model=model,
            code=code,
            log=log,
        )

    async def start(self, spec: InstanceSpec) -> Instance:
        return await asyncio.to_thread(containers.start_instance, self.client, spec)

    async def stop(self, instance_id: str, *, grace_s: int = 10) -> None:
        await asyncio.to_thread(containers.stop_instance, self.client, instance_id, grace_s=grace_s)

    async def remove(self, instance_id: str) -> None:
        await asyncio.to_thread(containers.remove_instance, self.client, instance_id)

    async def is_running(self, instance_id: str) -> bool:
        return await asyncio.to_thread(containers.is_running, self.client, instance_id)

    async def exit_code(self, instance_id: str) -> int | None:
        return await asyncio.to_thread(containers.exit_code, self.client, instance_id)

    async def find(self, **wanted: str) -> list[Instance]:
        return await asyncio.to_thread(containers.find_instances, self.client, **wanted)

    async def exit_status(self, instance_id: str) -> int | None:
        return await asyncio.to_thread(containers.exit_status, self.client, instance_id)

    async def logs(
        self,
        instance_id: str,
        *,
        follow: bool = False,
        tail: int | None = None,
        since: float | None = None,
    ) -> AsyncIterator[str]:
        lines = containers.instance_logs(self.client, instance_id, follow=follow, tail=tail, since=since)
        while (line := await asyncio.to_thread(next, lines, _END)) is not _END:
            assert isinstance(line, str)
            yield line

    async def storage_log(self, endpoint: str, deployment: str) -> str | None:
        return await asyncio.to_thread(storage.storage_log, self.client, endpoint, deployment)

    async def remove_revisions(self, endpoint: str, deployment: str, *, keep: frozenset[int]) -> None:
        await asyncio.to_thread(storage.remove_revisions, self.client, endpoint, deployment, keep=keep)

    async def purge(self, **owner: str) -> None:
        await asyncio.to_thread(cleanup.purge, self.client, **owner)

    async def close(self) -> None:
        await asyncio.to_thread(self.client.close)
