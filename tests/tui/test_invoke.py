"""The invoke panel: prefilled sample request, routed or pinned, send N shows the split, history re-sends."""

from __future__ import annotations

import json

from textual.pilot import Pilot
from textual.widgets import OptionList, TextArea

from endpointctl.core.home import Home
from endpointctl.tui.target import Target
from endpointctl.tui.widgets.invoke_pane import InvokePane
from tests.fakes.backend import FakeBackend
from tests.tui.conftest import BACKEND, ENDPOINT, SAMPLE, make_app
from tests.tui.helpers import select, static_text, wait_for


async def open_invoke(pilot: Pilot[None], target: Target) -> InvokePane:
    await select(pilot, target)
    await pilot.press("i")
    pane = pilot.app.screen.query_one(InvokePane)
    request = pane.query_one("#request", TextArea)
    await wait_for(pilot, lambda: request.text.strip() != "", "the prefilled request")
    request.focus()
    return pane


def invokes() -> list[tuple[object, ...]]:
    return [args for method, args in FakeBackend.calls if method == "invoke"]


async def test_send_routed_by_traffic_shows_who_served_it(seeded: Home) -> None:
    async with make_app(seeded).run_test(size=(120, 40)) as pilot:
        pane = await open_invoke(pilot, Target(BACKEND, ENDPOINT))
        sample = (SAMPLE / "sample-request.json").read_text()
        assert json.loads(pane.query_one("#request", TextArea).text) == json.loads(sample)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "served by:" in static_text(pilot, "#response"), "the response")
        response = static_text(pilot, "#response")
        assert "200" in response and "served by: blue" in response
        assert invokes()[-1][2] is None  # routed: no deployment pinned


async def test_pinned_deployment_serves_and_history_resends(seeded: Home) -> None:
    async with make_app(seeded).run_test(size=(120, 40)) as pilot:
        pane = await open_invoke(pilot, Target(BACKEND, ENDPOINT))
        await pilot.press("ctrl+t", "ctrl+t")  # routed → blue → green
        assert "pinned to green" in static_text(pilot, "#invoke-target")
        await pilot.press("ctrl+s")
        await wait_for(
            pilot, lambda: "served by: green" in static_text(pilot, "#response"), "green's response"
        )
        history = pane.query_one("#history", OptionList)
        await wait_for(pilot, lambda: history.option_count == 1, "one history entry")
        sent_before = len(invokes())
        history.focus()
        history.highlighted = 0
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(invokes()) == sent_before + 1, "the re-send")
        assert invokes()[-1][2] == "green"


async def test_send_n_reports_the_split(seeded: Home) -> None:
    async with make_app(seeded).run_test(size=(120, 40)) as pilot:
        await open_invoke(pilot, Target(BACKEND, ENDPOINT))
        await pilot.press("ctrl+n", *["backspace"] * 3, "2", "5", "enter")
        await wait_for(pilot, lambda: "sent 25/25" in static_text(pilot, "#response"), "25 requests")
        response = static_text(pilot, "#response")
        assert "served by: blue" in response and "25  100.0%" in response
        assert "200×25" in response
        # blue alone takes the traffic: one instance, one request at a time, so none is turned away.
        assert "(1 at a time)" in response


async def test_invalid_json_is_not_sent(seeded: Home) -> None:
    async with make_app(seeded).run_test(size=(120, 40)) as pilot:
        pane = await open_invoke(pilot, Target(BACKEND, ENDPOINT))
        pane.query_one("#request", TextArea).load_text("{not json")
        before = len(invokes())
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert len(invokes()) == before
