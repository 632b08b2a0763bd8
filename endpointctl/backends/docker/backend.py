"""The Docker backend: instances are containers built from the deployment's image and conda file.

The client half is the shared local one (backends.local): desired state in the store, an agent that
supervises, rolls out and routes. Nothing here imports the Docker SDK at module level: every CLI call
loads every installed backend, and only Docker's own calls should pay for the SDK.
"""

from __future__ import annotations

import asyncio

from endpointctl.backends.docker.layout import BACKEND, Layout, engine_env
from endpointctl.backends.local.client import LocalBackend
from endpointctl.backends.local.lock import lock_holder
from endpointctl.core.context import BackendContext
from endpointctl.core.errors import BackendUnavailable, InvalidInput
from endpointctl.core.operations import Operation
from endpointctl.core.ports import capabilities_of
from endpointctl.core.spec import DeploymentSpec
from endpointctl.core.views import BackendStatus

# `status()` is drawn in the tree while the TUI starts: an engine that does not answer must not hold it up.
STATUS_TIMEOUT_S = 3


class DockerBackend(LocalBackend):
    name = BACKEND

    def __init__(self, context: BackendContext) -> None:
        super().__init__(context, Layout(context.home))
        self._env = engine_env(context.defaults)

    def _engine_address(self) -> str:
        from endpointctl.backends.engine.client import engine_address

        return engine_address(self._env)

    async def _ping(self, wait_s: int) -> str:
        """The engine's version, or BackendUnavailable naming the address and the reason."""
        from endpointctl.backends.engine.client import connect

        def ping() -> str:
            client = connect(self._env, timeout=wait_s)
            try:
                return str(client.version().get("Version", "?"))
            finally:
                client.close()

        return await asyncio.to_thread(ping)

    async def status(self) -> BackendStatus:
        address = self._engine_address()
        try:
            version = await self._ping(STATUS_TIMEOUT_S)
        except BackendUnavailable as exc:
            return BackendStatus(self.name, False, capabilities_of(self), context=address, reason=str(exc))
        pid = lock_holder(self._layout)
        agent = f"agent pid {pid}" if pid else "agent starts on first use"
        return BackendStatus(
            self.name, True, capabilities_of(self), context=f"engine {version} at {address} · {agent}"
        )

    async def apply_deployment(self, spec: DeploymentSpec) -> Operation:
        # Checked before anything is written: a deployment accepted here must have an engine to run on.
        await self._ping(STATUS_TIMEOUT_S)
        from endpointctl.backends.local.sources import requirements

        _, image = requirements(spec, self._ctx.registry)
        if image is None:
            raise InvalidInput(
                f"deployment {spec.endpoint_name}/{spec.name}: the docker backend builds from "
                "`environment.image`; give one (e.g. mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest)"
            )
        return await super().apply_deployment(spec)
