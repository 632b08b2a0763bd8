"""Rollout timelines, built from successive views of a deployment — whoever started the rollout.

The tracker sees every deployment in every tick's snapshot (and, while the editor applies, each progress view), so
a rollout started from another terminal or by another operator appears as soon as its revision or state moves.
A timeline records the plan, when each batch was first seen, each instance's states with the time it entered
them, and how it ended. It never stays "in progress" after the backend says Succeeded or Failed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from endpointctl.core.views import DeploymentView, EventView, InstanceState

# The views' enums are StrEnums compared by value here: importing them brings the spec models (pydantic), which
# the TUI's first frame does without.
SUCCEEDED, FAILED, CANCELED = "Succeeded", "Failed", "Canceled"
IN_PROGRESS = ("Creating", "Updating", "Scaling")

# (backend, endpoint, deployment)
RolloutKey = tuple[str, str, str]

STOPPED = "stopped"
KEEP_ENDED = 64
STARTS = ("accepted", "creating", "rollout")  # ended timelines kept for display, oldest dropped first


class Outcome:
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ROLLED_BACK = "rolled back"


@dataclass
class InstanceTrack:
    id: str
    revision: int
    # (state, since): the first entry is when the instance was first seen.
    states: list[tuple[str, float]] = field(default_factory=list)

    @property
    def state(self) -> str:
        return self.states[-1][0] if self.states else ""

    def enter(self, state: str, now: float) -> None:
        if state != self.state:
            self.states.append((state, now))


@dataclass
class Timeline:
    key: RolloutKey
    revision: int
    from_revision: int | None
    started_at: float
    old_instances: int = 0
    desired: int = 0
    batches: int = 0
    batch_seen: dict[int, float] = field(default_factory=dict)  # when a batch was first seen starting
    batch_done: dict[int, float] = field(default_factory=dict)  # when the backend said it was ready (events)
    instances: dict[str, InstanceTrack] = field(default_factory=dict)
    phase: str = ""
    message: str = ""
    outcome: str | None = None
    ended_at: float | None = None
    reason: str = ""

    @property
    def deployment(self) -> str:
        return self.key[2]

    @property
    def running(self) -> bool:
        return self.outcome is None

    def elapsed(self, now: float) -> float:
        return (self.ended_at if self.ended_at is not None else now) - self.started_at

    def plan(self) -> str:
        """ "3 instances replaced in 3 batches of ≤ 1", "1 replaced, 2 added", "2 created" — what this rollout does."""
        if not self.desired:
            return ""
        if self.from_revision is None and not self.old_instances:
            return f"{self.desired} instance(s) created"
        replaced = min(self.old_instances, self.desired)
        parts = [f"{replaced} replaced"] if replaced else []
        if self.desired > self.old_instances:
            parts.append(f"{self.desired - self.old_instances} added")
        elif self.old_instances > self.desired:
            parts.append(f"{self.old_instances - self.desired} removed")
        text = ", ".join(parts) or "no instance changes"
        if self.batches:
            size = math.ceil(max(replaced, 1) / self.batches)
            text += f" in {self.batches} batch{'es' if self.batches != 1 else ''} of ≤ {size}"
        return text

    def title(self, now: float) -> str:
        revs = f"rev {self.from_revision}→{self.revision}" if self.from_revision else f"rev {self.revision}"
        what = f"{self.key[1]}/{self.deployment} {revs}"
        elapsed = f"{self.elapsed(now):.1f} s"
        if self.outcome == Outcome.SUCCEEDED:
            return f"✔ {what} rolled out in {elapsed}"
        if self.outcome == Outcome.ROLLED_BACK:
            return f"✖ {what} rolled back after {elapsed}: {self.reason or 'failed'}"
        if self.outcome == Outcome.FAILED:
            return f"✖ {what} failed after {elapsed}: {self.reason or 'no reason given'}"
        return f"⟳ {what} rolling out · {elapsed}"

    def batch_lines(self, now: float) -> list[str]:
        """One entry per batch known: ✔ and its duration once ready, … while it runs."""
        out = []
        numbers = sorted(set(self.batch_seen) | set(self.batch_done))
        for batch in numbers:
            previous_end = self.batch_done.get(batch - 1) or self.batch_seen.get(batch - 1)
            start = self.batch_seen.get(batch) or previous_end or self.started_at
            if batch in self.batch_done:
                end, mark = self.batch_done[batch], "✔"
            elif batch + 1 in self.batch_seen or self.outcome == Outcome.SUCCEEDED:
                end, mark = self.batch_seen.get(batch + 1) or self.ended_at or now, "✔"
            else:
                end, mark = self.ended_at or now, "✖" if self.outcome else "…"
            out.append(f"batch {batch}/{self.batches} {mark} {max(0.0, end - start):.1f} s")
        return out

    def instance_lines(self) -> list[str]:
        """Each instance's path through its states: new ones first, then the old ones going away."""
        tracks = sorted(self.instances.values(), key=lambda t: (t.revision != self.revision, t.id))
        out = []
        for track in tracks:
            path = "→".join(state for state, _ in track.states)
            seconds = track.states[-1][1] - track.states[0][1] if len(track.states) > 1 else 0.0
            old = f" (rev {track.revision})" if track.revision != self.revision else ""
            out.append(f"{track.id}{old} {path}" + (f" {seconds:.1f} s" if seconds else ""))
        return out


