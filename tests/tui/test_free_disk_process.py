"""Free disk from the TUI on the real process backend: the palette offers it, a confirmation lists what goes
(nothing is removed before `y`), and the agent removes exactly that."""

from __future__ import annotations

import os
import time

from endpointctl.backends.process.launcher import stop_agent
from endpointctl.backends.process.layout import Layout
from endpointctl.core.home import Home
from endpointctl.core.service import EndpointService
from endpointctl.tui.app import EndpointctlApp
from endpointctl.tui.commands import EndpointCommands
from endpointctl.tui.context import tui_context
from endpointctl.tui.screens.confirm import ConfirmScreen
from endpointctl.tui.screens.main import MainScreen
from tests.tui.helpers import static_text, wait_for

OLD = time.time() - 7200


async def test_free_disk_lists_what_goes_and_removes_it_after_confirm(home: Home) -> None:
    layout = Layout(home)
    orphan = layout.log_dir("gone-endpoint", "blue")  # a deployment deleted while no agent ran
    orphan.mkdir(parents=True)
    log = orphan / "inference-server.blue-1.log"
    log.write_text("an old line\n")
    for path in (log, orphan):
        os.utime(path, (OLD, OLD))
    app = EndpointctlApp(lambda: EndpointService.open(home), poll_s=0.5)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            main = pilot.app.screen
            assert isinstance(main, MainScreen)
            provider = EndpointCommands(main)
            await wait_for(
                pilot,
                lambda: any(b.status.available for b in tui_context(main).model.snapshot.backends),
                "the process backend's status",
            )
            names = [str(hit.text) async for hit in provider.discover()]
            assert "Free disk on process…" in names, names
            await pilot.press("ctrl+p", *"free disk on process", "enter")
            await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen), "the confirmation")
            assert static_text(pilot, "#dialog-title").strip() == "Free disk on process?"
            body = static_text(pilot, "#dialog-body")
            assert "would free" in body and "the deployment no longer exists" in body, body
            assert orphan.is_dir(), "removed before it was confirmed"
            await pilot.press("y")
            await wait_for(pilot, lambda: not orphan.exists(), "the removal", limit_s=30)
    finally:
        await stop_agent(layout)
