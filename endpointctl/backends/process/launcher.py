"""Starting, finding and stopping the process backend's agent (see backends.local.launcher)."""

from endpointctl.backends.local.launcher import ensure_agent, stop_agent

__all__ = ["ensure_agent", "stop_agent"]
