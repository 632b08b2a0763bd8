"""`python -m endpointctl.backends.process.agent --home DIR`: run the process backend's agent."""

from __future__ import annotations

import sys

from endpointctl.backends.local.agent_main import main
from endpointctl.backends.process.agent.agent import process_agent

if __name__ == "__main__":
    sys.exit(main(process_agent))
