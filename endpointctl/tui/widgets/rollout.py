"""Follows one apply: batch n of m, instances replaced, failures and rollback as they happen."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets import Static

from endpointctl.tui.format import bar, clock_time, state_label
from endpointctl.tui.widgets.overview import BAD_EVENT_WORDS

if TYPE_CHECKING:
    from endpointctl.core.views import DeploymentView, EventView

MAX_LINES = 6


class RolloutPanel(Static):
    DEFAULT_CSS = """
    RolloutPanel { height: auto; max-height: 9; border-top: solid $primary; display: none; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self._title = ""
        self._progress = Text()
        self._lines: list[Text] = []
        self.outcome: str | None = None

    def start(self, title: str) -> None:
        self._title = title
        self._progress = Text("accepted, waiting for the backend…", style="dim")
        self._lines = []
        self.outcome = None
        self.display = True
        self._draw()

    def progress(self, view: DeploymentView) -> None:
        text = Text(f"rev {view.revision} {state_label(view.provisioning_state)}")
        desired = getattr(view.spec, "instance_count", None)
        ready = view.ready_instances
        if view.rollout is not None and view.rollout.preparing:
            text.append(f"  preparing  {view.rollout.message}")
        elif view.rollout is not None:
            r = view.rollout
            done = round(100 * r.updated / r.desired) if r.desired else 0
            text.append(
                f"  batch {r.batch}/{r.batches}  {bar(done, 12)} {r.updated}/{r.desired} replaced  {r.phase}"
            )
            if r.message:
                text.append(f"  {r.message}", style="dim")
        elif desired is not None:
            text.append(f"  {ready}/{desired} ready")
        if view.reason:
            text.append(f"  {view.reason}", style="red")
        self._progress = text
        self._draw()

    def event(self, event: EventView) -> None:
        bad = any(w in event.kind.lower() for w in BAD_EVENT_WORDS)
        self._lines = [
            *self._lines,
            Text(f"{clock_time(event.ts)} {event.kind}: {event.message}", style="red" if bad else ""),
        ][-MAX_LINES:]
        self._draw()

    def finish(self, ok: bool, message: str) -> None:
        self.outcome = "succeeded" if ok else "failed"
        self._lines = [*self._lines, Text(message, style="bold green" if ok else "bold red")][-MAX_LINES:]
        self._draw()

    def _draw(self) -> None:
        text = Text(f"⟳ {self._title}\n", style="bold")
        text.append_text(self._progress)
        for line in self._lines:
            text.append("\n")
            text.append_text(line)
        self.update(text)
