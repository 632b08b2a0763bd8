"""Where a local backend keeps its files inside the data directory."""

from __future__ import annotations

import hashlib
import os
import stat
import sys
import tempfile
from pathlib import Path

from endpointctl.core.home import Home

ENV_CACHE_VARIABLE = "ENDPOINTCTL_ENV_CACHE"
_MAX_SOCKET_PATH = 100
# Instance ids are at most 41 characters; '/<id>/s.sock' (a container's socket directory) must still fit.
_MAX_SOCKETS_DIR = 50


# Set by the launcher for the agents it spawns: when, so a spare that outlived its purpose can tell.
SPAWNED_AT_VARIABLE = "ENDPOINTCTL_AGENT_SPAWNED_AT"


class Layout:
    """Paths of one local backend (`backend`) in one data directory; `agent_module` runs its agent."""

    def __init__(self, home: Home, backend: str, agent_module: str) -> None:
        self.home = home
        self.backend = backend
        self.agent_module = agent_module

    def __repr__(self) -> str:
        return f"Layout({self.home.root}, {self.backend})"

    @property
    def root(self) -> Path:
        return self.home.runtime / self.backend

    @property
    def socket(self) -> Path:
        path = self.root / "agent.sock"
        if len(str(path)) <= _MAX_SOCKET_PATH:
            return path
        # sockaddr_un holds ~107 bytes: a deep data directory gets a short, private, per-directory name.
        digest = hashlib.sha256(str(self.root).encode()).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / f"endpointctl-{os.getuid()}" / f"{digest}.sock"

    @property
    def sockets(self) -> Path:
        """Where instances listen (Unix sockets, 0600, in a 0700 directory): only this user reaches them.

        Short enough for an instance's socket (or its directory, for a container) to fit in sockaddr_un."""
        path = self.root / "sockets"
        if len(str(path)) <= _MAX_SOCKETS_DIR:
            return path
        digest = hashlib.sha256(str(self.root).encode()).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / f"endpointctl-{os.getuid()}" / digest

    def instance_socket(self, instance_id: str) -> Path:
        return self.sockets / f"{instance_id}.sock"

    @property
    def lock(self) -> Path:
        return self.root / "agent.lock"

    def agent_argv(self) -> list[str]:
        """How an agent of this data directory is started (by the CLI's launcher or by the gateway)."""
        return [sys.executable, "-m", self.agent_module, "--home", str(self.home.root)]

    @property
    def stopped_marker(self) -> Path:
        """When the last agent stopped on request (see Agent.run): a spare spawned before that must not run."""
        return self.root / "agent.stopped"

    @property
    def logs(self) -> Path:
        return self.home.logs / self.backend

    @property
    def agent_log(self) -> Path:
        return self.logs / "agent.log"

    @property
    def instances(self) -> Path:
        """One JSON file per running instance: what a restarted agent adopts."""
        return self.root / "instances"

    @property
    def environments(self) -> Path:
        # Shared between data directories when set: environments are pure functions of their requirements.
        shared = os.environ.get(ENV_CACHE_VARIABLE)
        return Path(shared) if shared else self.home.root / "envs"

    def deployment_dir(self, endpoint: str, deployment: str) -> Path:
        return self.root / "deployments" / endpoint / deployment

    def app_dir(self, endpoint: str, deployment: str, revision: int) -> Path:
        return self.deployment_dir(endpoint, deployment) / f"rev-{revision}"

    def log_dir(self, endpoint: str, deployment: str) -> Path:
        return self.logs / endpoint / deployment

    def storage_log(self, endpoint: str, deployment: str) -> Path:
        return self.log_dir(endpoint, deployment) / "storage-initializer.log"

    def build_log(self, endpoint: str, deployment: str) -> Path:
        return self.log_dir(endpoint, deployment) / "environment-build.log"

    def instance_log(self, endpoint: str, deployment: str, instance: str) -> Path:
        return self.log_dir(endpoint, deployment) / f"inference-server.{instance}.log"


def private_dir(path: Path) -> Path:
    """Create `path` (0700) or check an existing one is this user's own and closed to others.

    Sockets may live under the shared temporary directory, where another user could have made the
    directory first to watch or replace them."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise PermissionError(f"{path} must be a directory of user {os.getuid()} with mode 0700")
    return path
