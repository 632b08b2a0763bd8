"""`endpointctl agent start|stop|status`: the local supervisor of a backend that has one (process)."""

from __future__ import annotations

import argparse
from typing import Any

from endpointctl.cli.common import CliContext, add_backend_arg, add_output_args, backend_of


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], *, backends: bool) -> None:
    if not backends:
        return
    group = sub.add_parser("agent", help="start, stop or inspect the local agent (process backend)")
    verbs = group.add_subparsers(dest="verb", metavar="VERB", required=True)
    for name, handler, text in (
        ("start", _start, "start the agent if it is not running (commands also start it on demand)"),
        ("stop", _stop, "stop the agent; its instances and the gateway keep serving (--all stops them too)"),
        ("status", _status, "whether the agent runs, and where"),
    ):
        verb = verbs.add_parser(name, help=text, description=text)
        if name == "stop":
            verb.add_argument(
                "--all",
                action="store_true",
                help="stop the instances and the gateway too: nothing serves after",
            )
        add_backend_arg(verb)
        add_output_args(verb)
        verb.set_defaults(handler=handler)


async def _start(args: argparse.Namespace, ctx: CliContext) -> Any:
    status = await ctx.service.start_agent(backend=backend_of(args) or "process")
    return {"backend": status.name, "running": True, "context": status.context}


async def _stop(args: argparse.Namespace, ctx: CliContext) -> Any:
    everything = bool(args.all)
    stopped = await ctx.service.stop_agent(everything=everything, backend=backend_of(args) or "process")
    serving = (
        "nothing: instances and the gateway were stopped too"
        if everything
        else "the instances and the gateway keep serving; the next agent (any command) adopts them"
    )
    return {"stopped": stopped, "stillServing": serving}


async def _status(args: argparse.Namespace, ctx: CliContext) -> Any:
    status = await ctx.service.backend(backend_of(args) or "process").status()
    return {
        "backend": status.name,
        "available": status.available,
        "context": status.context,
        "reason": status.reason,
    }
