"""`endpointctl model …` and `endpointctl environment …`: the local asset registry."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from endpointctl.cli.common import CliContext, add_output_args, add_set_arg, add_spec_file_arg, existing_file
from endpointctl.core.assets import ENVIRONMENT, MODEL
from endpointctl.core.errors import InvalidInput
from endpointctl.core.spec import load_environment, load_model, parse_environment, parse_model

LIST_COLUMNS = ("name", "version", "digest", "archived")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], *, backends: bool) -> None:
    for kind in (MODEL, ENVIRONMENT):
        group = sub.add_parser(
            kind, help=f"register and inspect {kind}s (referenced as azureml:NAME:VERSION)"
        )
        verbs = group.add_subparsers(dest="verb", metavar="VERB", required=True)

        create = verbs.add_parser("create", help=f"register a {kind} version")
        add_spec_file_arg(create, kind)
        create.add_argument("-n", "--name")
        create.add_argument("-v", "--version")
        if kind == MODEL:
            create.add_argument("-p", "--path", help="model file or folder (instead of a file)")
            create.add_argument("-t", "--type", choices=("custom_model", "mlflow_model", "triton_model"))
        else:
            create.add_argument("-i", "--image", help="base image (instead of a file)")
            create.add_argument("-c", "--conda-file", help="conda file (instead of a file)")
        add_set_arg(create)
        add_output_args(create)
        create.set_defaults(handler=_create, kind=kind)

        lst = verbs.add_parser("list", help=f"list {kind}s (latest versions) or one {kind}'s versions (-n)")
        lst.add_argument("-n", "--name")
        lst.add_argument("--include-archived", action="store_true")
        lst.add_argument("--archived-only", action="store_true")
        add_output_args(lst)
        lst.set_defaults(handler=_list, kind=kind)

        show = verbs.add_parser("show", help=f"show a {kind} version")
        show.add_argument("-n", "--name", required=True)
        show.add_argument("-v", "--version")
        show.add_argument("-l", "--label", choices=("latest",))
        add_output_args(show)
        show.set_defaults(handler=_show, kind=kind)

        for verb, archived in (("archive", True), ("restore", False)):
            p = verbs.add_parser(verb, help=f"{verb} a {kind} (all versions, or one with -v)")
            p.add_argument("-n", "--name", required=True)
            p.add_argument("-v", "--version")
            p.set_defaults(handler=_archive, kind=kind, archived=archived)


async def _create(args: argparse.Namespace, ctx: CliContext) -> Any:
    sets = list(args.sets)
    registry = ctx.service.context.registry
    if args.kind == MODEL:
        if args.file:
            spec = load_model(existing_file(args.file, option="-f/--file"), sets)
        elif args.path:
            text = _inline({"name": args.name, "version": args.version, "path": args.path, "type": args.type})
            spec = parse_model(text, source="<command line>", base_dir=Path.cwd(), sets=sets)
        else:
            raise InvalidInput("give -f/--file or -p/--path")
        asset = registry.register_model(spec, name=args.name, version=args.version)
    else:
        if args.file:
            env = load_environment(existing_file(args.file, option="-f/--file"), sets)
        elif args.image:
            text = _inline(
                {
                    "name": args.name,
                    "version": args.version,
                    "image": args.image,
                    "conda_file": args.conda_file,
                }
            )
            env = parse_environment(text, source="<command line>", base_dir=Path.cwd(), sets=sets)
        else:
            raise InvalidInput("give -f/--file or -i/--image")
        asset = registry.register_environment(env, name=args.name, version=args.version)
    return asset.to_show()


async def _list(args: argparse.Namespace, ctx: CliContext) -> Any:
    registry = ctx.service.context.registry
    include = args.include_archived or args.archived_only
    assets = registry.list(args.kind, args.name, include_archived=include)
    if args.archived_only:
        assets = [a for a in assets if a.archived]
    return [a.to_show() for a in assets]


async def _show(args: argparse.Namespace, ctx: CliContext) -> Any:
    if args.version and args.label:
        raise InvalidInput("give -v/--version or -l/--label, not both")
    return ctx.service.context.registry.get(args.kind, args.name, args.version).to_show()


async def _archive(args: argparse.Namespace, ctx: CliContext) -> None:
    ctx.service.context.registry.set_archived(args.kind, args.name, args.version, args.archived)


def _inline(fields: dict[str, str | None]) -> str:
    # JSON is YAML, and json.dumps quotes every value safely.
    return json.dumps({k: v for k, v in fields.items() if v is not None})


TABLE_COLUMNS = {"list": LIST_COLUMNS}
