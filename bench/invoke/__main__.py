"""What one invoke costs the CLI and the TUI's invoke panel, next to the HTTP round trip it wraps.

`python -m bench.invoke`: in a scratch data directory, deploy the sample blue deployment on the process
backend, then send the sample request N times in a row, three ways, in one run:

- raw: one keep-alive httpx client posting to the scoring URI (the gateway and the scoring host only);
- façade: `EndpointService.invoke`, which `endpointctl online-endpoint invoke` and the invoke panel use;
- façade as before 2026-11-29: the same, with the fresh TLS context per client httpx builds by default
  (the CA bundle loaded on every invoke), kept here so the difference stays measured.

Prints medians and p99s, and each as a ratio to the raw round trip.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from unittest import mock

import httpx

from endpointctl.backends.common import scoring_client
from endpointctl.backends.local.launcher import stop_agent
from endpointctl.backends.process.layout import Layout as ProcessLayout
from endpointctl.core.home import HOME_ENV, Home
from endpointctl.core.service import EndpointService
from endpointctl.core.spec import load_deployment, load_endpoint

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "assets" / "samples" / "endpoints" / "online" / "managed" / "sample"
ENDPOINT = "my-endpoint"


async def timed(send: Callable[[], Awaitable[int]], count: int) -> list[float]:
    for _ in range(5):
        await send()  # connections, imports and caches warm before the clock starts
    out = []
    for _ in range(count):
        started = time.perf_counter()
        status = await send()
        out.append((time.perf_counter() - started) * 1000)
        assert status == 200, f"invoke answered {status}"
    return out


async def measure(home: Home, count: int) -> dict[str, list[float]]:
    service = EndpointService.open(home)
    try:
        await service.create_endpoint(load_endpoint(SAMPLE / "endpoint.yml"), backend="process")
        await service.apply_deployment(
            load_deployment(SAMPLE / "blue-deployment.yml"), backend="process", all_traffic=True
        )
        body = (SAMPLE / "sample-request.json").read_bytes()
        view = await service.get_endpoint(ENDPOINT, backend="process")
        key = (await service.get_credentials(ENDPOINT, backend="process")).bearer()
        assert view.scoring_uri is not None

        async def facade() -> int:
            return (await service.invoke(ENDPOINT, body, backend="process")).status

        results: dict[str, list[float]] = {}
        async with httpx.AsyncClient() as client:
            headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

            async def raw() -> int:
                return (await client.post(view.scoring_uri or "", content=body, headers=headers)).status_code

            results["raw HTTP (one keep-alive client)"] = await timed(raw, count)
        results["façade invoke (shared TLS context)"] = await timed(facade, count)
        # httpx's default: a context built, and the CA bundle read, for every client.
        with mock.patch.object(scoring_client, "client_ssl_context", httpx.create_ssl_context):
            results["façade invoke (TLS context per client, before)"] = await timed(facade, count)
        await service.delete_endpoint(ENDPOINT, backend="process")
        return results
    finally:
        await service.close()
        await stop_agent(ProcessLayout(home))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-invoke-") as scratch:
        home = Home(Path(scratch) / "home").ensure()
        os.environ[HOME_ENV] = str(home.root)
        results = asyncio.run(measure(home, args.count))
    print(f"\ninvoke — {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(
        f"{args.count} sequential requests each; load average {' / '.join(f'{x:.1f}' for x in os.getloadavg())}"
    )
    base = statistics.median(next(iter(results.values())))
    print("| path | median | p99 | median vs raw |")
    print("|---|---:|---:|---:|")
    for name, times in results.items():
        ordered = sorted(times)
        median = statistics.median(ordered)
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        print(f"| {name} | {median:.1f} ms | {p99:.1f} ms | {median / base:.2f}× |")


if __name__ == "__main__":
    main()
