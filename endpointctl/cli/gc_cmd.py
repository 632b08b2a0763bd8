"""`endpointctl gc`: take back the disk a local backend no longer needs, and say what it freed."""

from __future__ import annotations

import argparse
from typing import Any

from endpointctl.cli.common import CliContext, add_backend_arg, add_output_args, backend_of
from endpointctl.core.errors import InvalidInput
from endpointctl.core.views import CleanupReport, DiskItem

DESCRIPTION = """\
Removes environments (process: uv venvs; docker: environment images) that no deployment uses, the logs of
retired instances beyond the last 3 revisions' worth, and log folders of deployments that no longer exist.
Never removes what a running instance, a rollout in flight or a rollback target needs, nor anything used in
the last --min-idle seconds. With `configure --defaults disk_cap_gb=N`, the agent also does this by itself
(least recently used first) whenever environments take more than N GB."""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], *, backends: bool) -> None:
    if not backends:
        return
    p = sub.add_parser(
        "gc", help="free disk: unused environments and images, old logs", description=DESCRIPTION
    )
    p.add_argument("--dry-run", action="store_true", help="say what would be removed; remove nothing")
    p.add_argument(
        "--min-idle",
        type=float,
        default=None,
        metavar="SECONDS",
        help="keep anything used this recently (default: 600)",
    )
    add_backend_arg(p)
    add_output_args(p)
    p.set_defaults(handler=_gc)


async def _gc(args: argparse.Namespace, ctx: CliContext) -> Any:
    if args.min_idle is not None and args.min_idle < 0:
        raise InvalidInput(f"--min-idle {args.min_idle}: must be 0 or more seconds")
    report = await ctx.service.collect_garbage(
        dry_run=args.dry_run, min_idle_s=args.min_idle, backend=backend_of(args)
    )
    return as_output(report)


def as_output(report: CleanupReport) -> dict[str, Any]:
    return {
        "backend": report.backend,
        "dryRun": report.dry_run,
        "summary": report.summary(),
        "freedBytes": report.freed_bytes,
        "keptBytes": report.kept_bytes,
        "freed": [_item(i) for i in report.freed],
        "kept": [_item(i) for i in report.kept],
    }


def _item(item: DiskItem) -> dict[str, Any]:
    return {"kind": item.kind, "name": item.name, "sizeBytes": item.size_bytes, "why": item.why}
