"""How long a rolling update of 5 instances takes on the process and Docker backends, side by side.

`python -m bench.rollout`: in a scratch data directory, build the sample environment from nothing (uv's package
cache cold and warm), then per backend deploy blue with 5 instances and time `online-deployment update` (a change
that needs new processes or containers) until every instance runs the new revision. Prints one table, with the
Docker figures as ratios to the process backend's. `--backends process` skips Docker (no engine needed).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

from endpointctl.backends.common.environments.conda import parse_conda_file
from endpointctl.backends.docker.layout import Layout as DockerLayout
from endpointctl.backends.local.launcher import stop_agent
from endpointctl.backends.local.layout import Layout
from endpointctl.backends.process.environments import EnvironmentBuilder
from endpointctl.backends.process.layout import ENV_CACHE_VARIABLE
from endpointctl.backends.process.layout import Layout as ProcessLayout
from endpointctl.core.home import HOME_ENV, Home
from endpointctl.core.service import EndpointService
from endpointctl.core.spec import load_deployment, load_endpoint

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "assets" / "samples" / "endpoints" / "online" / "managed" / "sample"
CONDA = REPO / "assets" / "samples" / "endpoints" / "online" / "model-1" / "environment" / "conda.yaml"
TARGET_S = 5.0


def cold_build(scratch: Path, *, cold_uv_cache: bool) -> float:
    if cold_uv_cache:
        os.environ["UV_CACHE_DIR"] = str(scratch / "uv-cache")
    try:
        started = time.perf_counter()
        EnvironmentBuilder(scratch / ("envs-cold" if cold_uv_cache else "envs-warm")).ensure_sync(
            parse_conda_file(CONDA), log=scratch / "build.log"
        )
        return time.perf_counter() - started
    finally:
        os.environ.pop("UV_CACHE_DIR", None)


LAYOUTS: dict[str, type[ProcessLayout] | type[DockerLayout]] = {
    "process": ProcessLayout,
    "docker": DockerLayout,
}


async def rollouts(home: Home, backend: str, rounds: int) -> tuple[list[float], float]:
    layout: Layout = LAYOUTS[backend](home)
    service = EndpointService.open(home)
    try:
        await service.create_endpoint(load_endpoint(SAMPLE / "endpoint.yml"), backend=backend)
        started = time.perf_counter()
        await service.apply_deployment(
            load_deployment(SAMPLE / "blue-deployment.yml", ["instance_count=5"]),
            backend=backend,
            all_traffic=True,
        )
        create_s = time.perf_counter() - started
        times = []
        for number in range(rounds):
            spec = load_deployment(
                SAMPLE / "blue-deployment.yml", ["instance_count=5", f"environment_variables.ROUND={number}"]
            )
            started = time.perf_counter()
            view = await service.apply_deployment(spec, backend=backend)
            times.append(time.perf_counter() - started)
            view = await service.get_deployment("my-endpoint", "blue", backend=backend)
            assert {i.revision for i in view.instances} == {view.revision} and len(view.instances) == 5
        await service.delete_endpoint("my-endpoint", backend=backend)
        return times, create_s
    finally:
        await service.close()
        await stop_agent(layout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--backends", default="process,docker", help="comma-separated, process first")
    args = parser.parse_args()
    backends = args.backends.split(",")
    results: dict[str, tuple[list[float], float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-rollout-") as scratch_dir:
        scratch = Path(scratch_dir)
        cold = cold_build(scratch, cold_uv_cache=True)
        warm = cold_build(scratch, cold_uv_cache=False)
        # The rollouts run with the environment cached (for Docker: the image, built by the first create).
        os.environ[ENV_CACHE_VARIABLE] = str(scratch / "envs-warm")
        for backend in backends:
            home = Home(scratch / f"home-{backend}").ensure()
            os.environ[HOME_ENV] = str(home.root)
            results[backend] = asyncio.run(rollouts(home, backend, args.rounds))
    print(f"\nrollout — {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"load average at the end: {' / '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"| metric | {' | '.join(backends)} |")
    print(f"|---|{'---:|' * len(backends)}")
    print(f"| sample environment build (uv venv), cold uv cache | {cold:.1f} s |{' |' * (len(backends) - 1)}")
    print(f"| sample environment build (uv venv), warm uv cache | {warm:.1f} s |{' |' * (len(backends) - 1)}")
    base_times, base_create = results[backends[0]]
    base_median = statistics.median(base_times)

    def cell(value: float, base: float, first: bool) -> str:
        return f"{value:.1f} s" if first else f"{value:.1f} s ({value / base:.2f}×)"

    creates = [cell(results[b][1], base_create, i == 0) for i, b in enumerate(backends)]
    print(f"| create blue with 5 instances (environment cached) | {' | '.join(creates)} |")
    medians = [cell(statistics.median(results[b][0]), base_median, i == 0) for i, b in enumerate(backends)]
    print(f"| rolling update of 5 instances, median of {args.rounds} | {' | '.join(medians)} |")
    for backend in backends:
        times = results[backend][0]
        print(f"{backend}: rounds {', '.join(f'{t:.1f}' for t in times)} s")
    verdict = "meets" if base_median <= TARGET_S else "misses"
    print(f"\n{backends[0]} rolling update {verdict} the ≤ {TARGET_S:.0f} s target ({base_median:.1f} s)")


if __name__ == "__main__":
    main()
