"""Gates: does the candidate deployment do as well as the baseline on the traffic of one step?

Both deployments are judged on the same window: the difference between the gateway's cumulative counters at
the step's start and now (`Window.between`). A counter that went backwards, or whose `since` changed, means
the gateway restarted: the window is then what the new counters saw.

- error rate: the candidate's 5xx, 408 and 424 answers (the model failed or timed out; a client's 4xx is not
  the candidate's fault) over its requests, against `max_error_rate_pct`;
- p99: the candidate's p99 against the baseline's, times `max_p99_ratio`, never stricter than the baseline
  plus `p99_slack_ms` (a 2 ms → 3 ms change at idle is noise, not a regression). The baseline p99 is this
  window's when the baseline served enough requests in it, else the last one measured (a step at 100% leaves
  the baseline nothing to serve);
- evidence: a step passes only once the candidate served `min_requests` in it; until then it waits, and says
  so. A gate already lost whatever comes next (more errors than the whole allowance) fails at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from endpointctl.core.views import DeploymentMetrics
from endpointctl.serving.gateway.metrics import histogram_quantile

# Statuses that count against the candidate: its server errors, its timeouts, its model's failures.
ERROR_STATUSES = frozenset({408, 424})


@dataclass(frozen=True)
class Gates:
    max_error_rate_pct: float = 1.0
    max_p99_ratio: float = 1.5
    p99_slack_ms: float = 5.0
    min_requests: int = 50
    # The mirror phase: None reports the diff rate without gating on it.
    max_diff_rate_pct: float | None = None
    diff_tolerance: float = 1e-6

    def describe(self) -> str:
        text = (
            f"error rate ≤ {self.max_error_rate_pct:g}%, p99 ≤ {self.max_p99_ratio:g}× baseline "
            f"(+{self.p99_slack_ms:g} ms slack), ≥ {self.min_requests} requests per step"
        )
        if self.max_diff_rate_pct is not None:
            text += f", mirrored answers differing ≤ {self.max_diff_rate_pct:g}%"
        return text


@dataclass(frozen=True)
class Window:
    """One deployment's requests between two snapshots."""

    requests: int
    errors: int
    bounds_s: tuple[float, ...]
    counts: tuple[int, ...]
    # A source without a histogram (Azure Monitor) reports the window's quantiles directly.
    p50_ms: float | None = None
    p99_ms: float | None = None

    @classmethod
    def empty(cls) -> Window:
        return cls(0, 0, (), ())

    @classmethod
    def between(cls, before: DeploymentMetrics | None, after: DeploymentMetrics | None) -> Window:
        if after is None:
            return cls.empty()
        now = _totals(after)
        if before is None or before.since != after.since or before.latency_bounds_s != after.latency_bounds_s:
            return now
        then = _totals(before)
        counts = tuple(a - b for a, b in zip(now.counts, then.counts, strict=False))
        if now.requests < then.requests or any(c < 0 for c in counts):
            return now  # the counters restarted under the same `since`: take the new ones as they are
        return cls(now.requests - then.requests, max(now.errors - then.errors, 0), now.bounds_s, counts)

    @property
    def error_rate_pct(self) -> float | None:
        return None if self.requests == 0 else 100.0 * self.errors / self.requests

    def quantile_ms(self, q: float) -> float | None:
        """Interpolated inside the bucket, as Prometheus' histogram_quantile does."""
        if not self.bounds_s:
            return {0.5: self.p50_ms, 0.99: self.p99_ms}.get(q) if self.requests else None
        seconds = histogram_quantile(self.bounds_s, self.counts, q)
        return None if seconds is None else seconds * 1000


def _totals(m: DeploymentMetrics) -> Window:
    errors = sum(n for status, n in m.statuses.items() if status >= 500 or status in ERROR_STATUSES)
    counts = m.latency_counts or (m.requests,)
    if not m.latency_bounds_s:
        return Window(m.requests, errors, (), tuple(counts), m.p50_ms, m.p99_ms)
    return Window(m.requests, errors, m.latency_bounds_s, tuple(counts))


Outcome = Literal["pass", "fail", "wait"]


@dataclass(frozen=True)
class GateResult:
    gate: str  # "error rate", "p99", "requests"
    outcome: Outcome
    value: str  # "3.2%", "41.0 ms", "12"
    threshold: str  # "≤ 1%", "≤ 22.5 ms", "≥ 50"

    def describe(self) -> str:
        # "error rate 3.2% (needs ≤ 1%)"; a gate without a threshold says what it is instead.
        needs = f"needs {self.threshold}" if self.threshold[:1] in "≤≥" else self.threshold
        return f"{self.gate} {self.value} ({needs})"


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    results: tuple[GateResult, ...]
    baseline_p99_ms: float | None  # the reference the p99 gate used (kept for the next step)

    @property
    def failed(self) -> GateResult | None:
        return next((r for r in self.results if r.outcome == "fail"), None)

    def describe(self) -> str:
        return "; ".join(r.describe() for r in self.results)


