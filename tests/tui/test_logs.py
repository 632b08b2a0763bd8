"""The logs pane: container toggle, follow, search with n/N, and the bounded ring with its marker."""

from __future__ import annotations

from endpointctl.core.home import Home
from endpointctl.core.views import LogLine
from endpointctl.tui.target import Target
from endpointctl.tui.widgets.log_view import LogView
from endpointctl.tui.widgets.logs_pane import LogsPane
from tests.tui.conftest import BACKEND, ENDPOINT, make_app
from tests.tui.helpers import select, static_text, wait_for


def texts(view: LogView) -> list[str]:
    return [view.line_text(i) for i in range(view.line_count)]


async def test_logs_switch_containers_and_follow(seeded: Home) -> None:
    async with make_app(seeded).run_test(size=(120, 30)) as pilot:
        await select(pilot, Target(BACKEND, ENDPOINT, "blue"))
        await pilot.press("l")
        view = pilot.app.screen.query_one(LogView)
        await wait_for(pilot, lambda: "followed 2" in texts(view), "the tail and the followed lines")
        assert texts(view)[0] == "inference-server line 0"
        assert "[inference-server]" in static_text(pilot, "#logs-status")
        await pilot.press("c")
        await wait_for(
            pilot, lambda: "storage-initializer line 0" in texts(view), "the storage-initializer logs"
        )
        assert not any(t.startswith("inference-server") for t in texts(view))
        assert "[storage-initializer]" in static_text(pilot, "#logs-status")
        await pilot.press("f")
        assert "follow off" in static_text(pilot, "#logs-status")
        await pilot.press("f")
        assert "follow on" in static_text(pilot, "#logs-status")


async def test_search_highlights_and_n_moves_between_matches(seeded: Home) -> None:
    async with make_app(seeded).run_test(size=(120, 30)) as pilot:
        await select(pilot, Target(BACKEND, ENDPOINT, "blue"))
        await pilot.press("l")
        view = pilot.app.screen.query_one(LogView)
        await wait_for(pilot, lambda: "followed 2" in texts(view), "the logs")
        await pilot.press("slash", *"followed", "enter")
        await wait_for(pilot, lambda: view.match_line is not None, "a match")
        first = view.match_line
        assert first is not None and "followed" in view.line_text(first)
        await pilot.press("n")
        assert view.match_line == first + 1
        await pilot.press("N")
        assert view.match_line == first
        assert not view.follow  # a search pauses the tail so the match stays on screen


async def test_the_ring_drops_old_lines_and_says_so(seeded: Home) -> None:
    app = make_app(seeded)
    app.tui_context.log_capacity = 100
    async with app.run_test(size=(120, 30)) as pilot:
        await select(pilot, Target(BACKEND, ENDPOINT, "blue"))
        await pilot.press("l")
        pane = pilot.app.screen.query_one(LogsPane)
        view = pane.query_one(LogView)
        await wait_for(pilot, lambda: "followed 2" in texts(view), "the logs")
        view.append([LogLine(f"flood {i}") for i in range(1000)])
        assert len(view.ring) == 100
        assert view.line_text(0).startswith("··· 913 older lines dropped")
        assert view.line_text(view.line_count - 1) == "flood 999"
        await pilot.pause()


async def test_wrap_and_timestamps_toggle(seeded: Home) -> None:
    async with make_app(seeded).run_test(size=(60, 24)) as pilot:
        await select(pilot, Target(BACKEND, ENDPOINT, "blue"))
        await pilot.press("l")
        view = pilot.app.screen.query_one(LogView)
        await wait_for(pilot, lambda: "followed 2" in texts(view), "the logs")
        view.append([LogLine("x" * 200, ts=0.5)])
        rows_unwrapped = view.virtual_size.height
        await pilot.press("w")
        assert view.virtual_size.height > rows_unwrapped
        await pilot.press("T")  # `t` is the Traffic tab
        assert view.line_text(view.line_count - 1).startswith("00:00:00.500 ")
