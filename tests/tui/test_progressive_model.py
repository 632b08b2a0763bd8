"""Baseline beside candidate: the window the gates judge, turned into rates, error shares and quantiles."""

from __future__ import annotations

from endpointctl.core.progressive import machine
from endpointctl.core.views import MetricsSnapshot
from endpointctl.tui.model.progressive import side_by_side
from tests.core.test_progressive import metrics, plan


def test_the_step_window_is_measured_from_the_marks_the_rollout_took() -> None:
    started = machine.start(
        plan(), 1000.0, {"blue": metrics("blue", 100), "green": metrics("green", 0)}
    ).state
    later = MetricsSnapshot(
        "ep",
        1010.0,
        {
            "blue": metrics("blue", 190, 10, latency_bucket=1),  # 100 new, 10 of them errors, 5-10 ms
            "green": metrics("green", 20, latency_bucket=3),  # 20 new, 25-50 ms
        },
    )
    baseline, candidate = side_by_side(started, later)
    assert (baseline.deployment, baseline.role, baseline.requests) == ("blue", "baseline", 100)
    assert baseline.per_second == 10.0 and baseline.error_pct == 10.0
    assert baseline.p50_ms is not None and 5.0 <= baseline.p50_ms <= 10.0
    assert (candidate.deployment, candidate.requests, candidate.per_second) == ("green", 20, 2.0)
    assert candidate.error_pct == 0.0
    assert candidate.p99_ms is not None and 25.0 <= candidate.p99_ms <= 50.0
    # No snapshot newer than the step's start: nothing to show yet, rather than a rate over no time.
    assert side_by_side(started, MetricsSnapshot("ep", 1000.0, later.deployments)) == []
    assert side_by_side(started, None) == []
