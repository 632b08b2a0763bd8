"""The contract every backend implements: process, docker, kubernetes and azure.

Mutating calls *accept* a change and return once the backend has recorded it (the `--no-wait` point);
the façade then follows `get_deployment`/`events` until a terminal provisioning state. This keeps waiting,
progress and timeouts in one place for all backends.

Backends are found through the `endpointctl.backends` entry-point group: the name is the backend's
name and the object a `BackendFactory`. Nothing outside `endpointctl.backends` imports a backend module.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Literal, Protocol, runtime_checkable

from endpointctl.core.capabilities import Capabilities
from endpointctl.core.context import BackendContext
from endpointctl.core.spec import DeploymentSpec, EndpointSpec
from endpointctl.core.traffic import TrafficSplit
from endpointctl.core.views import (
    BackendStatus,
    Container,
    Credentials,
    DeploymentView,
    DryRunPlan,
    EndpointView,
    EventView,
    InvokeResult,
    LogLine,
    MetricsSnapshot,
)

KeyType = Literal["primary", "secondary"]


@runtime_checkable
class Backend(Protocol):
    name: str

    def capabilities(self) -> Capabilities: ...

    async def status(self) -> BackendStatus:
        """Whether the backend can be reached now, and if not, why (shown in the tree and the CLI)."""
        ...

    async def close(self) -> None: ...

    # --- endpoints ---
    async def list_endpoints(self) -> list[EndpointView]: ...

    async def get_endpoint(self, name: str) -> EndpointView:
        """Raises NotFound."""
        ...

    async def apply_endpoint(self, spec: EndpointSpec) -> EndpointView:
        """Create or update. Traffic in `spec` has already been validated by the façade."""
        ...

    async def delete_endpoint(self, name: str) -> None:
        """Deletes the endpoint and all its deployments."""
        ...

    # --- deployments ---
    async def list_deployments(self, endpoint: str) -> list[DeploymentView]: ...

    async def get_deployment(self, endpoint: str, name: str) -> DeploymentView: ...

    async def apply_deployment(self, spec: DeploymentSpec) -> DeploymentView:
        """Create, or roll out an update to, a deployment. A new deployment gets 0% traffic."""
        ...

    async def delete_deployment(self, endpoint: str, name: str) -> None: ...

    # --- traffic and credentials ---
    async def set_traffic(self, endpoint: str, split: TrafficSplit) -> EndpointView:
        """Apply a split the façade has validated against the endpoint's deployments."""
        ...

    async def get_credentials(self, endpoint: str) -> Credentials: ...

    async def regenerate_keys(self, endpoint: str, key_type: KeyType) -> None: ...

    # --- data plane and observability ---
    async def invoke(
        self,
        endpoint: str,
        body: bytes,
        *,
        deployment: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> InvokeResult: ...

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

    async def events(self, endpoint: str, *, after_id: int = 0) -> list[EventView]: ...

    async def start_agent(self) -> BackendStatus:
        """Capability.AGENT: start the backend's local supervisor if it is not running."""
        ...

    async def stop_agent(self) -> bool:
        """Capability.AGENT: stop the local supervisor; False if none was running."""
        ...

    async def metrics(self, endpoint: str) -> MetricsSnapshot:
        """The router's counters for the endpoint's deployments (Capability.METRICS)."""
        ...

    # --- review without applying ---
    async def plan_endpoint(self, spec: EndpointSpec) -> DryRunPlan:
        """Capability.DRY_RUN: what applying `spec` would send, without contacting the backend's service."""
        ...

    async def plan_deployment(self, spec: DeploymentSpec) -> DryRunPlan:
        """Capability.DRY_RUN: as plan_endpoint, for a deployment (local assets appear as the ids they would get)."""
        ...


class BackendFactory(Protocol):
    def __call__(self, context: BackendContext) -> Backend: ...
