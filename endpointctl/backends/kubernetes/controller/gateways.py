"""The endpoint's gateway replicas as the controller reaches them: every ready gateway pod's admin port, by
pod address (not through the admin Service, which would answer from one replica of several).

Reads each replica's counters and which routing it runs, and pushes the routing ConfigMap's document to a
replica that runs another: the kubelet refreshes a mounted ConfigMap only every minute or so, and a rollback
must reach every replica within one tick.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from endpointctl.backends.common.gateway_metrics import metrics_snapshot
from endpointctl.backends.kubernetes import naming
from endpointctl.backends.kubernetes.client import KubeClient
from endpointctl.core.views import DeploymentMetrics

log = logging.getLogger("endpointctl.controller.gateways")

ADMIN_PORT_NAME = "admin"
TIMEOUT_S = 2.0
TOKEN_HEADER = "x-endpointctl-admin-token"


@dataclass(frozen=True)
class Replica:
    uid: str
    name: str
    url: str  # http://<pod IP>:<admin port>


def routing_digest(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


class Gateways:
    def __init__(
        self, client: KubeClient, endpoint: str, token: str, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._client, self._endpoint = client, endpoint
        self._http = httpx.AsyncClient(
            transport=transport, timeout=TIMEOUT_S, headers={TOKEN_HEADER: token}, trust_env=False
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def replicas(self) -> list[Replica]:
        out = []
        for pod in await self._client.list("Pod", naming.gateway(self._endpoint)):
            meta, status = pod["metadata"], pod.get("status") or {}
            ready = any(
                c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or []
            )
            address = status.get("podIP")
            port = _admin_port(pod)
            if ready and address and port and not meta.get("deletionTimestamp"):
                host = f"[{address}]" if ":" in address else address
                out.append(Replica(meta["uid"], meta["name"], f"http://{host}:{port}"))
        return out

    async def readings(self, replicas: list[Replica]) -> dict[str, Mapping[str, DeploymentMetrics]]:
        """Each replica's cumulative counters per deployment; a replica that does not answer is left out (its
        growth is counted when it answers again)."""
        answers = await asyncio.gather(*(self._metrics(r) for r in replicas))
        return {r.uid: a for r, a in zip(replicas, answers, strict=True) if a is not None}

    async def converge(self, replicas: list[Replica], document: str) -> list[str]:
        """Push `document` to every replica that runs another routing; the names of those that do not run it
        afterwards (unreachable, or refusing it)."""
        wanted = routing_digest(document)
        results = await asyncio.gather(*(self._converge(r, document, wanted) for r in replicas))
        return [r.name for r, ok in zip(replicas, results, strict=True) if not ok]

    async def _metrics(self, replica: Replica) -> Mapping[str, DeploymentMetrics] | None:
        try:
            response = await self._http.get(f"{replica.url}/v1/metrics")
            response.raise_for_status()
            raw: Any = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("gateway %s: no metrics: %s", replica.name, exc)
            return None
        served = (raw.get("endpoints") or {}).get(self._endpoint) if isinstance(raw, dict) else None
        if served is None:
            return {}
        return metrics_snapshot(self._endpoint, served).deployments

    async def _converge(self, replica: Replica, document: str, wanted: str) -> bool:
        try:
            status = await self._http.get(f"{replica.url}/v1/status")
            status.raise_for_status()
            if status.json().get("routing") == wanted:
                return True
            pushed = await self._http.put(f"{replica.url}/v1/routing", content=document.encode())
            if pushed.status_code != 200:
                log.warning(
                    "gateway %s refused the routing: %s %s", replica.name, pushed.status_code, pushed.text
                )
                return False
            return bool(pushed.json().get("routing") == wanted)
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("gateway %s: routing not confirmed: %s", replica.name, exc)
            return False


def _admin_port(pod: Mapping[str, Any]) -> int | None:
    for container in (pod.get("spec") or {}).get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name") == ADMIN_PORT_NAME:
                return int(port["containerPort"])
    return None
