"""`?`: every binding of every pane, plus the `:` command grammar."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from endpointctl.tui.command_line import HELP

KEY_NAMES = {"slash": "/", "question_mark": "?", "colon": ":"}


def binding_table(title: str, bindings: list[BindingType]) -> Table:
    table = Table(title=title, title_justify="left", show_header=False, box=None, padding=(0, 1), expand=True)
    table.add_column("key", style="bold", width=16)
    table.add_column("action")
    for binding in bindings:
        if not isinstance(binding, Binding):
            continue
        keys = " / ".join(KEY_NAMES.get(k.strip(), k.strip()) for k in binding.key.split(","))
        table.add_row(keys, binding.description or binding.action)
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,question_mark", "dismiss", "Close")]

    def __init__(self, sections: list[tuple[str, list[BindingType]]]) -> None:
        super().__init__()
        self._sections = sections

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="dialog", classes="-wide"):
            yield Label("Keys (esc to close)", id="dialog-title")
            for title, bindings in self._sections:
                yield Static(binding_table(title, bindings))
            yield Static(Text(":  command mode\n" + HELP))
            yield Static(
                Text("ctrl+p  command palette: go to endpoint, create from file, delete, keys, credentials")
            )

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
