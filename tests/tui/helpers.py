"""Small helpers for Pilot tests: wait for the app to reach a state instead of sleeping a fixed time."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable

from rich.console import Console
from rich.text import Text
from textual.pilot import Pilot
from textual.widgets import Static

from endpointctl.tui.screens.main import MainScreen
from endpointctl.tui.target import Target
from endpointctl.tui.widgets.navigator import Navigator

WAIT_S = 10.0


async def wait_for(
    pilot: Pilot[None], predicate: Callable[[], bool], what: str, limit_s: float = WAIT_S
) -> None:
    """Pump the app until `predicate()` holds; fail naming `what` if it never does."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)


def main_screen(pilot: Pilot[None]) -> MainScreen:
    for screen in pilot.app.screen_stack:
        if isinstance(screen, MainScreen):
            return screen
    raise AssertionError("the main screen is not on the stack")


def widget_text(widget: Static) -> str:
    """The plain text a Static currently shows (its content rendered without colour)."""
    console = Console(width=400, record=True, color_system=None, file=io.StringIO())
    content = widget.content
    console.print(content if not isinstance(content, str) else Text(content))
    return console.export_text()


def static_text(pilot: Pilot[None], selector: str) -> str:
    return widget_text(pilot.app.screen.query_one(selector, Static))


async def ready(pilot: Pilot[None]) -> MainScreen:
    """Wait for the first tree load and the initial selection of the sample endpoint."""
    main = main_screen(pilot)
    await wait_for(
        pilot, lambda: main.target is not None and main.target.endpoint is not None, "the first selection"
    )
    return main


async def select(pilot: Pilot[None], target: Target) -> MainScreen:
    main = await ready(pilot)
    nav = main.query_one(Navigator)
    await wait_for(pilot, lambda: nav.select_target(target), f"{target.describe()} in the navigator")
    await wait_for(pilot, lambda: main.target == target, f"{target.describe()} selected")
    return main
