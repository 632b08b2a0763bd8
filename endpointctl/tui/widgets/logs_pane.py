"""Live logs of one deployment: container toggle, instance picker, follow/wrap/timestamps, search with n/N.

One exclusive worker streams into a queue; a timer flushes the queue into the view in batches, so a flood of
lines costs a few repaints. Switching container or instance restarts the worker, which cancels the old stream.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Static

from endpointctl.core.capabilities import Capability
from endpointctl.tui.screens.prompt import PromptScreen
from endpointctl.tui.widgets.log_view import LogView
from endpointctl.tui.widgets.pane import Pane

if TYPE_CHECKING:
    from endpointctl.core.views import Container, LogLine

TAIL_LINES = 500
FLUSH_S = 0.1


def new_lines(previous: Sequence[LogLine], latest: Sequence[LogLine]) -> list[LogLine]:
    """Lines of `latest` not already seen: backends that only return "the last N lines" are polled and de-duplicated."""
    for k in range(min(len(previous), len(latest)), 0, -1):
        if list(previous[len(previous) - k :]) == list(latest[:k]):
            return list(latest[k:])
    return list(latest)


class LogsPane(Pane):
    REQUIRES = Capability.LOGS
    NEEDS = "deployment"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "toggle_container", "Container", tooltip="inference-server ⇄ storage-initializer"),
        Binding("p", "next_instance", "Instance", tooltip="Next instance, or all of them interleaved"),
        Binding("f", "toggle_follow", "Follow", tooltip="Follow new lines on/off"),
        Binding("w", "toggle_wrap", "Wrap", tooltip="Wrap long lines on/off"),
        Binding("t", "toggle_timestamps", "Time", tooltip="Timestamps on/off"),
        Binding("slash", "search", "Search", tooltip="Search and highlight (n / N: next / previous)"),
        Binding("n", "find(True)", "Next", show=False),
        Binding("N", "find(False)", "Prev", show=False),
        Binding("g", "start", "Start", show=False, tooltip="Jump to the first line"),
        Binding("G", "end", "End", show=False, tooltip="Jump to the last line"),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.storage_initializer = False  # which container: the inference server's logs, or the initializer's
        self.instances: list[str] = []
        self.instance: str | None = None  # None: all instances, interleaved with a prefix
        self.deployment: str | None = None
        self._pending: list[LogLine] = []
        self._search_text = ""

    def picks_deployment(self) -> bool:
        return True

    def compose(self) -> ComposeResult:
        yield Static("", id="blocked")
        yield Static("", id="logs-status")
        yield LogView(self.ctx.log_capacity, id="log-view")

    def on_mount(self) -> None:
        self.set_interval(FLUSH_S, self._flush)

    @property
    def view(self) -> LogView:
        return self.query_one(LogView)

    def _flush(self) -> None:
        if self._pending:
            batch, self._pending = self._pending, []
            self.view.append(batch)
            self._show_status()

    def _show_status(self) -> None:
        view = self.view
        on_off = {True: "on", False: "off"}
        text = Text()
        text.append(f" {self.deployment or '-'} ", style="bold reverse")
        text.append(
            f" [{'storage-initializer' if self.storage_initializer else 'inference-server'}] ", style="bold"
        )
        text.append(f"instance: {self.instance or 'all'}  ")
        text.append(f"follow {on_off[view.follow]}  wrap {on_off[view.wrap]}  time {on_off[view.timestamps]}")
        if self._search_text:
            text.append(f"  /{self._search_text}")
        if not view.follow and view.unseen:
            text.append(f"  +{view.unseen} new lines (G)", style="bold yellow")
        text.append(f"  {len(view.ring):,} lines", style="dim")
        self.query_one("#logs-status", Static).update(text)

    def load(self, blocked: str | None) -> None:
        self._pending = []
        self.view.clear()
        if self.target is None or (
            self.target.deployment is not None and self.target.deployment != self.deployment
        ):
            self.instance = None
        self.deployment = self.target.deployment if self.target is not None else None
        if blocked is None:
            self._stream()
        else:
            self.workers.cancel_group(self, "logs")
        self._show_status()

    def restart(self) -> None:
        self._pending = []
        self.view.clear()
        self._stream()
        self._show_status()

    @work(exit_on_error=False, exclusive=True, group="logs")
    async def _stream(self) -> None:
        target = self.target
        if target is None or target.endpoint is None:
            return
        svc = self.service
        try:
            deployment = target.deployment
            if deployment is None:
                endpoint = await svc.get_endpoint(target.endpoint, backend=target.backend)
                names = [d.name for d in await svc.list_deployments(target.endpoint, backend=target.backend)]
                if not names:
                    self.notify("logs: this endpoint has no deployments yet", severity="warning")
                    return
                deployment = max(names, key=lambda n: endpoint.traffic.get(n, 0))
            self.deployment = deployment
            dep = await svc.get_deployment(target.endpoint, deployment, backend=target.backend)
            self.instances = [i.id for i in dep.instances]
            self.view.set_options(show_instance=self.instance is None and len(self.instances) != 1)
            self._show_status()
            tail = await svc.get_logs(
                target.endpoint,
                deployment,
                container=self.container,
                lines=TAIL_LINES,
                instance=self.instance,
                backend=target.backend,
            )
            self._pending.extend(tail)
            if self.caps is not None and Capability.LOG_FOLLOW in self.caps:
                stream = svc.follow_logs(
                    target.endpoint,
                    deployment,
                    container=self.container,
                    instance=self.instance,
                    backend=target.backend,
                )
                async for line in stream:
                    self._pending.append(line)
            else:
                await self._poll_tail(target.endpoint, deployment, target.backend, tail)
        except Exception as exc:  # the pane stays usable; the user can retry by toggling
            self.notify(f"logs: {exc}", severity="error", timeout=5)

    async def _poll_tail(self, endpoint: str, deployment: str, backend: str, seen: list[LogLine]) -> None:
        import asyncio

        while True:
            await asyncio.sleep(self.ctx.poll_s)
            latest = await self.service.get_logs(
                endpoint,
                deployment,
                container=self.container,
                lines=TAIL_LINES,
                instance=self.instance,
                backend=backend,
            )
            self._pending.extend(new_lines(seen, latest))
            seen = latest

    # --- actions ------------------------------------------------------------------------------
    @property
    def container(self) -> Container:
        # Imported on use: the views module brings the spec models, which the first frame does not need.
        from endpointctl.core.views import Container

        return Container.STORAGE_INITIALIZER if self.storage_initializer else Container.INFERENCE_SERVER

    def action_toggle_container(self) -> None:
        self.storage_initializer = not self.storage_initializer
        self.restart()

    def action_next_instance(self) -> None:
        choices: list[str | None] = [None, *self.instances]
        position = choices.index(self.instance) if self.instance in choices else 0
        self.instance = choices[(position + 1) % len(choices)]
        self.restart()

    def action_toggle_follow(self) -> None:
        self.view.set_follow(not self.view.follow)
        self._show_status()

    def action_toggle_wrap(self) -> None:
        self.view.set_options(wrap=not self.view.wrap)
        self._show_status()

    def action_toggle_timestamps(self) -> None:
        self.view.set_options(timestamps=not self.view.timestamps)
        self._show_status()

    def action_search(self) -> None:
        def done(value: str | None) -> None:
            if value is None:
                return
            self._search_text = value
            if not self.view.set_search(value) and value:
                self.notify(f"no match for {value!r}", severity="warning")
            self._show_status()

        self.app.push_screen(
            PromptScreen("Search logs (regex, case-insensitive)", self._search_text, bottom=True), done
        )

    def action_find(self, forward: bool) -> None:
        if not self.view.find_next(forward=forward):
            self.notify("no match", severity="warning")
        self._show_status()

    def action_start(self) -> None:
        self.view.jump_start()
        self._show_status()

    def action_end(self) -> None:
        self.view.jump_end()
        self._show_status()

    def on_log_view_follow_changed(self) -> None:
        self._show_status()
