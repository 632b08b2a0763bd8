"""`python -m endpointctl.backends.process.agent --home DIR`: the process backend's agent.

The shared local agent (gateway, reconciler, rollouts) with local processes as instances.
"""

from __future__ import annotations

import sys

from endpointctl.backends.local.agent import Agent
from endpointctl.backends.local.agent_main import main
from endpointctl.backends.process.layout import Layout
from endpointctl.backends.process.runtime import ProcessRuntime
from endpointctl.core.home import Home


def process_agent(home: Home) -> Agent:
    return Agent(Layout(home), ProcessRuntime)


if __name__ == "__main__":
    sys.exit(main(process_agent))
