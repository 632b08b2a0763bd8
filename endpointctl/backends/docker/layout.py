"""Where the Docker backend keeps its files (agent socket, instance records, logs, build locks)."""

from __future__ import annotations

from endpointctl.backends.engine.client import engine_env
from endpointctl.backends.local.layout import Layout as LocalLayout
from endpointctl.core.home import Home

BACKEND = "docker"
AGENT_MODULE = "endpointctl.backends.docker.agent"
__all__ = ["AGENT_MODULE", "BACKEND", "Layout", "engine_env"]


class Layout(LocalLayout):
    def __init__(self, home: Home) -> None:
        super().__init__(home, BACKEND, AGENT_MODULE)
