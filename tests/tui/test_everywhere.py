"""Help, `:` command mode, the command palette's endpoint commands, typed-confirmation deletes, NO_COLOR."""

from __future__ import annotations

import pytest
from textual.widgets import Static

from endpointctl.core.home import Home
from endpointctl.tui.commands import EndpointCommands
from endpointctl.tui.screens.confirm import ConfirmScreen
from endpointctl.tui.screens.help import HelpScreen
from endpointctl.tui.target import Target
from endpointctl.tui.widgets.logs_pane import LogsPane
from endpointctl.tui.widgets.navigator import Navigator
from endpointctl.tui.widgets.traffic_pane import TrafficPane
from tests.fakes.backend import FakeBackend
from tests.tui.conftest import BACKEND, ENDPOINT, make_app, open_service
from tests.tui.helpers import ready, static_text, wait_for, widget_text


async def test_question_mark_lists_every_pane_s_bindings(seeded: Home) -> None:
    async with make_app(seeded).run_test(size=(120, 60)) as pilot:
        await ready(pilot)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, HelpScreen), "the help screen")
        text = " ".join(widget_text(s) for s in pilot.app.screen.query(Static))
        for expected in (
            "inference-server ⇄ storage-initializer",
            "Follow",
            "n / N",
            "Apply",
            "Send N",
            "Mirror to",
            ":ep",
            "Filter",
            "Full-width panes",
        ):
            assert expected in text
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(pilot.app.screen, HelpScreen), "help to close")


async def test_at_80_columns_the_panes_get_every_column_and_esc_brings_the_tree(seeded: Home) -> None:
    async with make_app(seeded).run_test(size=(80, 24)) as pilot:
        main = await ready(pilot)
        navigator = main.query_one(Navigator)
        # A one-line breadcrumb instead of the tree.
        await wait_for(pilot, lambda: "my-endpoint" in static_text(pilot, "#crumb"), "the breadcrumb")
        assert not navigator.display
        await pilot.press("l")
        logs = main.query_one(LogsPane)
        await wait_for(pilot, lambda: logs.active and logs.size.width == 80, "the logs at full width")
        assert main.focused is not None and logs in main.focused.ancestors_with_self
        await pilot.press("escape")
        await wait_for(pilot, lambda: navigator.display and navigator.has_focus, "the tree on esc")
        await pilot.press("down")  # the cursor moves: the selection (and the breadcrumb) follow
        await wait_for(pilot, lambda: "blue" in static_text(pilot, "#crumb"), "the breadcrumb on blue")
        await pilot.press("l")
        await wait_for(pilot, lambda: not navigator.display and logs.size.width == 80, "the tree gone again")


async def test_h_hides_the_tree_for_a_full_width_pane_and_escape_brings_it_back(seeded: Home) -> None:
    async with make_app(seeded).run_test(size=(120, 30)) as pilot:
        main = await ready(pilot)
        navigator = main.query_one(Navigator)
        await pilot.press("l")
        logs = main.query_one(LogsPane)
        await wait_for(pilot, lambda: logs.active, "the logs pane")
        narrow = logs.size.width
        await pilot.press("h")
        await wait_for(pilot, lambda: not navigator.display, "the tree to hide")
        await wait_for(pilot, lambda: logs.size.width == 120, "the logs to take the full width")
        assert narrow < 90
        assert main.focused is not None and logs in main.focused.ancestors_with_self
        await pilot.press("escape")
        await wait_for(pilot, lambda: navigator.display and navigator.has_focus, "the tree to come back")
        await wait_for(pilot, lambda: logs.size.width == narrow, "the logs to make room again")


