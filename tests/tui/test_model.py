"""The TUI's state model without an app: rollout timelines, keyed log streams, the refresher's back-off."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from endpointctl.core.spec import DeploymentSpec, load_deployment
from endpointctl.core.views import (
    Container,
    DeploymentView,
    InstanceState,
    InstanceView,
    LogLine,
    ProvisioningState,
    RolloutView,
)
from endpointctl.tui.model.detail import EndpointDetail
from endpointctl.tui.model.refresher import MAX_BACKOFF_S, Refresher
from endpointctl.tui.model.rollouts import Outcome, RolloutTracker
from endpointctl.tui.model.snapshot import Snapshot
from endpointctl.tui.model.streams import LogBatch, LogKey, LogStreams
from tests.conftest import SAMPLES

BLUE: DeploymentSpec = load_deployment(SAMPLES / "managed" / "sample" / "blue-deployment.yml")
READY, STARTING, TERMINATING = InstanceState.READY, InstanceState.STARTING, InstanceState.TERMINATING


def view(
    state: ProvisioningState,
    revision: int,
    instances: list[tuple[str, InstanceState, int]],
    rollout: RolloutView | None = None,
    reason: str = "",
    count: int = 3,
) -> DeploymentView:
    spec = BLUE.model_copy(update={"instance_count": count})
    return DeploymentView(
        "process",
        spec,
        state,
        revision=revision,
        instances=tuple(InstanceView(i, s, r) for i, s, r in instances),
        rollout=rollout,
        reason=reason,
    )


def test_a_rolling_update_becomes_a_timeline_with_plan_batches_instances_and_outcome() -> None:
    tracker = RolloutTracker()
    old = [("a", READY, 1), ("b", READY, 1), ("c", READY, 1)]
    assert tracker.observe(view(ProvisioningState.SUCCEEDED, 1, old), 0.0) is None  # nothing rolling
    steps = [
        (
            1.0,
            view(
                ProvisioningState.UPDATING, 2, [*old, ("d", STARTING, 2)], RolloutView(2, 1, 3, 0, 3, "surge")
            ),
        ),
        (
            2.0,
            view(
                ProvisioningState.UPDATING,
                2,
                [("a", TERMINATING, 1), ("b", READY, 1), ("c", READY, 1), ("d", READY, 2)],
                RolloutView(2, 1, 3, 1, 3, "drain"),
            ),
        ),
        (
            3.0,
            view(
                ProvisioningState.UPDATING,
                2,
                [("b", READY, 1), ("c", READY, 1), ("d", READY, 2), ("e", STARTING, 2)],
                RolloutView(2, 2, 3, 1, 3, "surge"),
            ),
        ),
        (
            4.5,
            view(
                ProvisioningState.UPDATING,
                2,
                [("c", READY, 1), ("d", READY, 2), ("e", READY, 2), ("f", READY, 2)],
                RolloutView(2, 3, 3, 2, 3, "drain"),
            ),
        ),
        (5.1, view(ProvisioningState.SUCCEEDED, 2, [("d", READY, 2), ("e", READY, 2), ("f", READY, 2)])),
    ]
    timeline = None
    for now, v in steps:
        timeline = tracker.observe(v, now)
    assert timeline is not None
    assert timeline.outcome == Outcome.SUCCEEDED
    assert timeline.plan() == "3 replaced in 3 batches of ≤ 1"
    assert timeline.title(99.0) == "✔ my-endpoint/blue rev 1→2 rolled out in 4.1 s"
    assert timeline.batch_lines(99.0) == ["batch 1/3 ✔ 2.0 s", "batch 2/3 ✔ 1.5 s", "batch 3/3 ✔ 0.6 s"]
    lines = timeline.instance_lines()
    assert "d init→ready 1.0 s" in lines
    assert "a (rev 1) ready→draining→stopped 2.0 s" in lines
    assert tracker.running() == []
    assert tracker.timeline(("process", "my-endpoint", "blue")) is timeline


def test_a_scale_up_says_added_and_a_failure_says_why() -> None:
    tracker = RolloutTracker()
    tracker.observe(view(ProvisioningState.SUCCEEDED, 1, [("a", READY, 1)], count=1), 0.0)
    started = tracker.observe(
        view(
            ProvisioningState.UPDATING,
            2,
            [("a", READY, 1), ("b", STARTING, 2)],
            RolloutView(2, 1, 1, 0, 3, "surge"),
        ),
        1.0,
    )
    assert started is not None and started.running
    assert started.plan() == "1 replaced, 2 added in 1 batch of ≤ 1"
    assert "rolling out" in started.title(2.0)
    ended = tracker.observe(
        view(
            ProvisioningState.FAILED,
            2,
            [("a", READY, 1)],
            reason="init() raised ValueError: bad model",
            count=1,
        ),
        4.0,
    )
    assert ended is started and ended.outcome == Outcome.FAILED
    assert (
        ended.title(9.0)
        == "✖ my-endpoint/blue rev 1→2 failed after 3.0 s: init() raised ValueError: bad model"
    )


def test_a_rollout_started_elsewhere_is_seen_from_the_revision_change() -> None:
    tracker = RolloutTracker()
    tracker.observe(view(ProvisioningState.SUCCEEDED, 1, [("a", READY, 1)], count=1), 0.0)
    # The CLI in another terminal finished a whole rollout between two ticks: still a timeline, and it ended.
    timeline = tracker.observe(view(ProvisioningState.SUCCEEDED, 2, [("b", READY, 2)], count=1), 2.0)
    assert timeline is not None and timeline.outcome == Outcome.SUCCEEDED and timeline.from_revision == 1


def test_events_give_a_rollout_seen_only_at_its_end_its_real_start_batches_and_end() -> None:
    from endpointctl.core.views import EventView

    tracker = RolloutTracker()
    tracker.observe(view(ProvisioningState.SUCCEEDED, 1, [("a", READY, 1)], count=2), 0.0)
    # The whole rollout ran between two refreshes: the view says Succeeded at revision 2.
    timeline = tracker.observe(
        view(ProvisioningState.SUCCEEDED, 2, [("b", READY, 2), ("c", READY, 2)], count=2), 10.0
    )
    assert timeline is not None and timeline.outcome == Outcome.SUCCEEDED
    history = [
        EventView(1, 1.0, "accepted", "revision 1 accepted (create)", "blue", {"revision": 1}),
        EventView(2, 5.0, "accepted", "revision 2 accepted (update)", "blue", {"revision": 2}),
        EventView(
            3,
            5.0,
            "rollout",
            "revision 2: rolling update in 2 batch(es)",
            "blue",
            {"revision": 2, "batches": 2},
        ),
        EventView(
            4, 6.5, "batch", "revision 2: batch 1/2 ready", "blue", {"revision": 2, "batch": 1, "batches": 2}
        ),
        EventView(
            5, 7.0, "batch", "revision 2: batch 2/2 ready", "blue", {"revision": 2, "batch": 2, "batches": 2}
        ),
        EventView(6, 7.2, "succeeded", "revision 2: rollout complete", "blue", {"revision": 2}),
        EventView(7, 7.3, "note", "no revision in data", "blue", {}),
    ]
    for event in history:
        tracker.observe_event("process", "my-endpoint", event)
    assert timeline.title(99.0) == "✔ my-endpoint/blue rev 1→2 rolled out in 2.2 s"
    assert timeline.batch_lines(99.0) == ["batch 1/2 ✔ 1.5 s", "batch 2/2 ✔ 0.5 s"]
    # History of an older revision never starts a timeline.
    assert tracker.observe_event("process", "my-endpoint", history[0]) is None
    assert tracker.running() == []


def test_a_deleted_deployment_ends_its_running_timeline() -> None:
    tracker = RolloutTracker()
    tracker.observe(view(ProvisioningState.CREATING, 1, [("a", STARTING, 1)], count=1), 0.0)
    assert len(tracker.running()) == 1
    tracker.forget_missing(set())
    assert tracker.running() == []


class FakeLogs:
    """A façade whose streams never end: blue's keeps writing after the TUI moved to green."""

    async def get_logs(self, endpoint: str, deployment: str, **_: object) -> list[LogLine]:
        await asyncio.sleep(0.01)
        return [LogLine(f"{deployment} tail", instance=f"{deployment}-0")]

    async def _follow(self, deployment: str) -> AsyncIterator[LogLine]:
        n = 0
        while True:
            n += 1
            yield LogLine(f"{deployment} {n}", instance=f"{deployment}-0")
            try:
                await asyncio.sleep(0.001)
            except asyncio.CancelledError:
                # A stream that delivers one more line after it was cancelled (a read in flight completes).
                yield LogLine(f"{deployment} late", instance=f"{deployment}-0")
                raise

    def follow_logs(self, endpoint: str, deployment: str, **_: object) -> AsyncIterator[LogLine]:
        return self._follow(deployment)


