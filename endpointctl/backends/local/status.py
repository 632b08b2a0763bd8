"""What the agent tells its clients about a deployment: instances and the rollout, typed on both ends.

The control socket carries JSON, so the status crosses it as `to_wire()` and is rebuilt by `from_wire()`
field by field, by name; a field added to a view travels without anyone rebuilding it by position.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from endpointctl.core.views import InstanceState, InstanceView, RolloutView


@dataclass(frozen=True)
class DeploymentStatus:
    instances: tuple[InstanceView, ...] = ()
    rollout: RolloutView | None = None

    def to_wire(self) -> dict[str, Any]:
        return {
            "instances": [dataclasses.asdict(i) for i in self.instances],
            "rollout": None if self.rollout is None else dataclasses.asdict(self.rollout),
        }

    @classmethod
    def from_wire(cls, doc: Mapping[str, Any]) -> DeploymentStatus:
        instances = tuple(
            InstanceView(**{**_known(InstanceView, i), "state": InstanceState(i["state"])})
            for i in doc.get("instances") or ()
        )
        rollout = doc.get("rollout")
        return cls(instances, RolloutView(**_known(RolloutView, rollout)) if rollout else None)


def _known(kind: type, doc: Mapping[str, Any]) -> dict[str, Any]:
    """The fields `kind` has: an agent of a newer version may send more."""
    names = {f.name for f in dataclasses.fields(kind)}
    return {k: v for k, v in doc.items() if k in names}
