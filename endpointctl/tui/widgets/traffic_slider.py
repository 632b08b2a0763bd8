"""A keyboard slider for one integer percent: ←/→ by 1, shift+←/→ (or [ ]) by 5, digits + enter to type."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.events import Key
from textual.message import Message
from textual.widget import Widget

from endpointctl.tui.format import bar


class TrafficSlider(Widget, can_focus=True):
    DEFAULT_CSS = """
    TrafficSlider { height: 1; width: 1fr; }
    TrafficSlider:focus { background: $boost; text-style: bold; }
    TrafficSlider.-disabled-reason { color: $text-muted; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left", "step(-1)", "-1", show=False),
        Binding("right", "step(1)", "+1", show=False),
        Binding("shift+left,[", "step(-5)", "-5", show=False),
        Binding("shift+right,]", "step(5)", "+5", show=False),
        Binding("home", "set(0)", "0%", show=False),
        Binding("end", "set(100)", "max", show=False),
    ]

    class Changed(Message):
        """The user moved the slider (not sent when the pane rebalances it)."""

        def __init__(self, slider: TrafficSlider, value: int) -> None:
            super().__init__()
            self.slider = slider
            self.value = value

        @property
        def control(self) -> TrafficSlider:
            return self.slider

    def __init__(
        self, name: str, value: int, *, maximum: int = 100, label: str | None = None, id: str | None = None
    ) -> None:
        super().__init__(id=id)
        self.deployment = name
        self.maximum = maximum
        self.label = label if label is not None else name
        self.value = max(0, min(maximum, value))
        self.original = self.value
        self._typed = ""

    def set_value(self, value: int) -> None:
        """Set without announcing it: used when the pane rebalances the other sliders."""
        self.value = max(0, min(self.maximum, value))
        self.refresh()

    def _change(self, value: int) -> None:
        value = max(0, min(self.maximum, value))
        self._typed = ""
        if value != self.value:
            self.value = value
            self.refresh()
            self.post_message(self.Changed(self, value))

    def action_step(self, delta: int) -> None:
        self._change(self.value + delta)

    def action_set(self, value: int) -> None:
        self._change(value)

    def on_key(self, event: Key) -> None:
        if event.character is not None and event.character.isdigit():
            self._typed = (self._typed + event.character)[-3:]
            event.stop()
            self.refresh()
        elif event.key == "enter" and self._typed:
            event.stop()
            self._change(int(self._typed))
        elif event.key == "backspace" and self._typed:
            event.stop()
            self._typed = self._typed[:-1]
            self.refresh()
        elif event.key == "escape" and self._typed:
            event.stop()
            self._typed = ""
            self.refresh()

    def render(self) -> Text:
        label = self.label[:14].ljust(14)
        width = max(5, self.size.width - 14 - 16)
        shown = round(self.value * 100 / self.maximum) if self.maximum else 0
        change = f" (was {self.original})" if self.value != self.original else ""
        typed = f" ⌨ {self._typed}_" if self._typed else ""
        text = Text(f"{label} ")
        text.append(bar(shown, width), style="bold" if self.has_focus else "")
        text.append(f" {self.value:>3}%{change}{typed}")
        return text