async def test_colon_commands_navigate(seeded: Home) -> None:
    async with make_app(seeded).run_test(size=(120, 40)) as pilot:
        main = await ready(pilot)
        await pilot.press("colon", *"dep green", "enter")
        await wait_for(pilot, lambda: main.target == Target(BACKEND, ENDPOINT, "green"), "green selected")
        await pilot.press("colon", *"logs blue", "enter")
        await wait_for(pilot, lambda: main.target == Target(BACKEND, ENDPOINT, "blue"), "blue selected")
        await wait_for(pilot, lambda: main.query_one("#tabs").active == "logs", "the logs tab")  # type: ignore[attr-defined]
        assert main.query_one(LogsPane).active
        await pilot.press("colon", *"ep my-endpoint", "enter")
        await wait_for(pilot, lambda: main.target == Target(BACKEND, ENDPOINT), "the endpoint selected")


async def test_palette_offers_endpoint_commands(seeded: Home) -> None:
    async with make_app(seeded).run_test(size=(120, 40)) as pilot:
        main = await ready(pilot)
        provider = EndpointCommands(main)
        names = [str(hit.text) async for hit in provider.discover()]
        assert f"Go to endpoint {ENDPOINT} @{BACKEND}" in names
        assert "Create from file…" in names
        assert f"Delete endpoint {ENDPOINT}…" in names
        assert f"Regenerate primary key of {ENDPOINT}" in names
        assert f"Get credentials of {ENDPOINT}" in names
        hits = [hit async for hit in provider.search("regen sec")]
        assert hits and "secondary" in str(hits[0].text)


async def test_delete_needs_the_name_typed(seeded: Home) -> None:
    async with make_app(seeded).run_test(size=(120, 40)) as pilot:
        main = await ready(pilot)
        main.delete(Target(BACKEND, ENDPOINT))
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen), "the confirmation")
        await pilot.press(*"wrong", "enter")
        await pilot.pause()
        assert isinstance(pilot.app.screen, ConfirmScreen)
        assert "delete_endpoint" not in FakeBackend.mutations()
        await pilot.press(*["backspace"] * 5, *ENDPOINT, "enter")
        await wait_for(pilot, lambda: "delete_endpoint" in FakeBackend.mutations(), "the delete")
    service = open_service(seeded)
    assert await service.list_endpoints(BACKEND) == []
    await service.close()


async def test_regenerate_keys_after_confirm(seeded: Home) -> None:
    async with make_app(seeded).run_test(size=(120, 40)) as pilot:
        main = await ready(pilot)
        main.regenerate(Target(BACKEND, ENDPOINT), "secondary")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen), "the confirmation")
        await pilot.press("y")
        await wait_for(pilot, lambda: "regenerate_keys" in FakeBackend.mutations(), "the regeneration")
        assert [args for m, args in FakeBackend.calls if m == "regenerate_keys"] == [(ENDPOINT, "secondary")]


async def test_no_color_is_respected(seeded: Home, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app(seeded)
    assert app.no_color
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        # States stay readable without colour: every glyph comes with its word.
        nav = pilot.app.screen.query_one("#navigator", Navigator)
        labels = [str(n.label) for n in nav.root.children[0].children[0].children]
        assert all("Succeeded" in label for label in labels)


async def test_backend_errors_become_notifications_not_crashes(seeded: Home) -> None:
    async with make_app(seeded).run_test(size=(120, 40)) as pilot:
        main = await ready(pilot)
        main.action_tab("traffic")
        # The endpoint disappears behind the TUI's back: the next snapshot says so where the sliders were.
        service = open_service(seeded)
        await service.delete_endpoint(ENDPOINT, backend=BACKEND)
        await service.close()
        pane = pilot.app.screen.query_one(TrafficPane)
        await wait_for(
            pilot,
            lambda: (
                main.target != Target(BACKEND, ENDPOINT)
                or "does not exist" in static_text(pilot, "#pane-traffic #blocked")
            ),
            "the traffic pane saying the endpoint is gone",
        )
        assert pilot.app.is_running
        assert pane.target is None or pane.target.endpoint != ENDPOINT or pane.blocked_reason() is not None
