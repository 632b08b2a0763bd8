"""A progressive rollout's plan: which deployment takes over from which, in which steps, judged by which gates.

Everything is checked before anything changes (`make_plan` raises InvalidInput naming every problem), and the
endpoint's split at the start is recorded in the plan: it is exactly what a rollback restores.

Traffic per step: the candidate takes `step`% of the traffic the baseline and the candidate had together at
the start; other deployments keep their share, so the split always sums as it did.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from endpointctl.core.errors import InvalidInput
from endpointctl.core.progressive.gates import Gates
from endpointctl.core.traffic import MAX_MIRROR_PERCENT, TrafficSplit

DEFAULT_STEPS = (10, 50, 100)
DEFAULT_STEP_SECONDS = 60.0
MAX_STEPS = 20
MAX_STEP_SECONDS = 24 * 3600.0


@dataclass(frozen=True)
class ProgressivePlan:
    endpoint: str
    candidate: str
    baseline: str
    steps: tuple[int, ...]  # the candidate's percent of the pool at each step, rising to 100
    step_seconds: float
    gates: Gates
    original: TrafficSplit  # the split at the start: what a rollback restores
    mirror_first: int = 0  # a mirror phase first: this percent of live requests copied to the candidate

    @property
    def pool(self) -> int:
        return self.original.weights.get(self.baseline, 0) + self.original.weights.get(self.candidate, 0)

    def split_at(self, step: int) -> TrafficSplit:
        """The live split while `step` (an index into `steps`) runs. A mirror to either deployment is off meanwhile
        (a deployment with live traffic cannot be mirrored to); a mirror to a third one stays."""
        pct = self.steps[step]
        pool = self.pool
        candidate = round(pool * pct / 100)
        weights = dict(self.original.weights)
        weights[self.candidate] = candidate
        weights[self.baseline] = pool - candidate
        mirror = {k: v for k, v in self.original.mirror.items() if k not in (self.candidate, self.baseline)}
        return TrafficSplit(weights, mirror)

    def mirror_split(self) -> TrafficSplit:
        """The mirror phase: the live split as it was, a copy of `mirror_first`% of requests to the candidate."""
        return TrafficSplit(dict(self.original.weights), {self.candidate: self.mirror_first})

    def describe(self) -> str:
        steps = " → ".join(f"{s}%" for s in self.steps)
        mirror = f"mirror {self.mirror_first}% first, then " if self.mirror_first else ""
        return (
            f"{self.endpoint}: {self.baseline} → {self.candidate}: {mirror}steps {steps}, "
            f"{self.step_seconds:g} s each; gates: {self.gates.describe()}"
        )


def make_plan(
    endpoint: str,
    *,
    deployments: Mapping[str, str],  # name → provisioning state
    current: TrafficSplit,
    candidate: str,
    baseline: str | None = None,
    steps: Sequence[int] = DEFAULT_STEPS,
    step_seconds: float = DEFAULT_STEP_SECONDS,
    gates: Gates | None = None,
    mirror_first: int = 0,
) -> ProgressivePlan:
    gates = gates or Gates()
    problems: list[str] = []
    if not 0 <= mirror_first <= MAX_MIRROR_PERCENT:
        problems.append(f"--mirror-first {mirror_first}: mirrored traffic is 0–{MAX_MIRROR_PERCENT}%")
    elif mirror_first and candidate in deployments and current.weights.get(candidate, 0) > 0:
        problems.append(
            f"--mirror-first: {candidate} has live traffic ({current.weights[candidate]}%); "
            "a deployment with live traffic cannot be mirrored to"
        )
    mirrored = sorted(name for name, pct in current.mirror.items() if pct > 0 and name != candidate)
    if mirror_first and mirrored:
        problems.append(
            f"--mirror-first: {endpoint} already mirrors to {mirrored[0]}; one mirror target at most"
        )
    if gates.max_diff_rate_pct is not None and not 0 <= gates.max_diff_rate_pct <= 100:
        problems.append(f"--max-diff-rate {gates.max_diff_rate_pct:g}: must be a percent, 0–100")
    if gates.max_diff_rate_pct is not None and not mirror_first:
        problems.append("--max-diff-rate gates the mirror phase: give --mirror-first too")
    if not 0 <= gates.diff_tolerance <= 1:
        problems.append(f"--diff-tolerance {gates.diff_tolerance:g}: a relative tolerance, 0–1")
    if candidate not in deployments:
        problems.append(f"--to {candidate}: no such deployment of {endpoint} (have: {_names(deployments)})")
    elif deployments[candidate] != "Succeeded":
        problems.append(f"--to {candidate}: it is {deployments[candidate]}; it must be Succeeded first")
    if baseline is None:
        others = sorted(
            ((share, name) for name, share in current.weights.items() if name != candidate and share > 0),
            reverse=True,
        )
        if others:
            baseline = others[0][1]
        else:
            problems.append(
                f"--from: no deployment but {candidate} has traffic on {endpoint}; name one with --from"
            )
    elif baseline not in deployments:
        problems.append(f"--from {baseline}: no such deployment of {endpoint} (have: {_names(deployments)})")
    elif baseline == candidate:
        problems.append(f"--from {baseline}: it is the deployment being rolled out (--to)")
    if baseline is not None and baseline in deployments and deployments[baseline] != "Succeeded":
        problems.append(f"--from {baseline}: it is {deployments[baseline]}; it must be Succeeded")
    if baseline is not None and current.weights.get(baseline, 0) + current.weights.get(candidate, 0) == 0:
        problems.append(
            f"--from {baseline}: neither it nor {candidate} gets traffic; there is nothing to move"
        )
    problems += _check_steps(list(steps))
    if not 0 < step_seconds <= MAX_STEP_SECONDS:
        problems.append(f"--step-seconds {step_seconds:g}: must be above 0 and at most {MAX_STEP_SECONDS:g}")
    if not 0 <= gates.max_error_rate_pct <= 100:
        problems.append(f"--max-error-rate {gates.max_error_rate_pct:g}: must be a percent, 0–100")
    if gates.max_p99_ratio < 1:
        problems.append(
            f"--max-p99-ratio {gates.max_p99_ratio:g}: must be at least 1 (1 = as fast as the baseline)"
        )
    if not 1 <= gates.min_requests <= 1_000_000:
        problems.append(f"--min-requests {gates.min_requests}: must be 1–1000000")
    if problems:
        raise InvalidInput("rollout start: " + "; ".join(problems))
    assert baseline is not None
    return ProgressivePlan(
        endpoint, candidate, baseline, tuple(steps), float(step_seconds), gates, current, mirror_first
    )


def parse_steps(text: str) -> list[int]:
    """`--steps 10,50,100`."""
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise InvalidInput(f"--steps {text}: expected percents separated by commas, e.g. 10,50,100") from None


def _check_steps(steps: list[int]) -> list[str]:
    if not steps:
        return ["--steps: give at least one step, ending at 100"]
    problems = []
    if len(steps) > MAX_STEPS:
        problems.append(f"--steps: at most {MAX_STEPS} steps, got {len(steps)}")
    if any(not 1 <= s <= 100 for s in steps):
        problems.append(f"--steps {_csv(steps)}: each step is a percent, 1–100")
    if any(b <= a for a, b in itertools.pairwise(steps)):
        problems.append(f"--steps {_csv(steps)}: steps must rise")
    if steps[-1] != 100:
        problems.append(f"--steps {_csv(steps)}: the last step must be 100")
    return problems


def _csv(steps: list[int]) -> str:
    return ",".join(str(s) for s in steps)


def _names(deployments: Mapping[str, str]) -> str:
    return ", ".join(sorted(deployments)) or "none"
