"""A progressive rollout's state in the cluster: one ConfigMap per endpoint (`<endpoint>-gw-rollout`).

Any machine with the kubeconfig reads and steers the rollout through it, and the in-cluster controller
resumes from it after a restart. Every write is a compare-and-swap on the ConfigMap's resourceVersion, so the
controller's tick and an operator's `rollout pause` cannot overwrite each other: the loser reads again.

    state.json     the rollout machine's state (core.progressive.machine)
    counters.json  the gateway replicas' counters summed (core.progressive.counters), the gates' evidence
    routed         the state whose split the gateways are known to run (see `routing_key`)

The differing examples of a shadow diff are never stored here: they stay in the gateways' memory.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from endpointctl.backends.kubernetes import naming
from endpointctl.backends.kubernetes.client import KubeClient
from endpointctl.core.errors import EndpointctlError
from endpointctl.core.progressive import machine
from endpointctl.core.progressive.counters import ReplicaTotals
from endpointctl.core.progressive.machine import RolloutState

STATE_KEY = "state.json"
COUNTERS_KEY = "counters.json"
ROUTED_KEY = "routed"
COMPONENT = "endpointctl-rollout-controller"

log = logging.getLogger("endpointctl.kubernetes.rollout")


@dataclass(frozen=True)
class StoredRollout:
    state: RolloutState | None
    counters: ReplicaTotals | None
    routed: str
    resource_version: str | None  # None: the ConfigMap does not exist yet

    @property
    def routed_now(self) -> bool:
        """Whether the gateways run the split the state calls for."""
        return self.state is not None and self.routed == routing_key(self.state)


def routing_key(state: RolloutState) -> str:
    """Names the split a state calls for, per rollout: it changes whenever the split may change."""
    return f"{state.started_at!r}/{state.phase}/{state.step}/{'mirror' if state.mirroring else 'live'}"


def decode(cm: dict[str, Any] | None) -> StoredRollout:
    if cm is None:
        return StoredRollout(None, None, "", None)
    data = cm.get("data") or {}
    state = machine.from_json(json.loads(data[STATE_KEY])) if STATE_KEY in data else None
    counters = ReplicaTotals.from_json(json.loads(data[COUNTERS_KEY])) if COUNTERS_KEY in data else None
    return StoredRollout(state, counters, str(data.get(ROUTED_KEY, "")), cm["metadata"]["resourceVersion"])


async def load(client: KubeClient, endpoint: str) -> StoredRollout:
    return decode(await client.find("ConfigMap", naming.controller_name(endpoint)))


async def save(client: KubeClient, endpoint: str, stored: StoredRollout) -> StoredRollout:
    """Create the ConfigMap, or replace it if nobody wrote it since `stored` was read (Conflict otherwise)."""
    data: dict[str, str] = {ROUTED_KEY: stored.routed}
    if stored.state is not None:
        data[STATE_KEY] = json.dumps(machine.to_json(stored.state), sort_keys=True)
    if stored.counters is not None:
        data[COUNTERS_KEY] = json.dumps(stored.counters.to_json(), sort_keys=True)
    meta: dict[str, Any] = {
        "name": naming.controller_name(endpoint),
        "namespace": client.target.namespace,
        "labels": naming.labels(endpoint, naming.CONTROLLER),
    }
    doc = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data}
    if stored.resource_version is None:
        written = await client.create(doc)
    else:
        meta["resourceVersion"] = stored.resource_version
        written = await client.replace(doc)
    return replace(stored, resource_version=written["metadata"]["resourceVersion"])


async def record_event(client: KubeClient, endpoint: str, kind: str, message: str) -> None:
    """A Kubernetes Event on the state ConfigMap (the endpoint's events show it); a failure is only logged:
    the ConfigMap holds the rollout either way."""
    name = naming.controller_name(endpoint)
    namespace = client.target.namespace
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    failed = kind == "rollout failed"
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{name}.{uuid.uuid4().hex[:12]}", "namespace": namespace},
        "involvedObject": {"apiVersion": "v1", "kind": "ConfigMap", "name": name, "namespace": namespace},
        "reason": "RolledBack" if failed else "ProgressiveRollout",
        "message": message,
        "type": "Warning" if failed else "Normal",
        "source": {"component": COMPONENT},
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }
    try:
        await client.create(event)
    except EndpointctlError as exc:
        log.warning("%s: event not recorded: %s", endpoint, exc)
