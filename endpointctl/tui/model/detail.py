"""The focused endpoint's events and metrics: read once per tick for the endpoint the operator looks at.

Its endpoint and deployments come from the tick's snapshot; only what the snapshot does not hold is read here.
Events are read incrementally (after the last id seen), so a tick costs one small query however long the log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from endpointctl.core.capabilities import Capability
from endpointctl.tui.model.metrics_history import MetricsHistory
from endpointctl.tui.target import Target

if TYPE_CHECKING:
    from endpointctl.core.capabilities import Capabilities
    from endpointctl.core.progressive.machine import RolloutState
    from endpointctl.core.service import EndpointService
    from endpointctl.core.views import EventView

MAX_EVENTS = 50


@dataclass
class EndpointDetail:
    """What the overview shows beyond the snapshot, for one endpoint; replaced whole when the focus moves."""

    target: Target
    events: list[EventView] = field(default_factory=list)
    events_after: int = 0
    history: MetricsHistory = field(default_factory=MetricsHistory)
    metrics_problem: str = ""
    # Which deployments the gateway reported, in its order, at the last read.
    metered: tuple[str, ...] = ()
    # The endpoint's progressive rollout (running or the last one); read when there is reason to, not every tick.
    progressive: RolloutState | None = None
    progressive_read: bool = False

    def add_events(self, events: list[EventView]) -> list[EventView]:
        fresh = [e for e in events if e.id > self.events_after]
        if fresh:
            self.events_after = max(e.id for e in fresh)
            self.events = (self.events + fresh)[-MAX_EVENTS:]
        return fresh


async def refresh_detail(
    service: EndpointService, detail: EndpointDetail, caps: Capabilities | None
) -> list[EventView]:
    """Read new events and a metrics sample into `detail` (in place); the events that are new."""
    target = detail.target
    fresh: list[EventView] = []
    if target.endpoint is None or caps is None:
        return fresh
    if Capability.EVENTS in caps:
        fresh = detail.add_events(
            await service.events(target.endpoint, after_id=detail.events_after, backend=target.backend)
        )
    if Capability.PROGRESSIVE_ROLLOUT in caps and _progressive_may_have_changed(detail, fresh):
        from endpointctl.core.errors import NotFound

        try:
            detail.progressive = await service.progressive_status(target.endpoint, backend=target.backend)
        except NotFound:
            detail.progressive = None
        detail.progressive_read = True
    if Capability.METRICS in caps:
        try:
            metrics = await service.metrics(target.endpoint, backend=target.backend)
        except Exception as exc:
            # Metrics can be down while the endpoint is fine (a gateway still starting, no RBAC for the service
            # proxy): said where the sparklines would be, not as an error every tick.
            detail.metrics_problem = f"metrics unavailable: {exc}"
        else:
            detail.metrics_problem = ""
            detail.history.add(metrics)
            detail.metered = tuple(metrics.deployments)
    return fresh


def _progressive_may_have_changed(detail: EndpointDetail, fresh: list[EventView]) -> bool:
    """First look, while one runs (its gates change every tick), or when a rollout event came in."""
    if not detail.progressive_read:
        return True
    if detail.progressive is not None and not detail.progressive.phase.terminal:
        return True
    return any(e.kind.startswith("rollout") for e in fresh)
