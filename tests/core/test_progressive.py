"""Progressive rollouts as pure rules: the plan's checks and splits, the gates' windows and verdicts, the state
machine's steps, rollback, operator commands and its stored form."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from endpointctl.core.errors import Conflict, InvalidInput
from endpointctl.core.progressive import machine
from endpointctl.core.progressive.gates import Gates, Window, judge
from endpointctl.core.progressive.machine import Phase
from endpointctl.core.progressive.plan import ProgressivePlan, make_plan, parse_steps
from endpointctl.core.traffic import TrafficSplit
from endpointctl.core.views import DeploymentMetrics

BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.1)
OK = {"blue": "Succeeded", "green": "Succeeded"}


def metrics(
    name: str, ok: int, errors: int = 0, *, latency_bucket: int = 1, since: float = 1.0
) -> DeploymentMetrics:
    counts = [0] * (len(BOUNDS) + 1)
    counts[latency_bucket] = ok + errors
    return DeploymentMetrics(
        name,
        ok + errors,
        {"2xx": ok, "5xx": errors},
        0,
        None,
        None,
        statuses={200: ok, **({500: errors} if errors else {})},
        latency_bounds_s=BOUNDS,
        latency_counts=tuple(counts),
        since=since,
    )


def plan(**kw: object) -> ProgressivePlan:
    args: dict[str, object] = {
        "deployments": OK,
        "current": TrafficSplit({"blue": 100, "green": 0}, {}),
        "candidate": "green",
        "steps": (10, 50, 100),
        "step_seconds": 10.0,
        "gates": Gates(min_requests=20),
    }
    args.update(kw)
    return make_plan("ep", **args)  # type: ignore[arg-type]


def test_the_baseline_defaults_to_the_deployment_with_the_most_traffic() -> None:
    p = plan(
        deployments={**OK, "red": "Succeeded"},
        current=TrafficSplit({"blue": 30, "red": 70, "green": 0}, {}),
    )
    assert p.baseline == "red" and p.pool == 70
    assert dict(p.split_at(0).weights) == {"blue": 30, "red": 63, "green": 7}
    assert dict(p.split_at(2).weights) == {"blue": 30, "red": 0, "green": 70}


def test_every_problem_is_named_before_anything_changes() -> None:
    with pytest.raises(InvalidInput) as bad:
        plan(deployments={"blue": "Succeeded", "green": "Updating"}, steps=(50, 20), step_seconds=0)
    text = str(bad.value)
    assert "--to green: it is Updating" in text
    assert "steps must rise" in text and "the last step must be 100" in text
    assert "--step-seconds 0" in text
    with pytest.raises(InvalidInput, match="--from green: it is the deployment being rolled out"):
        plan(baseline="green")
    with pytest.raises(InvalidInput, match="no such deployment"):
        plan(candidate="purple")
    with pytest.raises(InvalidInput, match="--steps 1,x"):
        parse_steps("1,x")


@given(
    st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), st.integers(0, 100), min_size=2, max_size=4),
    st.lists(st.integers(1, 99), max_size=5, unique=True),
)
def test_every_step_keeps_the_total_and_other_deployments_shares(
    weights: dict[str, int], inner: list[int]
) -> None:
    names = sorted(weights)
    candidate, baseline = names[0], names[1]
    if weights[candidate] + weights[baseline] == 0:
        weights[baseline] = 1
    steps = (*sorted(inner), 100)
    p = make_plan(
        "ep",
        deployments=dict.fromkeys(names, "Succeeded"),
        current=TrafficSplit(weights, {}),
        candidate=candidate,
        baseline=baseline,
        steps=steps,
    )
    shares = [p.split_at(i).weights[candidate] for i in range(len(steps))]
    assert shares == sorted(shares) and shares[-1] == p.pool
    for i in range(len(steps)):
        split = p.split_at(i).weights
        assert sum(split.values()) == sum(weights.values())
        assert all(split[n] == weights[n] for n in names[2:])


def test_a_window_is_the_difference_and_a_restart_starts_it_again() -> None:
    before, after = metrics("g", 10, 1), metrics("g", 50, 3)
    window = Window.between(before, after)
    assert (window.requests, window.errors) == (42, 2)
    restarted = metrics("g", 5, 0, since=2.0)
    assert Window.between(after, restarted).requests == 5
    assert Window.between(None, after).requests == 53


def test_errors_fail_as_soon_as_the_allowance_is_spent_and_evidence_is_waited_for() -> None:
    gates = Gates(max_error_rate_pct=1.0, min_requests=50)
    base = Window.between(None, metrics("b", 100))
    few_ok = judge(base, Window.between(None, metrics("g", 10)), gates, reference_p99_ms=None)
    assert few_ok.outcome == "wait" and "requests 10 (needs ≥ 50)" in few_ok.describe()
    early = judge(base, Window.between(None, metrics("g", 10, 3)), gates, reference_p99_ms=None)
    assert early.outcome == "fail" and early.failed is not None and early.failed.gate == "error rate"
    healthy = judge(base, Window.between(None, metrics("g", 60)), gates, reference_p99_ms=None)
    assert healthy.outcome == "pass"


def test_p99_is_compared_with_the_baseline_with_a_slack() -> None:
    gates = Gates(max_p99_ratio=1.5, p99_slack_ms=6.0, min_requests=20)
    base = Window.between(None, metrics("b", 100, latency_bucket=0))  # ≤ 5 ms
    slower = judge(
        base, Window.between(None, metrics("g", 100, latency_bucket=4)), gates, reference_p99_ms=None
    )
    assert slower.outcome == "fail" and slower.failed is not None and slower.failed.gate == "p99"
    noise = judge(
        base, Window.between(None, metrics("g", 100, latency_bucket=1)), gates, reference_p99_ms=None
    )
    assert noise.outcome == "pass"  # ~10 ms vs ~5 ms: within the 6 ms slack
    # No baseline traffic in this window (a 100% step): the reference measured earlier is used.
    alone = judge(
        Window.empty(), Window.between(None, metrics("g", 100, latency_bucket=4)), gates, reference_p99_ms=4.9
    )
    assert alone.outcome == "fail"


def test_the_machine_steps_promotes_and_stores_what_it_needs_to_resume() -> None:
    p = plan(step_seconds=10.0)
    t = machine.start(p, 0.0, {"blue": metrics("blue", 0), "green": metrics("green", 0)})
    assert t.split is not None and t.split.weights == {"blue": 90, "green": 10}
    state = t.state
    load = {"blue": metrics("blue", 100), "green": metrics("green", 30)}
    waiting = machine.advance(state, 5.0, load)
    assert waiting.split is None and waiting.state.step == 0  # gates pass but the step is not over
    nxt = machine.advance(state, 10.0, load)
    assert nxt.state.step == 1 and nxt.split is not None and nxt.split.weights == {"blue": 50, "green": 50}
    assert nxt.event is not None and nxt.event[1].startswith("step 2/3 (50%) to green")
    stored = machine.from_json(machine.to_json(nxt.state))
    assert stored.step == 1 and stored.marks["green"].requests == 30 and stored.plan == p
    more = {"blue": metrics("blue", 150), "green": metrics("green", 80)}
    last = machine.advance(stored, 20.0, more)
    done = machine.advance(last.state, 30.0, {"blue": metrics("blue", 150), "green": metrics("green", 120)})
    assert done.state.phase is Phase.PROMOTED and done.state.split.weights == {"blue": 0, "green": 100}


def test_a_failed_gate_restores_the_original_split_at_once() -> None:
    p = plan(current=TrafficSplit({"blue": 100, "green": 0}, {"green": 20}))
    state = machine.start(p, 0.0, {}).state
    t = machine.advance(state, 1.0, {"blue": metrics("blue", 100), "green": metrics("green", 20, 9)})
    assert t.state.phase is Phase.ROLLED_BACK
    assert t.split is not None and t.split == p.original and dict(t.split.mirror) == {"green": 20}
    assert t.event is not None and t.event[0] == "rollout failed" and t.event[2]["gate"] == "error rate"
    assert "error rate 31.0% (needs ≤ 1%)" in t.state.reason


def test_operator_commands() -> None:
    state = machine.start(plan(), 0.0, {}).state
    paused = machine.steer(state, "pause", 1.0).state
    assert paused.phase is Phase.PAUSED
    # Paused: gates are still judged, nothing moves even when they pass and the step is over.
    held = machine.advance(paused, 100.0, {"blue": metrics("blue", 100), "green": metrics("green", 100)})
    assert held.split is None and held.state.verdict is not None and held.state.verdict.outcome == "pass"
    with pytest.raises(Conflict, match="already paused"):
        machine.steer(paused, "pause", 2.0)
    resumed = machine.steer(paused, "resume", 3.0).state
    promoted = machine.steer(resumed, "promote", 4.0)
    assert promoted.state.phase is Phase.PROMOTED and promoted.split is not None
    assert promoted.split.weights == {"blue": 0, "green": 100}
    aborted = machine.steer(resumed, "abort", 4.0)
    assert aborted.state.phase is Phase.ABORTED and aborted.split == plan().original
    with pytest.raises(Conflict, match="is over"):
        machine.steer(aborted.state, "resume", 5.0)


def shadow(name: str, equal: int, differs: int, failed: int = 0) -> DeploymentMetrics:
    return DeploymentMetrics(
        name, 0, {}, 0, None, None, shadow={"equal": equal, "differs": differs, "failed": failed}, since=1.0
    )


def test_the_mirror_phase_comes_first_and_its_diff_rate_can_gate() -> None:
    p = plan(mirror_first=20, gates=Gates(min_requests=20, max_diff_rate_pct=5.0), steps=(50, 100))
    t = machine.start(p, 0.0, {"green": shadow("green", 0, 0)})
    assert t.state.mirroring and t.split is not None
    assert dict(t.split.weights) == {"blue": 100, "green": 0} and dict(t.split.mirror) == {"green": 20}
    same = machine.advance(t.state, 11.0, {"green": shadow("green", 30, 0)})
    assert not same.state.mirroring and same.state.step == 0 and same.split is not None
    assert dict(same.split.weights) == {"blue": 50, "green": 50} and dict(same.split.mirror) == {}
    assert same.event is not None and "mirror phase passed" in same.event[1]
    different = machine.advance(t.state, 1.0, {"green": shadow("green", 1, 29)})
    assert different.state.phase is Phase.ROLLED_BACK and "gate diff rate 96.7%" in different.state.reason
    assert "at mirror 20%" in different.state.reason and different.split == p.original


def test_without_a_diff_gate_the_diff_rate_is_reported_only() -> None:
    p = plan(mirror_first=10, steps=(100,))
    state = machine.start(p, 0.0, {}).state
    judged = machine.advance(state, 11.0, {"green": shadow("green", 0, 25)})
    assert not judged.state.mirroring  # all different, but nobody asked to gate on it
    verdict = machine.advance(state, 1.0, {"green": shadow("green", 0, 25)}).state.verdict
    assert verdict is not None and "diff rate 100.0% (reported only)" in verdict.describe()
    assert machine.from_json(machine.to_json(state)).mirroring


def test_mirror_rules_are_checked_before_anything_changes() -> None:
    with pytest.raises(InvalidInput, match="mirrored traffic is 0–50%"):
        plan(mirror_first=60)
    with pytest.raises(InvalidInput, match="already mirrors to red"):
        plan(
            mirror_first=10,
            deployments={**OK, "red": "Succeeded"},
            current=TrafficSplit({"blue": 100, "green": 0, "red": 0}, {"red": 10}),
        )
    with pytest.raises(InvalidInput, match="give --mirror-first too"):
        plan(gates=Gates(max_diff_rate_pct=1.0))


@pytest.mark.parametrize(
    ("live", "mirror", "expected"),
    [
        ((200, b'{"y": [1.0, 2.0]}'), (200, b'{"y":[1.0000000001,2]}'), "equal"),
        ((200, b'{"y": [1.0, 2.0]}'), (200, b'{"y": [1.1, 2.0]}'), "differs"),
        ((200, b'{"a": 1, "b": 2}'), (200, b'{"b": 2, "a": 1}'), "equal"),
        ((200, b"[true]"), (200, b"[1]"), "differs"),
        ((200, b"plain text"), (200, b"plain text"), "equal"),
        ((200, b"plain text"), (200, b"Plain text"), "differs"),
        ((200, b"{}"), (424, b"{}"), "differs"),
        ((200, b"{}"), (503, b"no instance"), "failed"),
        ((200, b"{}"), (429, b"too many requests"), "throttled"),
        ((424, b"boom"), (424, b"boom"), "equal"),
    ],
)
def test_shadow_comparison(live: tuple[int, bytes], mirror: tuple[int, bytes], expected: str) -> None:
    from endpointctl.serving.gateway.shadow import ShadowStats, compare

    assert compare(*live, *mirror, 1e-6) == expected
    stats = ShadowStats()
    stats.observe(b"req-1", live, mirror, 1e-6)
    snapshot = stats.snapshot()
    assert snapshot[expected] == 1
    assert [e["request_id"] for e in snapshot["examples"]] == (["req-1"] if expected == "differs" else [])
