"""Rolling-update plans: how many instances are replaced in each batch, and which updates need none."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from endpointctl.core.spec import DeploymentSpec

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


# Fields that change nothing an instance runs: updating only these scales or relabels, with no restart.
SCALE_ONLY_FIELDS = frozenset({"instance_count", "tags", "description"})


def only_scale_changed(old: DeploymentSpec, new: DeploymentSpec) -> bool:
    return old.model_dump(exclude=set(SCALE_ONLY_FIELDS)) == new.model_dump(exclude=set(SCALE_ONLY_FIELDS))


def describe_update(old: DeploymentSpec | None, new: DeploymentSpec) -> str:
    """What applying `new` over the running `old` will do to the instances, for a confirmation."""
    if old is None:
        return f"creates {new.instance_count} instance(s)"
    if old.model_dump() == new.model_dump():
        return "no change"
    if only_scale_changed(old, new):
        if old.instance_count == new.instance_count:
            return "tags or description only: no instance restarts"
        return f"scales {old.instance_count} → {new.instance_count} instance(s): no restarts"
    plan = plan_rollout(new.instance_count)
    return (
        f"rolling update: {new.instance_count} instance(s) replaced in {plan.total_batches} batch(es) "
        f"of ≤ {max(plan.batches)}, each ready before the next; a failure rolls back"
    )
