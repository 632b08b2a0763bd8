"""A YAML TextArea that marks the gutter of lines with validation errors."""

from __future__ import annotations

from rich.style import Style
from textual.strip import Strip

from endpointctl.tui.widgets.pane_text_area import PaneTextArea

ERROR_GUTTER = Style(reverse=True, bold=True)


class ErrorTextArea(PaneTextArea):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(
            "",
            language="yaml",
            theme="css",
            soft_wrap=False,
            tab_behavior="indent",
            show_line_numbers=True,
            id=id,
        )
        self.indent_width = 2
        self.error_lines: frozenset[int] = frozenset()  # 0-based document lines

    def set_error_lines(self, lines: frozenset[int]) -> None:
        if lines != self.error_lines:
            self.error_lines = lines
            self.refresh()

    def render_line(self, y: int) -> Strip:
        strip = super().render_line(y)
        # soft_wrap is off, so a screen row is exactly one document line.
        line = int(self.scroll_offset.y) + y
        if line not in self.error_lines or not self.show_line_numbers:
            return strip
        gutter, *rest = strip.divide([self.gutter_width, strip.cell_length])
        marked = Strip([*gutter.apply_style(ERROR_GUTTER)])
        return Strip.join([marked, *rest])
