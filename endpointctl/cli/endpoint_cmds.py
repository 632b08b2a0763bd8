"""`endpointctl online-endpoint …`: the az ml online-endpoint verbs."""

from __future__ import annotations

import argparse
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
    read_request_file,
)
from endpointctl.core.errors import InvalidInput
from endpointctl.core.spec import EndpointSpec, dump_yaml, load_endpoint, parse_endpoint, spec_to_dict
from endpointctl.core.traffic import TrafficError, parse_assignments

LIST_COLUMNS = ("name", "kind", "backend", "auth_mode", "provisioning_state", "scoring_uri")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], *, backends: bool) -> None:
    group = sub.add_parser("online-endpoint", help="manage online endpoints")
    verbs = group.add_subparsers(dest="verb", metavar="VERB", required=True)

    show = verbs.add_parser("show", help="show an endpoint (-n), or the spec a file (-f) would apply")
    show.add_argument("-n", "--name")
    add_spec_file_arg(show, "endpoint")
    add_set_arg(show)
    add_backend_arg(show)
    add_output_args(show)
    show.set_defaults(handler=_show)

    if not backends:
        return

    create = verbs.add_parser("create", help="create an endpoint from a YAML file")
    add_spec_file_arg(create, "endpoint")
    create.add_argument("-n", "--name", help="overrides `name` in the file")
    create.add_argument("--auth-mode", choices=("key", "aml_token", "aad_token"))
    add_set_arg(create)
    add_backend_arg(create)
    create.add_argument("--no-wait", action="store_true")
    add_dry_run_arg(create)
    add_output_args(create)
    create.set_defaults(handler=_create)

    update = verbs.add_parser("update", help="update an endpoint: file, --set, --traffic or --mirror-traffic")
    update.add_argument("-n", "--name")
    add_spec_file_arg(update, "endpoint")
    update.add_argument("--traffic", help='"blue=90 green=10"')
    update.add_argument("--mirror-traffic", help='"green=10" (one deployment, at most 50)')
    add_set_arg(update)
    add_backend_arg(update)
    update.add_argument("--no-wait", action="store_true")
    add_dry_run_arg(update)
    add_output_args(update)
    update.set_defaults(handler=_update)

    lst = verbs.add_parser("list", help="list endpoints")
    add_backend_arg(lst)
    add_output_args(lst)
    lst.set_defaults(handler=_list)

    delete = verbs.add_parser("delete", help="delete an endpoint and all its deployments")
    delete.add_argument("-n", "--name", required=True)
    delete.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    delete.add_argument("--no-wait", action="store_true")
    add_backend_arg(delete)
    delete.set_defaults(handler=_delete)

    invoke = verbs.add_parser("invoke", help="send a scoring request to the endpoint")
    invoke.add_argument("-n", "--name", required=True)
    invoke.add_argument("-r", "--request-file", required=True)
    invoke.add_argument("-d", "--deployment-name", help="pin the request to this deployment")
    add_backend_arg(invoke)
    add_output_args(invoke)
    invoke.set_defaults(handler=_invoke)

    creds = verbs.add_parser("get-credentials", help="keys (key mode) or a token (aml_token mode)")
    creds.add_argument("-n", "--name", required=True)
    add_backend_arg(creds)
    add_output_args(creds)
    creds.set_defaults(handler=_get_credentials)

    regen = verbs.add_parser("regenerate-keys", help="replace the primary or secondary key")
    regen.add_argument("-n", "--name", required=True)
    regen.add_argument("--key-type", choices=("primary", "secondary"), default="primary")
    add_backend_arg(regen)
    regen.set_defaults(handler=_regenerate_keys)


def _load(args: argparse.Namespace) -> EndpointSpec:
    if not args.file:
        raise InvalidInput("-f/--file is required")
    sets = list(args.sets)
    if getattr(args, "name", None):
        sets.append(f"name={args.name}")
    if getattr(args, "auth_mode", None):
        sets.append(f"auth_mode={args.auth_mode}")
    return load_endpoint(existing_file(args.file, option="-f/--file"), sets)


