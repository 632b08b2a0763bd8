"""Per endpoint+deployment request metrics, rendered as Prometheus text or a JSON snapshot.

Counters only ever grow while a series exists; every series carries ``since`` (epoch seconds it was created) so a
poller that sees ``since`` change knows the counters restarted rather than went backwards. Requests refused before
a deployment was chosen (401, 404, 413, ...) are counted under the deployment name ``""``.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Sequence
from typing import Any

from endpointctl.serving.gateway.shadow import ShadowStats

# Upper bounds in seconds. Fine steps below 5 ms: that is where the gateway's own overhead shows up.
BUCKETS_S: tuple[float, ...] = (
    0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0, 180.0,
)  # fmt: skip
MIRROR_RESULTS = ("ok", "error")


def histogram_quantile(bounds: Sequence[float], counts: Sequence[int], q: float) -> float | None:
    """The `q` quantile of a histogram (`counts` per upper bound in `bounds`, plus one for +Inf), interpolated
    inside its bucket as Prometheus' histogram_quantile does; None when it is empty. Rollout gates use it too."""
    total = sum(counts)
    if total == 0 or not bounds:
        return None
    rank = q * total
    seen = 0
    lower = 0.0
    for i, n in enumerate(counts):
        if n and seen + n >= rank:
            if i >= len(bounds):
                return bounds[-1]
            return lower + (bounds[i] - lower) * ((rank - seen) / n)
        seen += n
        if i < len(bounds):
            lower = bounds[i]
    return bounds[-1]


class DeploymentMetrics:
    __slots__ = ("bucket_counts", "in_flight", "latency_sum_s", "mirror", "shadow", "since", "statuses")

    def __init__(self) -> None:
        self.since = time.time()
        self.statuses: dict[int, int] = {}
        # One slot per bucket plus +Inf; cumulated only when rendered, so observe() stays one increment.
        self.bucket_counts = [0] * (len(BUCKETS_S) + 1)
        self.latency_sum_s = 0.0
        self.in_flight = 0
        self.mirror = dict.fromkeys(MIRROR_RESULTS, 0)
        # Mirrored answers compared with the live ones (kept on the mirror target's series).
        self.shadow = ShadowStats()

    def observe(self, status: int, seconds: float) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1
        self.bucket_counts[bisect.bisect_left(BUCKETS_S, seconds)] += 1
        self.latency_sum_s += seconds

    def observe_mirror(self, ok: bool) -> None:
        self.mirror["ok" if ok else "error"] += 1

    @property
    def count(self) -> int:
        return sum(self.bucket_counts)

    def quantile(self, q: float) -> float | None:
        """Estimated latency quantile in seconds, interpolated inside the bucket like Prometheus does."""
        return histogram_quantile(BUCKETS_S, self.bucket_counts, q)

    def by_class(self) -> dict[str, int]:
        classes = {"2xx": 0, "3xx": 0, "4xx": 0, "5xx": 0}
        for status, n in self.statuses.items():
            key = f"{status // 100}xx"
            if key in classes:
                classes[key] += n
        return classes

    def snapshot(self) -> dict[str, Any]:
        p50, p99 = self.quantile(0.5), self.quantile(0.99)
        return {
            "since": self.since,
            "requests": self.count,
            "by_class": self.by_class(),
            "by_status": {str(s): n for s, n in sorted(self.statuses.items())},
            # The three answers a rollout watcher cares about most, counted on their own.
            "timeouts_408": self.statuses.get(408, 0),
            "throttled_429": self.statuses.get(429, 0),
            "model_errors_424": self.statuses.get(424, 0),
            "in_flight": self.in_flight,
            "latency": {
                "buckets_s": list(BUCKETS_S),
                "counts": list(self.bucket_counts),
                "sum_s": self.latency_sum_s,
                "p50_ms": None if p50 is None else p50 * 1000,
                "p99_ms": None if p99 is None else p99 * 1000,
            },
            "mirror": dict(self.mirror),
            "shadow": self.shadow.snapshot(),
        }


