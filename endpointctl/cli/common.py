"""What every verb shares: the service it talks to, flags common to many verbs, progress display."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rich.console import Console

from endpointctl.cli.output import DocumentStream
from endpointctl.core.errors import InvalidInput
from endpointctl.core.service import EndpointService
from endpointctl.core.views import DeploymentView, DryRunPlan

Handler = Callable[[argparse.Namespace, "CliContext"], Awaitable[Any]]


@dataclass
class CliContext:
    """Opened lazily: `--help` and usage errors never touch the data directory."""

    output: str | None
    query: str | None
    # Per-call overrides of `configure --defaults` (-g/-w/--subscription, as az ml takes them).
    defaults: dict[str, str] = field(default_factory=dict)
    _service: EndpointService | None = field(default=None, repr=False)

    @property
    def service(self) -> EndpointService:
        if self._service is None:
            service = EndpointService.open()
            if self.defaults:
                # Backends are built lazily from service.context, so none has seen the stored defaults yet.
                service.context = replace(
                    service.context, defaults={**service.context.defaults, **self.defaults}
                )
            self._service = service
        return self._service

    async def close(self) -> None:
        if self._service is not None:
            await self._service.close()

    @property
    def machine_output(self) -> bool:
        return self.output is not None or not sys.stdout.isatty()

    @contextmanager
    def progress(self, what: str) -> Iterator[Callable[[DeploymentView], None]]:
        """A live status line on stderr for long operations; silent for machine output or pipes."""
        if self.machine_output or not sys.stderr.isatty():
            yield lambda view: None
            return
        console = Console(stderr=True)
        with console.status(what) as status:

            def update(view: DeploymentView) -> None:
                text = f"{what}: {view.provisioning_state}"
                if view.rollout is not None and view.rollout.preparing:
                    text += f" — {view.rollout.message or 'preparing'}"[:120]
                elif view.rollout is not None:
                    r = view.rollout
                    text += f" — batch {r.batch}/{r.batches}, {r.updated}/{r.desired} instances updated"
                elif view.instances:
                    text += f" — {view.ready_instances}/{len(view.instances)} ready"
                status.update(text)

            yield update

    @contextmanager
    def status(self, what: str) -> Iterator[Callable[[str], None]]:
        """As `progress`, for changes the backend follows itself (endpoints, traffic, deletions)."""
        if self.machine_output or not sys.stderr.isatty():
            yield lambda text: None
            return
        with Console(stderr=True).status(what) as status:
            yield lambda text: status.update(f"{what}: {text}")


def add_dry_run_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print what would be sent (Kubernetes manifests, ARM requests) and change nothing",
    )


async def dry_run(ctx: CliContext, plan: Awaitable[DryRunPlan]) -> DocumentStream:
    result = await plan
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    if ctx.output is None:
        ctx.output = result.output
    return DocumentStream(dict(d) for d in result.documents)


def add_output_args(parser: argparse.ArgumentParser, default: str = "json") -> None:
    parser.add_argument(
        "-o",
        "--output",
        choices=("json", "yaml", "table", "tsv", "none"),
        default=None,
        help=f"output format (default: {default})",
    )
    parser.add_argument("--query", help="JMESPath query applied to the output, as in az")


def add_spec_file_arg(parser: argparse.ArgumentParser, what: str = "spec") -> None:
    """`-f/--file`, with the bounds a spec file is read under said where users look for them."""
    from endpointctl.core.spec.source import MAX_SPEC_BYTES, MAX_SPEC_NODES

    parser.add_argument(
        "-f",
        "--file",
        help=f"{what} YAML file (at most {MAX_SPEC_BYTES // 1024} KiB and {MAX_SPEC_NODES:,} values "
        "once aliases are expanded)",
    )


def add_set_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="PATH=VALUE",
        help="override a field before validation (dotted path, list index, YAML-typed value); repeatable",
    )


def add_backend_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend",
        help="process, docker, kubernetes or azure (default: configure --defaults backend=…, else process)",
    )
    parser.add_argument(
        "--local", action="store_true", help="use the local process backend (as az ml --local)"
    )
    azure = parser.add_argument_group("azure backend (override configure --defaults for this call)")
    azure.add_argument("--subscription", help="Azure subscription id")
    azure.add_argument("-g", "--resource-group", help="Azure resource group")
    azure.add_argument("-w", "--workspace-name", help="Azure ML workspace")


def default_overrides(args: argparse.Namespace) -> dict[str, str]:
    """`configure --defaults` values given as flags on this call."""
    pairs = {
        "subscription": getattr(args, "subscription", None),
        "group": getattr(args, "resource_group", None),
        "workspace": getattr(args, "workspace_name", None),
    }
    return {k: v for k, v in pairs.items() if v}


def backend_of(args: argparse.Namespace) -> str | None:
    if getattr(args, "local", False):
        if getattr(args, "backend", None) not in (None, "process"):
            raise InvalidInput("--local and --backend contradict each other")
        return "process"
    return getattr(args, "backend", None)


def existing_file(value: str, *, option: str) -> Path:
    path = Path(value)
    if not path.exists():
        raise InvalidInput(f"{option} {value}: no such file")
    if path.is_dir():
        raise InvalidInput(f"{option} {value}: is a directory, expected a file")
    return path


# Commands whose -n/--name and -e/--endpoint-name are endpoint and deployment names (assets have their own rules).
NAMED_GROUPS = ("online-endpoint", "online-deployment", "rollout")
# The attributes holding such names in those groups, with the flag that set them (for the message).
NAME_FLAGS = (
    ("name", "-n/--name"),
    ("endpoint_name", "-e/--endpoint-name"),
    ("deployment_name", "-d/--deployment-name"),
    ("to", "--to"),
)


def misnamed(args: argparse.Namespace) -> str | None:
    """A name no endpoint or deployment can have (`../etc`, `a/b`) is bad usage, said as such (exit 2), not
    looked up and reported as missing."""
    from endpointctl.core.spec.common import NAME_RULE, valid_name

    if getattr(args, "group", None) not in NAMED_GROUPS:
        return None
    for attr, flag in NAME_FLAGS:
        value = getattr(args, attr, None)
        if isinstance(value, str) and not valid_name(value):
            return f"{flag} {value!r}: not an endpoint or deployment name; it {NAME_RULE}"
    return None


def read_request_file(value: str) -> bytes:
    """`--request-file`: read up to what the gateway accepts, and parsed as JSON here, so a malformed request is
    refused with the parse error (exit 2) instead of travelling to the model and back as a 424."""
    import json

    from endpointctl.core.scoring import MAX_REQUEST_BYTES

    path = existing_file(value, option="--request-file")
    with path.open("rb") as handle:
        body = handle.read(MAX_REQUEST_BYTES + 1)
    if len(body) > MAX_REQUEST_BYTES:
        raise InvalidInput(
            f"--request-file {value}: larger than {MAX_REQUEST_BYTES // (1024 * 1024)} MiB, "
            "the most an endpoint accepts (413)"
        )
    try:
        json.loads(body)
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"--request-file {value}: not UTF-8 text (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"--request-file {value}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}"
        ) from None
    return body


def confirm(question: str) -> bool:
    """Ask on the terminal; without one there is nobody to say yes, so the answer is no."""
    if not sys.stdin.isatty():
        return False
    return input(f"{question} (y/n): ").strip().lower() in ("y", "yes")
