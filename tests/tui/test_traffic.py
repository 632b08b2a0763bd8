"""The traffic panel: sliders rebalance to 100, rules shown inline before sending, apply with confirm, capabilities."""

from __future__ import annotations

from textual.pilot import Pilot
from textual.widgets import Static

from endpointctl.core.capabilities import Capability
from endpointctl.core.home import Home
from endpointctl.tui.screens.confirm import ConfirmScreen
from endpointctl.tui.screens.help import HelpScreen
from endpointctl.tui.target import Target
from endpointctl.tui.widgets.traffic_pane import TrafficPane
from endpointctl.tui.widgets.traffic_slider import TrafficSlider
from tests.fakes.backend import FakeBackend
from tests.tui.conftest import BACKEND, ENDPOINT, make_app, open_service
from tests.tui.helpers import select, static_text, wait_for, widget_text


def sliders(pane: TrafficPane) -> dict[str, int]:
    return {s.deployment: s.value for s in pane.query(TrafficSlider) if s.id != "slider-mirror"}


async def open_traffic(pilot: Pilot[None], main_target: Target) -> TrafficPane:
    await select(pilot, main_target)
    await pilot.press("t")
    pane = pilot.app.screen.query_one(TrafficPane)
    await wait_for(pilot, lambda: sliders(pane) == {"blue": 100, "green": 0}, "the sliders")
    return pane


async def test_keys_move_a_slider_and_the_others_rebalance_then_apply(seeded: Home) -> None:
    async with make_app(seeded).run_test(size=(120, 40)) as pilot:
        pane = await open_traffic(pilot, Target(BACKEND, ENDPOINT))
        assert isinstance(pilot.app.focused, TrafficSlider) and pilot.app.focused.deployment == "blue"
        await pilot.press("left", "shift+left", "shift+left")  # -1, -5, -5
        assert sliders(pane) == {"blue": 89, "green": 11}
        await pilot.press("down", "right")
        assert sliders(pane) == {"blue": 88, "green": 12}
        await pilot.press("2", "0", "enter")  # typed value for green
        assert sliders(pane) == {"blue": 80, "green": 20}
        assert "blue: 100% → 80%" in static_text(pilot, "#traffic-preview")
        before = len(FakeBackend.mutations())
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen), "the confirmation")
        await pilot.press("y")
        await wait_for(pilot, lambda: "set_traffic" in FakeBackend.mutations()[before:], "set_traffic")
    service = open_service(seeded)
    endpoint = await service.get_endpoint(ENDPOINT, backend=BACKEND)
    await service.close()
    assert dict(endpoint.traffic) == {"blue": 80, "green": 20}


async def test_rule_errors_show_inline_and_block_apply(seeded: Home) -> None:
    async with make_app(seeded).run_test(size=(120, 40)) as pilot:
        pane = await open_traffic(pilot, Target(BACKEND, ENDPOINT))
        before = len(FakeBackend.mutations())
        await pilot.press("m")  # mirror target → green (the only deployment without live traffic)
        pane.query_one("#slider-mirror", TrafficSlider).focus()
        await pilot.press("end")  # 50%, the most a mirror may take
        assert pane.proposed_mirror() == {"green": 50}
        assert pane.problems == []
        pane.query_one("#slider-green", TrafficSlider).focus()
        await pilot.press("right")  # green gets live traffic while mirrored: a rule error
        assert any("live traffic" in p for p in pane.problems)
        assert "cannot receive mirrored traffic" in static_text(pilot, "#traffic-preview")
        await pilot.press("a")
        await pilot.pause()
        assert not isinstance(pilot.app.screen, ConfirmScreen)
        assert "set_traffic" not in FakeBackend.mutations()[before:]


async def test_all_zero_is_allowed(seeded: Home) -> None:
    async with make_app(seeded).run_test(size=(120, 40)) as pilot:
        pane = await open_traffic(pilot, Target(BACKEND, ENDPOINT))
        await pilot.press("z")
        assert sliders(pane) == {"blue": 0, "green": 0}
        assert pane.problems == []
        # Allowed, but the confirmation says what it means.
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen), "the confirmation")
        body = " ".join(widget_text(w) for w in pilot.app.screen.query(Static).results(Static))
        assert "endpoint will refuse every request" in body, body


async def test_delete_refuses_a_deployment_with_traffic_before_asking_for_its_name(seeded: Home) -> None:
    async with make_app(seeded).run_test(size=(120, 40)) as pilot:
        main = await select(pilot, Target(BACKEND, ENDPOINT, "blue"))
        main.delete(Target(BACKEND, ENDPOINT, "blue"))
        await wait_for(
            pilot,
            lambda: any("100% of the traffic" in n.message for n in pilot.app._notifications),
            "the refusal",
        )
        assert not isinstance(pilot.app.screen, ConfirmScreen)
        main.delete(Target(BACKEND, ENDPOINT, "green"))  # 0%: asks for the typed name
        await wait_for(
            pilot,
            lambda: isinstance(pilot.app.screen, ConfirmScreen) and bool(pilot.app.screen.query("#typed")),
            "the typed confirmation",
        )
        await pilot.press("escape")


async def test_a_backend_without_traffic_greys_out_the_tab_and_says_why(seeded: Home) -> None:
    FakeBackend.supported = frozenset(Capability) - {Capability.TRAFFIC}
    async with make_app(seeded).run_test(size=(120, 40)) as pilot:
        main = await select(pilot, Target(BACKEND, ENDPOINT))
        assert main.check_action("tab", ("traffic",)) is None
        assert main.check_action("tab", ("logs",)) is True
        await pilot.press("t")
        assert main.query_one("#tabs").active == "overview"  # type: ignore[attr-defined]
        main.action_tab("traffic")
        await wait_for(
            pilot,
            lambda: "does not support traffic" in static_text(pilot, "#pane-traffic #blocked"),
            "the reason",
        )
        # The status row is for what changes; what the backend cannot do, and why, is in `?`.
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, HelpScreen), "help")
        limits = " ".join(widget_text(w) for w in pilot.app.screen.query(".limits").results(Static))
        assert "fake backend cannot" in limits and "does not support traffic" in limits