class MetricsRegistry:
    def __init__(self) -> None:
        self._series: dict[str, dict[str, DeploymentMetrics]] = {}

    def get(self, endpoint: str, deployment: str) -> DeploymentMetrics:
        deps = self._series.get(endpoint)
        if deps is None:
            deps = self._series[endpoint] = {}
        series = deps.get(deployment)
        if series is None:
            series = deps[deployment] = DeploymentMetrics()
        return series

    def retain(self, endpoints: dict[str, set[str]]) -> None:
        """Forget series of endpoints and deployments that no longer exist, so names can't grow without bound."""
        for ep in list(self._series):
            keep = endpoints.get(ep)
            if keep is None:
                del self._series[ep]
                continue
            for dep in list(self._series[ep]):
                if dep and dep not in keep:
                    del self._series[ep][dep]

    def snapshot(self) -> dict[str, Any]:
        return {
            "timestamp": time.time(),
            "monotonic": time.monotonic(),
            "endpoints": {
                ep: {"deployments": {dep: m.snapshot() for dep, m in sorted(deps.items())}}
                for ep, deps in sorted(self._series.items())
            },
        }

    def prometheus(self) -> str:
        lines = [
            "# HELP endpointctl_gateway_requests_total Requests answered, by status code.",
            "# TYPE endpointctl_gateway_requests_total counter",
        ]
        items = [(ep, dep, m) for ep, deps in sorted(self._series.items()) for dep, m in sorted(deps.items())]
        for ep, dep, m in items:
            for status, n in sorted(m.statuses.items()):
                lines.append(
                    f'endpointctl_gateway_requests_total{{endpoint="{ep}",deployment="{dep}",'
                    f'code="{status}",class="{status // 100}xx"}} {n}'
                )
        lines += [
            "# HELP endpointctl_gateway_request_duration_seconds Time from request received to response written.",
            "# TYPE endpointctl_gateway_request_duration_seconds histogram",
        ]
        for ep, dep, m in items:
            labels = f'endpoint="{ep}",deployment="{dep}"'
            cumulative = 0
            for bound, n in zip((*BUCKETS_S, None), m.bucket_counts, strict=True):
                cumulative += n
                le = "+Inf" if bound is None else repr(bound)
                lines.append(
                    f'endpointctl_gateway_request_duration_seconds_bucket{{{labels},le="{le}"}} {cumulative}'
                )
            lines.append(f"endpointctl_gateway_request_duration_seconds_sum{{{labels}}} {m.latency_sum_s!r}")
            lines.append(f"endpointctl_gateway_request_duration_seconds_count{{{labels}}} {cumulative}")
        lines += [
            "# HELP endpointctl_gateway_in_flight Requests being served right now.",
            "# TYPE endpointctl_gateway_in_flight gauge",
        ]
        for ep, dep, m in items:
            lines.append(f'endpointctl_gateway_in_flight{{endpoint="{ep}",deployment="{dep}"}} {m.in_flight}')
        lines += [
            "# HELP endpointctl_gateway_mirror_requests_total Mirrored copies sent, by outcome; never seen by callers.",
            "# TYPE endpointctl_gateway_mirror_requests_total counter",
        ]
        for ep, dep, m in items:
            for result in MIRROR_RESULTS:
                lines.append(
                    f'endpointctl_gateway_mirror_requests_total{{endpoint="{ep}",deployment="{dep}",'
                    f'result="{result}"}} {m.mirror[result]}'
                )
        lines += [
            "# HELP endpointctl_gateway_shadow_comparisons_total Mirrored answers compared with the live ones.",
            "# TYPE endpointctl_gateway_shadow_comparisons_total counter",
        ]
        for ep, dep, m in items:
            for result, n in m.shadow.counts.items():
                lines.append(
                    f'endpointctl_gateway_shadow_comparisons_total{{endpoint="{ep}",deployment="{dep}",'
                    f'result="{result}"}} {n}'
                )
        return "\n".join(lines) + "\n"
