"""Set an endpoint's split in its routing ConfigMap, and nothing else: the rollout controller's only write to
the endpoint's objects (its Role allows exactly this ConfigMap), so this module stays free of the manifests'
image-building imports and renders the two documents exactly as `manifests.routing_config_map` does.
"""

from __future__ import annotations

import json
from typing import Any

from endpointctl.backends.common.routing import routed_mirror, routed_traffic
from endpointctl.backends.kubernetes import naming
from endpointctl.backends.kubernetes.client import KubeClient
from endpointctl.core.errors import Conflict
from endpointctl.core.spec import EndpointSpec, spec_to_dict
from endpointctl.core.spec.loader import restore
from endpointctl.core.traffic import TrafficSplit
from endpointctl.serving.gateway.config import DEFAULT_SHADOW_TOLERANCE

MAX_ATTEMPTS = 5


def with_split(
    routing_cm: dict[str, Any], split: TrafficSplit, shadow_tolerance: float | None = None
) -> dict[str, Any]:
    """The routing ConfigMap with `split` in both documents; deployments the endpoint no longer has are left
    out, as `set_traffic` leaves them out. `shadow_tolerance`: how the gateway compares mirrored answers (a
    mirror phase's --diff-tolerance); None for the default."""
    data = dict(routing_cm.get("data") or {})
    spec = restore(EndpointSpec, json.loads(data[naming.ENDPOINT_KEY]))
    doc = json.loads(data[naming.ROUTING_KEY])
    entry = doc["endpoints"][spec.name]
    names = list(entry.get("deployments", {}))
    spec = spec.model_copy(
        update={
            "traffic": {k: v for k, v in split.weights.items() if k in names},
            "mirror_traffic": {k: v for k, v in split.mirror.items() if k in names and v},
        }
    )
    entry["traffic"] = routed_traffic(spec.traffic, names)
    entry["mirror_traffic"] = routed_mirror(spec.mirror_traffic, names)
    if shadow_tolerance is None or shadow_tolerance == DEFAULT_SHADOW_TOLERANCE:
        entry.pop("shadow_tolerance", None)  # documents stay as the manifests render them by default
    else:
        entry["shadow_tolerance"] = shadow_tolerance
    data[naming.ROUTING_KEY] = json.dumps(doc, sort_keys=True, indent=2) + "\n"
    data[naming.ENDPOINT_KEY] = json.dumps(spec_to_dict(spec), sort_keys=True, separators=(",", ":"))
    return {**routing_cm, "data": data}


async def route(
    client: KubeClient, endpoint: str, split: TrafficSplit, shadow_tolerance: float | None = None
) -> str:
    """Write `split` (compare-and-swap on the ConfigMap's resourceVersion); returns the routing document."""
    for _ in range(MAX_ATTEMPTS):
        current = await client.get("ConfigMap", naming.routing_name(endpoint))
        updated = with_split(current, split, shadow_tolerance)
        if updated["data"] == current.get("data"):
            return str(updated["data"][naming.ROUTING_KEY])
        try:
            await client.replace(updated)
        except Conflict:
            continue  # a deployment was applied in between: route on top of what it wrote
        return str(updated["data"][naming.ROUTING_KEY])
    raise Conflict(f"the routing of {endpoint} kept changing while the rollout controller set its split")
