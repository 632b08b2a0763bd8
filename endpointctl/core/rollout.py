"""Rolling-update plans: how many instances are replaced in each batch."""

from __future__ import annotations

import math
from dataclasses import dataclass

MAX_BATCH_FRACTION = 0.2


@dataclass(frozen=True)
class RolloutPlan:
    """Replace `instance_count` instances in `batches` (sizes), each batch gated on readiness."""

    instance_count: int
    batches: tuple[int, ...]

    @property
    def total_batches(self) -> int:
        return len(self.batches)


def batch_size(instance_count: int, fraction: float = MAX_BATCH_FRACTION) -> int:
    """At most `fraction` of the instances at a time, and at least one."""
    return max(1, math.floor(instance_count * fraction))


def plan_rollout(instance_count: int, fraction: float = MAX_BATCH_FRACTION) -> RolloutPlan:
    if instance_count < 1:
        raise ValueError("a rollout needs at least one instance")
    size = batch_size(instance_count, fraction)
    full, rest = divmod(instance_count, size)
    return RolloutPlan(instance_count, (size,) * full + ((rest,) if rest else ()))