async def test_a_log_stream_hands_over_only_its_own_key_and_stops_when_replaced() -> None:
    streams = LogStreams()
    received: list[LogBatch] = []
    current: list[LogKey] = []

    def sink(batch: LogBatch) -> None:
        received.append(batch)

    blue = LogKey("process", "ep", "blue", Container.INFERENCE_SERVER)
    green = LogKey("process", "ep", "green", Container.INFERENCE_SERVER)
    service = FakeLogs()
    streams.open(blue, service, sink, follow=True, poll_s=1, on_error=lambda *_: None)  # type: ignore[arg-type]
    current.append(blue)
    await asyncio.sleep(0.05)
    streams.open(green, service, sink, follow=True, poll_s=1, on_error=lambda *_: None)  # type: ignore[arg-type]
    await asyncio.sleep(0.05)
    await streams.wait_closed()
    assert received[0].key == blue and received[0].backlog
    for_green = [b for b in received if b.key == green]
    assert for_green and all(line.text.startswith("green") for b in for_green for line in b.lines)
    # Every batch says whose it is: the pane's key check is what keeps blue's late lines out.
    assert all(line.text.startswith(b.key.deployment) for b in received for line in b.lines)


class Failing:
    async def statuses(self) -> list[object]:
        raise OSError("the store is locked")


