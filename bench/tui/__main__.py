"""`python -m bench.tui`: measures the TUI against the issue's targets and prints a Markdown section.

Targets: first frame ≤ 1.5 s; navigator refresh (1,000 endpoints × 3 deployments) ≤ 50 ms; 100,000 log lines ≤ 2 s
with memory bounded by the ring.
"""

from __future__ import annotations

import asyncio
import os
import shutil
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
from endpointctl.tui.model.snapshot import BackendEntry, EndpointEntry, Snapshot
from endpointctl.tui.widgets.log_view import LogView
from endpointctl.tui.widgets.navigator import Navigator

ENDPOINTS = 1000
DEPLOYMENTS = ("blue", "green", "red")
REFRESHES = 10
LOG_LINES = 100_000
LOG_BATCH = 1000  # the logs pane flushes its queue in batches like this


def cold_start(*, bytecode_cache: bool, runs: int = 3) -> float:
    """Median wall time from `exec` to the first frame, in a fresh process.

    The process runs on a copy of the project without `__pycache__`, so the result does not depend on which
    caches earlier runs left behind. Without a cache every project module compiles from source, as on this
    machine (PYTHONDONTWRITEBYTECODE=1) or after an upgrade; installed packages keep the bytecode pip compiled.
    With a cache, a first unmeasured run writes it.
    """
    root = Path(__file__).resolve().parents[2]
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "src"
        for package in ("endpointctl", "bench"):
            shutil.copytree(root / package, copy / package, ignore=shutil.ignore_patterns("__pycache__"))
        env = dict(os.environ)
        if bytecode_cache:
            env.pop("PYTHONDONTWRITEBYTECODE", None)
        else:
            env["PYTHONDONTWRITEBYTECODE"] = "1"
        out = Path(tmp) / "frame"
        command = [sys.executable, "-m", "bench.tui.first_frame", str(out), str(Path(tmp) / "home")]
        if bytecode_cache:
            subprocess.run(command, check=True, env=env, cwd=copy)
        times = []
        for _ in range(runs):
            start = time.time()
            subprocess.run(command, check=True, env=env, cwd=copy)
            times.append(float(out.read_text()) - start)
        return statistics.median(times)


def model(tick: int) -> Snapshot:
    caps = Capabilities(frozenset(Capability))
    entries = []
    for i in range(ENDPOINTS):
        # Every tick shifts the traffic of a tenth of the endpoints, so labels really change.
        shift = (i + tick) % 10 == 0
        traffic = {"blue": 90 if shift else 100, "green": 10 if shift else 0, "red": 0}
        spec = EndpointSpec.model_construct(
            name=f"ep-{i:04d}", auth_mode="key", traffic=traffic, mirror_traffic={}
        )
        endpoint = EndpointView("bench", spec, ProvisioningState.SUCCEEDED)
        deployments = tuple(
            DeploymentView(
                "bench",
                DeploymentSpec.model_construct(name=d, endpoint_name=spec.name, instance_count=1),
                ProvisioningState.UPDATING if shift and d == "green" else ProvisioningState.SUCCEEDED,
            )
            for d in DEPLOYMENTS
        )
        entries.append(EndpointEntry(endpoint, deployments))
    return Snapshot([BackendEntry(BackendStatus("bench", True, caps, context="bench"), tuple(entries))])


class NavigatorApp(App[None]):
    def compose(self) -> ComposeResult:
        yield Navigator(id="navigator")


def frame_drawn(future: asyncio.Future[float]) -> None:
    future.set_result(time.perf_counter())


async def navigator_refresh() -> tuple[list[float], list[float]]:
    """Per refresh: wall time from the new model to the frame that shows it, and the CPU time spent meanwhile."""
    app = NavigatorApp()
    wall: list[float] = []
    cpu: list[float] = []
    async with app.run_test(size=(160, 48)) as pilot:
        nav = app.query_one(Navigator)
        nav.update_model(model(0))
        await pilot.pause()
        loop = asyncio.get_running_loop()
        for tick in range(1, REFRESHES + 1):
            fresh = model(tick)  # building the views is the backend's cost, not the navigator's
            await pilot.pause()  # start from an idle app
            framed: asyncio.Future[float] = loop.create_future()
            start, start_cpu = time.perf_counter(), time.process_time()
            nav.update_model(fresh)
            # Runs right after the compositor has drawn the update: the frame the user sees (not Pilot's idle
            # detection, which sleeps in 20 ms steps and would measure itself).
            app.screen.call_after_refresh(frame_drawn, framed)
            wall.append(await framed - start)
            cpu.append(time.process_time() - start_cpu)
    return wall, cpu


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
    first = cold_start(bytecode_cache=False)
    first_cached = cold_start(bytecode_cache=True)
    refresh, refresh_cpu = asyncio.run(navigator_refresh())
    flood, peak, kept = asyncio.run(log_flood())
    print("## TUI\n")
    print(
        f"Measured {time.strftime('%Y-%m-%d')} with `python -m bench.tui` "
        f"(Python {sys.version.split()[0]}, headless Textual, {os.cpu_count()} CPUs; load average at the end "
        f"{' / '.join(f'{x:.1f}' for x in os.getloadavg())} over 1/5/15 min).\n"
    )
    print("| measurement | result | target |")
    print("| --- | --- | --- |")
    print(
        f"| cold start to first frame (80×24, subprocess), no bytecode cache | median {first:.2f} s | ≤ 1.5 s |"
    )
    print(f"| cold start to first frame, bytecode cache warm | median {first_cached:.2f} s | ≤ 1.5 s |")
    print(
        f"| navigator refresh, {ENDPOINTS:,} endpoints × {len(DEPLOYMENTS)} deployments (update + frame) | "
        f"median {statistics.median(refresh) * 1000:.0f} ms, max {max(refresh) * 1000:.0f} ms "
        f"(CPU median {statistics.median(refresh_cpu) * 1000:.0f} ms) | ≤ 50 ms |"
    )
    print(
        f"| {LOG_LINES:,} log lines ingested (batches of {LOG_BATCH}) | {flood:.2f} s, "
        f"peak +{peak / 1e6:.1f} MB traced, ring keeps {kept:,} | ≤ 2 s, bounded |"
    )


if __name__ == "__main__":
    main()
