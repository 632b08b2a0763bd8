"""The progressive rollout as a state machine: pure functions from (state, now, metrics) to the next state and
what to do (a split to apply, an event to record). Whoever drives it (the local agent, a controller in a
cluster) only reads metrics, applies splits and stores the state, so the rules live here once.

    Stepping(step i) --gates pass and step_seconds elapsed--> Stepping(i+1) … --last step--> Promoted
    Stepping --a gate fails--> RolledBack (the original split, at once)
    Stepping <--pause/resume--> Paused (gates still measured and shown)
    promote: the last step's split now → Promoted; abort: the original split → Aborted
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from endpointctl.core.errors import Conflict
from endpointctl.core.progressive.counters import metrics_from_json, metrics_to_json
from endpointctl.core.progressive.gates import (
    GateResult,
    Gates,
    ShadowWindow,
    Verdict,
    Window,
    judge,
    judge_mirror,
)
from endpointctl.core.progressive.plan import ProgressivePlan
from endpointctl.core.traffic import TrafficSplit
from endpointctl.core.views import DeploymentMetrics


class Phase(enum.StrEnum):
    STEPPING = "Stepping"
    PAUSED = "Paused"
    PROMOTED = "Promoted"
    ROLLED_BACK = "RolledBack"
    ABORTED = "Aborted"

    @property
    def terminal(self) -> bool:
        return self in (Phase.PROMOTED, Phase.ROLLED_BACK, Phase.ABORTED)


@dataclass(frozen=True)
class RolloutState:
    plan: ProgressivePlan
    phase: Phase
    step: int
    step_started_at: float
    started_at: float
    # The deployments' cumulative counters when the step started: the gates' window begins there.
    marks: Mapping[str, DeploymentMetrics] = field(default_factory=dict)
    reference_p99_ms: float | None = None
    verdict: Verdict | None = None
    reason: str = ""
    finished_at: float | None = None
    # In the mirror phase (before the first step): the candidate gets a copy of requests, not live traffic.
    mirroring: bool = False

    @property
    def split(self) -> TrafficSplit:
        """The split this state calls for."""
        if self.phase in (Phase.ROLLED_BACK, Phase.ABORTED):
            return self.plan.original
        if self.phase is Phase.PROMOTED:
            return self.plan.split_at(len(self.plan.steps) - 1)
        if self.mirroring:
            return self.plan.mirror_split()
        return self.plan.split_at(self.step)

    @property
    def position(self) -> str:
        """ "mirror 10%" or "step 2/3 (50%)"."""
        if self.mirroring:
            return f"mirror {self.plan.mirror_first}%"
        return f"step {self.step + 1}/{len(self.plan.steps)} ({self.plan.steps[self.step]}%)"

    def describe(self, now: float) -> str:
        """One status line: "Stepping 2/3 (50%) · 41 s left · error rate 0.0% (needs ≤ 1%); …"."""
        total = len(self.plan.steps)
        head = (
            f"{self.phase} {self.step + 1}/{total} ({self.plan.steps[self.step]}% to {self.plan.candidate})"
        )
        if self.phase.terminal:
            return f"{self.phase}: {self.reason}" if self.reason else str(self.phase)
        left = max(self.plan.step_seconds - (now - self.step_started_at), 0.0)
        parts = [head, f"{left:.0f} s left in the step"]
        if self.verdict is not None:
            parts.append(self.verdict.describe())
        return " · ".join(parts)


@dataclass(frozen=True)
class Transition:
    state: RolloutState
    split: TrafficSplit | None = None  # to apply now (None: unchanged)
    event: tuple[str, str, dict[str, Any]] | None = None  # (kind, message, data) for the event log


def start(plan: ProgressivePlan, now: float, metrics: Mapping[str, DeploymentMetrics]) -> Transition:
    state = RolloutState(
        plan, Phase.STEPPING, 0, now, now, marks=_marks(plan, metrics), mirroring=plan.mirror_first > 0
    )
    message = f"progressive rollout started: {plan.describe()}"
    return Transition(state, state.split, ("rollout", message, {"step": 1, "steps": len(plan.steps)}))


def advance(state: RolloutState, now: float, metrics: Mapping[str, DeploymentMetrics]) -> Transition:
    """One tick: judge the current step on the window since it started; move on, roll back or wait."""
    if state.phase.terminal:
        return Transition(state)
    plan = state.plan
    if state.mirroring:
        verdict = judge_mirror(
            ShadowWindow.between(state.marks.get(plan.candidate), metrics.get(plan.candidate)), plan.gates
        )
    else:
        verdict = judge(
            Window.between(state.marks.get(plan.baseline), metrics.get(plan.baseline)),
            Window.between(state.marks.get(plan.candidate), metrics.get(plan.candidate)),
            plan.gates,
            reference_p99_ms=state.reference_p99_ms,
        )
    state = replace(state, verdict=verdict)
    if state.phase is Phase.PAUSED:
        return Transition(state)
    failed = verdict.failed
    if failed is not None:
        return _roll_back(state, now, failed)
    if verdict.outcome != "pass" or now - state.step_started_at < plan.step_seconds:
        return Transition(state)
    if state.mirroring:
        first = replace(
            state, mirroring=False, step=0, step_started_at=now, marks=_marks(plan, metrics), verdict=None
        )
        message = f"mirror phase passed ({verdict.describe()}); {first.position} to {plan.candidate}"
        return Transition(first, first.split, ("rollout", message, _data(first)))
    if state.step + 1 >= len(plan.steps):
        done = replace(
            state, phase=Phase.PROMOTED, finished_at=now, reason=f"{plan.candidate} serves the pool"
        )
        return Transition(
            done, None, ("rollout", f"promoted {plan.candidate}: {verdict.describe()}", _data(done))
        )
    nxt = replace(
        state,
        step=state.step + 1,
        step_started_at=now,
        marks=_marks(plan, metrics),
        reference_p99_ms=verdict.baseline_p99_ms,
        verdict=None,
    )
    message = f"{nxt.position} to {plan.candidate} ({verdict.describe()})"
    return Transition(nxt, nxt.split, ("rollout", message, _data(nxt)))


def steer(state: RolloutState, command: str, now: float) -> Transition:
    """pause, resume, promote, abort: Conflict when the rollout is in no state to take it."""
    plan = state.plan
    if state.phase.terminal:
        raise Conflict(
            f"the rollout of {plan.candidate} on {plan.endpoint} is over ({state.phase}); nothing to {command}"
        )
    if command == "pause":
        if state.phase is Phase.PAUSED:
            raise Conflict(f"the rollout on {plan.endpoint} is already paused")
        paused = replace(state, phase=Phase.PAUSED)
        return Transition(paused, None, ("rollout", f"paused at {state.position}", _data(paused)))
    if command == "resume":
        if state.phase is not Phase.PAUSED:
            raise Conflict(f"the rollout on {plan.endpoint} is not paused")
        resumed = replace(state, phase=Phase.STEPPING)
        return Transition(resumed, None, ("rollout", f"resumed at {state.position}", _data(resumed)))
    if command == "promote":
        done = replace(state, phase=Phase.PROMOTED, finished_at=now, reason="promoted by the operator")
        return Transition(
            done, done.split, ("rollout", f"promoted {plan.candidate} by the operator", _data(done))
        )
    if command == "abort":
        done = replace(state, phase=Phase.ABORTED, finished_at=now, reason="aborted by the operator")
        return Transition(
            done,
            done.split,
            ("rollout", f"aborted: the original split is back ({_split(plan.original)})", _data(done)),
        )
    raise Conflict(f"unknown rollout command {command!r} (pause, resume, promote, abort)")


def _roll_back(state: RolloutState, now: float, failed: GateResult) -> Transition:
    plan = state.plan
    reason = f"gate {failed.describe()} at {state.position}"
    done = replace(state, phase=Phase.ROLLED_BACK, finished_at=now, reason=reason)
    message = f"rolled back {plan.candidate}: {reason}; the original split is back ({_split(plan.original)})"
    return Transition(done, done.split, ("rollout failed", message, {**_data(done), "gate": failed.gate}))


def _marks(plan: ProgressivePlan, metrics: Mapping[str, DeploymentMetrics]) -> dict[str, DeploymentMetrics]:
    return {name: metrics[name] for name in (plan.baseline, plan.candidate) if name in metrics}


def _data(state: RolloutState) -> dict[str, Any]:
    return {
        "phase": str(state.phase),
        "step": state.step + 1,
        "steps": len(state.plan.steps),
        "mirroring": state.mirroring,
    }


def _split(split: TrafficSplit) -> str:
    return " ".join(f"{k}={v}" for k, v in split.weights.items())


# --- storage: the state as JSON, so a restarted driver resumes at the same step ----------------------------
def plan_to_json(plan: ProgressivePlan) -> dict[str, Any]:
    return {
        "endpoint": plan.endpoint,
        "candidate": plan.candidate,
        "baseline": plan.baseline,
        "steps": list(plan.steps),
        "step_seconds": plan.step_seconds,
        "gates": asdict(plan.gates),
        "original": {"weights": dict(plan.original.weights), "mirror": dict(plan.original.mirror)},
        "mirror_first": plan.mirror_first,
    }


def plan_from_json(p: Mapping[str, Any]) -> ProgressivePlan:
    return ProgressivePlan(
        str(p["endpoint"]),
        str(p["candidate"]),
        str(p["baseline"]),
        tuple(int(s) for s in p["steps"]),
        float(p["step_seconds"]),
        Gates(**p["gates"]),
        TrafficSplit(
            {str(k): int(v) for k, v in p["original"]["weights"].items()},
            {str(k): int(v) for k, v in p["original"]["mirror"].items()},
        ),
        int(p.get("mirror_first", 0)),
    )


def to_json(state: RolloutState) -> dict[str, Any]:
    return {
        "plan": plan_to_json(state.plan),
        "verdict": None if state.verdict is None else _verdict_json(state.verdict),
        "phase": str(state.phase),
        "mirroring": state.mirroring,
        "step": state.step,
        "step_started_at": state.step_started_at,
        "started_at": state.started_at,
        "marks": {name: metrics_to_json(m) for name, m in state.marks.items()},
        "reference_p99_ms": state.reference_p99_ms,
        "reason": state.reason,
        "finished_at": state.finished_at,
    }


def from_json(data: Mapping[str, Any]) -> RolloutState:
    verdict = data.get("verdict")
    return RolloutState(
        plan_from_json(data["plan"]),
        Phase(data["phase"]),
        int(data["step"]),
        float(data["step_started_at"]),
        float(data["started_at"]),
        marks={name: metrics_from_json(m) for name, m in data.get("marks", {}).items()},
        reference_p99_ms=data.get("reference_p99_ms"),
        verdict=None if verdict is None else _verdict_from(verdict),
        reason=str(data.get("reason", "")),
        finished_at=data.get("finished_at"),
        mirroring=bool(data.get("mirroring", False)),
    )


def _verdict_json(v: Verdict) -> dict[str, Any]:
    return {
        "outcome": v.outcome,
        "results": [asdict(r) for r in v.results],
        "baseline_p99_ms": v.baseline_p99_ms,
    }


def _verdict_from(d: Mapping[str, Any]) -> Verdict:
    return Verdict(d["outcome"], tuple(GateResult(**r) for r in d["results"]), d.get("baseline_p99_ms"))
