"""The TUI against the real process backend and the sample endpoint: every pane, one operator session.

The endpoint and green created from their files in the YAML editor (green's rollout watched to completion), an
invoke pinned to green served by green, traffic shifted with the keyboard, green's logs followed live and both
containers shown, blue scaled from the editor — all through real processes, nothing faked.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import TextArea

from endpointctl.backends.process.launcher import stop_agent
from endpointctl.backends.process.layout import ENV_CACHE_VARIABLE, Layout
from endpointctl.core.home import Home
from endpointctl.core.service import EndpointService
from endpointctl.core.spec import load_deployment
from endpointctl.tui.app import EndpointctlApp
from endpointctl.tui.screens.confirm import ConfirmScreen
from endpointctl.tui.screens.diff import DiffScreen
from endpointctl.tui.screens.prompt import PromptScreen
from endpointctl.tui.target import Target
from endpointctl.tui.widgets.editor_pane import EditorPane
from endpointctl.tui.widgets.log_view import LogView
from endpointctl.tui.widgets.navigator import Navigator
from endpointctl.tui.widgets.rollout import RolloutPanel
from endpointctl.tui.widgets.traffic_pane import TrafficPane
from endpointctl.tui.widgets.traffic_slider import TrafficSlider
from tests.backends.process.conftest import ENV_CACHE, scoring_processes
from tests.tui.conftest import ENDPOINT, SAMPLE
from tests.tui.helpers import main_screen, select, static_text, wait_for
from tests.tui.test_traffic import sliders

BACKEND = "process"
# Real processes start in seconds, not milliseconds: a rollout gets a minute on a loaded machine.
ROLLOUT_S = 90.0


@pytest.fixture
async def live(home: Home, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Home]:
    monkeypatch.setenv(ENV_CACHE_VARIABLE, str(ENV_CACHE))
    yield home
    await stop_agent(Layout(home))
    assert scoring_processes(home) == []


async def open_in_editor(pilot: Pilot[None], path: Path) -> EditorPane:
    """`e`, then ctrl+o and the path typed into the prompt, as an operator does."""
    pilot.app.screen.query_one(Navigator).focus()
    await pilot.press("e")
    editor = pilot.app.screen.query_one(EditorPane)
    editor.area.focus()
    await pilot.press("ctrl+o")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, PromptScreen), "the open-file prompt")
    await pilot.press(*str(path), "enter")
    await wait_for(pilot, lambda: editor.is_new and editor.parsed is not None, f"{path.name} parsed")
    return editor


async def apply_and_watch(pilot: Pilot[None], editor: EditorPane) -> RolloutPanel:
    editor.area.focus()
    await pilot.press("ctrl+s")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, DiffScreen), "the diff")
    await pilot.press("y")
    panel = pilot.app.screen.query_one(RolloutPanel)
    await wait_for(pilot, lambda: panel.outcome is not None, "the apply to finish", limit_s=ROLLOUT_S)
    return panel


async def invoke_green(home: Home) -> None:
    """Another client scores green directly, so its log gets a new line while the TUI follows."""
    service = EndpointService.open(home)
    try:
        body = (SAMPLE / "sample-request.json").read_bytes()
        result = await service.invoke(ENDPOINT, body, deployment="green", backend=BACKEND)
        assert result.status == 200
    finally:
        await service.close()


def _texts(view: LogView) -> list[str]:
    return [view.line_text(i) for i in range(view.line_count)]


async def test_operator_session_on_the_process_backend(live: Home) -> None:
    app = EndpointctlApp(lambda: EndpointService.open(live), poll_s=0.5)
    async with app.run_test(size=(120, 40)) as pilot:
        main = main_screen(pilot)
        # The first contact with every installed backend (the docker engine, the process agent): slow under load.
        await wait_for(
            pilot,
            lambda: BACKEND in main.navigator._by_key,
            "the process backend in the navigator",
            limit_s=30.0,
        )

        # Create the endpoint from its file, in the editor.
        editor = await open_in_editor(pilot, SAMPLE / "endpoint.yml")
        panel = await apply_and_watch(pilot, editor)
        assert panel.outcome == "succeeded", str(panel.render())
        await select(pilot, Target(BACKEND, ENDPOINT))

        # Blue arrives from another client (the CLI) with all the traffic; the navigator picks it up.
        service = EndpointService.open(live)
        try:
            blue_spec = load_deployment(SAMPLE / "blue-deployment.yml")
            await service.apply_deployment(blue_spec, backend=BACKEND, all_traffic=True)
        finally:
            await service.close()
        await select(pilot, Target(BACKEND, ENDPOINT, "blue"))

        # Create green from its file and watch its rollout to completion.
        editor = await open_in_editor(pilot, SAMPLE / "green-deployment.yml")
        panel = await apply_and_watch(pilot, editor)
        assert panel.outcome == "succeeded", str(panel.render())
        assert "rolled out" in str(panel.render())

        # Navigator: the real backend, the endpoint and both deployments can be selected.
        await select(pilot, Target(BACKEND, ENDPOINT, "green"))
        await select(pilot, Target(BACKEND, ENDPOINT))

        # Invoke pinned to green: served by green.
        pilot.app.screen.query_one(Navigator).focus()  # out of the YAML editor, where "i" is text
        await pilot.press("i")
        request = pilot.app.screen.query_one("#request", TextArea)
        await wait_for(pilot, lambda: request.text.strip() != "", "the prefilled sample request")
        assert json.loads(request.text) == json.loads((SAMPLE / "sample-request.json").read_text())
        request.focus()
        await pilot.press("ctrl+t", "ctrl+t")  # routed → blue → green
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "served by: green" in static_text(pilot, "#response"), "green's answer")
        assert "200" in static_text(pilot, "#response")

        # Traffic: blue 100 → 90, green 10 with the keyboard, applied after a confirm.
        await select(pilot, Target(BACKEND, ENDPOINT))
        pilot.app.screen.query_one(Navigator).focus()  # out of the request editor, where "t" is text
        await pilot.press("t")
        pane = pilot.app.screen.query_one(TrafficPane)
        await wait_for(pilot, lambda: sliders(pane) == {"blue": 100, "green": 0}, "the sliders")
        pane.query_one("#slider-blue", TrafficSlider).focus()
        await pilot.press("shift+left", "shift+left")
        assert sliders(pane) == {"blue": 90, "green": 10}
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen), "the confirmation")
        await pilot.press("y")
        service = EndpointService.open(live)
        try:
            for _ in range(200):
                endpoint = await service.get_endpoint(ENDPOINT, backend=BACKEND)
                if dict(endpoint.traffic) == {"blue": 90, "green": 10}:
                    break
                await pilot.pause(0.05)
            assert dict(endpoint.traffic) == {"blue": 90, "green": 10}
        finally:
            await service.close()

        # Logs of a real instance, then the storage initializer's.
        await select(pilot, Target(BACKEND, ENDPOINT, "green"))
        pilot.app.screen.query_one(Navigator).focus()
        await pilot.press("l")
        view = pilot.app.screen.query_one(LogView)
        await wait_for(
            pilot, lambda: any("POST /score 200" in t for t in _texts(view)), "green's request line"
        )
        # Follow: a request scored now shows up without a key pressed, and the view stays at the bottom.
        served = sum("POST /score 200" in t for t in _texts(view))
        await invoke_green(live)
        await wait_for(
            pilot, lambda: sum("POST /score 200" in t for t in _texts(view)) > served, "the followed new line"
        )
        assert view.follow
        await wait_for(pilot, lambda: view.scroll_y == view.max_scroll_y, "the view at its bottom")
        await pilot.press("c")
        await wait_for(pilot, lambda: any("storage initialised" in t for t in _texts(view)), "staging log")

        # YAML editor: instance_count 1 → 2, diff, confirm, watch the rollout finish.
        await select(pilot, Target(BACKEND, ENDPOINT, "blue"))
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
        assert "+instance_count: 2" in static_text(pilot, "#diff-text")
        await pilot.press("y")
        panel = pilot.app.screen.query_one(RolloutPanel)
        await wait_for(pilot, lambda: panel.outcome is not None, "the rollout to finish", limit_s=ROLLOUT_S)
        assert panel.outcome == "succeeded"

    service = EndpointService.open(live)
    try:
        blue = await service.get_deployment(ENDPOINT, "blue", backend=BACKEND)
    finally:
        await service.close()
    assert blue.spec.instance_count == 2 and blue.ready_instances == 2
