"""Turns successive cumulative MetricsSnapshots into per-deployment series for the sparklines."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from endpointctl.core.views import MetricsSnapshot


SERIES = ("rps", "p50", "p99", "errors")


@dataclass(frozen=True)
class Point:
    rps: float
    p50: float
    p99: float
    error_rate: float


class MetricsHistory:
    """Keeps the last `window` polls; a counter that went backwards (restart) counts as a fresh start."""

    def __init__(self, window: int = 60) -> None:
        self._window = window
        self._last: MetricsSnapshot | None = None
        self.points: dict[str, deque[Point]] = {}

    def add(self, snap: MetricsSnapshot) -> None:
        prev = self._last
        self._last = snap
        if prev is None or snap.ts <= prev.ts:
            return
        dt = snap.ts - prev.ts
        for name, cur in snap.deployments.items():
            before = prev.deployments.get(name)
            requests = cur.requests - (before.requests if before else 0)
            errors = cur.errors - (before.errors if before else 0)
            if requests < 0:
                requests, errors = cur.requests, cur.errors
            point = Point(
                rps=requests / dt,
                p50=cur.p50_ms or 0.0,
                p99=cur.p99_ms or 0.0,
                error_rate=(errors / requests) if requests > 0 else 0.0,
            )
            self.points.setdefault(name, deque(maxlen=self._window)).append(point)

    @property
    def last(self) -> MetricsSnapshot | None:
        """The newest snapshot: cumulative counters, for windows that start elsewhere (a rollout step)."""
        return self._last

    def series(self, deployment: str, kind: str) -> list[float]:
        points = self.points.get(deployment, ())
        if kind == "rps":
            return [p.rps for p in points]
        if kind == "p50":
            return [p.p50 for p in points]
        if kind == "p99":
            return [p.p99 for p in points]
        return [p.error_rate for p in points]

    def latest(self, deployment: str) -> Point | None:
        points = self.points.get(deployment)
        return points[-1] if points else None
