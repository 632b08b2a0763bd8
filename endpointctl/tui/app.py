"""The Textual app: composition only. Screens and panes do the work."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual import work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.worker import Worker, WorkerState

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

if TYPE_CHECKING:
    from endpointctl.core.service import EndpointService

STYLES = Path(__file__).parent / "styles"


class EndpointctlApp(App[None]):
    TITLE = "endpointctl"
    CSS_PATH = [STYLES / "app.tcss", STYLES / "panes.tcss"]  # noqa: RUF012 - the type Textual declares
    COMMANDS = App.COMMANDS | {EndpointCommands}
    ENABLE_COMMAND_PALETTE = True
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding(
            "colon",
            "command_line",
            "Cmd",
            key_display=":",
            tooltip="Command mode (commands at the end)",
            show=False,  # in `?`: the footer keeps its room for the pane's keys, `? Help` and `q Quit`
        ),
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
        self._service_factory = service_factory
        self._unmounted = False
        self.tui_context = TuiContext(clock=clock, poll_s=poll_s, log_capacity=log_capacity)

    def on_mount(self) -> None:
        self.push_screen(MainScreen())
        # The façade, the spec models and every backend's module (entry points) are most of a cold start and
        # nothing the first frame needs: open them once it is on screen, off the event loop.
        self.call_after_refresh(self._open_service)

    @work(thread=True, exit_on_error=False, group="service")
    def _open_service(self) -> None:
        try:
            service = self._service_factory()
        except Exception as exc:
            self.call_from_thread(
                self.notify, f"cannot open the service: {exc}", severity="error", timeout=60
            )
            return
        try:
            accepted = self.call_from_thread(self._service_opened, service)
        except RuntimeError:  # the event loop is gone
            accepted = False
        if not accepted:  # the app quit while the service was opening: nobody else will close it
            asyncio.run(service.close())

    def _service_opened(self, service: EndpointService) -> bool:
        if self._unmounted:
            return False
        self.tui_context.opened = service
        for screen in self.screen_stack:
            if isinstance(screen, MainScreen):
                screen.service_ready()
        return True

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # Workers catch the façade's errors themselves; this is the net for everything else: a notification,
        # never a crash (every @work here sets exit_on_error=False).
        if event.state is WorkerState.ERROR and event.worker.error is not None and self.is_running:
            self.notify(f"{event.worker.name}: {event.worker.error}", severity="error", timeout=6)

    async def on_unmount(self) -> None:
        self._unmounted = True
        if self.tui_context.opened is not None:
            await self.tui_context.opened.close()

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
        self.push_screen(HelpScreen(sections, self._limits()))

    def _limits(self) -> list[tuple[str, list[str]]]:
        """Per backend, what it cannot do and why (from the latest snapshot's capabilities)."""
        from endpointctl.core.capabilities import Capability

        out = []
        for backend in self.tui_context.model.snapshot.backends:
            caps = backend.status.capabilities
            reasons = [f"{c.value.replace('_', ' ')}: {caps.why_not(c)}" for c in Capability if c not in caps]
            if reasons:
                out.append((backend.status.name, reasons))
        return out

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
