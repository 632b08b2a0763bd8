"""`endpointctl configure --defaults key=value …`, as `az configure --defaults`."""

from __future__ import annotations

import argparse
from typing import Any

from endpointctl.cli.common import CliContext, add_output_args
from endpointctl.core.errors import InvalidInput

KNOWN_DEFAULTS = {
    "backend": "backend used when --backend is not given (process, docker, kubernetes, azure)",
    "workspace": "Azure ML workspace name",
    "group": "Azure resource group",
    "subscription": "Azure subscription id",
    "location": "Azure region for new endpoints",
    "arm_endpoint": "ARM base URL (sovereign clouds)",
    "kube_context": "kubeconfig context",
    "kube_namespace": "Kubernetes namespace",
    "kube_computes": "what `compute: azureml:NAME` means: NAME=CONTEXT[/NAMESPACE],…",
    "kube_gateway_image": "base image of the Kubernetes gateway's image (any image with python3 and venv)",
    "kube_service_type": "gateway Service type on Kubernetes: LoadBalancer or NodePort",
    "kube_registry": "registry the Kubernetes backend pushes its images to: HOST[:PORT]/PREFIX (else local engine)",
    "kube_gateway_replicas": "gateway pods per endpoint on Kubernetes (default 2)",
    "docker_host": "Docker engine URL (else DOCKER_HOST or the default socket)",
    "disk_cap_gb": "local backends: above this many GB of environments/images, unused ones are removed (LRU)",
}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], *, backends: bool) -> None:
    p = sub.add_parser("configure", help="set defaults (backend, workspace, group, kube context, …)")
    p.add_argument(
        "-d", "--defaults", nargs="+", metavar="KEY=VALUE", default=[], help="KEY= (empty) removes a default"
    )
    p.add_argument("-l", "--list-defaults", action="store_true")
    add_output_args(p)
    p.set_defaults(handler=_configure)


async def _configure(args: argparse.Namespace, ctx: CliContext) -> Any:
    updates: dict[str, str] = {}
    for item in args.defaults:
        key, sep, value = item.partition("=")
        if not sep:
            raise InvalidInput(f"--defaults {item!r}: expected KEY=VALUE")
        if key not in KNOWN_DEFAULTS:
            known = ", ".join(sorted(KNOWN_DEFAULTS))
            raise InvalidInput(f"--defaults {key}: unknown key (known: {known})")
        updates[key] = value
    if "backend" in updates and updates["backend"] and updates["backend"] not in ctx.service.backend_names:
        have = ", ".join(ctx.service.backend_names) or "none installed"
        raise InvalidInput(f"--defaults backend={updates['backend']}: unknown backend (available: {have})")
    cap = updates.get("disk_cap_gb")
    if cap:
        try:
            positive = float(cap) > 0
        except ValueError:
            positive = False
        if not positive:
            raise InvalidInput(f"--defaults disk_cap_gb={cap}: expected a number of GB above 0 (e.g. 20)")
    store = ctx.service.context.store
    with store.transaction() as tx:
        for key, value in updates.items():
            tx.set_default(key, value)
    if args.list_defaults or not updates:
        with store.read() as tx:
            return [{"name": k, "value": v} for k, v in tx.defaults().items()]
    return None
