"""Azure Monitor's metrics API for the ARM double: what the double's scoring router served, per minute.

Strict where Monitor is: the api-version, known metric names, PT1M grain, the aggregation each metric supports,
a `start/end` timespan, and `$filter` dimensions each metric has (`RequestLatency_*` splits by deployment only).
The answer has the documented shape (`value[].timeseries[].metadatavalues/data`), one point per minute of the
span, as Monitor fills minutes without requests with total 0 (and latency averages are absent then).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any

API_VERSION = "2023-10-01"
DIMENSIONS = {
    "RequestsPerMinute": ("deployment", "statusCode", "statusCodeClass", "modelStatusCode"),
    "RequestLatency_P50": ("deployment",),
    "RequestLatency_P90": ("deployment",),
    "RequestLatency_P95": ("deployment",),
    "RequestLatency_P99": ("deployment",),
}
UNITS = {"RequestsPerMinute": "Count"}
_FILTER = re.compile(r"(\w+) eq '\*'")

Response = tuple[int, dict[str, str], bytes]


@dataclass(frozen=True)
class Served:
    at: float
    endpoint: str
    deployment: str
    status: int
    latency_ms: float


def _error(status: int, code: str, message: str) -> Response:
    body = json.dumps({"code": code, "message": message}).encode()
    return status, {"Content-Type": "application/json"}, body


def _time(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)


def metrics(resource_id: str, query: dict[str, list[str]], served: list[Served], endpoint: str) -> Response:
    if query.get("api-version") != [API_VERSION]:
        return _error(400, "InvalidApiVersionParameter", f"api-version must be {API_VERSION}")
    names = (query.get("metricnames") or [""])[0].split(",")
    unknown = [n for n in names if n not in DIMENSIONS]
    if unknown:
        return _error(400, "BadRequest", f"Failed to find metric configuration for {', '.join(unknown)}")
    if query.get("interval") != ["PT1M"]:
        return _error(400, "BadRequest", "interval must be PT1M here")
    aggregation = (query.get("aggregation") or ["Average"])[0]
    want = "Total" if names == ["RequestsPerMinute"] else "Average"
    if aggregation != want:
        return _error(400, "BadRequest", f"{','.join(names)}: use aggregation {want}")
    try:
        start_text, end_text = (query.get("timespan") or [""])[0].split("/")
        start, end = _time(start_text), _time(end_text)
    except ValueError:
        return _error(400, "BadRequest", "timespan must be START/END in ISO 8601")
    if not start < end or (end - start) > dt.timedelta(days=1):
        return _error(400, "BadRequest", "timespan must be positive and at most one day at PT1M")
    split = _FILTER.findall((query.get("$filter") or [""])[0])
    for name in names:
        bad = [d for d in split if d not in DIMENSIONS[name]]
        if bad:
            return _error(400, "BadRequest", f"Metric {name} has no dimension {', '.join(bad)}")
    minutes = _minutes(start, end)
    mine = [s for s in served if s.endpoint == endpoint and start.timestamp() <= s.at < end.timestamp()]
    value = [_metric(resource_id, name, split, minutes, mine) for name in names]
    body = {
        "cost": 0,
        "timespan": f"{start_text}/{end_text}",
        "interval": "PT1M",
        "value": value,
        "namespace": "Microsoft.MachineLearningServices/workspaces/onlineEndpoints",
        "resourceregion": "westeurope",
    }
    return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()


def _minutes(start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    first = start.replace(second=0, microsecond=0)
    out = []
    while first < end:
        out.append(first)
        first += dt.timedelta(minutes=1)
    return out


def _labels(item: Served, split: list[str]) -> tuple[str, ...]:
    values = {
        "deployment": item.deployment,
        "statusCode": str(item.status),
        "statusCodeClass": f"{item.status // 100}xx",
        "modelStatusCode": str(item.status),
    }
    return tuple(values[d] for d in split)


def _metric(
    resource_id: str, name: str, split: list[str], minutes: list[dt.datetime], served: list[Served]
) -> dict[str, Any]:
    groups: dict[tuple[str, ...], list[Served]] = {}
    for item in served:
        groups.setdefault(_labels(item, split), []).append(item)
    timeseries = []
    for labels, items in sorted(groups.items()):
        data = []
        for minute in minutes:
            bucket = [s for s in items if minute.timestamp() <= s.at < minute.timestamp() + 60]
            point: dict[str, Any] = {"timeStamp": minute.strftime("%Y-%m-%dT%H:%M:%SZ")}
            if name == "RequestsPerMinute":
                point["total"] = float(len(bucket))
            elif bucket:
                q = int(name.rsplit("_P", 1)[1]) / 100
                latencies = sorted(s.latency_ms for s in bucket)
                point["average"] = latencies[min(len(latencies) - 1, int(q * len(latencies)))]
            data.append(point)
        timeseries.append(
            {
                "metadatavalues": [
                    {"name": {"value": d, "localizedValue": d}, "value": v}
                    for d, v in zip(split, labels, strict=True)
                ],
                "data": data,
            }
        )
    return {
        "id": f"{resource_id}/providers/Microsoft.Insights/metrics/{name}",
        "type": "Microsoft.Insights/metrics",
        "name": {"value": name, "localizedValue": name},
        "displayDescription": name,
        "unit": UNITS.get(name, "Milliseconds"),
        "timeseries": timeseries,
        "errorCode": "Success",
    }
