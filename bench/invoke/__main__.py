"""What one invoke costs the CLI and the TUI's invoke panel, next to the HTTP round trip it wraps.

`python -m bench.invoke`: in a scratch data directory, deploy the sample blue deployment on the process
backend, then send the sample request N times in a row, three ways, in one run:

- raw: one keep-alive httpx client posting to the scoring URI (the gateway and the scoring host only);
- façade: `EndpointService.invoke`, which the invoke panel and Send N use: the endpoint's scoring session,
  resolved once, one pooled keep-alive client;
- façade as before 2026-12-04: every invoke resolved the endpoint again (endpoint read, agent ping,
  credentials) and built a new client, i.e. a fresh scoring session per request, kept here so the
  difference stays measured.

Then "Send N" as the invoke panel runs it (N requests, as many at a time as the serving instances take),
with the session and with the per-request setup. Prints medians and p99s, each as a ratio to raw HTTP.
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

import httpx

from endpointctl.backends.local.launcher import stop_agent
from endpointctl.backends.process.layout import Layout as ProcessLayout
from endpointctl.core.capacity import concurrent_capacity
from endpointctl.core.home import HOME_ENV, Home
from endpointctl.core.scoring import ScoringSession
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


async def send_many(send: Callable[[], Awaitable[int]], count: int, parallel: int) -> float:
    """Wall time of `count` sends, `parallel` at a time, as the invoke panel's Send N runs them."""
    gate = asyncio.Semaphore(parallel)

    async def one() -> int:
        async with gate:
            return await send()

    started = time.perf_counter()
    statuses = await asyncio.gather(*(one() for _ in range(count)))
    assert set(statuses) == {200}, f"Send N answered {sorted(set(statuses))}"
    return (time.perf_counter() - started) * 1000


async def measure(home: Home, count: int, send_n: int) -> dict[str, list[float]]:
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

        backend = service.backend("process")

        async def per_request_setup() -> int:
            session = ScoringSession(lambda: backend.scoring_target(ENDPOINT))
            try:
                return (await session.invoke(body)).status
            finally:
                await session.close()

        results: dict[str, list[float]] = {}
        async with httpx.AsyncClient() as client:
            headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

            async def raw() -> int:
                return (await client.post(view.scoring_uri or "", content=body, headers=headers)).status_code

            results["raw HTTP (one keep-alive client)"] = await timed(raw, count)
        results["façade invoke (scoring session)"] = await timed(facade, count)
        results["façade invoke (setup per request, before)"] = await timed(per_request_setup, count)
        deployments = await service.list_deployments(ENDPOINT, backend="process")
        current = await service.get_endpoint(ENDPOINT, backend="process")
        parallel = max(1, min(8, concurrent_capacity(deployments, current.traffic, pinned=None)))
        for name, send in (("session", facade), ("setup per request, before", per_request_setup)):
            results[f"Send N {send_n} at {parallel} at a time ({name}), whole run"] = [
                await send_many(send, send_n, parallel)
            ]
        await service.delete_endpoint(ENDPOINT, backend="process")
        return results
    finally:
        await service.close()
        await stop_agent(ProcessLayout(home))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--send-n", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-invoke-") as scratch:
        home = Home(Path(scratch) / "home").ensure()
        os.environ[HOME_ENV] = str(home.root)
        results = asyncio.run(measure(home, args.count, args.send_n))
    print(f"\ninvoke — {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(
        f"{args.count} sequential requests each; load average {' / '.join(f'{x:.1f}' for x in os.getloadavg())}"
    )
    sequential = {k: v for k, v in results.items() if not k.startswith("Send N")}
    send_n = {k: v[0] for k, v in results.items() if k.startswith("Send N")}
    base = statistics.median(next(iter(sequential.values())))
    print("| path | median | p99 | median vs raw |")
    print("|---|---:|---:|---:|")
    for name, times in sequential.items():
        ordered = sorted(times)
        median = statistics.median(ordered)
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        print(f"| {name} | {median:.1f} ms | {p99:.1f} ms | {median / base:.2f}× |")
    fastest = min(send_n.values())
    print("\n| Send N | whole run | vs the session |")
    print("|---|---:|---:|")
    for name, total in send_n.items():
        print(f"| {name.removeprefix('Send N ')} | {total:.0f} ms | {total / fastest:.2f}× |")


if __name__ == "__main__":
    main()
