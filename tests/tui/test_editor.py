"""The YAML editor: errors at their line as you type, invalid YAML never applied, diff + confirm, rollout followed."""

from __future__ import annotations

from pathlib import Path

from textual.pilot import Pilot

from endpointctl.core.home import Home
from endpointctl.core.views import EventView
from endpointctl.tui.screens.diff import DiffScreen
from endpointctl.tui.target import Target
from endpointctl.tui.widgets.editor_pane import EditorPane
from endpointctl.tui.widgets.rollout import RolloutPanel
from tests.fakes.backend import FakeBackend
from tests.tui.conftest import BACKEND, ENDPOINT, make_app, open_service
from tests.tui.helpers import select, static_text, wait_for


async def open_editor(pilot: Pilot[None], target: Target) -> EditorPane:
    await select(pilot, target)
    await pilot.press("e")
    pane = pilot.app.screen.query_one(EditorPane)
    await wait_for(
        pilot, lambda: f"name: {target.deployment or target.endpoint}" in pane.area.text, "the running spec"
    )
    return pane


async def test_invalid_yaml_is_flagged_at_its_line_and_never_applied(seeded: Home) -> None:
    async with make_app(seeded).run_test(size=(120, 40)) as pilot:
        pane = await open_editor(pilot, Target(BACKEND, ENDPOINT, "blue"))
        lines = pane.area.text.splitlines()
        row = next(i for i, line in enumerate(lines) if line.startswith("instance_count:"))
        pane.area.focus()
        pane.area.move_cursor((row, len(lines[row])))
        await pilot.press(*"0000")  # instance_count: 10000 is over the limit
        await wait_for(pilot, lambda: bool(pane.diagnostics), "the diagnostics")
        assert row in pane.area.error_lines
        assert f"line {row + 1}: instance_count" in static_text(pilot, "#editor-errors")
        calls_before = len(FakeBackend.calls)
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert not isinstance(pilot.app.screen, DiffScreen)
        assert "apply_deployment" not in [m for m, _ in FakeBackend.calls[calls_before:]]


async def test_a_valid_edit_shows_a_diff_and_rolls_out_after_confirm(seeded: Home) -> None:
    async with make_app(seeded).run_test(size=(120, 40)) as pilot:
        pane = await open_editor(pilot, Target(BACKEND, ENDPOINT, "blue"))
        pane.area.load_text(pane.area.text.replace("instance_count: 1", "instance_count: 2"))
        await wait_for(
            pilot, lambda: "instance_count: 2" in pane.area.text and pane.parsed is not None, "validation"
        )
        pane.area.focus()
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, DiffScreen), "the diff")
        diff = static_text(pilot, "#diff-text")
        assert "-instance_count: 1" in diff and "+instance_count: 2" in diff
        assert static_text(pilot, "#diff-summary").strip() == "scales 1 → 2 instance(s): no restarts"
        await pilot.press("y")
        panel = pilot.app.screen.query_one(RolloutPanel)
        await wait_for(pilot, lambda: panel.outcome is not None, "the rollout to finish")
        assert panel.outcome == "succeeded"
        assert "rev 1→2 rolled out" in static_text(pilot, "#rollout")
    service = open_service(seeded)
    deployment = await service.get_deployment(ENDPOINT, "blue", backend=BACKEND)
    await service.close()
    assert deployment.spec.instance_count == 2 and deployment.revision == 2


async def test_the_diff_says_when_saving_replaces_instances(seeded: Home) -> None:
    async with make_app(seeded).run_test(size=(80, 24)) as pilot:
        pane = await open_editor(pilot, Target(BACKEND, ENDPOINT, "blue"))
        pane.area.load_text(
            pane.area.text.replace("environment_variables: {}", "environment_variables: {A: b}")
        )
        await wait_for(pilot, lambda: "{A: b}" in pane.area.text and pane.parsed is not None, "validation")
        pane.area.focus()
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, DiffScreen), "the diff")
        assert static_text(pilot, "#diff-summary").startswith(
            "rolling update: 1 instance(s) replaced in 1 batch"
        )


