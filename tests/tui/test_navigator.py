"""The navigator: backends → endpoints → deployments, live refresh by key, `/` filter, unavailable backends."""

from __future__ import annotations

from endpointctl.core.context import BackendContext
from endpointctl.core.errors import BackendUnavailable
from endpointctl.core.home import Home
from endpointctl.core.service import EndpointService
from endpointctl.core.spec import load_deployment
from endpointctl.tui.app import EndpointctlApp
from endpointctl.tui.target import Target
from endpointctl.tui.widgets.navigator import Navigator
from tests.fakes.backend import FakeBackend
from tests.tui.conftest import BACKEND, ENDPOINT, SAMPLE, make_app, open_service
from tests.tui.helpers import ready, select, wait_for


def labels(nav: Navigator) -> list[str]:
    return [str(node.label) for node in nav._by_key.values() if node.tree is nav]


async def test_tree_shows_backend_endpoint_and_deployments_with_traffic(seeded: Home) -> None:
    async with make_app(seeded).run_test(size=(120, 30)) as pilot:
        main = await ready(pilot)
        text = labels(main.navigator)
        assert any("fake" in t and "in-memory" in t for t in text)
        assert any(ENDPOINT in t and "key" in t and "blue 100%" in t for t in text)
        assert any(t.endswith("blue Succeeded 1/1 100%") for t in text)
        assert any(t.endswith("green Succeeded 1/1 0%") for t in text)


async def test_refresh_adds_new_deployments_without_moving_the_cursor(seeded: Home) -> None:
    async with make_app(seeded).run_test(size=(120, 30)) as pilot:
        green = Target(BACKEND, ENDPOINT, "green")
        main = await select(pilot, green)
        nav = main.navigator
        line_before = nav.cursor_line
        # Another client (the CLI) adds a deployment behind the TUI's back.
        other = open_service(seeded)
        spec = load_deployment(SAMPLE / "green-deployment.yml").model_copy(update={"name": "red"})
        await other.apply_deployment(spec, backend=BACKEND)
        await other.close()
        await wait_for(pilot, lambda: any("red" in t for t in labels(nav)), "the new deployment in the tree")
        assert nav.cursor_node is not None and nav.cursor_node.data == green
        assert nav.cursor_line == line_before


async def test_slash_filters_by_name(seeded: Home) -> None:
    async with make_app(seeded).run_test(size=(120, 30)) as pilot:
        main = await ready(pilot)
        main.navigator.focus()
        await pilot.press("slash", *"nothing-matches", "enter")
        await wait_for(
            pilot, lambda: not any(ENDPOINT in t for t in labels(main.navigator)), "the filter to apply"
        )
        await pilot.press("slash", *["backspace"] * 20, *"green", "enter")
        await wait_for(
            pilot, lambda: any(ENDPOINT in t for t in labels(main.navigator)), "the endpoint with green"
        )


def broken_docker(context: BackendContext) -> FakeBackend:
    raise BackendUnavailable("docker: no engine at unix:///var/run/docker.sock")


async def test_an_unavailable_backend_shows_its_reason_and_the_others_still_work(seeded: Home) -> None:
    app = EndpointctlApp(
        lambda: EndpointService.open(seeded, {"fake": FakeBackend, "docker": broken_docker}), poll_s=0.2
    )
    async with app.run_test(size=(120, 30)) as pilot:
        main = await ready(pilot)
        text = labels(main.navigator)
        assert any("docker" in t and "no engine at unix:///var/run/docker.sock" in t for t in text)
        assert any(ENDPOINT in t for t in text)
