"""The cockpit on the real process backend: what a pane shows always belongs to its target.

Blue and green run as real scoring hosts; rollouts are started by another client (as the CLI in another terminal
would) while the TUI watches.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from endpointctl.backends.process.launcher import stop_agent
from endpointctl.backends.process.layout import ENV_CACHE_VARIABLE, Layout
from endpointctl.core.home import Home
from endpointctl.core.service import EndpointService
from endpointctl.core.spec import load_deployment, load_endpoint
from endpointctl.tui.app import EndpointctlApp
from endpointctl.tui.context import tui_context
from endpointctl.tui.screens.diff import DiffScreen
from endpointctl.tui.target import Target
from endpointctl.tui.widgets.editor_pane import EditorPane
from endpointctl.tui.widgets.log_view import LogView
from endpointctl.tui.widgets.logs_pane import LogsPane
from endpointctl.tui.widgets.navigator import Navigator
from endpointctl.tui.widgets.rollout import RolloutPanel
from tests.backends.process.conftest import ENV_CACHE, scoring_processes
from tests.tui.conftest import ENDPOINT, SAMPLE
from tests.tui.helpers import select, static_text, wait_for

BACKEND = "process"
ROLLOUT_S = 90.0


@pytest.fixture
async def two_deployments(home: Home, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Home]:
    """The sample endpoint with blue (all traffic) and green (none), both real scoring hosts."""
    monkeypatch.setenv(ENV_CACHE_VARIABLE, str(ENV_CACHE))
    service = EndpointService.open(home)
    try:
        await service.create_endpoint(load_endpoint(SAMPLE / "endpoint.yml"), backend=BACKEND)
        await service.apply_deployment(
            load_deployment(SAMPLE / "blue-deployment.yml"), backend=BACKEND, all_traffic=True
        )
        await service.apply_deployment(load_deployment(SAMPLE / "green-deployment.yml"), backend=BACKEND)
    finally:
        await service.close()
    yield home
    await stop_agent(Layout(home))
    assert scoring_processes(home) == []


async def instances_of(home: Home, deployment: str) -> set[str]:
    service = EndpointService.open(home)
    try:
        view = await service.get_deployment(ENDPOINT, deployment, backend=BACKEND)
    finally:
        await service.close()
    return {i.id for i in view.instances}


async def roll_out_blue(home: Home, instance_count: int) -> None:
    """Another client (the CLI in another terminal) scales blue: a rollout with new instances."""
    service = EndpointService.open(home)
    try:
        spec = load_deployment(SAMPLE / "blue-deployment.yml").model_copy(
            update={"instance_count": instance_count}
        )
        await service.apply_deployment(spec, backend=BACKEND)
    finally:
        await service.close()


async def test_logs_switch_during_a_rollout_shows_no_foreign_line(two_deployments: Home) -> None:
    home = two_deployments
    green_instances = await instances_of(home, "green")
    app = EndpointctlApp(lambda: EndpointService.open(home), poll_s=0.5)
    async with app.run_test(size=(120, 40)) as pilot:
        await select(pilot, Target(BACKEND, ENDPOINT, "blue"))
        pilot.app.screen.query_one(Navigator).focus()
        await pilot.press("l")
        pane = pilot.app.screen.query_one(LogsPane)
        view = pilot.app.screen.query_one(LogView)
        await wait_for(pilot, lambda: len(view.ring) > 0, "blue's log lines", limit_s=20)

        # Roll blue out from the editor (the logs pane is hidden meanwhile), then `:logs green` while it runs.
        pilot.app.screen.query_one(Navigator).focus()
        await pilot.press("e")
        editor = pilot.app.screen.query_one(EditorPane)
        await wait_for(pilot, lambda: not editor.is_new and "name: blue" in editor.area.text, "blue's spec")
        editor.area.load_text(editor.area.text.replace("instance_count: 1", "instance_count: 2"))
        await wait_for(
            pilot, lambda: editor.parsed is not None and "instance_count: 2" in editor.area.text, "valid"
        )
        editor.area.focus()
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, DiffScreen), "the diff")
        await pilot.press("y")
        panel = pilot.app.screen.query_one(RolloutPanel)
        await asyncio.sleep(1.0)
        await pilot.press("escape")
        await pilot.press("colon", *"logs green", "enter")
        await wait_for(pilot, lambda: pane.deployment == "green", "the logs pane on green")
        # The editor follows the selection too: blue's rollout is not left on screen under green.
        await wait_for(
            pilot, lambda: panel.key != ("process", ENDPOINT, "blue"), "the rollout view to leave blue"
        )
        tracker = tui_context(pilot.app.screen).model.rollouts
        await wait_for(
            pilot,
            lambda: (t := tracker.timeline((BACKEND, ENDPOINT, "blue"))) is not None and not t.running,
            "blue's rollout to end",
            limit_s=ROLLOUT_S,
        )
        assert not panel.display or "blue" not in str(panel.render())
        await pilot.pause(2.0)
        foreign = [line for line in view.ring if line.instance not in green_instances]
        assert not foreign, f"green's pane shows lines of {sorted({x.instance for x in foreign})}"
        assert len(view.ring) > 0


BROKEN_SCORE = (
    "def init():\n    raise ValueError('the model file is corrupt')\n\n\ndef run(raw):\n    return raw\n"
)


async def test_a_failing_rollout_names_its_cause_and_revert_restores_what_serves(
    two_deployments: Home, tmp_path: Path
) -> None:
    home = two_deployments
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "score.py").write_text(BROKEN_SCORE)
    app = EndpointctlApp(lambda: EndpointService.open(home), poll_s=0.5)
    async with app.run_test(size=(120, 40)) as pilot:
        await select(pilot, Target(BACKEND, ENDPOINT, "blue"))
        pilot.app.screen.query_one(Navigator).focus()
        await pilot.press("e")
        editor = pilot.app.screen.query_one(EditorPane)
        await wait_for(pilot, lambda: not editor.is_new and "name: blue" in editor.area.text, "blue's spec")
        serving_yaml = editor.area.text
        code_line = next(line for line in serving_yaml.splitlines() if line.strip().startswith("code:"))
        edited = serving_yaml.replace(code_line, code_line.split("code:")[0] + f"code: {broken}")
        editor.area.load_text(edited)
        await wait_for(pilot, lambda: editor.parsed is not None and str(broken) in editor.area.text, "valid")
        editor.area.focus()
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, DiffScreen), "the diff")
        await pilot.press("y")
        panel = pilot.app.screen.query_one(RolloutPanel)
        await wait_for(pilot, lambda: panel.outcome is not None, "the rollout to end", limit_s=ROLLOUT_S)
        assert panel.outcome == "failed"
        shown = str(panel.render())
        # The cause, not an exit code: the exception, its message and where score.py raised it.
        assert "init() raised ValueError: the model file is corrupt (score.py:2)" in shown, shown
        assert shown.startswith("✖")

        # Revert: the spec that serves (revision 1), not the one that failed; the status line says so.
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: str(broken) not in editor.area.text, "the serving spec")
        assert editor.area.text == serving_yaml
        status = static_text(pilot, "#editor-status")
        assert "revision 1 serves; revision 2 failed" in status, status


async def test_a_rollout_started_from_the_cli_appears_as_a_timeline(two_deployments: Home) -> None:
    home = two_deployments
    app = EndpointctlApp(lambda: EndpointService.open(home), poll_s=0.5)
    async with app.run_test(size=(120, 40)) as pilot:
        await select(pilot, Target(BACKEND, ENDPOINT, "blue"))
        pilot.app.screen.query_one(Navigator).focus()
        await pilot.press("e")
        panel = pilot.app.screen.query_one(RolloutPanel)
        assert not panel.display  # nothing rolls out yet
        # Another terminal: `endpointctl online-deployment update … --set instance_count=3`.
        done = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "endpointctl",
            "online-deployment",
            "update",
            "-f",
            str(SAMPLE / "blue-deployment.yml"),
            "--set",
            "instance_count=3",
            "--set",
            "environment_variables.FROM_CLI=yes",
            "-o",
            "none",
        )
        assert await asyncio.wait_for(done.wait(), ROLLOUT_S) == 0
        await wait_for(
            pilot, lambda: "rolled out in" in str(panel.render()), "the timeline's end", limit_s=20
        )
        await wait_for(pilot, lambda: "batch 3/3 ✔" in str(panel.render()), "the batches", limit_s=20)
        shown = str(panel.render())
        assert "my-endpoint/blue rev 1→2" in shown, shown
        assert "1 replaced, 2 added in 3 batches of ≤ 1" in shown, shown