def judge(baseline: Window, candidate: Window, gates: Gates, *, reference_p99_ms: float | None) -> Verdict:
    results: list[GateResult] = []
    enough = candidate.requests >= gates.min_requests
    # Errors: lost at once when the errors already exceed what min_requests would allow.
    allowance = gates.max_error_rate_pct / 100.0 * max(candidate.requests, gates.min_requests)
    rate = candidate.error_rate_pct
    if candidate.errors > allowance:
        error_outcome: Outcome = "fail"
    elif not enough:
        error_outcome = "wait"
    else:
        error_outcome = "pass" if (rate or 0.0) <= gates.max_error_rate_pct else "fail"
    results.append(
        GateResult(
            "error rate",
            error_outcome,
            "-" if rate is None else f"{rate:.1f}%",
            f"≤ {gates.max_error_rate_pct:g}%",
        )
    )
    # Latency: the candidate's p99 against the baseline's (this window's when it has evidence).
    if baseline.requests >= gates.min_requests:
        reference_p99_ms = baseline.quantile_ms(0.99)
    p99 = candidate.quantile_ms(0.99)
    if reference_p99_ms is None:
        results.append(GateResult("p99", "pass" if enough else "wait", _ms(p99), "no baseline yet"))
    else:
        limit = max(reference_p99_ms * gates.max_p99_ratio, reference_p99_ms + gates.p99_slack_ms)
        if not enough or p99 is None:
            p99_outcome: Outcome = "wait"
        else:
            p99_outcome = "pass" if p99 <= limit else "fail"
        results.append(GateResult("p99", p99_outcome, _ms(p99), f"≤ {limit:.1f} ms"))
    results.append(
        GateResult(
            "requests", "pass" if enough else "wait", str(candidate.requests), f"≥ {gates.min_requests}"
        )
    )
    return Verdict(_overall(results), tuple(results), reference_p99_ms)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


@dataclass(frozen=True)
class ShadowWindow:
    """The candidate's mirrored answers compared with the live ones, between two snapshots."""

    equal: int
    differs: int
    failed: int

    @classmethod
    def between(cls, before: DeploymentMetrics | None, after: DeploymentMetrics | None) -> ShadowWindow:
        if after is None:
            return cls(0, 0, 0)
        now = cls(*(int(after.shadow.get(k, 0)) for k in ("equal", "differs", "failed")))
        if before is None or before.since != after.since:
            return now
        then = cls(*(int(before.shadow.get(k, 0)) for k in ("equal", "differs", "failed")))
        delta = cls(now.equal - then.equal, now.differs - then.differs, now.failed - then.failed)
        return now if min(delta.equal, delta.differs, delta.failed) < 0 else delta

    @property
    def compared(self) -> int:
        return self.equal + self.differs + self.failed


def judge_mirror(window: ShadowWindow, gates: Gates) -> Verdict:
    """The mirror phase: enough comparisons, few enough mirror failures, and (when gated) few enough diffs."""
    results: list[GateResult] = []
    enough = window.compared >= gates.min_requests
    failed_rate = 100.0 * window.failed / window.compared if window.compared else None
    if window.failed > gates.max_error_rate_pct / 100.0 * max(window.compared, gates.min_requests):
        failed_outcome: Outcome = "fail"
    else:
        failed_outcome = "pass" if enough else "wait"
    results.append(
        GateResult(
            "mirror failures",
            failed_outcome,
            "-" if failed_rate is None else f"{failed_rate:.1f}%",
            f"≤ {gates.max_error_rate_pct:g}%",
        )
    )
    answered = window.equal + window.differs
    diff_rate = 100.0 * window.differs / answered if answered else None
    value = "-" if diff_rate is None else f"{diff_rate:.1f}%"
    if gates.max_diff_rate_pct is None:
        results.append(GateResult("diff rate", "pass" if enough else "wait", value, "reported only"))
    else:
        allowance = gates.max_diff_rate_pct / 100.0 * max(answered, gates.min_requests)
        if window.differs > allowance:
            diff_outcome: Outcome = "fail"
        else:
            diff_outcome = "pass" if enough else "wait"
        results.append(GateResult("diff rate", diff_outcome, value, f"≤ {gates.max_diff_rate_pct:g}%"))
    results.append(
        GateResult(
            "comparisons", "pass" if enough else "wait", str(window.compared), f"≥ {gates.min_requests}"
        )
    )
    return Verdict(_overall(results), tuple(results), None)


def _overall(results: list[GateResult]) -> Outcome:
    """A step fails on any failed gate, waits on any gate still short of evidence, else passes."""
    if any(r.outcome == "fail" for r in results):
        return "fail"
    if any(r.outcome == "wait" for r in results):
        return "wait"
    return "pass"