async def _show(args: argparse.Namespace, ctx: CliContext) -> Any:
    if args.file:
        return spec_to_dict(_load(args))
    if not args.name:
        raise InvalidInput("give -n/--name (an existing endpoint) or -f/--file (a spec to check)")
    if args.sets:
        raise InvalidInput("--set applies to a file: use it with -f")
    view = await ctx.service.get_endpoint(args.name, backend=backend_of(args))
    return view.to_show()


async def _create(args: argparse.Namespace, ctx: CliContext) -> Any:
    spec = _load(args)
    if args.dry_run:
        return await dry_run(ctx, ctx.service.plan_endpoint(spec, backend=backend_of(args)))
    with ctx.status(f"create {spec.name}") as status:
        view = await ctx.service.create_endpoint(
            spec, backend=backend_of(args), wait=not args.no_wait, progress=status
        )
    return view.to_show()


async def _update(args: argparse.Namespace, ctx: CliContext) -> Any:
    service = ctx.service
    backend = backend_of(args)
    try:
        traffic = parse_assignments(args.traffic) if args.traffic else None
        mirror = (
            parse_assignments(args.mirror_traffic, option="--mirror-traffic") if args.mirror_traffic else None
        )
    except TrafficError as exc:
        raise InvalidInput(str(exc)) from None
    if args.dry_run:
        if not args.file or traffic is not None or mirror is not None:
            raise InvalidInput("--dry-run shows what a file would apply: give -f/--file (without --traffic)")
        return await dry_run(ctx, service.plan_endpoint(_load(args), backend=backend))
    if args.file or args.sets:
        if args.file:
            spec = _load(args)
        else:
            if not args.name:
                raise InvalidInput("give -n/--name or -f/--file")
            current = await service.get_endpoint(args.name, backend=backend)
            spec = parse_endpoint(
                dump_yaml(current.spec), source=f"<endpoint {args.name}>", base_dir=Path("/"), sets=args.sets
            )
        with ctx.status(f"update {spec.name}") as status:
            view = await service.update_endpoint(
                spec, backend=backend, wait=not args.no_wait, progress=status
            )
        name = spec.name
    else:
        if not args.name:
            raise InvalidInput("give -n/--name or -f/--file")
        name = args.name
        view = await service.get_endpoint(name, backend=backend)
    if traffic is not None or mirror is not None:
        with ctx.status(f"traffic of {name}") as status:
            view = await service.set_traffic(
                name, traffic=traffic, mirror=mirror, backend=backend, wait=not args.no_wait, progress=status
            )
    return view.to_show()


async def _list(args: argparse.Namespace, ctx: CliContext) -> Any:
    views = await ctx.service.list_endpoints(backend_of(args))
    return [v.to_show() for v in views]


async def _delete(args: argparse.Namespace, ctx: CliContext) -> None:
    if not args.yes and not confirm(f"Delete endpoint {args.name} and all its deployments?"):
        raise InvalidInput("not confirmed; nothing was deleted (use -y/--yes to skip the question)")
    with ctx.status(f"delete {args.name}") as status:
        await ctx.service.delete_endpoint(
            args.name, backend=backend_of(args), wait=not args.no_wait, progress=status
        )


async def _invoke(args: argparse.Namespace, ctx: CliContext) -> Any:
    body = read_request_file(args.request_file)
    result = await ctx.service.invoke(
        args.name, body, deployment=args.deployment_name, backend=backend_of(args)
    )
    text = result.body.decode("utf-8", errors="replace")
    if result.status >= 400:
        from endpointctl.core.errors import OperationFailed

        served = f" (deployment {result.deployment})" if result.deployment else ""
        raise OperationFailed(f"the endpoint answered {result.status}{served}: {text}")
    # az prints the response body as a JSON string; keep that so scripts written for az keep working.
    return text


async def _get_credentials(args: argparse.Namespace, ctx: CliContext) -> Any:
    creds = await ctx.service.get_credentials(args.name, backend=backend_of(args))
    return creds.to_show()


async def _regenerate_keys(args: argparse.Namespace, ctx: CliContext) -> None:
    await ctx.service.regenerate_keys(args.name, args.key_type, backend=backend_of(args))


TABLE_COLUMNS = {"list": LIST_COLUMNS}
