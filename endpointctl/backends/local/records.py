"""What the agent writes next to a running instance, so a restarted agent can adopt it."""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class InstanceRecord:
    id: str
    endpoint: str
    deployment: str
    revision: int
    log: str
    env: dict[str, str]
    # The loopback port the gateway routes to, for instances started before Unix sockets (0 otherwise).
    port: int = 0
    # The Unix socket the instance listens on instead ('' for instances started before sockets, on a port).
    socket: str = ""
    # The runtime's own: pid and start time, or container id, image and volume.
    runtime: dict[str, Any] = field(default_factory=dict)
    restarts: int = 0
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        tmp = directory / f".{self.id}.json.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(asdict(self), out)
        tmp.replace(directory / f"{self.id}.json")

    def forget(self, directory: Path) -> None:
        (directory / f"{self.id}.json").unlink(missing_ok=True)

    @classmethod
    def load(cls, path: Path) -> InstanceRecord:
        return cls(**json.loads(path.read_text()))
