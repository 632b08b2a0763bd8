"""Where the Docker backend keeps its files (agent socket, instance records, logs, build locks)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from endpointctl.backends.local.layout import Layout as LocalLayout
from endpointctl.core.home import Home

BACKEND = "docker"
AGENT_MODULE = "endpointctl.backends.docker.agent"


class Layout(LocalLayout):
    def __init__(self, home: Home) -> None:
        super().__init__(home, BACKEND, AGENT_MODULE)


def engine_env(defaults: Mapping[str, str]) -> dict[str, str]:
    """The environment the SDK reads: `configure --defaults docker_host=…` wins over DOCKER_HOST."""
    env = dict(os.environ)
    if defaults.get("docker_host"):
        env["DOCKER_HOST"] = defaults["docker_host"]
    return env
