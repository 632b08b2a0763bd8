"""Shell completion with argcomplete: verbs and flags from the parser itself, endpoint and deployment names from
the state store.

The shell runs `endpointctl` with `_ARGCOMPLETE` set on every <TAB>; `main` hands over to `complete()` before
anything else is imported. Names come from the local SQLite store only: nothing is started (no agent), nothing
is contacted (no cluster, no ARM), and a missing data directory is not created. Endpoints that live only in a
cluster or in Azure are not offered (their names are not kept locally).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from typing import Any

from endpointctl.cli.common import NAMED_GROUPS

SHELLS = ("bash", "zsh", "fish")
PROGRAM = "endpointctl"


def shell_code(shell: str) -> str:
    """The script `endpointctl completion SHELL` prints, for the user to source (see README)."""
    from argcomplete.shell_integration import shellcode

    return str(shellcode([PROGRAM], shell=shell))


def complete() -> None:
    """Answer one completion request (argcomplete writes the candidates and exits the process)."""
    import argcomplete

    from endpointctl.cli.commands import build_parser
    from endpointctl.core.service import discover_factories

    parser = build_parser(backends=bool(discover_factories()))
    attach_name_completers(parser)
    argcomplete.autocomplete(parser)


def attach_name_completers(parser: argparse.ArgumentParser) -> None:
    for group, sub in _subparsers(parser):
        if group not in NAMED_GROUPS:
            continue
        for verb in _all_parsers(sub):
            for action in verb._actions:
                if "--endpoint-name" in action.option_strings:
                    action.completer = endpoint_names  # type: ignore[attr-defined]
                elif "--name" in action.option_strings:
                    action.completer = (  # type: ignore[attr-defined]
                        deployment_names if group == "online-deployment" else endpoint_names
                    )
                elif "--deployment-name" in action.option_strings:  # invoke: the endpoint is -n
                    action.completer = deployments_of_named_endpoint  # type: ignore[attr-defined]
                elif "--to" in action.option_strings:  # rollout start: the candidate of -e
                    action.completer = deployment_names  # type: ignore[attr-defined]


def endpoint_names(prefix: str, parsed_args: argparse.Namespace, **_: Any) -> list[str]:
    return [n for n in _names(parsed_args, endpoint=None) if n.startswith(prefix)]


def deployment_names(prefix: str, parsed_args: argparse.Namespace, **_: Any) -> list[str]:
    return _deployments(prefix, parsed_args, getattr(parsed_args, "endpoint_name", None))


def deployments_of_named_endpoint(prefix: str, parsed_args: argparse.Namespace, **_: Any) -> list[str]:
    return _deployments(prefix, parsed_args, getattr(parsed_args, "name", None))


def _deployments(prefix: str, parsed_args: argparse.Namespace, endpoint: Any) -> list[str]:
    if not isinstance(endpoint, str) or not endpoint:
        return []
    return [n for n in _names(parsed_args, endpoint=endpoint) if n.startswith(prefix)]


def _names(parsed_args: argparse.Namespace, *, endpoint: str | None) -> list[str]:
    from endpointctl.core.home import Home
    from endpointctl.core.store import Store

    home = Home.discover()
    if not home.database.is_file():
        return []
    store = Store(home.database)
    try:
        with store.read() as tx:
            backend = _backend(parsed_args) or tx.defaults().get("backend") or "process"
            if endpoint is None:
                return sorted(r.name for r in tx.list_endpoints(backend))
            return sorted(r.name for r in tx.list_deployments(backend, endpoint))
    finally:
        store.close()


def _backend(parsed_args: argparse.Namespace) -> str | None:
    if getattr(parsed_args, "local", False):
        return "process"
    value = getattr(parsed_args, "backend", None)
    return value if isinstance(value, str) else None


def _subparsers(parser: argparse.ArgumentParser) -> Iterable[tuple[str, argparse.ArgumentParser]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            yield from action.choices.items()


def _all_parsers(parser: argparse.ArgumentParser) -> Iterable[argparse.ArgumentParser]:
    yield parser
    for _, sub in _subparsers(parser):
        yield from _all_parsers(sub)
