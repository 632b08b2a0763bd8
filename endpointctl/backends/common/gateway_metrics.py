"""The gateway's JSON metrics for one endpoint (`GET /v1/metrics` → endpoints[name]) as the façade's view.

Every backend that runs endpointctl's gateway reads the same document: the local agent asks its gateway in
process, the Kubernetes backend through the API server's service proxy.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from endpointctl.core.views import DeploymentMetrics, MetricsSnapshot, ShadowExample


def metrics_snapshot(endpoint: str, raw: Mapping[str, Any]) -> MetricsSnapshot:
    deployments: dict[str, DeploymentMetrics] = {}
    for name, m in dict(raw.get("deployments", {})).items():
        latency = m.get("latency", {})
        mirror = m.get("mirror", {})
        shadow = m.get("shadow", {})
        deployments[name] = DeploymentMetrics(
            name,
            int(m.get("requests", 0)),
            {k: int(v) for k, v in m.get("by_class", {}).items()},
            int(m.get("in_flight", 0)),
            latency.get("p50_ms"),
            latency.get("p99_ms"),
            mirrored=sum(int(v) for v in mirror.values()),
            mirror_failures=int(mirror.get("error", 0)),
            statuses={int(k): int(v) for k, v in m.get("by_status", {}).items()},
            latency_bounds_s=tuple(float(b) for b in latency.get("buckets_s", ())),
            latency_counts=tuple(int(c) for c in latency.get("counts", ())),
            since=float(m.get("since", 0.0)),
            shadow={k: int(v) for k, v in shadow.items() if k != "examples"},
            shadow_examples=tuple(
                ShadowExample(
                    str(e["request_id"]),
                    float(e["at"]),
                    int(e["live_status"]),
                    int(e["mirror_status"]),
                    str(e["live_body"]),
                    str(e["mirror_body"]),
                )
                for e in shadow.get("examples", ())
            ),
        )
    return MetricsSnapshot(endpoint, time.time(), deployments)
