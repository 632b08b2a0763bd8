"""A one-line text prompt (file paths, `:` commands, search terms, request counts)."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label


class PromptScreen(ModalScreen[str | None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(
        self,
        label: str,
        value: str = "",
        *,
        placeholder: str = "",
        bottom: bool = False,
        on_change: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(classes="-bottom" if bottom else "-center")
        self._label = label
        self._value = value
        self._placeholder = placeholder
        self._on_change = on_change  # called as the text changes (a filter that applies as you type)

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt"):
            yield Label(self._label)
            yield Input(self._value, placeholder=self._placeholder, id="prompt-input")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if self._on_change is not None:
            self._on_change(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)
