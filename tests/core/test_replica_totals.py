"""Counters summed over gateway replicas: restarts, late replicas and a driver restart count nothing twice."""

from __future__ import annotations

from endpointctl.core.progressive.counters import ReplicaTotals
from endpointctl.core.progressive.gates import Window
from endpointctl.core.views import DeploymentMetrics

BOUNDS = (0.01, 0.1, 1.0)


def reading(requests: int, errors: int = 0, *, since: float = 1.0, slow: int = 0) -> DeploymentMetrics:
    ok = requests - errors
    return DeploymentMetrics(
        "green",
        requests,
        {"2xx": ok, "5xx": errors},
        1,
        None,
        None,
        statuses={200: ok, 500: errors} if errors else {200: ok},
        latency_bounds_s=BOUNDS,
        latency_counts=(requests - slow, slow, 0, 0),
        since=since,
    )


def test_replicas_add_up_from_the_first_reading() -> None:
    totals = ReplicaTotals(since=100.0)
    start = totals.observe({"a": {"green": reading(40)}, "b": {"green": reading(7)}}, first=True)
    assert start == {}  # what the replicas counted before the totals began is not counted
    out = totals.observe({"a": {"green": reading(50, 2)}, "b": {"green": reading(17)}})
    assert out["green"].requests == 20
    assert out["green"].statuses == {200: 18, 500: 2}
    assert out["green"].since == 100.0
    assert out["green"].in_flight == 2


def test_a_restarted_replica_counts_all_it_has_and_nothing_goes_backwards() -> None:
    totals = ReplicaTotals(since=0.0)
    totals.observe({"a": {"green": reading(100)}}, first=True)
    totals.observe({"a": {"green": reading(130)}})
    # The pod restarted: its counters began again (a new `since`).
    out = totals.observe({"a": {"green": reading(5, 1, since=9.0)}})
    assert out["green"].requests == 35
    assert out["green"].statuses == {200: 34, 500: 1}
    # Same `since` but fewer requests (counters reset in place) is a restart too.
    out = totals.observe({"a": {"green": reading(2, since=9.0)}})
    assert out["green"].requests == 37


def test_a_replica_first_seen_later_counts_from_zero_and_an_unreachable_one_catches_up() -> None:
    totals = ReplicaTotals(since=0.0)
    totals.observe({"a": {"green": reading(10)}}, first=True)
    out = totals.observe({"a": {"green": reading(10)}, "new": {"green": reading(4)}})
    assert out["green"].requests == 4
    out = totals.observe({"new": {"green": reading(6)}})  # "a" did not answer this time
    assert out["green"].requests == 6
    out = totals.observe({"a": {"green": reading(30)}, "new": {"green": reading(6)}})
    assert out["green"].requests == 26
    totals.forget({"new"})
    assert set(totals.last) == {"new"}
    assert totals.observe({})["green"].requests == 26


def test_latency_histograms_merge_and_windows_work_on_the_totals() -> None:
    totals = ReplicaTotals(since=0.0)
    totals.observe({"a": {"green": reading(0)}, "b": {"green": reading(0)}}, first=True)
    mark = totals.observe({"a": {"green": reading(50)}, "b": {"green": reading(50)}})["green"]
    now = totals.observe({"a": {"green": reading(150, slow=100)}, "b": {"green": reading(150)}})["green"]
    assert now.latency_counts == (200, 100, 0, 0)
    window = Window.between(mark, now)
    assert window.requests == 200
    p99 = window.quantile_ms(0.99)
    assert p99 is not None and 10 < p99 <= 100  # half of the window's requests were slow
    assert now.p99_ms is not None


def test_json_round_trip_keeps_counting_where_it_was() -> None:
    totals = ReplicaTotals(since=5.0)
    totals.observe({"a": {"green": reading(10)}}, first=True)
    totals.observe({"a": {"green": reading(25, 5)}})
    again = ReplicaTotals.from_json(totals.to_json())
    out = again.observe({"a": {"green": reading(30, 5)}})
    assert out["green"].requests == 20
    assert out["green"].statuses == {200: 15, 500: 5}
