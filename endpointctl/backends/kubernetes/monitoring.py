"""What the cluster says about an endpoint besides its objects: Kubernetes Events and the gateway's metrics."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from endpointctl.backends.common.gateway_metrics import metrics_snapshot
from endpointctl.backends.kubernetes import naming
from endpointctl.backends.kubernetes.client import STATUS_TIMEOUT_S
from endpointctl.backends.kubernetes.credentials import admin_token
from endpointctl.backends.kubernetes.targets import Targets
from endpointctl.backends.kubernetes.views import deployment_specs
from endpointctl.core.errors import BackendUnavailable, EndpointctlError, NotFound
from endpointctl.core.views import EventView, MetricsSnapshot
from endpointctl.serving.gateway.admin import TOKEN_HEADER

ADMIN_TOKEN_HEADER = TOKEN_HEADER.decode()


async def events(targets: Targets, endpoint: str, after_id: int) -> list[EventView]:
    """The Events of the endpoint's gateway and deployments (and their ReplicaSets and Pods), newest last."""
    client, _ = await targets.locate(endpoint)
    specs = await deployment_specs(client, endpoint)
    prefixes = {naming.deployment_name(endpoint, d): d for d in specs}
    prefixes[naming.gateway_name(endpoint)] = ""
    out: list[EventView] = []
    for event in await client.list("Event"):
        involved = str((event.get("involvedObject") or {}).get("name", ""))
        owner = next((d for p, d in prefixes.items() if involved == p or involved.startswith(p + "-")), None)
        if owner is None:
            continue
        try:
            event_id = int(event["metadata"].get("resourceVersion", "0"))
        except ValueError:
            continue
        if event_id <= after_id:
            continue
        out.append(
            EventView(
                event_id,
                _timestamp(event),
                str(event.get("reason", "")),
                f"{involved}: {event.get('message', '')}",
                owner or None,
            )
        )
    return sorted(out, key=lambda e: e.id)


async def metrics(targets: Targets, endpoint: str) -> MetricsSnapshot:
    client, _ = await targets.locate(endpoint)
    # The gateway's admin port is a ClusterIP Service; the API server's service proxy reaches it from
    # outside the cluster with the kubeconfig's own credentials (RBAC: get services/proxy). The API server
    # consumes the Authorization header (those credentials), so the gateway's admin token travels in the
    # header the admin API accepts besides it, which the proxy forwards.
    path = client.path("Service", naming.gateway_admin_name(endpoint)) + ":admin/proxy/v1/metrics"
    token = await admin_token(client, endpoint)
    headers = {} if token is None else {ADMIN_TOKEN_HEADER: token}
    try:
        raw = await client.request("GET", path, timeout_s=STATUS_TIMEOUT_S, headers=headers)
    except EndpointctlError as exc:
        raise BackendUnavailable(
            f"metrics of {endpoint}: the gateway's admin Service answered: {exc}"
        ) from None
    served = (raw.get("endpoints") or {}).get(endpoint) if isinstance(raw, dict) else None
    if served is None:
        raise NotFound(f"endpoint {endpoint} is not served by its gateway yet")
    return metrics_snapshot(endpoint, served)


def _timestamp(event: Mapping[str, Any]) -> float:
    text = (
        event.get("lastTimestamp")
        or event.get("eventTime")
        or (event.get("metadata") or {}).get("creationTimestamp")
    )
    if not text:
        return 0.0
    with contextlib.suppress(ValueError):
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()
    return 0.0
