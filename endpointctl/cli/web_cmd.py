"""`endpointctl web`: the same TUI in a browser (textual-serve), for people who cannot SSH to the jump box."""

from __future__ import annotations

import argparse
from typing import Any

from endpointctl.cli.common import CliContext


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], *, backends: bool) -> None:
    from endpointctl.tui.web import DEFAULT_HOST, DEFAULT_PORT

    p = sub.add_parser(
        "web",
        help="serve the TUI to a browser (loopback only unless --allow-remote; no authentication)",
        description=(
            "textual-serve has no authentication: it binds 127.0.0.1 by default; reach it through an SSH tunnel "
            "(ssh -L 8000:127.0.0.1:8000 jumpbox). A non-loopback --host needs --allow-remote."
        ),
    )
    p.add_argument("--host", default=DEFAULT_HOST)
    p.add_argument("--port", type=int, default=DEFAULT_PORT)
    p.add_argument(
        "--allow-remote",
        action="store_true",
        help="accept a non-loopback --host (anyone who reaches it controls endpointctl)",
    )
    # textual-serve runs its own event loop and installs its SIGINT/SIGTERM handlers: it must own the main thread,
    # so this verb runs outside the CLI's event loop (in a thread it crashed: set_wakeup_fd only works there).
    p.set_defaults(handler=_web, outside_loop=True)


def _web(args: argparse.Namespace, ctx: CliContext) -> Any:
    from endpointctl.core.home import Home
    from endpointctl.tui.web import serve

    serve(Home.discover(), host=args.host, port=args.port, allow_remote=args.allow_remote)
    return None