class Listener:
    def __init__(self) -> None:
        self.failures: list[float] = []
        self.snapshots: list[Snapshot] = []

    def snapshot_changed(self, snapshot: Snapshot) -> None:
        self.snapshots.append(snapshot)

    def detail_changed(self, detail: EndpointDetail) -> None:
        pass

    def refresh_failed(self, what: str, error: Exception, retry_in: float) -> None:
        self.failures.append(retry_in)


async def test_the_refresher_backs_off_on_failure_and_resets_on_success() -> None:
    failing = Failing()
    refresher = Refresher(lambda: failing, poll_s=1.0, clock=lambda: 0.0)  # type: ignore[arg-type,return-value]
    listener = Listener()
    refresher.listen(listener)
    for _ in range(8):
        await refresher.tick()
    assert listener.failures[:4] == [2.0, 4.0, 8.0, 16.0]
    assert max(listener.failures) == MAX_BACKOFF_S

    class Empty:
        async def statuses(self) -> list[object]:
            return []

    empty = Empty()
    refresher._service = lambda: empty  # type: ignore[assignment,return-value]
    await refresher.tick()
    assert refresher.interval == 1.0 and listener.snapshots


def test_changing_focus_starts_a_fresh_detail() -> None:
    from endpointctl.tui.target import Target

    refresher = Refresher(lambda: None, poll_s=1.0, clock=lambda: 0.0)  # type: ignore[arg-type,return-value]
    refresher.focus(Target("process", "ep", "blue"))
    first = refresher.detail
    refresher.focus(Target("process", "ep", "green"))  # the same endpoint: its events and metrics stay
    assert refresher.detail is first
    refresher.focus(Target("process", "other"))
    assert refresher.detail is not first and refresher.detail is not None
    assert refresher.detail.target == Target("process", "other")
