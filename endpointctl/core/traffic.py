"""Traffic and mirror-traffic rules, checked before any backend is called.

The rules are Azure's: integer percents, a split sums to 100 or is all zero, only existing deployments,
mirror traffic to one deployment at most 50% and never to one that has live traffic.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# The gateway enforces the same limit; one definition, re-exported for the TUI's slider.
from endpointctl.serving.gateway.config import MAX_MIRROR_PERCENT as MAX_MIRROR_PERCENT


class TrafficError(ValueError):
    """A traffic or mirror setting breaks a rule; the message says which."""


def parse_assignments(text: str | Iterable[str], *, option: str = "--traffic") -> dict[str, int]:
    """Parse `blue=90 green=10` (one string or already split words) into {deployment: percent}."""
    words = text.split() if isinstance(text, str) else [w for part in text for w in part.split()]
    result: dict[str, int] = {}
    for word in words:
        name, sep, value = word.partition("=")
        if not sep or not name:
            raise TrafficError(f"{option}: {word!r} is not of the form DEPLOYMENT=PERCENT")
        try:
            percent = int(value)
        except ValueError:
            raise TrafficError(f"{option}: {name}: {value!r} is not an integer percent") from None
        if name in result:
            raise TrafficError(f"{option}: {name} is given twice")
        result[name] = percent
    return result


@dataclass(frozen=True)
class TrafficSplit:
    """Live traffic weights plus the optional mirror of one endpoint."""

    weights: Mapping[str, int]
    mirror: Mapping[str, int]

    @classmethod
    def empty(cls) -> TrafficSplit:
        return cls({}, {})

    def validate(self, deployments: Iterable[str]) -> TrafficSplit:
        """Raise TrafficError naming every broken rule; returns self so calls chain."""
        known = set(deployments)
        problems: list[str] = []
        for name, pct in {**self.weights}.items():
            if isinstance(pct, bool) or not isinstance(pct, int):
                problems.append(f"traffic.{name}: must be an integer percent")
            elif not 0 <= pct <= 100:
                problems.append(f"traffic.{name}: {pct} is outside 0–100")
            if name not in known:
                problems.append(f"traffic.{name}: no such deployment (have: {_names(known)})")
        total = sum(v for v in self.weights.values() if isinstance(v, int))
        if total not in (0, 100) and not problems:
            problems.append(f"traffic: percents sum to {total}; they must sum to 100, or all be 0")
        if len(self.mirror) > 1:
            problems.append(
                f"mirror_traffic: at most one deployment can receive mirrored traffic, got {len(self.mirror)}"
            )
        for name, pct in self.mirror.items():
            if isinstance(pct, bool) or not isinstance(pct, int):
                problems.append(f"mirror_traffic.{name}: must be an integer percent")
                continue
            if not 0 <= pct <= MAX_MIRROR_PERCENT:
                problems.append(f"mirror_traffic.{name}: {pct} is outside 0–{MAX_MIRROR_PERCENT}")
            if name not in known:
                problems.append(f"mirror_traffic.{name}: no such deployment (have: {_names(known)})")
            elif pct > 0 and self.weights.get(name, 0) > 0:
                problems.append(
                    f"mirror_traffic.{name}: a deployment with live traffic ({self.weights[name]}%) cannot receive mirrored traffic"
                )
        if problems:
            raise TrafficError("\n".join(problems))
        return self

    def with_weights(self, weights: Mapping[str, int]) -> TrafficSplit:
        """Replace the weights; deployments not named keep theirs, as `--traffic` does in az ml."""
        return TrafficSplit({**self.weights, **weights}, self.mirror)

    def with_mirror(self, mirror: Mapping[str, int]) -> TrafficSplit:
        return TrafficSplit(self.weights, {k: v for k, v in mirror.items() if v != 0})

    def all_to(self, deployment: str) -> TrafficSplit:
        """`--all-traffic`: the named deployment gets 100, every other 0, and a mirror to it stops."""
        weights = dict.fromkeys(self.weights, 0)
        weights[deployment] = 100
        mirror = {k: v for k, v in self.mirror.items() if k != deployment}
        return TrafficSplit(weights, mirror)

    def without(self, deployment: str) -> TrafficSplit:
        return TrafficSplit(
            {k: v for k, v in self.weights.items() if k != deployment},
            {k: v for k, v in self.mirror.items() if k != deployment},
        )

    def live(self) -> dict[str, int]:
        return {k: v for k, v in self.weights.items() if v > 0}


def rebalance(weights: Mapping[str, int], deployment: str, value: int) -> dict[str, int]:
    """Set one deployment's weight and spread the rest over the others so the total stays 100.

    The others keep their proportions (largest-remainder rounding, so the result is exact integers);
    if they were all zero the remainder is shared evenly. Used by the traffic slider.
    """
    if deployment not in weights:
        raise TrafficError(f"traffic.{deployment}: no such deployment (have: {_names(weights)})")
    value = max(0, min(100, value))
    others = [k for k in weights if k != deployment]
    result = {deployment: value}
    if not others:
        result[deployment] = 100 if value > 0 else 0
        return result
    remainder = 100 - value
    base = {k: max(0, weights[k]) for k in others}
    total = sum(base.values())
    shares = (
        {k: remainder * (base[k] / total) for k in others}
        if total
        else dict.fromkeys(others, remainder / len(others))
    )
    floors = {k: int(v) for k, v in shares.items()}
    leftover = remainder - sum(floors.values())
    for k in sorted(others, key=lambda k: (-(shares[k] - floors[k]), others.index(k)))[:leftover]:
        floors[k] += 1
    result.update(floors)
    return {k: result[k] for k in weights}


def _names(names: Iterable[str]) -> str:
    listed = sorted(names)
    return ", ".join(listed) if listed else "none"
