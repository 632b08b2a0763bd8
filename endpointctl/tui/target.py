"""What the navigator has selected: a backend, an endpoint on it, or one of its deployments."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    backend: str
    endpoint: str | None = None
    deployment: str | None = None

    @property
    def key(self) -> str:
        """Stable identity used as the tree node key."""
        return "/".join(p for p in (self.backend, self.endpoint, self.deployment) if p)

    def describe(self) -> str:
        if self.deployment:
            return f"{self.endpoint}/{self.deployment} @{self.backend}"
        if self.endpoint:
            return f"{self.endpoint} @{self.backend}"
        return self.backend
