"""`python -m endpointctl.backends.process.agent --home DIR`: run the agent in the foreground."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from endpointctl.backends.process.agent.agent import Agent, AlreadyRunning
from endpointctl.core.home import Home


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="endpointctl-agent")
    parser.add_argument("--home", type=Path, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    # Probes run several times a second per instance; their request lines would drown the agent's log.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        agent = Agent(Home(args.home.resolve()))
        try:
            import uvloop  # the embedded gateway is the data path: the faster loop pays for itself

            uvloop.run(agent.run())
        except ImportError:
            asyncio.run(agent.run())
    except AlreadyRunning as exc:
        print(f"endpointctl agent: {exc}", file=sys.stderr)
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
