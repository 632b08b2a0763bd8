"""Live logs of one deployment: container toggle, instance picker, follow/wrap/timestamps, search with n/N.

The stream is the state model's (`LogStreams`), opened for a `LogKey` (backend, endpoint, deployment, container,
instance); every batch arrives with its key and only the current key's batches are queued. A timer flushes the
queue into the view, so a flood of lines costs a few repaints. A new target, container or instance opens a new
stream; a line read for the old key can still arrive, and is dropped.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Static

from endpointctl.core.capabilities import Capability
from endpointctl.tui.screens.prompt import PromptScreen
from endpointctl.tui.widgets.log_view import LogView
from endpointctl.tui.widgets.pane import Pane

if TYPE_CHECKING:
    from endpointctl.core.capabilities import Capabilities
    from endpointctl.core.views import Container, LogLine
    from endpointctl.tui.model.snapshot import Snapshot
    from endpointctl.tui.model.streams import LogBatch, LogKey
    from endpointctl.tui.target import Target

FLUSH_S = 0.1


class LogsPane(Pane):
    REQUIRES = Capability.LOGS
    NEEDS = "deployment"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "toggle_container", "Container", tooltip="inference-server ⇄ storage-initializer"),
        Binding("p", "next_instance", "Instance", tooltip="Next instance, or all of them interleaved"),
        Binding("f", "toggle_follow", "Follow", tooltip="Follow new lines on/off"),
        Binding("w", "toggle_wrap", "Wrap", tooltip="Wrap long lines on/off"),
        # `t` is the Traffic tab everywhere: one key, one action.
        Binding("T", "toggle_timestamps", "Time", key_display="T", tooltip="Timestamps on/off"),
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
        self._backlog: list[LogLine] = []
        self.key: LogKey | None = None
        self._search_text = ""
        self._match = ""

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
        if self._backlog:
            backlog, self._backlog = self._backlog, []
            self.view.append(backlog, new=False)
            self._show_status()
        if self._pending:
            batch, self._pending = self._pending, []
            self.view.append(batch)
            self._show_status()

    def _receive(self, batch: LogBatch) -> None:
        if batch.key != self.key:
            return  # read for a target this pane no longer shows
        if batch.backlog:
            self._backlog.extend(batch.lines)
            return
        now = self.ctx.clock()
        # Lines without a time of their own get the time they arrived: `T` then shows something true.
        self._pending.extend(line if line.ts is not None else replace(line, ts=now) for line in batch.lines)

    def _stream_failed(self, key: LogKey, error: Exception) -> None:
        if key == self.key:
            self.notify(f"logs: {error}", severity="error", timeout=5)

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
            if self._match:
                text.append(f" {self._match}", style="bold")
        if not view.follow and view.unseen:
            text.append(f"  +{view.unseen} new lines (G)", style="bold yellow")
        text.append(f"  {len(view.ring):,} lines", style="dim")
        self.query_one("#logs-status", Static).update(text)

    def retarget(self, target: Target | None, caps: Capabilities | None) -> None:
        if target != self.target:
            # Hidden or not, the old target's stream ends now: nothing of it may reach the new target's view.
            self._close()
        super().retarget(target, caps)

    def _close(self) -> None:
        if self.key is not None:
            self.ctx.logs.close()
        self.key = None
        self._pending, self._backlog = [], []

    def load(self, blocked: str | None) -> None:
        self._close()
        self.view.clear()
        if self.target is None or (
            self.target.deployment is not None and self.target.deployment != self.deployment
        ):
            self.instance = None
        self.deployment = self.target.deployment if self.target is not None else None
        if blocked is None:
            self._open()
        self._show_status()

    def restart(self) -> None:
        self._close()
        self.view.clear()
        self._open()
        self._show_status()

    def show_snapshot(self, snapshot: Snapshot) -> None:
        if self.active and self.key is None and self.blocked_reason() is None:
            self._open()  # the target was not in a snapshot yet
        elif self.key is not None:
            self._show_instances()

    def _open(self) -> None:
        """Open the stream for the target, choosing the deployment from the snapshot when only an endpoint is
        selected (the one with the most traffic)."""
        from endpointctl.tui.model.streams import LogKey

        target, entry = self.target, self.entry()
        if target is None or target.endpoint is None or entry is None:
            return
        deployment = target.deployment
        if deployment is None:
            names = [d.name for d in entry.deployments]
            if not names:
                self.notify("logs: this endpoint has no deployments yet", severity="warning")
                return
            deployment = max(names, key=lambda n: entry.endpoint.traffic.get(n, 0))
        self.deployment = deployment
        self.key = LogKey(target.backend, target.endpoint, deployment, self.container, self.instance)
        self._show_instances()
        follow = self.caps is not None and Capability.LOG_FOLLOW in self.caps
        self.ctx.logs.open(
            self.key,
            self.service,
            self._receive,
            follow=follow,
            poll_s=self.ctx.poll_s,
            on_error=self._stream_failed,
        )

    def _show_instances(self) -> None:
        entry = self.entry()
        view = entry.deployment(self.deployment) if entry is not None and self.deployment else None
        instances = [i.id for i in view.instances] if view is not None else []
        if instances != self.instances:
            self.instances = instances
            self.view.set_options(show_instance=self.instance is None and len(instances) != 1)
            self._show_status()

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
            self._count_matches()

        self.app.push_screen(
            PromptScreen("Search logs (regex, case-insensitive)", self._search_text, bottom=True), done
        )

    def action_find(self, forward: bool) -> None:
        if not self.view.find_next(forward=forward):
            self.notify("no match", severity="warning")
        self._count_matches()

    def _count_matches(self) -> None:
        """ "match 3/17": counted when the operator searches or jumps, not on every flush."""
        n, total = self.view.match_position()
        self._match = f"match {n}/{total}" if self._search_text else ""
        self._show_status()

    def action_start(self) -> None:
        self.view.jump_start()
        self._show_status()

    def action_end(self) -> None:
        self.view.jump_end()
        self._show_status()

    def on_log_view_follow_changed(self) -> None:
        self._show_status()