def _instance_state(state: InstanceState) -> str:
    words = {
        "Pending": "starting",
        "Starting": "init",
        "Ready": "ready",
        "Unhealthy": "unhealthy",
        "Restarting": "restarting",
        "Terminating": "draining",
        "Failed": "failed",
    }
    return words.get(str(state), str(state).lower())


class RolloutTracker:
    def __init__(self) -> None:
        self._last: dict[RolloutKey, DeploymentView] = {}
        self._active: dict[RolloutKey, Timeline] = {}
        self._ended: dict[RolloutKey, Timeline] = {}

    def timeline(self, key: RolloutKey) -> Timeline | None:
        """The running rollout of this deployment, else the last one that ended."""
        return self._active.get(key) or self._ended.get(key)

    def running(self) -> list[Timeline]:
        return list(self._active.values())

    def observe(self, view: DeploymentView, now: float) -> Timeline | None:
        key = (view.backend, view.endpoint_name, view.name)
        previous = self._last.get(key)
        self._last[key] = view
        timeline = self._active.get(key)
        if timeline is None:
            if not self._starts(previous, view):
                return None
            timeline = self._start(key, previous, view, now)
        self._update(timeline, view, now)
        return timeline

    def observe_event(self, backend: str, endpoint: str, event: EventView) -> Timeline | None:
        """Refine a timeline with what the backend recorded, at the time it happened: a rollout that ran between
        two refreshes still gets its real start, batches and end. Events carry `revision` (and `batch`,
        `batches`) in their data; others are ignored."""
        revision = event.data.get("revision") if event.deployment else None
        if not isinstance(revision, int) or event.deployment is None:
            return None
        key = (backend, endpoint, event.deployment)
        timeline = self.timeline(key)
        if timeline is None or timeline.revision != revision:
            last = self._last.get(key)
            # Only a rollout newer than anything seen starts here; history (an older revision) never does.
            if event.kind not in STARTS or (last is not None and revision <= last.revision):
                return None
            from_revision = last.revision if last is not None else (revision - 1 if revision > 1 else None)
            timeline = Timeline(key, revision, from_revision, event.ts)
            self._active[key] = timeline
        if event.kind in STARTS:
            timeline.started_at = min(timeline.started_at, event.ts)
        batches, batch = event.data.get("batches"), event.data.get("batch")
        if isinstance(batches, int):
            timeline.batches = batches
        if isinstance(batch, int):
            timeline.batch_done[batch] = min(timeline.batch_done.get(batch, event.ts), event.ts)
        if event.kind == "succeeded" and timeline.outcome is not None:
            timeline.ended_at = event.ts
        return timeline

    def forget_missing(self, present: set[RolloutKey]) -> None:
        """Deployments gone from the snapshot (deleted): their running timelines end, their last views go."""
        for key in [k for k in self._last if k not in present]:
            del self._last[key]
            timeline = self._active.pop(key, None)
            if timeline is not None:
                timeline.outcome, timeline.reason = Outcome.FAILED, "the deployment is gone"
                self._keep(timeline)

    @staticmethod
    def _starts(previous: DeploymentView | None, view: DeploymentView) -> bool:
        if previous is not None and view.revision != previous.revision:
            return True
        rolling = view.rollout is not None and view.rollout.phase != "complete"
        return view.provisioning_state in IN_PROGRESS or rolling

    def _start(
        self, key: RolloutKey, previous: DeploymentView | None, view: DeploymentView, now: float
    ) -> Timeline:
        revision = view.rollout.revision if view.rollout is not None else view.revision
        from_revision = previous.revision if previous is not None and previous.revision != revision else None
        if from_revision is None and revision > 1:
            from_revision = revision - 1
        old = [i for i in view.instances if i.revision != revision]
        source = previous.instances if previous is not None else view.instances
        old_count = len([i for i in source if i.revision != revision]) or len(old)
        # New instances already running when first seen (a rollout between two refreshes) date its start.
        started = [
            i.started_at for i in view.instances if i.revision == revision and i.started_at is not None
        ]
        start = min([now, *(t for t in started if t <= now)])
        timeline = Timeline(key, revision, from_revision, start, old_instances=old_count)
        for inst in source:
            track = InstanceTrack(inst.id, inst.revision)
            track.enter(_instance_state(inst.state), now)
            timeline.instances[inst.id] = track
        self._active[key] = timeline
        return timeline

    def _update(self, timeline: Timeline, view: DeploymentView, now: float) -> None:
        rollout = view.rollout
        if rollout is not None:
            timeline.desired = rollout.desired or timeline.desired
            timeline.batches = rollout.batches or timeline.batches
            timeline.phase, timeline.message = rollout.phase, rollout.message
            if rollout.batch and rollout.batch not in timeline.batch_seen:
                timeline.batch_seen[rollout.batch] = now
        else:
            timeline.desired = timeline.desired or int(getattr(view.spec, "instance_count", 0) or 0)
        present = set()
        for inst in view.instances:
            present.add(inst.id)
            track = timeline.instances.get(inst.id)
            if track is None:
                track = timeline.instances[inst.id] = InstanceTrack(inst.id, inst.revision)
            # A backend that replaces an instance in place (same name, new revision) moves it to the new side.
            track.revision = inst.revision
            track.enter(_instance_state(inst.state), now)
        for track in timeline.instances.values():
            if track.id not in present:
                track.enter(STOPPED, now)
        state = view.provisioning_state
        if state == SUCCEEDED and (rollout is None or rollout.phase == "complete"):
            if view.revision < timeline.revision:
                self._end(timeline, Outcome.ROLLED_BACK, view.reason, now)
            else:
                self._end(timeline, Outcome.SUCCEEDED, "", now)
        elif state in (FAILED, CANCELED):
            rolled_back = "rolled back" in view.reason.lower() or view.revision < timeline.revision
            self._end(timeline, Outcome.ROLLED_BACK if rolled_back else Outcome.FAILED, view.reason, now)

    def _end(self, timeline: Timeline, outcome: str, reason: str, now: float) -> None:
        timeline.outcome, timeline.reason, timeline.ended_at = outcome, reason, now
        self._active.pop(timeline.key, None)
        self._keep(timeline)

    def _keep(self, timeline: Timeline) -> None:
        self._ended.pop(timeline.key, None)
        self._ended[timeline.key] = timeline
        while len(self._ended) > KEEP_ENDED:
            del self._ended[next(iter(self._ended))]
