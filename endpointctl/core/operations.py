"""Operations: what a backend hands back for a change it accepted, and how far that change has got.

Every mutation of the backend port returns an `Operation` once the backend has recorded the change (the
`--no-wait` point). The façade follows any operation the same way — poll, report, stop at a terminal
state — so waiting, progress and timeouts live in one place whatever the backend: a local agent that
applied a traffic change before answering (`Done`), a rolling update followed through the deployment
(`DeploymentRollout`), or one of ARM's long-running operations paced by its Retry-After.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from endpointctl.core.views import DeploymentView, ProvisioningState


class OperationState(enum.StrEnum):
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    CANCELED = "Canceled"

    @property
    def terminal(self) -> bool:
        return self is not OperationState.RUNNING


@dataclass(frozen=True)
class OperationStatus:
    state: OperationState
    # One line of progress for a status line ("InProgress", "rolling: batch 2 of 3").
    message: str = ""
    # Why it failed or was canceled, as the backend said it.
    error: str = ""
    # For an operation on a deployment, the deployment as last read: the CLI and the TUI draw the rollout.
    deployment: DeploymentView | None = None


@runtime_checkable
class Operation(Protocol):
    """A change in flight. `poll` may wait as long as the backend asks callers to (Retry-After), no longer."""

    @property
    def description(self) -> str:
        """What is being done, as the CLI says it: "deployment my-endpoint/blue", "azure: traffic of e"."""
        ...

    async def poll(self) -> OperationStatus: ...


@runtime_checkable
class Staged(Protocol):
    """An operation whose change is recorded only after a first stage (building images) that runs in this
    process: `--no-wait` must await `recorded()` rather than return at once, or the change would be lost with
    the process. Following it (poll) reports the first stage's progress like any other."""

    async def recorded(self) -> None: ...


@dataclass(frozen=True)
class Done:
    """A change the backend completed before it answered (the local agent's routing, Kubernetes objects)."""

    description: str

    async def poll(self) -> OperationStatus:
        return OperationStatus(OperationState.SUCCEEDED)


_STATES = {
    ProvisioningState.SUCCEEDED: OperationState.SUCCEEDED,
    ProvisioningState.FAILED: OperationState.FAILED,
    ProvisioningState.CANCELED: OperationState.CANCELED,
}


@dataclass(frozen=True)
class DeploymentRollout:
    """A create or update of a deployment, followed through the deployment's own provisioning state."""

    description: str
    read: Callable[[], Awaitable[DeploymentView]]

    async def poll(self) -> OperationStatus:
        view = await self.read()
        state = _STATES.get(view.provisioning_state, OperationState.RUNNING)
        rollout = view.rollout
        message = rollout.message if rollout is not None and rollout.message else str(view.provisioning_state)
        error = view.reason if state.terminal and state is not OperationState.SUCCEEDED else ""
        return OperationStatus(state, message, error, view)
