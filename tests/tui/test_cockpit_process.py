"""The cockpit on the real process backend: what a pane shows always belongs to its target.

Blue and green run as real scoring hosts; rollouts are started by another client (as the CLI in another terminal
would) while the TUI watches.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from endpointctl.backends.process.launcher import stop_agent
from endpointctl.backends.process.layout import ENV_CACHE_VARIABLE, Layout
from endpointctl.core.home import Home
from endpointctl.core.service import EndpointService
from endpointctl.core.spec import load_deployment, load_endpoint
from endpointctl.tui.app import EndpointctlApp
from endpointctl.tui.screens.diff import DiffScreen
from endpointctl.tui.target import Target
from endpointctl.tui.widgets.editor_pane import EditorPane
from endpointctl.tui.widgets.log_view import LogView
from endpointctl.tui.widgets.logs_pane import LogsPane
from endpointctl.tui.widgets.navigator import Navigator
from endpointctl.tui.widgets.rollout import RolloutPanel
from tests.backends.process.conftest import ENV_CACHE, scoring_processes
from tests.tui.conftest import ENDPOINT, SAMPLE
from tests.tui.helpers import select, wait_for

BACKEND = "process"
ROLLOUT_S = 90.0


@pytest.fixture
async def two_deployments(home: Home, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Home]:
    """The sample endpoint with blue (all traffic) and green (none), both real scoring hosts."""
    monkeypatch.setenv(ENV_CACHE_VARIABLE, str(ENV_CACHE))
    service = EndpointService.open(home)
    try:
        await service.create_endpoint(load_endpoint(SAMPLE / "endpoint.yml"), backend=BACKEND)
        await service.apply_deployment(
            load_deployment(SAMPLE / "blue-deployment.yml"), backend=BACKEND, all_traffic=True
        )
        await service.apply_deployment(load_deployment(SAMPLE / "green-deployment.yml"), backend=BACKEND)
    finally:
        await service.close()
    yield home
    await stop_agent(Layout(home))
    assert scoring_processes(home) == []


async def instances_of(home: Home, deployment: str) -> set[str]:
    service = EndpointService.open(home)
    try:
        view = await service.get_deployment(ENDPOINT, deployment, backend=BACKEND)
    finally:
        await service.close()
    return {i.id for i in view.instances}


async def roll_out_blue(home: Home, instance_count: int) -> None:
    """Another client (the CLI in another terminal) scales blue: a rollout with new instances."""
    service = EndpointService.open(home)
    try:
        spec = load_deployment(SAMPLE / "blue-deployment.yml").model_copy(
            update={"instance_count": instance_count}
        )
        await service.apply_deployment(spec, backend=BACKEND)
    finally:
        await service.close()


async def test_logs_switch_during_a_rollout_shows_no_foreign_line(two_deployments: Home) -> None:
    home = two_deployments
    green_instances = await instances_of(home, "green")
    app = EndpointctlApp(lambda: EndpointService.open(home), poll_s=0.5)
    async with app.run_test(size=(120, 40)) as pilot:
        await select(pilot, Target(BACKEND, ENDPOINT, "blue"))
        pilot.app.screen.query_one(Navigator).focus()
        await pilot.press("l")
        pane = pilot.app.screen.query_one(LogsPane)
        view = pilot.app.screen.query_one(LogView)
        await wait_for(pilot, lambda: len(view.ring) > 0, "blue's log lines", limit_s=20)

        # Roll blue out from the editor (the logs pane is hidden meanwhile), then `:logs green` while it runs.
        pilot.app.screen.query_one(Navigator).focus()
        await pilot.press("e")
        editor = pilot.app.screen.query_one(EditorPane)
        await wait_for(pilot, lambda: not editor.is_new and "name: blue" in editor.area.text, "blue's spec")
        editor.area.load_text(editor.area.text.replace("instance_count: 1", "instance_count: 2"))
        await wait_for(
            pilot, lambda: editor.parsed is not None and "instance_count: 2" in editor.area.text, "valid"
        )
        editor.area.focus()
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, DiffScreen), "the diff")
        await pilot.press("y")
        panel = pilot.app.screen.query_one(RolloutPanel)
        await asyncio.sleep(1.0)
        await pilot.press("escape")
        await pilot.press("colon", *"logs green", "enter")
        await wait_for(pilot, lambda: pane.deployment == "green", "the logs pane on green")
        # The editor follows the selection too: blue's rollout is not left on screen under green.
        await wait_for(
            pilot, lambda: panel.key != ("process", ENDPOINT, "blue"), "the rollout view to leave blue"
        )
        tracker = pilot.app.tui_context.model.rollouts
        await wait_for(
            pilot,
            lambda: (t := tracker.timeline((BACKEND, ENDPOINT, "blue"))) is not None and not t.running,
            "blue's rollout to end",
            limit_s=ROLLOUT_S,
        )
        assert not panel.display or "blue" not in str(panel.render())
        await pilot.pause(2.0)
        foreign = [line for line in view.ring if line.instance not in green_instances]
        assert not foreign, f"green's pane shows lines of {sorted({x.instance for x in foreign})}"
        assert len(view.ring) > 0
