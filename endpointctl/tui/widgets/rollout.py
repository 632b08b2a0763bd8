"""The rollout view under the YAML editor: the timeline of one deployment's rollout, whoever started it.

It renders the state model's `Timeline` for the editor's target (backend, endpoint, deployment): the plan, each
batch with its elapsed time, each instance's path (starting → init → ready; old ones draining → stopped) and how
it ended. Its title follows the outcome and never stays "applying". A new target shows that target's rollout (or
nothing): a panel can never show another deployment's rollout. Environment notes are grouped on one line, so they
never push batch progress out of view; `ctrl+n` in the editor (or a click on the panel) expands them, one per line,
and collapses them again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets import Static

from endpointctl.tui.format import bar, clock_time
from endpointctl.tui.widgets.overview import BAD_EVENT_WORDS

if TYPE_CHECKING:
    from endpointctl.core.views import EventView
    from endpointctl.tui.model.rollouts import RolloutKey, Timeline

MAX_INSTANCE_LINES = 4
MAX_EVENT_LINES = 2


class RolloutPanel(Static):
    DEFAULT_CSS = """
    RolloutPanel { height: auto; max-height: 10; border-top: solid $primary; display: none; }
    RolloutPanel.-notes-open { max-height: 20; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.key: RolloutKey | None = None
        self.timeline: Timeline | None = None
        # An apply of this panel's target that has not produced a rollout yet (an endpoint, or the first seconds).
        self._pending_title = ""
        self._error = ""
        self._events: list[EventView] = []
        self._notes: list[str] = []
        self.outcome: str | None = None
        self.notes_open = False

    @property
    def notes(self) -> list[str]:
        return list(self._notes)

    def toggle_notes(self) -> None:
        """Expand the grouped notes line (one note per line) or collapse it again."""
        self.notes_open = not self.notes_open and bool(self._notes)
        self.set_class(self.notes_open, "-notes-open")
        self._draw()

    def on_click(self) -> None:
        self.toggle_notes()

    def follow(self, key: RolloutKey | None, timeline: Timeline | None) -> None:
        """Show `key`'s rollout; a different key forgets everything about the previous one."""
        if key != self.key:
            self.key = key
            self._pending_title, self._error = "", ""
            self._events, self._notes = [], []
            self.outcome = None
        self.show(timeline)

    def start(self, key: RolloutKey | None, title: str) -> None:
        """An apply begins (from this editor): shown at once, before the backend reports anything."""
        self.follow(key, None)
        self.timeline = None
        self._pending_title, self._error = title, ""
        self._events, self._notes = [], []
        self.outcome = None
        self.display = True
        self._draw()

    def show(self, timeline: Timeline | None) -> None:
        if timeline is not None and (self.key is None or timeline.key != self.key):
            return
        if timeline is not None and timeline is not self.timeline and self.timeline is not None:
            # A newer rollout of the same deployment (started elsewhere): its own notes and events.
            self._events, self._notes = [], []
        self.timeline = timeline
        if timeline is not None:
            self._pending_title = ""
            self.display = True
            if timeline.outcome is not None and self.outcome is None and not self._error:
                self.outcome = "succeeded" if timeline.outcome == "succeeded" else "failed"
        elif not self._pending_title and not self._error:
            self.display = False
        self._draw()

    def event(self, event: EventView) -> None:
        if self.key is not None and event.deployment not in (None, "", self.key[2]):
            return
        if event.kind == "note":
            self._notes.append(event.message)
            if len(self._notes) == 1:
                self.refresh_bindings()  # the editor's "Notes" key appears in the footer
        else:
            self._events = [*self._events, event][-MAX_EVENT_LINES:]
        self._draw()

    def finish(self, ok: bool, message: str) -> None:
        """The apply returned (ok) or raised: the outcome, even when no timeline was seen (an endpoint)."""
        self.outcome = "succeeded" if ok else "failed"
        if not ok:
            self._error = message
        elif self.timeline is None:
            self._pending_title = message
        self.display = True
        self._draw()

    def title(self, now: float) -> str:
        if self.timeline is not None:
            title = self.timeline.title(now)
            if self._error and self.timeline.outcome is None:
                return f"✖ {self._error}"
            return title
        if self._error:
            return f"✖ {self._error}"
        return self._pending_title

    def _draw(self) -> None:
        now = self.app.tui_context.clock() if hasattr(self.app, "tui_context") else 0.0
        timeline = self.timeline
        title = self.title(now)
        style = "bold green" if title.startswith("✔") else "bold red" if title.startswith("✖") else "bold"
        text = Text(title, style=style)
        if timeline is not None:
            line = Text("\n")
            plan = timeline.plan()
            if plan:
                line.append(plan, style="dim")
            if timeline.running and timeline.batches:
                current = max(timeline.batch_seen, default=0)
                done = sum(
                    1
                    for t in timeline.instances.values()
                    if t.revision == timeline.revision and t.state == "ready"
                )
                pct = round(100 * done / timeline.desired) if timeline.desired else 0
                line.append(
                    f"  batch {current}/{timeline.batches} {bar(pct, 10)} {done}/{timeline.desired} ready"
                )
            elif timeline.running and timeline.phase:
                line.append(f"  {timeline.phase} {timeline.message}".rstrip())
            text.append_text(line)
            batches = timeline.batch_lines(now)
            if batches:
                text.append("\n" + " · ".join(batches))
            instances = timeline.instance_lines()
            for entry in instances[:MAX_INSTANCE_LINES]:
                text.append("\n  " + entry)
            if len(instances) > MAX_INSTANCE_LINES:
                text.append(f"\n  … {len(instances) - MAX_INSTANCE_LINES} more instance(s)", style="dim")
        if self._notes and self.notes_open:
            text.append(f"\nℹ {len(self._notes)} note(s) (ctrl+n hides):", style="dim")
            for note in self._notes:
                text.append(f"\n  · {note}", style="dim")
        elif self._notes:
            first = self._notes[0]
            more = f" (+{len(self._notes) - 1} more, ctrl+n shows)" if len(self._notes) > 1 else ""
            text.append(f"\nℹ {first[:60]}{'…' if len(first) > 60 else ''}{more}", style="dim")
        for event in self._events:
            bad = any(w in event.kind.lower() for w in BAD_EVENT_WORDS)
            text.append(f"\n{clock_time(event.ts)} {event.kind}: {event.message}", style="red" if bad else "")
        self.update(text)
