"""One refresh loop per app: every backend read once per tick, the focused endpoint's detail, back-off on failure.

Listeners (the main screen) are told of each snapshot and detail; they never fetch themselves. A tick that fails
as a whole (the façade itself, not one backend: those show in the snapshot) doubles the wait, up to
`MAX_BACKOFF_S`, and the first success resets it. `wake()` runs the next tick now (after a selection or an apply).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from endpointctl.tui.model.detail import EndpointDetail, refresh_detail
from endpointctl.tui.model.rollouts import RolloutTracker
from endpointctl.tui.model.snapshot import Snapshot, load_snapshot
from endpointctl.tui.target import Target

if TYPE_CHECKING:
    from endpointctl.core.service import EndpointService

MAX_BACKOFF_S = 30.0


class RefreshListener(Protocol):
    def snapshot_changed(self, snapshot: Snapshot) -> None: ...

    def detail_changed(self, detail: EndpointDetail) -> None: ...

    def refresh_failed(self, what: str, error: Exception, retry_in: float) -> None: ...


class Refresher:
    def __init__(
        self,
        service: Callable[[], EndpointService],
        *,
        poll_s: float,
        clock: Callable[[], float],
    ) -> None:
        self._service = service
        self._listeners: list[RefreshListener] = []
        self.poll_s = poll_s
        self._clock = clock
        self.snapshot = Snapshot()
        self.detail: EndpointDetail | None = None
        self.rollouts = RolloutTracker()
        self.failures = 0
        self.ticks = 0
        self._wake = asyncio.Event()

    @property
    def interval(self) -> float:
        backoff: float = self.poll_s * 2.0 ** min(self.failures, 6)
        return min(backoff, max(MAX_BACKOFF_S, self.poll_s))

    def focus(self, target: Target | None) -> None:
        """Follow this endpoint's events and metrics (a deployment target focuses its endpoint)."""
        endpoint = Target(target.backend, target.endpoint) if target and target.endpoint else None
        if endpoint == (self.detail.target if self.detail else None):
            return
        self.detail = EndpointDetail(endpoint) if endpoint is not None else None
        self.wake()

    def listen(self, listener: RefreshListener) -> None:
        self._listeners.append(listener)

    def unlisten(self, listener: RefreshListener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def wake(self) -> None:
        self._wake.set()

    async def run(self, paused: Callable[[], bool]) -> None:
        while True:
            if not paused():
                await self.tick()
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)

    async def tick(self) -> None:
        service = self._service()
        self.ticks += 1
        try:
            snapshot = await load_snapshot(service, self._clock())
        except Exception as exc:
            self.failures += 1
            self._tell_failed("refresh", exc, self.interval)
            return
        self.failures = 0
        self.snapshot = snapshot
        now = self._clock()
        for view in snapshot.deployments():
            self.rollouts.observe(view, now)
        self.rollouts.forget_missing({(d.backend, d.endpoint_name, d.name) for d in snapshot.deployments()})
        for listener in list(self._listeners):
            listener.snapshot_changed(snapshot)
        detail = self.detail
        if detail is None or snapshot.find(detail.target) is None:
            return
        caps = next(
            (b.status.capabilities for b in snapshot.backends if b.status.name == detail.target.backend), None
        )
        try:
            fresh = await refresh_detail(service, detail, caps)
        except Exception as exc:
            self._tell_failed(detail.target.describe(), exc, self.interval)
            return
        target = detail.target
        for event in fresh:
            self.rollouts.observe_event(target.backend, target.endpoint or "", event)
        if detail is self.detail:  # the focus did not move while it was read
            for listener in list(self._listeners):
                listener.detail_changed(detail)

    def _tell_failed(self, what: str, error: Exception, retry_in: float) -> None:
        for listener in list(self._listeners):
            listener.refresh_failed(what, error, retry_in)
