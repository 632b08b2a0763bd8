"""The navigator: backends → endpoints → deployments, live refresh by key, `/` filter, unavailable backends."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from textual.app import App, ComposeResult

from endpointctl.core.capabilities import Capabilities, Capability
from endpointctl.core.context import BackendContext
from endpointctl.core.errors import BackendUnavailable
from endpointctl.core.home import Home
from endpointctl.core.ports import capabilities_of
from endpointctl.core.service import EndpointService
from endpointctl.core.spec import DeploymentSpec, EndpointSpec, load_deployment
from endpointctl.core.store import EndpointRecord
from endpointctl.core.views import BackendStatus, DeploymentView, EndpointView, ProvisioningState
from endpointctl.tui.app import EndpointctlApp
from endpointctl.tui.model.snapshot import BackendEntry, EndpointEntry, Snapshot
from endpointctl.tui.target import Target
from endpointctl.tui.widgets.navigator import Navigator
from tests.fakes.backend import NAME, FakeBackend
from tests.tui.conftest import BACKEND, ENDPOINT, SAMPLE, make_app, open_service
from tests.tui.helpers import ready, select, static_text, wait_for


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


async def test_the_filter_applies_as_typed_matches_deployments_and_keeps_the_selection(seeded: Home) -> None:
    async with make_app(seeded).run_test(size=(120, 30)) as pilot:
        main = await select(pilot, Target(BACKEND, ENDPOINT, "blue"))
        nav = main.navigator
        nav.focus()
        await pilot.press("slash", *"gre")  # not submitted yet: it applies as it is typed
        await wait_for(pilot, lambda: any(t.startswith("● green") for t in labels(nav)), "green")
        assert not any(t.startswith("● blue") for t in labels(nav)), labels(
            nav
        )  # `gre` shows green, not blue
        assert any(ENDPOINT in t for t in labels(nav))
        title = str(nav.border_title)
        assert "/gre" in title and "1 hidden" in title, title
        await pilot.press("enter")
        await pilot.press("slash", *["backspace"] * 3, "enter")  # cleared
        await wait_for(pilot, lambda: any(t.startswith("● blue") for t in labels(nav)), "blue back")
        assert nav.border_title is None
        await wait_for(pilot, lambda: main.target == Target(BACKEND, ENDPOINT, "blue"), "blue selected again")


def broken_docker(context: BackendContext) -> FakeBackend:
    raise BackendUnavailable("docker: no engine at unix:///var/run/docker.sock")


async def test_an_unavailable_backend_shows_its_reason_and_the_others_still_work(seeded: Home) -> None:
    app = EndpointctlApp(
        lambda: EndpointService.open(seeded, {"fake": FakeBackend, "docker": broken_docker}), poll_s=0.2
    )
    async with app.run_test(size=(120, 30)) as pilot:
        main = await ready(pilot)
        text = labels(main.navigator)
        assert any(t.startswith("✖ docker  no engine at") for t in text)
        assert any(ENDPOINT in t for t in text)
        await select(pilot, Target("docker"))
        assert "no engine at unix:///var/run/docker.sock" in static_text(pilot, "#capbar")


class KubeLikeBackend(FakeBackend):
    """The fake, reporting contexts the way a Kubernetes backend does: the kube context, and a namespace."""

    async def status(self) -> BackendStatus:
        return BackendStatus(NAME, True, capabilities_of(self), context="kind-dev · ns default")

    def _endpoint_view(self, rec: EndpointRecord) -> EndpointView:
        return replace(super()._endpoint_view(rec), context="kind-dev · ns team-a")


class SignedOutAzure(FakeBackend):
    """Constructed fine, unreachable: the backend knows its workspace but cannot use it."""

    async def status(self) -> BackendStatus:
        return BackendStatus(
            "azure",
            False,
            capabilities_of(self),
            context="sub-1234 · rg-ml/ws-prod",
            reason="AzureCliCredential: run `az login`",
        )


async def test_backend_nodes_show_their_context_and_an_unavailable_one_its_reason(seeded: Home) -> None:
    app = EndpointctlApp(
        lambda: EndpointService.open(seeded, {"fake": KubeLikeBackend, "azure": SignedOutAzure}), poll_s=0.2
    )
    async with app.run_test(size=(160, 30)) as pilot:
        main = await ready(pilot)
        nav = main.navigator
        assert str(nav._by_key[BACKEND].label).startswith("▣ fake (kind-dev · ns default)")
        # Short in the row; the context and the whole reason on the status row when the row is focused.
        assert str(nav._by_key["azure"].label) == "✖ azure  AzureCliCredential"
        await select(pilot, Target("azure"))
        status = static_text(pilot, "#capbar")
        assert "sub-1234 · rg-ml/ws-prod: AzureCliCredential: run `az login`" in status
        # The endpoint's namespace is not its backend's: it is shown on the endpoint.
        assert "my-endpoint @kind-dev · ns team-a" in str(nav._by_key[f"{BACKEND}/{ENDPOINT}"].label)
        # What the terminal shows, not only the node data.
        screen = "\n".join(nav.render_line(y).text for y in range(nav.size.height))
        assert "fake (kind-dev · ns default)" in screen
        assert "✖ azure  AzureCliCredential" in screen


def synthetic(count: int, changes: Mapping[int, int] = {}, gone: int | None = None) -> Snapshot:
    """`count` endpoints with blue/green; `changes` moves green's traffic on the endpoints it names."""
    caps = Capabilities(frozenset(Capability))
    entries = []
    for i in range(count):
        if i == gone:
            continue
        green = changes.get(i, 0)
        traffic = {"blue": 100 - green, "green": green}
        spec = EndpointSpec.model_construct(
            name=f"ep-{i:04d}", auth_mode="key", traffic=traffic, mirror_traffic={}
        )
        deployments = tuple(
            DeploymentView(
                "syn",
                DeploymentSpec.model_construct(name=d, endpoint_name=spec.name, instance_count=1),
                ProvisioningState.UPDATING if d == "green" and green else ProvisioningState.SUCCEEDED,
            )
            for d in ("blue", "green")
        )
        entries.append(EndpointEntry(EndpointView("syn", spec, ProvisioningState.SUCCEEDED), deployments))
    return Snapshot([BackendEntry(BackendStatus("syn", True, caps, context="ctx"), tuple(entries))])


