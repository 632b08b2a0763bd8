"""Baseline beside candidate for the current step of a progressive rollout, as its gates see them.

The window is the gates' own: from the counters the rollout marked when the step began to the newest metrics
snapshot, so what the operator reads is what the next decision will be made on (not the last minute's rate).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from endpointctl.core.progressive.gates import ShadowWindow, Window

if TYPE_CHECKING:
    from endpointctl.core.progressive.machine import RolloutState
    from endpointctl.core.views import MetricsSnapshot, ShadowExample


@dataclass(frozen=True)
class SideStats:
    deployment: str
    role: str  # "baseline" or "candidate"
    requests: int
    per_second: float
    error_pct: float | None
    p50_ms: float | None
    p99_ms: float | None


@dataclass(frozen=True)
class MirrorStats:
    deployment: str
    window: ShadowWindow
    latest: ShadowExample | None

    @property
    def diff_pct(self) -> float | None:
        compared = self.window.equal + self.window.differs
        return 100.0 * self.window.differs / compared if compared else None


def side_by_side(state: RolloutState, last: MetricsSnapshot | None) -> list[SideStats]:
    """Baseline and candidate over the current step's window; empty before the first snapshot of the step."""
    if last is None or last.ts <= state.step_started_at:
        return []
    seconds = last.ts - state.step_started_at
    rows = []
    for role, name in (("baseline", state.plan.baseline), ("candidate", state.plan.candidate)):
        window = Window.between(state.marks.get(name), last.deployments.get(name))
        rows.append(
            SideStats(
                name,
                role,
                window.requests,
                window.requests / seconds,
                window.error_rate_pct,
                window.quantile_ms(0.5),
                window.quantile_ms(0.99),
            )
        )
    return rows


def mirror_stats(state: RolloutState, last: MetricsSnapshot | None) -> MirrorStats | None:
    """The candidate's mirrored answers compared with the live ones since the mirror phase began."""
    if last is None or not state.mirroring:
        return None
    name = state.plan.candidate
    current = last.deployments.get(name)
    window = ShadowWindow.between(state.marks.get(name), current)
    examples = current.shadow_examples if current is not None else ()
    latest = max(examples, key=lambda e: e.at) if examples else None
    return MirrorStats(name, window, latest)
