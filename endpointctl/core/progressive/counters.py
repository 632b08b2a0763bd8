"""One endpoint's counters summed over every gateway replica, surviving replica restarts.

Each gateway replica counts only the requests it routed, from when it started. A driver that judges gates on
a replicated gateway (Kubernetes runs two or more) therefore adds the replicas up, and must not be fooled
when one restarts (its counters drop to zero) or a new one appears. `ReplicaTotals` does what Prometheus'
`increase()` does for counters: it keeps each replica's last reading and adds only what grew since, taking a
reading that went backwards (or has a new `since`) as a restart whose counts are all new.

The totals are cumulative with a fixed `since` (when the totals began), so the rollout machine's windows
(`Window.between(mark, now)`) work on them exactly as on a single gateway's counters. The whole object is
JSON, so a restarted driver carries on without counting anything twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from endpointctl.core.views import DeploymentMetrics
from endpointctl.serving.gateway.metrics import histogram_quantile

K = TypeVar("K")
Readings = Mapping[str, DeploymentMetrics]  # deployment → one replica's cumulative counters


@dataclass
class ReplicaTotals:
    since: float
    # replica (a pod's uid) → deployment → its last reading
    last: dict[str, dict[str, DeploymentMetrics]] = field(default_factory=dict)
    totals: dict[str, DeploymentMetrics] = field(default_factory=dict)

    def observe(
        self, replicas: Mapping[str, Readings], *, first: bool = False
    ) -> dict[str, DeploymentMetrics]:
        """Add what each replica counted since its last reading; returns the totals per deployment.

        `first`: these readings only set the starting point (what the replicas counted before the totals
        began is not the rollout's). A replica first seen later is new, and everything it counted counts.
        Replicas not in `replicas` keep their last reading: one that was unreachable for a while adds its
        growth when it answers again; one that is gone for good is forgotten by `forget`.
        """
        in_flight: dict[str, int] = {}
        for replica, readings in replicas.items():
            previous = self.last.get(replica)
            for name, now in readings.items():
                in_flight[name] = in_flight.get(name, 0) + now.in_flight
                if first and previous is None:
                    continue
                before = None if previous is None else previous.get(name)
                self.totals[name] = _add(self.totals.get(name), _growth(before, now), self.since)
            self.last[replica] = {name: replace(m, shadow_examples=()) for name, m in readings.items()}
        return {
            name: replace(
                total, in_flight=in_flight.get(name, 0), p50_ms=_ms(total, 0.5), p99_ms=_ms(total, 0.99)
            )
            for name, total in self.totals.items()
        }

    def forget(self, live: set[str]) -> None:
        """Drop the readings of replicas that no longer exist (their counts stay in the totals)."""
        for replica in set(self.last) - live:
            del self.last[replica]

    # --- storage ------------------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {
            "since": self.since,
            "last": {r: {n: metrics_to_json(m) for n, m in d.items()} for r, d in self.last.items()},
            "totals": {n: metrics_to_json(m) for n, m in self.totals.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ReplicaTotals:
        return cls(
            float(data["since"]),
            {r: {n: metrics_from_json(m) for n, m in d.items()} for r, d in data.get("last", {}).items()},
            {n: metrics_from_json(m) for n, m in data.get("totals", {}).items()},
        )


def _restarted(before: DeploymentMetrics, now: DeploymentMetrics) -> bool:
    if before.since != now.since or before.latency_bounds_s != now.latency_bounds_s:
        return True
    if now.requests < before.requests or now.mirrored < before.mirrored:
        return True
    return any(now.statuses.get(code, 0) < n for code, n in before.statuses.items())


def _growth(before: DeploymentMetrics | None, now: DeploymentMetrics) -> DeploymentMetrics:
    """What `now` counted since `before` (all of it after a restart)."""
    if before is None or _restarted(before, now):
        return now
    return DeploymentMetrics(
        now.deployment,
        now.requests - before.requests,
        _minus(now.by_status, before.by_status),
        now.in_flight,
        None,
        None,
        mirrored=now.mirrored - before.mirrored,
        mirror_failures=max(now.mirror_failures - before.mirror_failures, 0),
        statuses=_minus(now.statuses, before.statuses),
        latency_bounds_s=now.latency_bounds_s,
        latency_counts=tuple(
            max(a - b, 0) for a, b in zip(now.latency_counts, before.latency_counts, strict=False)
        ),
        since=now.since,
        shadow=_minus(now.shadow, before.shadow),
    )


def _add(total: DeploymentMetrics | None, growth: DeploymentMetrics, since: float) -> DeploymentMetrics:
    if total is None:
        total = DeploymentMetrics(growth.deployment, 0, {}, 0, None, None, since=since)
    bounds = total.latency_bounds_s or growth.latency_bounds_s
    counts = total.latency_counts
    if growth.latency_bounds_s == bounds and growth.latency_counts:
        # Replicas of one gateway version share their buckets; a replica with other buckets (a rolling update
        # of the gateway itself) adds its requests and statuses but not its latencies.
        counts = tuple(
            a + b
            for a, b in zip(counts or (0,) * len(growth.latency_counts), growth.latency_counts, strict=True)
        )
    return DeploymentMetrics(
        total.deployment,
        total.requests + growth.requests,
        _plus(total.by_status, growth.by_status),
        0,
        None,
        None,
        mirrored=total.mirrored + growth.mirrored,
        mirror_failures=total.mirror_failures + growth.mirror_failures,
        statuses=_plus(total.statuses, growth.statuses),
        latency_bounds_s=bounds,
        latency_counts=counts,
        since=since,
        shadow=_plus(total.shadow, growth.shadow),
    )


def _ms(m: DeploymentMetrics, q: float) -> float | None:
    if not m.latency_bounds_s or not m.latency_counts:
        return None
    seconds = histogram_quantile(m.latency_bounds_s, m.latency_counts, q)
    return None if seconds is None else seconds * 1000


def _minus(now: Mapping[K, int], before: Mapping[K, int]) -> dict[K, int]:
    return {k: max(v - before.get(k, 0), 0) for k, v in now.items()}


def _plus(a: Mapping[K, int], b: Mapping[K, int]) -> dict[K, int]:
    out = dict(a)
    for k, v in b.items():
        out[k] = out.get(k, 0) + v
    return out


# --- JSON: the same form the rollout state keeps its marks in ------------------------------------------------
def metrics_to_json(m: DeploymentMetrics) -> dict[str, Any]:
    return {
        "deployment": m.deployment,
        "requests": m.requests,
        "by_status": dict(m.by_status),
        "in_flight": m.in_flight,
        "p50_ms": m.p50_ms,
        "p99_ms": m.p99_ms,
        "mirrored": m.mirrored,
        "mirror_failures": m.mirror_failures,
        "statuses": {str(k): v for k, v in m.statuses.items()},
        "latency_bounds_s": list(m.latency_bounds_s),
        "latency_counts": list(m.latency_counts),
        "since": m.since,
        "shadow": dict(m.shadow),
    }


def metrics_from_json(d: Mapping[str, Any]) -> DeploymentMetrics:
    return DeploymentMetrics(
        d["deployment"],
        int(d["requests"]),
        {str(k): int(v) for k, v in d["by_status"].items()},
        int(d["in_flight"]),
        d.get("p50_ms"),
        d.get("p99_ms"),
        mirrored=int(d.get("mirrored", 0)),
        mirror_failures=int(d.get("mirror_failures", 0)),
        statuses={int(k): int(v) for k, v in d.get("statuses", {}).items()},
        latency_bounds_s=tuple(float(b) for b in d.get("latency_bounds_s", ())),
        latency_counts=tuple(int(c) for c in d.get("latency_counts", ())),
        since=float(d.get("since", 0.0)),
        shadow={str(k): int(v) for k, v in d.get("shadow", {}).items()},
    )
