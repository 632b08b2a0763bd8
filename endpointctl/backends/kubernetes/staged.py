"""An apply that builds its images first: the Operation the façade follows from the first build line.

Building a deployment's images takes seconds when they exist and minutes when the conda file is new, all
before anything can be sent to the cluster. The build runs as a task of this operation, so the status line
(CLI) and the rollout panel (TUI) show what it does — "building environment image …", "push …" — as a
deployment in its `preparing` phase; once the objects are applied, the rollout is followed as before.

A build failure surfaces from `poll` (and `recorded`) as the exception it is, exactly as when the build ran
before the Operation existed. `--no-wait` awaits `recorded()`: the objects are written before the command ends.
Cancelled with its process (Ctrl-C), nothing was applied.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from endpointctl.core.operations import Operation, OperationState, OperationStatus
from endpointctl.core.spec import DeploymentSpec
from endpointctl.core.views import PREPARING, DeploymentView, ProvisioningState, RolloutView

Progress = Callable[[str], None]


class BuildThenRollout:
    """`prepare(progress)` builds and applies; then `rollout()` gives the Operation that follows the rollout."""

    def __init__(
        self,
        description: str,
        spec: DeploymentSpec,
        *,
        backend: str,
        creating: bool,
        prepare: Callable[[Progress], Coroutine[Any, Any, None]],
        rollout: Callable[[], Awaitable[Operation]],
    ) -> None:
        self.description = description
        self._spec, self._backend, self._creating = spec, backend, creating
        self._message = "building images"
        self._rollout_factory = rollout
        self._rollout: Operation | None = None
        self._task: asyncio.Task[None] = asyncio.create_task(
            prepare(self._note), name=f"build for {description}"
        )

    def _note(self, line: str) -> None:
        # Called from the build's worker thread: one attribute assignment, read by the next poll.
        self._message = line

    async def recorded(self) -> None:
        await asyncio.shield(self._task)

    async def poll(self) -> OperationStatus:
        if not self._task.done():
            return OperationStatus(OperationState.RUNNING, self._message, deployment=self._preparing())
        self._task.result()  # a failed build raises here, as the error it is
        if self._rollout is None:
            self._rollout = await self._rollout_factory()
        return await self._rollout.poll()

    def _preparing(self) -> DeploymentView:
        state = ProvisioningState.CREATING if self._creating else ProvisioningState.UPDATING
        rollout = RolloutView(0, 0, 0, 0, self._spec.instance_count, PREPARING, self._message)
        return DeploymentView(self._backend, self._spec, state, rollout=rollout)
