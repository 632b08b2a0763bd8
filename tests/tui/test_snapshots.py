"""SVG snapshots of every pane at 80×24 and 160×48, on a deterministic fixture (frozen clock, test backend).

Update after an intended visual change with `pytest tests/tui/test_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, TextArea

from endpointctl.core import scoring
from endpointctl.core.home import Home
from endpointctl.tui.app import EndpointctlApp
from endpointctl.tui.target import Target
from endpointctl.tui.widgets.editor_pane import EditorPane
from endpointctl.tui.widgets.invoke_pane import InvokePane
from endpointctl.tui.widgets.log_view import LogView
from endpointctl.tui.widgets.traffic_pane import TrafficPane
from tests.tui.conftest import BACKEND, ENDPOINT, make_app, seed
from tests.tui.helpers import select, static_text, wait_for

FROZEN = 1_795_000_000.0  # every timestamp the fixture writes and every "age" the panes compute
SIZES = [(80, 24), (160, 48)]
SnapCompare = Callable[..., bool]


@pytest.fixture
async def frozen(home: Home, monkeypatch: pytest.MonkeyPatch) -> Home:
    monkeypatch.setattr(time, "time", lambda: FROZEN)
    monkeypatch.setattr(scoring, "clock", lambda: FROZEN)
    await seed(home)
    return home


def app_for(home: Home) -> EndpointctlApp:
    # A long poll interval: the screen is captured between polls, never during one.
    app = make_app(home, clock=lambda: FROZEN, poll_s=60.0)
    app.animation_level = "none"  # the tab underline slides; capture where it ends, not mid-way
    return app


async def steady(pilot: Pilot[None]) -> None:
    # A blinking cursor is captured in either phase: move focus off text inputs before the capture.
    if isinstance(pilot.app.focused, TextArea | Input):
        pilot.app.screen.query_one("#navigator").focus()
    await pilot.pause()


async def overview(pilot: Pilot[None]) -> None:
    await select(pilot, Target(BACKEND, ENDPOINT))
    await wait_for(pilot, lambda: "DeploymentSucceeded" in static_text(pilot, "#ov-events"), "the events")
    await steady(pilot)


async def logs(pilot: Pilot[None]) -> None:
    await select(pilot, Target(BACKEND, ENDPOINT, "blue"))
    await pilot.press("l")
    view = pilot.app.screen.query_one(LogView)
    await wait_for(pilot, lambda: view.line_count == 13, "the tail and the followed lines")
    await steady(pilot)


async def editor(pilot: Pilot[None]) -> None:
    await select(pilot, Target(BACKEND, ENDPOINT))
    await pilot.press("e")
    pane = pilot.app.screen.query_one(EditorPane)
    await wait_for(pilot, lambda: "auth_mode: key" in pane.area.text, "the endpoint spec")
    await steady(pilot)


async def editor_error(pilot: Pilot[None]) -> None:
    await editor(pilot)
    pane = pilot.app.screen.query_one(EditorPane)
    pane.area.load_text(pane.area.text.replace("auth_mode: key", "auth_mode: password"))
    await wait_for(pilot, lambda: bool(pane.diagnostics), "the diagnostic")
    await steady(pilot)


async def traffic(pilot: Pilot[None]) -> None:
    await select(pilot, Target(BACKEND, ENDPOINT))
    await pilot.press("t")
    pane = pilot.app.screen.query_one(TrafficPane)
    await wait_for(pilot, lambda: len(pane.deployments) == 2, "the sliders")
    await pilot.press("shift+left", "shift+left")
    await steady(pilot)


async def invoke(pilot: Pilot[None]) -> None:
    await select(pilot, Target(BACKEND, ENDPOINT))
    await pilot.press("i")
    pane = pilot.app.screen.query_one(InvokePane)
    request = pane.query_one("#request", TextArea)
    await wait_for(pilot, lambda: request.text.strip() != "", "the request")
    request.focus()
    await pilot.press("ctrl+s")
    await wait_for(pilot, lambda: "served by:" in static_text(pilot, "#response"), "the response")
    await steady(pilot)


async def help_screen(pilot: Pilot[None]) -> None:
    await select(pilot, Target(BACKEND, ENDPOINT))
    await pilot.press("question_mark")
    await steady(pilot)


PANES: dict[str, Callable[[Pilot[None]], Awaitable[None]]] = {
    "overview": overview,
    "logs": logs,
    "editor": editor,
    "traffic": traffic,
    "invoke": invoke,
    "help": help_screen,
}


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("pane", list(PANES))
def test_pane_snapshot(frozen: Home, snap_compare: SnapCompare, pane: str, size: tuple[int, int]) -> None:
    assert snap_compare(app_for(frozen), terminal_size=size, run_before=PANES[pane])


def test_editor_error_snapshot(frozen: Home, snap_compare: SnapCompare) -> None:
    assert snap_compare(app_for(frozen), terminal_size=(80, 24), run_before=editor_error)
