"""The Textual app: composition only. Screens and panes do the work."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from textual.app import App
from textual.binding import Binding, BindingType
from textual.worker import Worker, WorkerState

from endpointctl.core.service import EndpointService
from endpointctl.tui.commands import EndpointCommands
from endpointctl.tui.context import TuiContext
from endpointctl.tui.screens.help import HelpScreen
from endpointctl.tui.screens.main import MainScreen
from endpointctl.tui.screens.prompt import PromptScreen
from endpointctl.tui.widgets.editor_pane import EditorPane
from endpointctl.tui.widgets.invoke_pane import InvokePane
from endpointctl.tui.widgets.logs_pane import LogsPane
from endpointctl.tui.widgets.navigator import Navigator
from endpointctl.tui.widgets.overview import OverviewPane
from endpointctl.tui.widgets.traffic_pane import TrafficPane
from endpointctl.tui.widgets.traffic_slider import TrafficSlider

STYLES = Path(__file__).parent / "styles"


class EndpointctlApp(App[None]):
    TITLE = "endpointctl"
    CSS_PATH = [STYLES / "app.tcss", STYLES / "panes.tcss"]  # noqa: RUF012 - the type Textual declares
    COMMANDS = App.COMMANDS | {EndpointCommands}
    ENABLE_COMMAND_PALETTE = True
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("colon", "command_line", "Cmd", key_display=":"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(
        self,
        service_factory: Callable[[], EndpointService],
        *,
        clock: Callable[[], float] = time.time,
        poll_s: float = 2.0,
        log_capacity: int = 50_000,
    ) -> None:
        super().__init__()
        self.tui_context = TuiContext(
            service_factory(), clock=clock, poll_s=poll_s, log_capacity=log_capacity
        )

    def on_mount(self) -> None:
        self.push_screen(MainScreen())

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # Workers catch the façade's errors themselves; this is the net for everything else: a notification,
        # never a crash (every @work here sets exit_on_error=False).
        if event.state is WorkerState.ERROR and event.worker.error is not None and self.is_running:
            self.notify(f"{event.worker.name}: {event.worker.error}", severity="error", timeout=6)

    async def on_unmount(self) -> None:
        await self.tui_context.service.close()

    def action_help(self) -> None:
        sections: list[tuple[str, list[BindingType]]] = [
            ("Global", [*self.BINDINGS, Binding("ctrl+p", "", "Command palette")]),
            ("Main", list(MainScreen.BINDINGS)),
            ("Navigator", list(Navigator.BINDINGS)),
            ("Overview", list(OverviewPane.BINDINGS)),
            ("Logs", list(LogsPane.BINDINGS)),
            ("YAML editor", list(EditorPane.BINDINGS)),
            ("Traffic", list(TrafficPane.BINDINGS) + list(TrafficSlider.BINDINGS)),
            ("Invoke", list(InvokePane.BINDINGS)),
        ]
        self.push_screen(HelpScreen(sections))

    def action_command_line(self) -> None:
        main = self.screen
        if not isinstance(main, MainScreen):
            return

        def done(value: str | None) -> None:
            if value:
                main.run_command(value)

        self.push_screen(
            PromptScreen(":", placeholder="ep NAME · dep NAME · logs · traffic · invoke · q", bottom=True),
            done,
        )
