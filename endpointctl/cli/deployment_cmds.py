"""`endpointctl online-deployment …`: the az ml online-deployment verbs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from endpointctl.cli.common import (
    CliContext,
    add_backend_arg,
    add_dry_run_arg,
    add_output_args,
    add_set_arg,
    add_spec_file_arg,
    backend_of,
    confirm,
    dry_run,
    existing_file,
)
from endpointctl.core.errors import InvalidInput
from endpointctl.core.spec import DeploymentSpec, dump_yaml, load_deployment, parse_deployment, spec_to_dict
from endpointctl.core.views import Container

LIST_COLUMNS = ("name", "endpoint_name", "backend", "instance_count", "provisioning_state")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], *, backends: bool) -> None:
    group = sub.add_parser("online-deployment", help="manage deployments of an online endpoint")
    verbs = group.add_subparsers(dest="verb", metavar="VERB", required=True)

    show = verbs.add_parser("show", help="show a deployment (-n -e), or the spec a file (-f) would apply")
    show.add_argument("-n", "--name")
    show.add_argument("-e", "--endpoint-name")
    add_spec_file_arg(show, "deployment")
    add_set_arg(show)
    add_backend_arg(show)
    add_output_args(show)
    show.set_defaults(handler=_show)

    if not backends:
        return

    for verb, text in (("create", "create a deployment"), ("update", "roll out a change to a deployment")):
        p = verbs.add_parser(verb, help=text)
        add_spec_file_arg(p, "deployment")
        p.add_argument("-n", "--name", help="overrides `name` in the file")
        p.add_argument("-e", "--endpoint-name", help="overrides `endpoint_name` in the file")
        add_set_arg(p)
        if verb == "create":
            p.add_argument(
                "--all-traffic", action="store_true", help="send 100%% of the traffic here once it succeeds"
            )
        p.add_argument("--no-wait", action="store_true", help="return once the change is accepted")
        add_dry_run_arg(p)
        add_backend_arg(p)
        add_output_args(p)
        p.set_defaults(handler=_apply)

    lst = verbs.add_parser("list", help="list an endpoint's deployments")
    lst.add_argument("-e", "--endpoint-name", required=True)
    add_backend_arg(lst)
    add_output_args(lst)
    lst.set_defaults(handler=_list)

    delete = verbs.add_parser("delete", help="delete a deployment (it must have no live traffic)")
    delete.add_argument("-n", "--name", required=True)
    delete.add_argument("-e", "--endpoint-name", required=True)
    delete.add_argument("-y", "--yes", action="store_true")
    delete.add_argument("--no-wait", action="store_true")
    add_backend_arg(delete)
    delete.set_defaults(handler=_delete)

    logs = verbs.add_parser("get-logs", help="logs of the inference-server or storage-initializer container")
    logs.add_argument("-n", "--name", required=True)
    logs.add_argument("-e", "--endpoint-name", required=True)
    logs.add_argument("-l", "--lines", type=int, help="only the last N lines")
    logs.add_argument(
        "--container", choices=[c.value for c in Container], default=Container.INFERENCE_SERVER.value
    )
    logs.add_argument("--instance", help="one instance only (default: all, each line prefixed)")
    logs.add_argument("--follow", action="store_true", help="keep printing new lines")
    add_backend_arg(logs)
    logs.set_defaults(handler=_get_logs)


def _load(args: argparse.Namespace) -> DeploymentSpec:
    sets = list(args.sets)
    if args.name:
        sets.append(f"name={args.name}")
    if args.endpoint_name:
        sets.append(f"endpoint_name={args.endpoint_name}")
    return load_deployment(existing_file(args.file, option="-f/--file"), sets)


async def _show(args: argparse.Namespace, ctx: CliContext) -> Any:
    if args.file:
        return spec_to_dict(_load(args))
    if not (args.name and args.endpoint_name):
        raise InvalidInput("give -n/--name and -e/--endpoint-name, or -f/--file (a spec to check)")
    view = await ctx.service.get_deployment(args.endpoint_name, args.name, backend=backend_of(args))
    return view.to_show()


async def _apply(args: argparse.Namespace, ctx: CliContext) -> Any:
    backend = backend_of(args)
    if args.dry_run:
        if not args.file:
            raise InvalidInput("--dry-run shows what a file would apply: give -f/--file")
        return await dry_run(ctx, ctx.service.plan_deployment(_load(args), backend=backend))
    if args.file:
        spec = _load(args)
    else:
        if not (args.name and args.endpoint_name):
            raise InvalidInput("give -f/--file, or -n/--name and -e/--endpoint-name with --set")
        current = await ctx.service.get_deployment(args.endpoint_name, args.name, backend=backend)
        spec = parse_deployment(
            dump_yaml(current.spec),
            source=f"<deployment {args.endpoint_name}/{args.name}>",
            base_dir=Path("/"),
            sets=args.sets,
        )
    with ctx.progress(f"{args.verb} {spec.endpoint_name}/{spec.name}") as progress:
        view = await ctx.service.apply_deployment(
            spec,
            backend=backend,
            all_traffic=getattr(args, "all_traffic", False),
            wait=not args.no_wait,
            progress=progress,
        )
    return view.to_show()


async def _list(args: argparse.Namespace, ctx: CliContext) -> Any:
    views = await ctx.service.list_deployments(args.endpoint_name, backend=backend_of(args))
    return [v.to_show() for v in views]


async def _delete(args: argparse.Namespace, ctx: CliContext) -> None:
    if not args.yes and not confirm(f"Delete deployment {args.endpoint_name}/{args.name}?"):
        raise InvalidInput("not confirmed; nothing was deleted (use -y/--yes to skip the question)")
    with ctx.status(f"delete {args.endpoint_name}/{args.name}") as status:
        await ctx.service.delete_deployment(
            args.endpoint_name, args.name, backend=backend_of(args), wait=not args.no_wait, progress=status
        )


async def _get_logs(args: argparse.Namespace, ctx: CliContext) -> None:
    container = Container(args.container)
    backend = backend_of(args)
    if args.lines is not None and args.lines < 0:
        raise InvalidInput("--lines must be ≥ 0")
    lines = await ctx.service.get_logs(
        args.endpoint_name,
        args.name,
        container=container,
        lines=args.lines,
        instance=args.instance,
        backend=backend,
    )
    prefix = args.instance is None
    for line in lines:
        sys.stdout.write(f"[{line.instance}] {line.text}\n" if prefix and line.instance else f"{line.text}\n")
    sys.stdout.flush()
    if args.follow:
        async for line in ctx.service.follow_logs(
            args.endpoint_name, args.name, container=container, instance=args.instance, backend=backend
        ):
            sys.stdout.write(
                f"[{line.instance}] {line.text}\n" if prefix and line.instance else f"{line.text}\n"
            )
            sys.stdout.flush()


TABLE_COLUMNS = {"list": LIST_COLUMNS}
