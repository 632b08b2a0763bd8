"""What a local agent needs from the thing that runs instances: processes (process backend) or containers.

The agent, controllers and instance supervisors are the same for every local backend; a Runtime prepares a
revision (environment, staged model and code), starts an instance and finds it again after the agent
restarts, tells whether it still runs, stops it, and cleans up what a deployment leaves behind.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from endpointctl.backends.local.records import InstanceRecord
from endpointctl.core.spec import DeploymentSpec
from endpointctl.core.views import DiskItem

# One line of what preparing a revision is doing ("installing numpy…"); called from any thread.
Progress = Callable[[str], None]


@dataclass(frozen=True)
class Prepared:
    """Everything instances of one revision share. `data` is the runtime's own (interpreter, image, volume)."""

    env: dict[str, str]
    data: Mapping[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


class Runtime(Protocol):
    # How often a serving instance is checked for having exited (a local process is cheap to poll).
    poll_s: float

    async def prepare(self, spec: DeploymentSpec, revision: int, progress: Progress) -> Prepared:
        """Build or find the environment and stage model and code; raises EndpointctlError with the reason.

        Long steps report what they are doing through `progress`, which the CLI and TUI show while they wait.
        """
        ...

    def instance_data(self, prepared: Prepared, spec: DeploymentSpec) -> dict[str, Any]:
        """What `InstanceRecord.runtime` starts with for a new instance of this revision."""
        ...

    async def spawn(self, record: InstanceRecord) -> None:
        """Start (or start again) the instance; sets `record.port` and whatever finds it again later."""
        ...

    async def exit_code(self, record: InstanceRecord) -> int | None:
        """None while the instance runs; its exit status (or -1 when unknown or gone) once it stopped."""
        ...

    async def adoptable(self, record: InstanceRecord) -> bool:
        """Whether an instance a previous agent started still runs (then it is supervised, not restarted)."""
        ...

    async def terminate(self, record: InstanceRecord, *, grace_s: float) -> None:
        """Stop gracefully (SIGTERM, then SIGKILL after `grace_s`) and release what it held."""
        ...

    async def remove_deployment(self, endpoint: str, deployment: str) -> None:
        """The deployment is gone: remove its staged revisions, logs and anything else of it."""
        ...

    async def forget_revisions(
        self, endpoint: str, deployment: str, running: Sequence[InstanceRecord]
    ) -> None:
        """Remove staged revisions that none of the `running` instances uses any more."""
        ...

    async def collect_garbage(
        self,
        needed: Mapping[str, Mapping[str, Any]],
        *,
        min_idle_s: float,
        dry_run: bool,
        max_bytes: int | None,
    ) -> tuple[list[DiskItem], list[DiskItem]]:
        """Remove environments (venvs, images) none of `needed` uses: (freed, kept).

        `needed` maps who needs something ("my-endpoint/blue rev 3") to that revision's runtime data (as in
        `InstanceRecord.runtime` or `Prepared.data`). With `max_bytes`, only the least recently used go, until
        what is left fits.
        """
        ...

    async def close(self) -> None: ...
