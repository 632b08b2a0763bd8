"""What every screen and pane needs from the app: the façade, a clock and tuning knobs."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from textual.dom import DOMNode

from endpointctl.core.service import EndpointService


@dataclass
class TuiContext:
    service: EndpointService
    # Injected so snapshot tests can freeze "age" and timestamps.
    clock: Callable[[], float] = time.time
    poll_s: float = 2.0
    log_capacity: int = 50_000
    # The last request body sent to each endpoint: the invoke editor's prefill.
    last_request: dict[str, str] = field(default_factory=dict)


def tui_context(node: DOMNode) -> TuiContext:
    value = getattr(node.app, "tui_context", None)
    if not isinstance(value, TuiContext):
        raise RuntimeError("this widget only runs inside EndpointctlApp")
    return value
