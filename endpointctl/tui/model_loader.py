"""Builds the navigator's model from the façade: one backend failing never hides the others."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from endpointctl.tui.widgets.navigator import BackendEntry, EndpointEntry, NavigatorModel

if TYPE_CHECKING:
    from endpointctl.core.service import EndpointService
    from endpointctl.core.views import BackendStatus, EndpointView


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


async def load_model(service: EndpointService) -> NavigatorModel:
    statuses = await service.statuses()
    backends = await asyncio.gather(*(_backend_entry(service, s) for s in statuses))
    return NavigatorModel(list(backends))
