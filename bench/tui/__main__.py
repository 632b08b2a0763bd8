"""`python -m bench.tui`: measures the TUI against the issue's targets and prints a Markdown section.

Targets: first frame ≤ 1.5 s; navigator refresh (1,000 endpoints × 3 deployments) ≤ 50 ms; 100,000 log lines ≤ 2 s
with memory bounded by the ring.
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from textual.app import App, ComposeResult

from endpointctl.core.capabilities import Capabilities, Capability
from endpointctl.core.spec import DeploymentSpec, EndpointSpec
from endpointctl.core.views import BackendStatus, DeploymentView, EndpointView, LogLine, ProvisioningState
from endpointctl.tui.widgets.log_view import LogView
from endpointctl.tui.widgets.navigator import BackendEntry, EndpointEntry, Navigator, NavigatorModel

ENDPOINTS = 1000
DEPLOYMENTS = ("blue", "green", "red")
REFRESHES = 10
LOG_LINES = 100_000
LOG_BATCH = 1000  # the logs pane flushes its queue in batches like this


def cold_start() -> float:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "frame"
        start = time.time()
        subprocess.run(
            [sys.executable, "-m", "bench.tui.first_frame", str(out), str(Path(tmp) / "home")], check=True
        )
        return float(out.read_text()) - start


def model(tick: int) -> NavigatorModel:
    caps = Capabilities(frozenset(Capability))
    entries = []
    for i in range(ENDPOINTS):
        # Every tick shifts the traffic of a tenth of the endpoints, so labels really change.
        shift = (i + tick) % 10 == 0
        traffic = {"blue": 90 if shift else 100, "green": 10 if shift else 0, "red": 0}
        spec = EndpointSpec.model_construct(
            name=f"ep-{i:04d}", auth_mode="key", traffic=traffic, mirror_traffic={}
        )
        endpoint = EndpointView("bench", spec, ProvisioningState.SUCCEEDED, traffic=traffic)
        deployments = tuple(
            DeploymentView(
                "bench",
                DeploymentSpec.model_construct(name=d, endpoint_name=spec.name, instance_count=1),
                ProvisioningState.UPDATING if shift and d == "green" else ProvisioningState.SUCCEEDED,
            )
            for d in DEPLOYMENTS
        )
        entries.append(EndpointEntry(endpoint, deployments))
    return NavigatorModel([BackendEntry(BackendStatus("bench", True, caps, context="bench"), tuple(entries))])


class NavigatorApp(App[None]):
    def compose(self) -> ComposeResult:
        yield Navigator(id="navigator")


async def navigator_refresh() -> list[float]:
    app = NavigatorApp()
    times: list[float] = []
    async with app.run_test(size=(160, 48)) as pilot:
        nav = app.query_one(Navigator)
        nav.update_model(model(0))
        await pilot.pause()
        for tick in range(1, REFRESHES + 1):
            fresh = model(tick)  # building the views is the backend's cost, not the navigator's
            start = time.perf_counter()
            nav.update_model(fresh)
            await pilot.pause()  # the frame that shows the refresh
            times.append(time.perf_counter() - start)
    return times


class LogApp(App[None]):
    def compose(self) -> ComposeResult:
        yield LogView(50_000)


async def log_flood() -> tuple[float, int, int]:
    lines = [
        LogLine(f"2026-11-25T10:00:00Z INFO request {i} served in 12 ms by blue-0", instance="blue-0")
        for i in range(LOG_LINES)
    ]
    app = LogApp()
    async with app.run_test(size=(160, 48)) as pilot:
        view = app.query_one(LogView)
        tracemalloc.start()
        start = time.perf_counter()
        for offset in range(0, LOG_LINES, LOG_BATCH):
            view.append(lines[offset : offset + LOG_BATCH])
        await pilot.pause()
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return elapsed, peak, len(view.ring)


def main() -> None:
    first = cold_start()
    refresh = asyncio.run(navigator_refresh())
    flood, peak, kept = asyncio.run(log_flood())
    print("## TUI\n")
    print(
        f"Measured 2026-11-25 with `python -m bench.tui` (Python {sys.version.split()[0]}, headless Textual).\n"
    )
    print("| measurement | result | target |")
    print("| --- | --- | --- |")
    print(f"| cold start to first frame (80×24, subprocess) | {first:.2f} s | ≤ 1.5 s |")
    print(
        f"| navigator refresh, {ENDPOINTS:,} endpoints × {len(DEPLOYMENTS)} deployments (update + frame) | "
        f"median {statistics.median(refresh) * 1000:.0f} ms, max {max(refresh) * 1000:.0f} ms | ≤ 50 ms |"
    )
    print(
        f"| {LOG_LINES:,} log lines ingested (batches of {LOG_BATCH}) | {flood:.2f} s, "
        f"peak +{peak / 1e6:.1f} MB traced, ring keeps {kept:,} | ≤ 2 s, bounded |"
    )


if __name__ == "__main__":
    main()
