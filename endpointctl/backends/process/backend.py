"""The process backend: instances are local processes, each in the deployment's own uv environment.

Everything but the runtime is shared with the other local backend (backends.local): the agent, the
rollout controller, the gateway, the client below.
"""

from __future__ import annotations

from endpointctl.backends.local.client import LocalBackend
from endpointctl.backends.process.layout import BACKEND, Layout
from endpointctl.core.context import BackendContext


class ProcessBackend(LocalBackend):
    name = BACKEND

    def __init__(self, context: BackendContext) -> None:
        super().__init__(context, Layout(context.home))
