"""The backend port: what the façade needs of process, Docker, Kubernetes and Azure, and nothing more.

`Backend` is the small core every backend implements: status, endpoints and deployments (get/list,
apply/delete), traffic, credentials, and where to send scoring requests. Everything else is a role —
`SupportsLogs`, `SupportsEvents`, `SupportsMetrics`, `SupportsAgent`, `SupportsDryRun` — that a backend
implements or not. What a backend can do is derived from the roles it implements (`capabilities_of`),
so there are no stubs that raise "not supported": the façade refuses a missing role with the backend's
own reason before it calls anything.

Mutations return an `Operation` once the backend has recorded the change (see core.operations); the
façade follows it. Backends are found through the `endpointctl.backends` entry-point group: the name is
the backend's name and the object a `BackendFactory`. Core imports no backend; backends import this.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

from endpointctl.core.capabilities import Capabilities, Capability
from endpointctl.core.context import BackendContext
from endpointctl.core.operations import Operation
from endpointctl.core.progressive.machine import RolloutState
from endpointctl.core.progressive.plan import ProgressivePlan
from endpointctl.core.spec import DeploymentSpec, EndpointSpec
from endpointctl.core.traffic import TrafficSplit
from endpointctl.core.views import (
    BackendStatus,
    CleanupReport,
    Container,
    Credentials,
    DeploymentView,
    DryRunPlan,
    EndpointView,
    EventView,
    LogLine,
    MetricsSnapshot,
)

if TYPE_CHECKING:
    import httpx

KeyType = Literal["primary", "secondary"]


@dataclass(frozen=True)
class ScoringTarget:
    """Where an endpoint takes scoring requests and the credential to send: resolved once per session."""

    scoring_uri: str
    credentials: Credentials
    # A transport of the backend's own (an in-process double in tests); None for real HTTP.
    transport: httpx.AsyncBaseTransport | None = None


@runtime_checkable
class Backend(Protocol):
    name: str

    @property
    def features(self) -> frozenset[Capability]:
        """Capabilities that are properties of the backend's service rather than roles with methods of
        their own: mirror traffic, rolling updates, aml tokens, registered assets."""
        ...

    def limits(self) -> Mapping[Capability, str]:
        """For each capability this backend lacks, or cannot offer now, the reason shown to the user."""
        ...

    async def status(self) -> BackendStatus:
        """Whether the backend can be reached now, and if not, why (shown in the tree and the CLI)."""
        ...

    async def close(self) -> None: ...

    # --- endpoints ---
    async def list_endpoints(self) -> list[EndpointView]: ...

    async def get_endpoint(self, name: str) -> EndpointView:
        """Raises NotFound."""
        ...

    async def apply_endpoint(self, spec: EndpointSpec) -> Operation:
        """Create or update. Traffic in `spec` has already been validated by the façade."""
        ...

    async def delete_endpoint(self, name: str) -> Operation:
        """Deletes the endpoint and all its deployments."""
        ...

    # --- deployments ---
    async def list_deployments(self, endpoint: str) -> list[DeploymentView]: ...

    async def get_deployment(self, endpoint: str, name: str) -> DeploymentView:
        """What is known now; never waits for the backend's next poll."""
        ...

    async def apply_deployment(self, spec: DeploymentSpec) -> Operation:
        """Create, or roll out an update to, a deployment. A new deployment gets 0% traffic."""
        ...

    async def delete_deployment(self, endpoint: str, name: str) -> Operation: ...

    async def watch_deployment(self, endpoint: str, name: str) -> Operation:
        """An operation that follows the deployment until it settles (a rollout started here or elsewhere),
        polling no faster than the backend's service asks."""
        ...

    # --- traffic and credentials ---
    async def set_traffic(self, endpoint: str, split: TrafficSplit) -> Operation:
        """Apply a split the façade has validated against the endpoint's deployments."""
        ...

    async def get_credentials(self, endpoint: str) -> Credentials: ...

    async def regenerate_keys(self, endpoint: str, key_type: KeyType) -> Operation: ...

    # --- data plane ---
    async def scoring_target(self, endpoint: str) -> ScoringTarget:
        """The scoring URI and credential of a serving endpoint (InvalidInput when it has no URI yet)."""
        ...


