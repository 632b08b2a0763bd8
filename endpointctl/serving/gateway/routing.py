"""Which deployment serves a request: weighted traffic split and mirror selection.

Both are deterministic, so over any window of requests the observed proportions match the configured percents
(a coin flip would only match on average, which makes a 90/10 rollout look wrong on a small sample).
"""

from __future__ import annotations

from collections.abc import Mapping


class WeightedRoundRobin:
    """Smooth weighted round-robin (nginx): 90/10 yields one green in every ten, spread out, never bursty."""

    __slots__ = ("_current", "_names", "_total", "_weights")

    def __init__(self, weights: Mapping[str, int]) -> None:
        live = [(name, w) for name, w in weights.items() if w > 0]
        self._names = [name for name, _ in live]
        self._weights = [w for _, w in live]
        self._current = [0] * len(live)
        self._total = sum(self._weights)

    @property
    def weights(self) -> dict[str, int]:
        return dict(zip(self._names, self._weights, strict=True))

    def next(self) -> str | None:
        """The next deployment, or None when no deployment has positive weight."""
        if not self._names:
            return None
        current = self._current
        best = 0
        for i, weight in enumerate(self._weights):
            current[i] += weight
            if current[i] > current[best]:
                best = i
        current[best] -= self._total
        return self._names[best]


class MirrorSelector:
    """Chooses which requests are copied to the mirror deployment: exactly ``percent`` of every 100."""

    __slots__ = ("_acc", "deployment", "percent")

    def __init__(self, mirror_traffic: Mapping[str, int]) -> None:
        live = [(name, pct) for name, pct in mirror_traffic.items() if pct > 0]
        self.deployment: str | None = live[0][0] if live else None
        self.percent = live[0][1] if live else 0
        self._acc = 0

    def next(self) -> str | None:
        """The deployment to mirror this request to, or None."""
        if self.deployment is None:
            return None
        self._acc += self.percent
        if self._acc >= 100:
            self._acc -= 100
            return self.deployment
        return None
