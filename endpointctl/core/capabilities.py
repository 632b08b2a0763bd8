"""What a backend can do. The UI greys out the rest and shows the backend's reason."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field


class Capability(enum.Enum):
    ENDPOINTS = "endpoints"
    DEPLOYMENTS = "deployments"
    TRAFFIC = "traffic"
    MIRROR_TRAFFIC = "mirror_traffic"
    INVOKE = "invoke"
    KEYS = "keys"
    TOKENS = "tokens"
    LOGS = "logs"
    LOG_FOLLOW = "log_follow"
    ROLLING_UPDATE = "rolling_update"
    METRICS = "metrics"
    EVENTS = "events"
    REGISTERED_ASSETS = "registered_assets"
    DRY_RUN = "dry_run"
    # A local supervisor the user can start and stop (`endpointctl agent start|stop|status`).
    AGENT = "agent"
    # What the backend keeps on this machine's disk (environments, images, old logs) can be collected.
    DISK_CLEANUP = "disk_cleanup"
    # `endpointctl rollout start`: traffic steps judged by the gateway's metrics, rolled back by a failed gate.
    PROGRESSIVE_ROLLOUT = "progressive_rollout"


@dataclass(frozen=True)
class Capabilities:
    """The capabilities a backend has, and for each missing one the reason shown to the user."""

    supported: frozenset[Capability]
    reasons: Mapping[Capability, str] = field(default_factory=dict)

    def __contains__(self, item: object) -> bool:
        return item in self.supported

    def why_not(self, capability: Capability) -> str | None:
        if capability in self.supported:
            return None
        return self.reasons.get(
            capability, f"this backend does not support {capability.value.replace('_', ' ')}"
        )