async def test_saving_the_running_spec_unchanged_applies_nothing(seeded: Home) -> None:
    async with make_app(seeded).run_test(size=(120, 40)) as pilot:
        pane = await open_editor(pilot, Target(BACKEND, ENDPOINT, "blue"))
        pane.area.focus()
        calls_before = len(FakeBackend.calls)
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert not isinstance(pilot.app.screen, DiffScreen)
        assert "apply_deployment" not in [m for m, _ in FakeBackend.calls[calls_before:]]


async def test_cancelling_the_diff_changes_nothing(seeded: Home) -> None:
    async with make_app(seeded).run_test(size=(120, 40)) as pilot:
        pane = await open_editor(pilot, Target(BACKEND, ENDPOINT, "blue"))
        pane.area.load_text(pane.area.text.replace("instance_count: 1", "instance_count: 3"))
        await wait_for(
            pilot, lambda: "instance_count: 3" in pane.area.text and pane.parsed is not None, "validation"
        )
        pane.area.focus()
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, DiffScreen), "the diff")
        calls_before = len(FakeBackend.calls)
        await pilot.press("escape")
        await pilot.pause()
        assert "apply_deployment" not in [m for m, _ in FakeBackend.calls[calls_before:]]
        assert not isinstance(pilot.app.screen, DiffScreen)


async def test_open_a_file_to_create_an_endpoint(seeded: Home, tmp_path: Path) -> None:
    spec = tmp_path / "new-endpoint.yml"
    spec.write_text("name: second-endpoint\nauth_mode: key\n")
    async with make_app(seeded).run_test(size=(120, 40)) as pilot:
        pane = await open_editor(pilot, Target(BACKEND, ENDPOINT))
        pane.area.focus()
        await pilot.press("ctrl+o", *str(spec), "enter")
        await wait_for(
            pilot, lambda: pane.is_new and "second-endpoint" in pane.area.text, "the file in the editor"
        )
        assert "new endpoint from file" in static_text(pilot, "#editor-status")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, DiffScreen), "the diff")
        await pilot.press("y")
        panel = pilot.app.screen.query_one(RolloutPanel)
        await wait_for(pilot, lambda: panel.outcome is not None, "the create to finish")
        assert panel.outcome == "succeeded"
    service = open_service(seeded)
    names = [e.name for e in await service.list_endpoints(BACKEND)]
    await service.close()
    assert "second-endpoint" in names


async def test_environment_notes_are_one_line_that_ctrl_n_expands_and_collapses(seeded: Home) -> None:
    notes = [
        "conda pins ignored: numpy=1.26 (the process backend installs with pip)",
        "image recorded but unused: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04",
        "azureml-inference-server-http replaced by endpointctl's scoring host",
    ]
    async with make_app(seeded).run_test(size=(120, 40)) as pilot:
        pane = await open_editor(pilot, Target(BACKEND, ENDPOINT, "blue"))
        panel = pilot.app.screen.query_one(RolloutPanel)
        panel.start((BACKEND, ENDPOINT, "blue"), "applying deployment blue …")
        pane.area.focus()
        for n, note in enumerate(notes):
            panel.event(EventView(n, 0.0, "note", note, "blue", {}))
        await pilot.pause()
        collapsed = static_text(pilot, "#rollout")
        assert "conda pins ignored" in collapsed and "(+2 more, ctrl+n shows)" in collapsed
        assert "image recorded" not in collapsed
        await pilot.press("ctrl+n")  # from inside the text area: it toggles, it types nothing
        await pilot.pause()
        expanded = static_text(pilot, "#rollout")
        assert all(note in expanded for note in notes), expanded
        assert "ctrl+n" not in pane.area.text
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert "image recorded" not in static_text(pilot, "#rollout")
