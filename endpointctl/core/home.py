"""Where endpointctl keeps its state: one data directory per user, overridable for tests and CI."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

HOME_ENV = "ENDPOINTCTL_HOME"


@dataclass(frozen=True)
class Home:
    """The data directory and the well-known paths inside it."""

    root: Path

    @classmethod
    def discover(cls) -> Home:
        override = os.environ.get(HOME_ENV)
        root = (
            Path(override) if override else Path(platformdirs.user_data_dir("endpointctl", appauthor=False))
        )
        return cls(root.expanduser().resolve())

    def ensure(self) -> Home:
        # 0700: the directory holds key material and the agent's control socket.
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.root.chmod(0o700)
        return self

    @property
    def database(self) -> Path:
        return self.root / "state.db"

    @property
    def blobs(self) -> Path:
        return self.root / "blobs"

    @property
    def runtime(self) -> Path:
        return self.root / "run"

    @property
    def logs(self) -> Path:
        return self.root / "logs"
