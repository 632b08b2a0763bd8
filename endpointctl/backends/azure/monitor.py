"""Request metrics of a managed online endpoint from Azure Monitor, read through ARM.

Azure ML publishes, per endpoint and at one-minute grain, `RequestsPerMinute` (split by `deployment` and
`statusCode`) and `RequestLatency_P50` / `RequestLatency_P99` (split by `deployment`). The call is ARM's
metrics API (`GET {endpoint id}/providers/Microsoft.Insights/metrics`), answered as
`value[].timeseries[].data[]` with `metadatavalues` naming the dimension values.

The TUI computes rates from the difference of two cumulative snapshots, so a snapshot here is the sum of the
minutes since an origin the backend keeps (its first read, floored to the minute); the latencies are the last
complete minute's. Monitor's data arrives a minute or more late: rates show in one-minute steps.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from endpointctl.core.errors import OperationFailed
from endpointctl.core.views import DeploymentMetrics

API_VERSION = "2023-10-01"
COUNTS = "RequestsPerMinute"
LATENCIES = ("RequestLatency_P50", "RequestLatency_P99")
# At one-minute grain Monitor answers at most this many points per series; longer spans are asked in parts.
MAX_MINUTES = 1440


@dataclass
class MinuteTotals:
    """What Monitor said about one deployment over a span: requests by status, the last minute's latencies."""

    statuses: dict[int, int] = field(default_factory=dict)
    p50_ms: float | None = None
    p99_ms: float | None = None
    latency_at: str = ""

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())


def metrics_url(
    endpoint_url: str, names: tuple[str, ...], start: dt.datetime, end: dt.datetime, split: str
) -> str:
    query = {
        "api-version": API_VERSION,
        "metricnames": ",".join(names),
        "timespan": f"{_iso(start)}/{_iso(end)}",
        "interval": "PT1M",
        "aggregation": "Total" if names == (COUNTS,) else "Average",
        "$filter": " and ".join(f"{dimension} eq '*'" for dimension in split.split(",")),
    }
    return f"{endpoint_url}/providers/Microsoft.Insights/metrics?{urlencode(query, safe=',*:/$')}"


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def add_counts(body: Mapping[str, Any], into: dict[str, MinuteTotals]) -> None:
    """Sum `RequestsPerMinute` totals by deployment and status code into `into`."""
    for series in _series(body, COUNTS):
        labels = _labels(series)
        deployment, status = labels.get("deployment", ""), labels.get("statuscode", "")
        if not deployment or not status.isdigit():
            continue
        total = sum(int(point.get("total") or 0) for point in _points(series))
        entry = into.setdefault(deployment, MinuteTotals())
        entry.statuses[int(status)] = entry.statuses.get(int(status), 0) + total


def add_latencies(body: Mapping[str, Any], into: dict[str, MinuteTotals], *, worst: bool = False) -> None:
    """The latest minute that has a value, per deployment, for p50 and p99; with `worst`, the highest minute
    of the span (a rollout gate judges a window by its worst minute: Monitor gives no histogram to merge)."""
    for name, attr in zip(LATENCIES, ("p50_ms", "p99_ms"), strict=True):
        for series in _series(body, name):
            deployment = _labels(series).get("deployment", "")
            valued = [p for p in _points(series) if p.get("average") is not None]
            if not deployment or not valued:
                continue
            if worst:
                last = max(valued, key=lambda p: float(p["average"]))
            else:
                last = max(valued, key=lambda p: str(p.get("timeStamp", "")))
            entry = into.setdefault(deployment, MinuteTotals())
            setattr(entry, attr, float(last["average"]))
            entry.latency_at = max(entry.latency_at, str(last.get("timeStamp", "")))


def snapshot_of(totals: Mapping[str, MinuteTotals], since: float) -> dict[str, DeploymentMetrics]:
    out = {}
    for deployment, entry in sorted(totals.items()):
        by_class: dict[str, int] = {}
        for status, count in entry.statuses.items():
            key = f"{status // 100}xx"
            by_class[key] = by_class.get(key, 0) + count
        out[deployment] = DeploymentMetrics(
            deployment,
            entry.requests,
            by_class,
            0,
            entry.p50_ms,
            entry.p99_ms,
            statuses=dict(entry.statuses),
            since=since,
        )
    return out


def _series(body: Mapping[str, Any], metric: str) -> list[Mapping[str, Any]]:
    values = body.get("value")
    if not isinstance(values, list):
        raise OperationFailed("Azure Monitor answered without a `value` list of metrics")
    found: list[Mapping[str, Any]] = []
    for value in values:
        name = (value.get("name") or {}).get("value") if isinstance(value, dict) else None
        if name != metric:
            continue
        if value.get("errorCode") not in (None, "Success"):
            raise OperationFailed(
                f"Azure Monitor could not read {metric}: {value.get('errorCode')}: {value.get('errorMessage', '')}"
            )
        found += [s for s in value.get("timeseries") or [] if isinstance(s, dict)]
    return found


def _labels(series: Mapping[str, Any]) -> dict[str, str]:
    labels = {}
    for item in series.get("metadatavalues") or []:
        name = (item.get("name") or {}).get("value") if isinstance(item, dict) else None
        if isinstance(name, str):
            labels[name.lower()] = str(item.get("value", ""))
    return labels


def _points(series: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [p for p in series.get("data") or [] if isinstance(p, dict)]
