"""Parsing and running one `endpointctl <group> <verb> …` call (see the package docstring)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

from endpointctl import __version__
from endpointctl.cli import (
    agent_cmds,
    asset_cmds,
    completion_cmd,
    configure_cmd,
    deployment_cmds,
    endpoint_cmds,
    gc_cmd,
    quickstart_cmd,
    rollout_cmds,
    web_cmd,
)
from endpointctl.cli.common import CliContext, default_overrides, misnamed
from endpointctl.cli.output import apply_query, render
from endpointctl.core.errors import EndpointctlError
from endpointctl.core.service import discover_factories
from endpointctl.core.spec import SpecError
from endpointctl.core.store import StoreError

GROUPS: tuple[ModuleType, ...] = (
    endpoint_cmds,
    deployment_cmds,
    rollout_cmds,
    asset_cmds,
    configure_cmd,
    agent_cmds,
    gc_cmd,
    completion_cmd,
    quickstart_cmd,
    web_cmd,
)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def build_parser(*, backends: bool) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="endpointctl",
        description="Deploy, roll out, watch and score ML online endpoints (az ml compatible).",
    )
    parser.add_argument("--version", action="version", version=f"endpointctl {__version__}")
    sub = parser.add_subparsers(dest="group", metavar="COMMAND")
    for group in GROUPS:
        group.register(sub, backends=backends)
    return parser


def run_command(args_list: Sequence[str]) -> int:
    # Verbs that need a backend appear only once one is installed (entry points), never as placeholders.
    parser = build_parser(backends=bool(discover_factories()))
    args = parser.parse_args(list(args_list))
    if args.group is None:
        parser.print_help()
        return EXIT_OK
    bad_name = misnamed(args)
    if bad_name is not None:
        _error(bad_name)
        return EXIT_USAGE
    ctx = CliContext(
        output=getattr(args, "output", None),
        query=getattr(args, "query", None),
        defaults=default_overrides(args),
    )
    try:
        if getattr(args, "outside_loop", False):
            # A verb that runs its own event loop on the main thread (`web`): no loop of ours around it.
            result = args.handler(args, ctx)
        else:
            result = asyncio.run(_run(args, ctx))
        if result is not None:
            value = apply_query(result, ctx.query)
            columns = getattr(sys.modules[args.handler.__module__], "TABLE_COLUMNS", {}).get(
                getattr(args, "verb", None)
            )
            render(value, ctx.output or "json", columns=None if ctx.query else columns)
    except SpecError as exc:
        _error(_shown(exc))
        return EXIT_USAGE
    except EndpointctlError as exc:
        _error(str(exc))
        return exc.exit_code
    except StoreError as exc:
        _error(str(exc))
        return EXIT_FAILED
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    return EXIT_OK


async def _run(args: argparse.Namespace, ctx: CliContext) -> Any:
    try:
        return await args.handler(args, ctx)
    finally:
        await ctx.close()


# A wrong file (a log, a data dump renamed .yml) can hold tens of thousands of problems: the first ones say what
# is wrong, the rest would bury them (and the terminal) under megabytes of output.
MAX_SHOWN_DIAGNOSTICS = 50


def _shown(exc: SpecError) -> str:
    shown = exc.diagnostics[:MAX_SHOWN_DIAGNOSTICS]
    lines = [str(d) for d in shown]
    hidden = len(exc.diagnostics) - len(shown)
    if hidden:
        sources = sorted({d.source for d in exc.diagnostics[len(shown) :]})
        lines.append(f"… and {hidden} more problem(s) in {', '.join(sources)}")
    return "\n".join(lines)


def _error(message: str) -> None:
    for line in message.splitlines() or [""]:
        sys.stderr.write(f"ERROR: {line}\n")
