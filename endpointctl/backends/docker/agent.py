"""`python -m endpointctl.backends.docker.agent --home DIR`: the Docker backend's agent.

The shared local agent (gateway, reconciler, rollouts) with containers as instances.
"""

from __future__ import annotations

import sys

from endpointctl.backends.docker.layout import Layout
from endpointctl.backends.docker.supervised import ContainerRuntime
from endpointctl.backends.local.agent import Agent
from endpointctl.backends.local.agent_main import main
from endpointctl.core.home import Home


def docker_agent(home: Home) -> Agent:
    return Agent(Layout(home), ContainerRuntime)


if __name__ == "__main__":
    sys.exit(main(docker_agent))
