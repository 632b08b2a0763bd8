"""One read of every backend: its status, endpoints and their deployments. One backend failing hides no other."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from endpointctl.tui.target import Target

if TYPE_CHECKING:
    from endpointctl.core.service import EndpointService
    from endpointctl.core.views import BackendStatus, DeploymentView, EndpointView


@dataclass(frozen=True)
class EndpointEntry:
    endpoint: EndpointView
    deployments: Sequence[DeploymentView] = ()

    def deployment(self, name: str) -> DeploymentView | None:
        return next((d for d in self.deployments if d.name == name), None)


@dataclass(frozen=True)
class BackendEntry:
    status: BackendStatus
    endpoints: Sequence[EndpointEntry] = ()
    error: str = ""


@dataclass
class Snapshot:
    backends: list[BackendEntry] = field(default_factory=list)
    taken_at: float = 0.0

    def endpoint_names(self) -> list[Target]:
        return [Target(b.status.name, e.endpoint.name) for b in self.backends for e in b.endpoints]

    def find(self, target: Target) -> EndpointEntry | None:
        for backend in self.backends:
            if backend.status.name != target.backend:
                continue
            for entry in backend.endpoints:
                if entry.endpoint.name == target.endpoint:
                    return entry
        return None

    def deployments(self) -> list[DeploymentView]:
        return [d for b in self.backends for e in b.endpoints for d in e.deployments]


async def _endpoint_entry(service: EndpointService, backend: str, endpoint: EndpointView) -> EndpointEntry:
    try:
        deployments = await service.list_deployments(endpoint.name, backend=backend)
    except Exception:  # deleted between the two calls, or a transient error: show it without children
        deployments = []
    return EndpointEntry(endpoint, tuple(deployments))


async def _backend_entry(service: EndpointService, status: BackendStatus) -> BackendEntry:
    if not status.available:
        return BackendEntry(status)
    try:
        endpoints = await service.list_endpoints(status.name)
        entries = await asyncio.gather(*(_endpoint_entry(service, status.name, e) for e in endpoints))
    except Exception as exc:
        return BackendEntry(status, error=str(exc))
    return BackendEntry(status, tuple(sorted(entries, key=lambda e: e.endpoint.name)))


async def load_snapshot(service: EndpointService, now: float = 0.0) -> Snapshot:
    statuses = await service.statuses()
    backends = await asyncio.gather(*(_backend_entry(service, s) for s in statuses))
    return Snapshot(list(backends), taken_at=now)
