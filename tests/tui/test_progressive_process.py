"""The overview shows a progressive rollout run by the process backend's agent — steps, time left, baseline
beside candidate, each gate against its threshold — and the palette, the overview's keys (p, P, A) and
`:rollout` pause, resume and (after a confirmation) abort it. At 80×24."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest

from endpointctl.backends.process.launcher import stop_agent
from endpointctl.backends.process.layout import ENV_CACHE_VARIABLE, Layout
from endpointctl.core.home import Home
from endpointctl.core.progressive.gates import Gates
from endpointctl.core.service import EndpointService
from endpointctl.core.spec import load_deployment, load_endpoint
from endpointctl.tui.app import EndpointctlApp
from endpointctl.tui.screens.confirm import ConfirmScreen
from endpointctl.tui.target import Target
from tests.backends.process.conftest import ENV_CACHE, scoring_processes
from tests.tui.conftest import ENDPOINT, SAMPLE
from tests.tui.helpers import select, static_text, wait_for

BACKEND = "process"


@pytest.fixture
async def rolling(home: Home, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Home]:
    """blue (all traffic) and green, and a progressive rollout blue → green at its first step (10 min long)."""
    monkeypatch.setenv(ENV_CACHE_VARIABLE, str(ENV_CACHE))
    service = EndpointService.open(home)
    try:
        await service.create_endpoint(load_endpoint(SAMPLE / "endpoint.yml"), backend=BACKEND)
        await service.apply_deployment(
            load_deployment(SAMPLE / "blue-deployment.yml"), backend=BACKEND, all_traffic=True
        )
        await service.apply_deployment(load_deployment(SAMPLE / "green-deployment.yml"), backend=BACKEND)
        await service.start_progressive(
            ENDPOINT,
            to="green",
            steps=(25, 100),
            step_seconds=600,
            gates=Gates(min_requests=5),
            backend=BACKEND,
        )
    finally:
        await service.close()
    yield home
    await stop_agent(Layout(home))
    assert scoring_processes(home) == []


async def test_the_overview_shows_the_rollout_and_the_palette_steers_it(rolling: Home) -> None:
    app = EndpointctlApp(lambda: EndpointService.open(rolling), poll_s=0.5)
    async with app.run_test(size=(80, 24)) as pilot:
        await select(pilot, Target(BACKEND, ENDPOINT))
        await wait_for(
            pilot, lambda: "Progressive rollout" in static_text(pilot, "#ov-progressive"), "the rollout"
        )
        shown = static_text(pilot, "#ov-progressive")
        assert "blue → green" in shown and "Stepping" in shown and "s left in the step" in shown
        assert "25% → 100%" in shown
        assert "error rate" in shown and "(needs ≤ 1%)" in shown and "requests 0 (needs ≥ 5)" in shown

        # Baseline beside candidate over the step's window, as the gates judge it.
        await wait_for(
            pilot,
            lambda: "candidate" in static_text(pilot, "#ov-progressive"),
            "baseline and candidate side by side",
        )
        shown = static_text(pilot, "#ov-progressive")
        assert re.search(r"blue\s+baseline\s+\d+\.\d/s\s+err\s+\S+\s+p50 \S+\s+p99 \S+ ms", shown), shown
        assert re.search(r"green\s+candidate\s+\d+\.\d/s", shown), shown
        assert "p pause · P promote · A abort" in shown

        await pilot.press("ctrl+p", *"pause the rollout", "enter")
        await wait_for(pilot, lambda: "Paused" in static_text(pilot, "#ov-progressive"), "paused")

        # The overview's own keys: p resumes (and pauses), A aborts after a confirmation.
        await pilot.press("o")
        await pilot.press("p")
        await wait_for(pilot, lambda: "Stepping" in static_text(pilot, "#ov-progressive"), "resumed by p")
        await pilot.press("p")
        await wait_for(pilot, lambda: "Paused" in static_text(pilot, "#ov-progressive"), "paused by p")
        await pilot.press(":", *"rollout resume", "enter")
        await wait_for(pilot, lambda: "Stepping" in static_text(pilot, "#ov-progressive"), ":rollout resume")

        await pilot.press("o", "A")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen), "the confirmation")
        await pilot.press("y")
        await wait_for(pilot, lambda: "Aborted" in static_text(pilot, "#ov-progressive"), "aborted")
        await wait_for(
            pilot, lambda: "100%" in static_text(pilot, "#ov-traffic").split("\n")[0], "blue at 100%"
        )
