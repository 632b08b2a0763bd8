"""A text area inside a pane: letters are text, so leaving it is one key (esc) and the footer says so.

Pane switches (o l e t i) are plain letters everywhere else; here they would type into the YAML or the request
body (`instance_count: 3o`). esc leaves the text for the navigator, where the letters switch panes again; alt+letter
switches without leaving.
"""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.widgets import TextArea


class PaneTextArea(TextArea):
    BINDINGS: ClassVar[list[BindingType]] = [
        # Priority: TextArea itself takes esc when tab inserts indentation.
        Binding("escape", "leave", "Leave text (then o l e t i)", priority=True),
    ]

    def action_leave(self) -> None:
        focus_navigator = getattr(self.screen, "action_focus_navigator", None)
        if callable(focus_navigator):
            focus_navigator()
        else:  # a text area on a screen without a navigator (a dialog): the next widget
            self.screen.focus_next()
