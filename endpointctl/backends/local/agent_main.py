"""Running a local backend's agent in the foreground: `python -m endpointctl.backends.<name>.agent --home DIR`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from endpointctl.backends.local.agent import Agent
from endpointctl.backends.local.lock import AlreadyRunning
from endpointctl.core.home import Home


def main(make_agent: Callable[[Home], Agent], argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="endpointctl-agent")
    parser.add_argument("--home", type=Path, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    # Probes run several times a second per instance; their request lines would drown the agent's log.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        agent = make_agent(Home(args.home.resolve()))
        try:
            import uvloop  # the embedded gateway is the data path: the faster loop pays for itself

            uvloop.run(agent.run())
        except ImportError:
            asyncio.run(agent.run())
    except AlreadyRunning as exc:
        print(f"endpointctl agent: {exc}", file=sys.stderr)
        return 0
    return 0
