"""How many requests an endpoint takes at once before its instances answer 429."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # Types only: the TUI imports this before its first frame, which must not load the spec models.
    from endpointctl.core.views import DeploymentView


def concurrent_capacity(
    deployments: Iterable[DeploymentView], traffic: Mapping[str, int], *, pinned: str | None = None
) -> int:
    """Requests that can be in flight without queueing past ``max_queue_wait_ms``: each deployment that
    receives the requests (the pinned one, else those with live traffic) contributes its instances times
    ``max_concurrent_requests_per_instance``. Counted from ready instances; a deployment still starting
    counts its desired count, so a client does not stall waiting for it. 0 when nothing would serve."""
    total = 0
    for deployment in deployments:
        receives = deployment.name == pinned if pinned is not None else traffic.get(deployment.name, 0) > 0
        if not receives:
            continue
        instances = deployment.ready_instances or deployment.spec.instance_count
        total += instances * deployment.spec.request_settings.max_concurrent_requests_per_instance
    return total
