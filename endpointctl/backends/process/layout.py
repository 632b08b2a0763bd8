"""Where the process backend keeps its files inside the data directory."""

from __future__ import annotations

from endpointctl.backends.local.layout import ENV_CACHE_VARIABLE
from endpointctl.backends.local.layout import Layout as LocalLayout
from endpointctl.core.home import Home

BACKEND = "process"
AGENT_MODULE = "endpointctl.backends.process.agent"

__all__ = ["AGENT_MODULE", "BACKEND", "ENV_CACHE_VARIABLE", "Layout"]


class Layout(LocalLayout):
    def __init__(self, home: Home) -> None:
        super().__init__(home, BACKEND, AGENT_MODULE)