class NavigatorOnly(App[None]):
    def compose(self) -> ComposeResult:
        yield Navigator(id="navigator")


def row(nav: Navigator, key: str) -> str:
    """The text the terminal shows on the row of node `key`."""
    return nav.render_line(nav._by_key[key].line - nav.scroll_offset.y).text


async def test_a_refresh_redraws_only_what_changed_and_keeps_cursor_and_scroll() -> None:
    async with NavigatorOnly().run_test(size=(80, 12)) as pilot:
        nav = pilot.app.query_one(Navigator)
        nav.update_model(synthetic(300))
        await pilot.pause()
        nav.focus()
        cursor = Target("syn", "ep-0100", "green")
        await wait_for(pilot, lambda: nav.select_target(cursor), "the cursor on ep-0100/green")
        await pilot.pause()
        scroll = nav.scroll_offset.y
        assert scroll > 0
        redrawn = ("syn/ep-0100", "syn/ep-0250")  # the two endpoints and their deployments
        untouched = {k: n.label for k, n in nav._by_key.items() if k != "syn" and not k.startswith(redrawn)}

        # ep-0100 (on screen) and ep-0250 (off screen) shift traffic; ep-0299 is deleted.
        nav.update_model(synthetic(300, {100: 10, 250: 30}, gone=299))
        await pilot.pause()

        assert nav.cursor_node is not None and nav.cursor_node.data == cursor
        assert nav.scroll_offset.y == scroll
        assert "green Updating 0/1 10%" in row(nav, "syn/ep-0100/green")
        assert "blue 90%, green 10%" in row(nav, "syn/ep-0100")
        assert "blue 70%, green 30%" in str(nav._by_key["syn/ep-0250"].label)
        assert "syn/ep-0299" not in nav._by_key and "syn/ep-0299/blue" not in nav._by_key
        assert str(nav._by_key["syn"].label).endswith("299 ep")
        # Nothing else was relabelled: the same label objects, not equal copies.
        assert all(nav._by_key[k].label is label for k, label in untouched.items() if k in nav._by_key)


async def test_clearing_the_filter_restores_the_model_order() -> None:
    async with NavigatorOnly().run_test(size=(80, 12)) as pilot:
        nav = pilot.app.query_one(Navigator)
        nav.update_model(synthetic(30))
        nav.set_filter("ep-001")
        await pilot.pause()
        assert [n.data.endpoint for n in nav.root.children[0].children if n.data] == [
            f"ep-{i:04d}" for i in range(10, 20)
        ]
        nav.set_filter("")
        await pilot.pause()
        names = [n.data.endpoint for n in nav.root.children[0].children if n.data]
        assert names == [f"ep-{i:04d}" for i in range(30)]
        assert [c.data.deployment for c in nav.root.children[0].children[0].children if c.data] == [
            "blue",
            "green",
        ]


async def test_a_changed_backend_context_relabels_its_endpoints() -> None:
    # An endpoint's own context shows only where its backend's does not say it: when the backend's changes (another
    # kube context), endpoints whose entries are unchanged are relabelled too.
    def with_context(backend_context: str) -> Snapshot:
        model = synthetic(3)
        backend = model.backends[0]
        endpoints = tuple(
            EndpointEntry(replace(e.endpoint, context="kind-dev · ns a"), e.deployments)
            for e in backend.endpoints
        )
        status = replace(backend.status, context=backend_context)
        return Snapshot([BackendEntry(status, endpoints)])

    async with NavigatorOnly().run_test(size=(80, 12)) as pilot:
        nav = pilot.app.query_one(Navigator)
        nav.update_model(with_context("kind-dev · ns a"))
        await pilot.pause()
        assert "@" not in str(nav._by_key["syn/ep-0001"].label)
        nav.update_model(with_context("kind-prod · ns a"))
        await pilot.pause()
        assert "ep-0001 @kind-dev · ns a" in str(nav._by_key["syn/ep-0001"].label)
        assert "ep-0001 @kind-dev · ns a" in row(nav, "syn/ep-0001")


async def test_a_backend_gone_from_the_model_leaves_the_tree() -> None:
    async with NavigatorOnly().run_test(size=(80, 12)) as pilot:
        nav = pilot.app.query_one(Navigator)
        first = synthetic(2)
        other = replace(first.backends[0], status=replace(first.backends[0].status, name="other"))
        nav.update_model(Snapshot([first.backends[0], other]))
        await pilot.pause()
        assert "other" in nav._by_key
        nav.update_model(first)
        await pilot.pause()
        assert "other" not in nav._by_key
        assert [n.data.backend for n in nav.root.children if n.data] == ["syn"]
