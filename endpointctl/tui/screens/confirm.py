"""Yes/no confirmation, optionally requiring the user to type a word (for deletions)."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static


class ConfirmScreen(ModalScreen[bool]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("y", "confirm", "Yes", show=False),
    ]

    def __init__(self, title: str, body: str = "", *, typed: str | None = None) -> None:
        super().__init__()
        self._title = title
        self._body = body
        self._typed = typed

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self._title, id="dialog-title")
            if self._body:
                yield Static(self._body, id="dialog-body", markup=False)
            if self._typed is not None:
                yield Label(f"Type {self._typed!r} to confirm:")
                yield Input(id="typed")
            with Horizontal(id="dialog-buttons"):
                yield Button("Confirm (y)", variant="error" if self._typed else "primary", id="yes")
                yield Button("Cancel (esc)", id="no")

    def on_mount(self) -> None:
        if self._typed is not None:
            self.query_one("#typed", Input).focus()
        else:
            self.query_one("#yes", Button).focus()

    def _accepted(self) -> bool:
        if self._typed is None:
            return True
        return self.query_one("#typed", Input).value.strip() == self._typed

    def action_confirm(self) -> None:
        if self._typed is not None and self.focused is self.query_one("#typed", Input):
            return  # "y" is text inside the input, not a shortcut
        self._finish()

    def _finish(self) -> None:
        if self._accepted():
            self.dismiss(True)
        else:
            self.notify(f"type {self._typed!r} exactly to confirm", severity="warning")

    def on_input_submitted(self) -> None:
        self._finish()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "yes":
            self._finish()
        else:
            self.dismiss(False)

    def action_cancel(self) -> None:
        self.dismiss(False)
