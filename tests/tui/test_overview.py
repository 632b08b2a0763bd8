"""The overview pane: state, URI, masked keys revealed on demand, instances, events and metrics."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable

from endpointctl.core.errors import BackendUnavailable
from endpointctl.core.home import Home
from endpointctl.core.views import MetricsSnapshot
from endpointctl.tui.widgets.overview import MetricsRow
from tests.fakes.backend import FakeBackend
from tests.tui.conftest import BACKEND, ENDPOINT, make_app, open_service
from tests.tui.helpers import ready, static_text, wait_for


async def test_overview_shows_state_uri_traffic_instances_and_events(seeded: Home) -> None:
    async with make_app(seeded).run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await wait_for(pilot, lambda: "scoring:" in static_text(pilot, "#ov-header"), "the header")
        header = static_text(pilot, "#ov-header")
        assert "● Succeeded" in header
        assert "http://127.0.0.1:" in header
        assert "k to reveal" in header
        traffic = static_text(pilot, "#ov-traffic")
        assert "blue" in traffic and "100%" in traffic
        table = pilot.app.screen.query_one("#ov-instances", DataTable)
        await wait_for(pilot, lambda: table.row_count == 2, "two instances")
        assert {str(k.value) for k in table.rows} == {"blue/blue-0", "green/green-0"}
        await wait_for(pilot, lambda: "DeploymentSucceeded" in static_text(pilot, "#ov-events"), "the events")
        assert "RolloutStarted" in static_text(pilot, "#ov-events")


async def test_keys_are_masked_until_revealed(seeded: Home) -> None:
    service = open_service(seeded)
    creds = await service.get_credentials(ENDPOINT, backend=BACKEND)
    await service.close()
    key = creds.primary_key
    assert key is not None
    async with make_app(seeded).run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await wait_for(pilot, lambda: "scoring:" in static_text(pilot, "#ov-header"), "the header")
        assert key not in static_text(pilot, "#ov-header")
        pilot.app.screen.query_one("#overview-scroll").focus()
        await pilot.press("k")
        await wait_for(pilot, lambda: key in static_text(pilot, "#ov-header"), "the revealed key")
        await pilot.press("k")
        await wait_for(pilot, lambda: key not in static_text(pilot, "#ov-header"), "the key masked again")


async def test_metrics_rows_appear_per_deployment_in_the_order_of_the_rows_above(seeded: Home) -> None:
    service = open_service(seeded)
    # Rows appear one by one as the report names them; each must go below the previous one.
    await service.invoke(ENDPOINT, b"{}", backend=BACKEND)
    await service.invoke(ENDPOINT, b"{}", deployment="green", backend=BACKEND)
    await service.close()
    async with make_app(seeded).run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await wait_for(pilot, lambda: len(pilot.app.screen.query(MetricsRow)) == 2, "two metrics rows")
        assert [row.deployment for row in pilot.app.screen.query(MetricsRow)] == ["blue", "green"]


async def test_metrics_that_fail_are_said_in_place_and_the_rest_still_refreshes(
    seeded: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def unavailable(self: FakeBackend, endpoint: str) -> MetricsSnapshot:
        raise BackendUnavailable("the gateway's admin Service has no ready pod")

    monkeypatch.setattr(FakeBackend, "metrics", unavailable)
    async with make_app(seeded).run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await wait_for(
            pilot,
            lambda: (
                "metrics unavailable: the gateway's admin Service" in static_text(pilot, "#ov-metrics-empty")
            ),
            "the metrics problem in place",
        )
        assert "● Succeeded" in static_text(pilot, "#ov-header")
        table = pilot.app.screen.query_one("#ov-instances", DataTable)
        await wait_for(pilot, lambda: table.row_count == 2, "two instances")