@runtime_checkable
class SupportsLogs(Protocol):
    async def get_logs(
        self,
        endpoint: str,
        deployment: str,
        *,
        container: Container,
        lines: int | None,
        instance: str | None = None,
    ) -> list[LogLine]: ...

    def follow_logs(
        self, endpoint: str, deployment: str, *, container: Container, instance: str | None = None
    ) -> AsyncIterator[LogLine]: ...


@runtime_checkable
class SupportsEvents(Protocol):
    async def events(self, endpoint: str, *, after_id: int = 0) -> list[EventView]: ...


@runtime_checkable
class SupportsMetrics(Protocol):
    async def metrics(self, endpoint: str) -> MetricsSnapshot:
        """The router's counters for the endpoint's deployments."""
        ...


@runtime_checkable
class SupportsAgent(Protocol):
    """A local supervisor the user can start and stop (`endpointctl agent start|stop|status`)."""

    async def start_agent(self) -> BackendStatus: ...

    async def stop_agent(self, *, everything: bool = True) -> bool:
        """False if none was running. `everything`: what it supervises (instances, gateway) stops too;
        otherwise that keeps serving and the next agent adopts it."""
        ...


@runtime_checkable
class SupportsDryRun(Protocol):
    async def plan_endpoint(self, spec: EndpointSpec) -> DryRunPlan:
        """What applying `spec` would send, without contacting the backend's service."""
        ...

    async def plan_deployment(self, spec: DeploymentSpec) -> DryRunPlan:
        """As plan_endpoint, for a deployment (local assets appear as the ids they would get)."""
        ...


@runtime_checkable
class SupportsDiskCleanup(Protocol):
    async def collect_garbage(
        self, *, dry_run: bool = False, min_idle_s: float | None = None
    ) -> CleanupReport:
        """Remove what no deployment needs any more (environments, images, retired instances' logs).

        Never what a running instance, a rollout in flight or a rollback target uses, nor what was used in the
        last `min_idle_s` (None: the backend's default); `dry_run` only reports.
        """
        ...


@runtime_checkable
class SupportsProgressiveRollout(Protocol):
    """A driver that runs a progressive rollout without the operator's terminal (it survives the CLI exiting)."""

    async def start_progressive(self, plan: ProgressivePlan) -> RolloutState:
        """Conflict if one runs on the endpoint already; returns the state after the first step was applied."""
        ...

    async def progressive_status(self, endpoint: str) -> RolloutState:
        """The endpoint's current or last progressive rollout (NotFound if it never had one)."""
        ...

    async def steer_progressive(self, endpoint: str, command: str) -> RolloutState:
        """pause, resume, promote or abort (Conflict when the rollout cannot take it)."""
        ...


# The capabilities every backend has through the core port.
CORE: frozenset[Capability] = frozenset(
    {Capability.ENDPOINTS, Capability.DEPLOYMENTS, Capability.TRAFFIC, Capability.KEYS, Capability.INVOKE}
)
ROLES: tuple[tuple[type, frozenset[Capability]], ...] = (
    (SupportsLogs, frozenset({Capability.LOGS, Capability.LOG_FOLLOW})),
    (SupportsEvents, frozenset({Capability.EVENTS})),
    (SupportsMetrics, frozenset({Capability.METRICS})),
    (SupportsAgent, frozenset({Capability.AGENT})),
    (SupportsDryRun, frozenset({Capability.DRY_RUN})),
    (SupportsDiskCleanup, frozenset({Capability.DISK_CLEANUP})),
    (SupportsProgressiveRollout, frozenset({Capability.PROGRESSIVE_ROLLOUT})),
)
FEATURES: frozenset[Capability] = frozenset(Capability) - CORE - frozenset().union(*(c for _, c in ROLES))


def capabilities_of(backend: Backend) -> Capabilities:
    """The core, the backend's features and the roles it implements, less what `limits()` rules out."""
    supported = set(CORE) | (backend.features & FEATURES)
    for role, capabilities in ROLES:
        if isinstance(backend, role):
            supported |= capabilities
    limits = dict(backend.limits())
    return Capabilities(frozenset(supported - limits.keys()), limits)


class BackendFactory(Protocol):
    def __call__(self, context: BackendContext) -> Backend: ...
