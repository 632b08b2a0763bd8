"""The process backend's agent: the shared local agent driving processes (see backends.local.agent)."""

from __future__ import annotations

from endpointctl.backends.local.agent import Agent
from endpointctl.backends.local.lock import lock_holder
from endpointctl.backends.process.layout import Layout
from endpointctl.backends.process.runtime import ProcessRuntime
from endpointctl.core.home import Home

__all__ = ["lock_holder", "process_agent"]


def process_agent(home: Home) -> Agent:
    return Agent(Layout(home), ProcessRuntime)
