"""`endpointctl quickstart`: deploy the bundled sample endpoint (blue 100%, green 0%) unless it exists."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import endpointctl
from endpointctl.cli.common import CliContext, add_backend_arg, add_output_args, backend_of
from endpointctl.core.errors import InvalidInput, NotFound
from endpointctl.core.spec import load_deployment, load_endpoint

# In a source checkout (where `make run` works) the samples sit next to the package.
DEFAULT_SAMPLES = (
    Path(endpointctl.__file__).resolve().parents[1] / "assets/samples/endpoints/online/managed/sample"
)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], *, backends: bool) -> None:
    if not backends:
        return
    p = sub.add_parser(
        "quickstart",
        help="deploy the sample endpoint (blue 100%%, green 0%%) if it is not there yet",
        description="Creates my-endpoint from the samples with blue at 100%% and green at 0%%; idempotent.",
    )
    p.add_argument(
        "--samples",
        type=Path,
        default=DEFAULT_SAMPLES,
        help="folder with endpoint.yml and the two deployments",
    )
    add_backend_arg(p)
    add_output_args(p, default="none")
    p.set_defaults(handler=_quickstart)


async def _quickstart(args: argparse.Namespace, ctx: CliContext) -> Any:
    samples: Path = args.samples
    if not (samples / "endpoint.yml").is_file():
        raise InvalidInput(
            f"--samples {samples}: no endpoint.yml there (run from a source checkout or pass --samples)"
        )
    backend = backend_of(args)
    service = ctx.service
    endpoint = load_endpoint(samples / "endpoint.yml")
    try:
        await service.get_endpoint(endpoint.name, backend=backend)
    except NotFound:
        await service.create_endpoint(endpoint, backend=backend)
    existing = {d.name for d in await service.list_deployments(endpoint.name, backend=backend)}
    for file, all_traffic in (("blue-deployment.yml", True), ("green-deployment.yml", False)):
        spec = load_deployment(samples / file)
        if spec.name in existing:
            continue
        with ctx.progress(f"quickstart {spec.endpoint_name}/{spec.name}") as progress:
            await service.apply_deployment(spec, backend=backend, all_traffic=all_traffic, progress=progress)
    return (await service.get_endpoint(endpoint.name, backend=backend)).to_show()
