"""How long a rolling update of 5 process-backend instances takes, and the sample's environment cold build.

`python -m bench.rollout`: in a scratch data directory, build the sample environment from nothing (uv's package
cache cold and warm), deploy blue with 5 instances, then time `online-deployment update` (a change that
needs new processes) until every instance runs the new revision. Prints one table.
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

from endpointctl.backends.process.environments import EnvironmentBuilder
from endpointctl.backends.process.launcher import stop_agent
from endpointctl.backends.process.layout import ENV_CACHE_VARIABLE, Layout
from endpointctl.core.environments.conda import parse_conda_file
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


async def rollouts(home: Home, rounds: int) -> tuple[list[float], float]:
    service = EndpointService.open(home)
    try:
        await service.create_endpoint(load_endpoint(SAMPLE / "endpoint.yml"), backend="process")
        started = time.perf_counter()
        await service.apply_deployment(
            load_deployment(SAMPLE / "blue-deployment.yml", ["instance_count=5"]),
            backend="process",
            all_traffic=True,
        )
        create_s = time.perf_counter() - started
        times = []
        for number in range(rounds):
            spec = load_deployment(
                SAMPLE / "blue-deployment.yml", ["instance_count=5", f"environment_variables.ROUND={number}"]
            )
            started = time.perf_counter()
            view = await service.apply_deployment(spec, backend="process")
            times.append(time.perf_counter() - started)
            view = await service.get_deployment("my-endpoint", "blue", backend="process")
            assert {i.revision for i in view.instances} == {view.revision} and len(view.instances) == 5
        return times, create_s
    finally:
        await service.close()
        await stop_agent(Layout(home))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-rollout-") as scratch_dir:
        scratch = Path(scratch_dir)
        cold = cold_build(scratch, cold_uv_cache=True)
        warm = cold_build(scratch, cold_uv_cache=False)
        home = Home(scratch / "home").ensure()
        os.environ[HOME_ENV] = str(home.root)
        os.environ[ENV_CACHE_VARIABLE] = str(
            scratch / "envs-warm"
        )  # the rollout runs with the environment cached
        times, create_s = asyncio.run(rollouts(home, args.rounds))
    median = statistics.median(times)
    print(
        f"\nprocess backend rollout — {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(f"load average at the end: {' / '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print("| metric | seconds |")
    print("|---|---:|")
    print(f"| sample environment build, empty env cache, cold uv cache | {cold:.1f} |")
    print(f"| sample environment build, empty env cache, warm uv cache | {warm:.1f} |")
    print(f"| create blue with 5 instances (environment cached) | {create_s:.1f} |")
    print(
        f"| rolling update of 5 instances, median of {len(times)} ({', '.join(f'{t:.1f}' for t in times)}) | {median:.1f} |"
    )
    verdict = "meets" if median <= TARGET_S else "misses"
    print(f"\nrolling update {verdict} the ≤ {TARGET_S:.0f} s target ({median:.1f} s)")


if __name__ == "__main__":
    main()
