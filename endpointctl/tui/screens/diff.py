"""Shows a unified diff of the running spec against the edited one and asks before applying."""

from __future__ import annotations

import difflib
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static


def unified(old: str, new: str, *, name: str) -> list[str]:
    return list(
        difflib.unified_diff(
            old.splitlines(), new.splitlines(), f"running/{name}", f"edited/{name}", lineterm=""
        )
    )


def colour(lines: list[str]) -> Text:
    text = Text()
    for line in lines:
        style = (
            "green"
            if line.startswith("+")
            else "red"
            if line.startswith("-")
            else "cyan"
            if line.startswith("@")
            else ""
        )
        text.append(line + "\n", style=style)
    return text


class DiffScreen(ModalScreen[bool]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("y", "confirm", "Apply"),
    ]

    def __init__(self, title: str, old: str, new: str, *, name: str, summary: str = "") -> None:
        super().__init__()
        self._title = title
        self._summary = summary
        self._lines = unified(old, new, name=name)

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="-wide"):
            yield Label(self._title, id="dialog-title")
            if self._summary:
                yield Label(self._summary, id="diff-summary")
            with VerticalScroll(id="diff"):
                yield Static(colour(self._lines) if self._lines else Text("no changes"), id="diff-text")
            with Horizontal(id="dialog-buttons"):
                yield Button("Apply (y)", variant="primary", id="yes")
                yield Button("Cancel (esc)", id="no")

    def on_mount(self) -> None:
        self.query_one("#yes", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_confirm(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)
