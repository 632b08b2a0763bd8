"""A log viewer on Textual's Line API: only visible rows are rendered, memory is a bounded ring.

Lines arrive in batches (the pane flushes its queue a few times a second), so 100,000 lines arriving at once
cost one ring extend and one repaint, not 100,000 widget updates.
"""

from __future__ import annotations

import re
import time
from bisect import bisect_right
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.style import Style
from rich.text import Text
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from endpointctl.tui.widgets.ring import Ring

if TYPE_CHECKING:
    from endpointctl.core.views import LogLine

# Rendering is per visible row, but a single pathological line must not cost a megabyte of Text.
MAX_LINE_CELLS = 2000
# A line's own leading timestamp ("2026-12-05 05:01:59,358 ", "2026-12-05T05:01:59.358Z "), hidden while
# timestamps are off: the instance wrote it, and with timestamps on the view shows one column of them.
OWN_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)? ")
MATCH_STYLE = Style(reverse=True, bold=True)
MARKER_STYLE = Style(italic=True, reverse=True)
TS_STYLE = Style(dim=True)
PREFIX_STYLE = Style(bold=True)


class LogView(ScrollView, can_focus=True):
    DEFAULT_CSS = """
    LogView { background: $surface; }
    """

    class FollowChanged(Message):
        def __init__(self, follow: bool) -> None:
            super().__init__()
            self.follow = follow

    def __init__(self, capacity: int = 50_000, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.ring: Ring[LogLine] = Ring(capacity)
        self.follow = True
        self.wrap = False
        self.timestamps = False
        self.show_instance = False
        self.search: re.Pattern[str] | None = None
        self.match_line: int | None = None
        self.unseen = 0
        self._max_width = 0
        # Wrap mode: row_starts[i] is the first screen row of logical line i; rebuilt lazily.
        self._row_starts: list[int] | None = None
        self._wrap_width = 0

    # --- content ------------------------------------------------------------------------------
    @property
    def _marker_rows(self) -> int:
        return 1 if self.ring.dropped else 0

    @property
    def line_count(self) -> int:
        """Logical lines, including the "older lines dropped" marker."""
        return len(self.ring) + self._marker_rows

    def line_text(self, index: int) -> str:
        if self._marker_rows and index == 0:
            return (
                f"··· {self.ring.dropped:,} older lines dropped (keeping the last {self.ring.capacity:,}) ···"
            )
        line = self.ring[index - self._marker_rows]
        parts = []
        body = line.text
        if self.timestamps and line.ts is not None:
            parts.append(
                time.strftime("%H:%M:%S", time.gmtime(line.ts)) + f".{int(line.ts * 1000) % 1000:03d} "
            )
            body = OWN_TIMESTAMP.sub("", body, count=1)
        elif not self.timestamps:
            body = OWN_TIMESTAMP.sub("", body, count=1)
        if self.show_instance and line.instance:
            parts.append(f"[{line.instance}] ")
        parts.append(body)
        return "".join(parts)[:MAX_LINE_CELLS]

    def append(self, lines: Sequence[LogLine], *, new: bool = True) -> None:
        """Add lines at the bottom; `new=False` for a backlog (a reload's tail): shown, not counted as unseen."""
        if not lines:
            return
        self.ring.extend(lines)
        for line in lines[-1000:]:
            self._max_width = max(self._max_width, min(len(line.text) + 32, MAX_LINE_CELLS))
        if not self.follow and new:
            self.unseen += len(lines)
        self._relayout()
        if self.follow:
            self._stick_to_bottom()

    def _stick_to_bottom(self) -> None:
        self.scroll_end(animate=False, immediate=True, x_axis=False)
        # The new virtual size reaches the scroll limits only at the next layout (wrap mode especially):
        # scroll again once it has, or the view stops short of the newest lines.
        self.call_after_refresh(self.scroll_end, animate=False, immediate=True, x_axis=False)

    def clear(self) -> None:
        self.ring.clear()
        self.match_line = None
        self.unseen = 0
        self._max_width = 0
        self._relayout()
        self.scroll_to(0, 0, animate=False, immediate=True)

    def set_options(
        self, *, wrap: bool | None = None, timestamps: bool | None = None, show_instance: bool | None = None
    ) -> None:
        if wrap is not None:
            self.wrap = wrap
        if timestamps is not None:
            self.timestamps = timestamps
        if show_instance is not None:
            self.show_instance = show_instance
        self._relayout()
        if self.follow:
            self._stick_to_bottom()

    def set_follow(self, follow: bool) -> None:
        if follow == self.follow:
            return
        self.follow = follow
        if follow:
            self.unseen = 0
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        self.post_message(self.FollowChanged(follow))

    # --- layout -------------------------------------------------------------------------------
    def _width(self) -> int:
        return max(10, self.scrollable_content_region.width)

    def _relayout(self) -> None:
        self._row_starts = None
        if self.wrap:
            rows = self._rows()[-1] if self.line_count else 0
            self.virtual_size = Size(self._width(), rows)
        else:
            self.virtual_size = Size(self._max_width, self.line_count)
        self.refresh()

    def _rows(self) -> list[int]:
        """Cumulative row starts for wrap mode (length line_count + 1)."""
        width = self._width()
        if self._row_starts is None or self._wrap_width != width:
            starts = [0]
            total = 0
            for i in range(self.line_count):
                total += max(1, -(-len(self.line_text(i)) // width))
                starts.append(total)
            self._row_starts, self._wrap_width = starts, width
            if self.wrap and self.virtual_size.height != total:
                # The width changed under us (a scrollbar appeared): the scrollable height follows the rows.
                self.virtual_size = Size(width, total)
        return self._row_starts

    def _row_of(self, line: int) -> int:
        return self._rows()[line] if self.wrap else line

    def on_resize(self) -> None:
        self._relayout()
        if self.follow:
            # Lines loaded while the pane was hidden were wrapped for another width: follow the new bottom.
            self._stick_to_bottom()

    # --- rendering ----------------------------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        row = scroll_y + y
        width = self.size.width
        base = self.rich_style
        if self.wrap:
            starts = self._rows()
            if row >= starts[-1]:
                return Strip.blank(width, base)
            index = bisect_right(starts, row) - 1
            chunk = row - starts[index]
            text = self._styled(index)
            wrap_width = self._wrap_width
            piece = text[chunk * wrap_width : (chunk + 1) * wrap_width]
            return Strip(piece.render(self.app.console), piece.cell_len).extend_cell_length(width, base)
        if row >= self.line_count:
            return Strip.blank(width, base)
        text = self._styled(row)
        strip = Strip(text.render(self.app.console), text.cell_len)
        return strip.crop_extend(scroll_x, scroll_x + width, base)

    def _styled(self, index: int) -> Text:
        raw = self.line_text(index)
        text = Text(raw, no_wrap=True, style=self.rich_style)
        if self._marker_rows and index == 0:
            text.stylize(MARKER_STYLE)
            return text
        line = self.ring[index - self._marker_rows]
        prefix_end = 0
        if self.timestamps and line.ts is not None:
            prefix_end = 13
            text.stylize(TS_STYLE, 0, prefix_end)
        if self.show_instance and line.instance:
            end = prefix_end + len(line.instance) + 3
            text.stylize(PREFIX_STYLE, prefix_end, end)
        if self.search is not None:
            for match in self.search.finditer(raw):
                text.stylize(MATCH_STYLE, match.start(), match.end())
        if index == self.match_line:
            text.stylize(Style(underline=True))
        return text

    # --- search -------------------------------------------------------------------------------
    def set_search(self, pattern: str) -> bool:
        """Highlight `pattern` (case-insensitive; a regex if it compiles) and jump to the next match."""
        if not pattern:
            self.search = None
            self.match_line = None
            self.refresh()
            return False
        try:
            self.search = re.compile(pattern, re.IGNORECASE)
        except re.error:
            self.search = re.compile(re.escape(pattern), re.IGNORECASE)
        self.match_line = None
        return self.find_next(forward=True)

    def find_next(self, *, forward: bool) -> bool:
        if self.search is None or not self.line_count:
            return False
        count = self.line_count
        if self.match_line is None:
            start = self._first_visible_line()
        else:
            start = self.match_line + (1 if forward else -1)
        step = 1 if forward else -1
        for offset in range(count):
            index = (start + step * offset) % count
            if self.search.search(self.line_text(index)):
                self.match_line = index
                self.set_follow(False)
                self.scroll_to(
                    y=max(0, self._row_of(index) - self.size.height // 2), animate=False, immediate=True
                )
                self.refresh()
                return True
        return False

    def match_position(self) -> tuple[int, int]:
        """(n, total): the current match is the n-th of `total` matching lines (n is 0 before the first jump)."""
        if self.search is None:
            return 0, 0
        matching = [i for i in range(self.line_count) if self.search.search(self.line_text(i))]
        n = matching.index(self.match_line) + 1 if self.match_line in matching else 0
        return n, len(matching)

    def _first_visible_line(self) -> int:
        row = int(self.scroll_offset.y)
        if self.wrap:
            return max(0, bisect_right(self._rows(), row) - 1)
        return min(row, max(0, self.line_count - 1))

    # --- scrolling: leaving the bottom pauses follow; returning resumes it ---------------------
    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        at_bottom = new_value >= self.max_scroll_y - 1
        if new_value < old_value and not at_bottom and self.follow:
            self.set_follow(False)
        elif at_bottom and not self.follow and new_value > old_value:
            self.set_follow(True)

    def jump_start(self) -> None:
        self.set_follow(False)
        self.scroll_to(y=0, animate=False, immediate=True)

    def jump_end(self) -> None:
        self.set_follow(True)
        self.scroll_end(animate=False, immediate=True, x_axis=False)
