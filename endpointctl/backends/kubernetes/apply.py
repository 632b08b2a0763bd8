"""Create-or-replace with resourceVersion conflict handling, and label-scoped cleanup."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from endpointctl.backends.kubernetes import naming
from endpointctl.backends.kubernetes.client import KubeClient
from endpointctl.core.errors import Conflict

MAX_ATTEMPTS = 5
CLEANUP_KINDS = (
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
    "NetworkPolicy",
    "Deployment",
    "Service",
    "ConfigMap",
    "Secret",
    "ReplicaSet",
    "Pod",
    "RoleBinding",
    "Role",
    "ServiceAccount",
)


def _owner(doc: Mapping[str, Any]) -> tuple[str | None, str | None, str | None]:
    labels = (doc.get("metadata") or {}).get("labels") or {}
    return labels.get(naming.MANAGED_BY), labels.get(naming.ENDPOINT), labels.get(naming.DEPLOYMENT)


def _keep_server_fields(doc: dict[str, Any], current: Mapping[str, Any], *, keep_replicas: bool) -> None:
    """Fields the cluster assigned, which a replace must carry over or the API server rejects it."""
    spec, live = doc.get("spec") or {}, current.get("spec") or {}
    if doc["kind"] == "Service":
        for key in ("clusterIP", "clusterIPs"):
            if key in live:
                spec[key] = live[key]
        node_ports = {p.get("name"): p.get("nodePort") for p in live.get("ports") or []}
        for port in spec.get("ports") or []:
            if node_ports.get(port.get("name")) and spec.get("type") in ("NodePort", "LoadBalancer"):
                port.setdefault("nodePort", node_ports[port.get("name")])
    if doc["kind"] == "Deployment" and keep_replicas and "replicas" in live:
        # The HPA owns the replica count once it exists; an update must not reset it.
        spec["replicas"] = live["replicas"]


async def apply(client: KubeClient, doc: Mapping[str, Any], *, keep_replicas: bool = False) -> dict[str, Any]:
    kind, name = str(doc["kind"]), str(doc["metadata"]["name"])
    for _ in range(MAX_ATTEMPTS):
        current = await client.find(kind, name)
        if current is None:
            try:
                return await client.create(doc)
            except Conflict:
                continue  # created by someone else in between: replace it on the next attempt
        if _owner(current) != _owner(doc):
            managed, endpoint, deployment = _owner(current)
            whose = (
                f"endpoint {endpoint} deployment {deployment}"
                if managed == naming.MANAGER
                else "someone else"
            )
            raise Conflict(
                f"{kind} {name} in {client.target.namespace} already exists and belongs to {whose}"
            )
        if current.get("immutable"):
            return current  # content-addressed: the same name holds the same bytes
        body = copy.deepcopy(dict(doc))
        _keep_server_fields(body, current, keep_replicas=keep_replicas)
        body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        try:
            return await client.replace(body)
        except Conflict:
            continue  # changed since we read it: read again and retry
    raise Conflict(f"{kind} {name} kept changing while endpointctl updated it; try again")


async def delete_labelled(client: KubeClient, selector: str, kinds: tuple[str, ...] = CLEANUP_KINDS) -> int:
    removed = 0
    for kind in kinds:
        for item in await client.list(kind, selector):
            removed += await client.delete(kind, item["metadata"]["name"])
    return removed
