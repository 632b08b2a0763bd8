"""Pure pieces of the TUI: the ring buffer, log de-duplication, the `:` grammar, metrics rates, traffic preview text."""

from __future__ import annotations

import subprocess
import sys

import pytest

from endpointctl.core.views import (
    DeploymentMetrics,
    InstanceState,
    LogLine,
    MetricsSnapshot,
    ProvisioningState,
)
from endpointctl.tui.command_line import Command, CommandError, parse_command
from endpointctl.tui.format import INSTANCE_GLYPH, STATE_GLYPH, state_label, state_style
from endpointctl.tui.model.metrics_history import MetricsHistory
from endpointctl.tui.model.streams import new_lines
from endpointctl.tui.widgets.editor_pane import guess_kind
from endpointctl.tui.widgets.ring import Ring
from endpointctl.tui.widgets.traffic_pane import describe_changes


def test_ring_keeps_the_newest_items_and_counts_what_it_dropped() -> None:
    ring: Ring[int] = Ring(3)
    ring.extend(range(5))
    assert [ring[i] for i in range(len(ring))] == [2, 3, 4]
    assert ring.dropped == 2
    assert ring[-1] == 4
    with pytest.raises(IndexError):
        ring[3]


def test_ring_clear_resets_the_drop_count() -> None:
    ring: Ring[str] = Ring(2)
    ring.extend("abc")
    ring.clear()
    assert len(ring) == 0
    assert ring.dropped == 0


def test_polled_tails_are_deduplicated_by_overlap() -> None:
    lines = [LogLine(f"l{i}") for i in range(6)]
    assert new_lines(lines[:4], lines[2:6]) == lines[4:6]
    assert new_lines(lines[:4], lines[:4]) == []
    assert new_lines(lines[:2], lines[4:6]) == lines[4:6]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (":ep my-endpoint", Command("ep", endpoint="my-endpoint")),
        ("ep my-endpoint@docker", Command("ep", endpoint="my-endpoint", backend="docker")),
        (":dep green", Command("dep", deployment="green")),
        (":dep my-endpoint/green", Command("dep", endpoint="my-endpoint", deployment="green")),
        (":logs", Command("logs")),
        (":filter blue", Command("filter", text="blue")),
        (":q", Command("quit")),
    ],
)
def test_command_grammar(line: str, expected: Command) -> None:
    assert parse_command(line) == expected


def test_unknown_command_is_an_error() -> None:
    with pytest.raises(CommandError, match="unknown command"):
        parse_command(":pods")


def _snap(ts: float, requests: int, errors: int) -> MetricsSnapshot:
    metrics = DeploymentMetrics("blue", requests, {"2xx": requests - errors, "5xx": errors}, 0, 3.0, 9.0)
    return MetricsSnapshot("ep", ts, {"blue": metrics})


def test_metrics_rates_come_from_successive_snapshots() -> None:
    history = MetricsHistory()
    history.add(_snap(100.0, 10, 0))
    history.add(_snap(102.0, 30, 5))
    point = history.latest("blue")
    assert point is not None
    assert point.rps == 10.0
    assert point.error_rate == 0.25
    assert history.series("blue", "p99") == [9.0]


def test_a_counter_reset_is_a_fresh_start_not_a_negative_rate() -> None:
    history = MetricsHistory()
    history.add(_snap(100.0, 50, 0))
    history.add(_snap(101.0, 4, 0))
    assert history.series("blue", "rps") == [4.0]


def test_traffic_changes_are_described() -> None:
    lines = describe_changes({"blue": 100, "green": 0}, {"blue": 90, "green": 10}, {}, {"green": 0})
    assert lines == ["blue: 100% → 90%", "green: 0% → 10%"]
    assert describe_changes({"b": 100}, {"b": 100}, {"g": 10}, {}) == ["mirror g: 10% → 0%"]


def test_files_with_endpoint_name_are_deployments() -> None:
    assert guess_kind("name: blue\nendpoint_name: ep\n") == "deployment"
    assert guess_kind("name: ep\nauth_mode: key\n") == "endpoint"
    assert guess_kind("name: [broken\nendpoint_name: x") == "deployment"


def test_every_state_has_a_glyph_and_a_colour() -> None:
    # The tables are keyed by the enums' values (so the first frame need not import the views): a state added to
    # core must show up here, not as "?".
    for state in ProvisioningState:
        assert STATE_GLYPH[state] != "?"
        assert state_label(state) == f"{STATE_GLYPH[state]} {state.value}"
    for instance in InstanceState:
        assert instance in INSTANCE_GLYPH
    assert state_style(ProvisioningState.SUCCEEDED) == "green"
    assert state_style(ProvisioningState.CANCELED) == "red"
    assert state_style(ProvisioningState.SCALING) == "yellow"


def test_the_first_frame_imports_neither_the_service_nor_the_spec_models() -> None:
    # A fresh interpreter: what `endpointctl.tui.app` (everything the first frame draws) pulls in at import.
    script = (
        "import sys, endpointctl.tui.app, endpointctl.tui.screens.help, endpointctl.tui.screens.main;"
        "print(sorted(m for m in sys.modules if m.startswith(('endpointctl.core.s', 'endpointctl.backends',"
        " 'pydantic', 'httpx', 'yaml', 'endpointctl.core.views'))))"
    )
    out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "[]"


async def test_rollout_panel_shows_what_preparing_a_revision_is_doing() -> None:
    from textual.app import App, ComposeResult

    from endpointctl.core.spec import load_deployment
    from endpointctl.core.views import PREPARING, DeploymentView, RolloutView
    from endpointctl.tui.model.rollouts import RolloutTracker
    from endpointctl.tui.widgets.rollout import RolloutPanel
    from tests.conftest import SAMPLES
    from tests.tui.helpers import widget_text

    class Host(App[None]):
        def compose(self) -> ComposeResult:
            yield RolloutPanel(id="rollout")

    spec = load_deployment(SAMPLES / "managed" / "sample" / "blue-deployment.yml")
    line = "image build: installing 3 requirement(s): numpy==1.26.4"
    view = DeploymentView(
        "docker", spec, ProvisioningState.CREATING, rollout=RolloutView(1, 0, 0, 0, 1, PREPARING, line)
    )
    async with Host().run_test(size=(120, 10)) as pilot:
        panel = pilot.app.query_one(RolloutPanel)
        key = ("docker", "my-endpoint", "blue")
        panel.start(key, "⟳ applying deployment blue on docker")
        panel.show(RolloutTracker().observe(view, 0.0))
        await pilot.pause()
        text = widget_text(panel)
    assert f"preparing {line}" in text
    assert "my-endpoint/blue rev 1 rolling out" in text
    assert "batch 0/0" not in text
