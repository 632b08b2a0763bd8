"""`?`: every binding of every pane, the `:` command grammar, and what each backend cannot do, with why.

What a backend lacks is said here (and by the greyed keys and the pane's banner), not on the status row: the
status row is for what changes — rollouts, errors, the agent.
"""

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
    # Only the action column flexes, so the keys line up from one section to the next.
    table.add_column("key", style="bold", width=16, no_wrap=True)
    table.add_column("action", ratio=1)
    for binding in bindings:
        if not isinstance(binding, Binding):
            continue
        keys = " / ".join(KEY_NAMES.get(k.strip(), k.strip()) for k in binding.key.split(","))
        action = Text(binding.description or binding.action)
        if binding.tooltip:
            # The footer shows the short name; help says what it does under that name.
            action.append(f"  {binding.tooltip}", style="dim")
        table.add_row(keys, action)
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,question_mark", "dismiss", "Close")]

    def __init__(
        self, sections: list[tuple[str, list[BindingType]]], limits: list[tuple[str, list[str]]] | None = None
    ) -> None:
        super().__init__()
        self._sections = sections
        self._limits = limits or []

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="dialog", classes="-wide"):
            yield Label("Keys (esc to close)", id="dialog-title")
            for title, bindings in self._sections:
                yield Static(binding_table(title, bindings))
            yield Static(Text(":  command mode\n" + HELP))
            yield Static(
                Text("ctrl+p  command palette: go to endpoint, create from file, delete, keys, credentials")
            )
            for backend, reasons in self._limits:
                text = Text(f"{backend} backend cannot:", style="bold")
                for reason in reasons:
                    text.append(f"\n  ⊘ {reason}", style="dim")
                yield Static(text, classes="limits")

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
