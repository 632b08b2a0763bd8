"""What every screen and pane needs from the app: the façade, the state model, a clock and tuning knobs."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from textual.dom import DOMNode

from endpointctl.tui.model.refresher import Refresher
from endpointctl.tui.model.streams import LogStreams

if TYPE_CHECKING:
    from endpointctl.core.service import EndpointService


class ServiceNotReady(RuntimeError):
    """The façade is still opening (the first seconds after start): try again in a moment."""


@dataclass
class TuiContext:
    # Injected so snapshot tests can freeze "age" and timestamps.
    clock: Callable[[], float] = time.time
    poll_s: float = 2.0
    log_capacity: int = 50_000
    # The last request body sent to each endpoint: the invoke editor's prefill.
    last_request: dict[str, str] = field(default_factory=dict)
    # Opened by the app after its first frame (importing the façade and the backends is most of a cold start).
    opened: EndpointService | None = None
    # The state model: one refresher (snapshots, the focused endpoint's detail, rollouts) and the log stream.
    model: Refresher = field(init=False)
    logs: LogStreams = field(default_factory=LogStreams)

    def __post_init__(self) -> None:
        self.model = Refresher(lambda: self.service, poll_s=self.poll_s, clock=self.clock)

    @property
    def ready(self) -> bool:
        return self.opened is not None

    @property
    def service(self) -> EndpointService:
        if self.opened is None:
            raise ServiceNotReady("still opening the data directory and the backends")
        return self.opened


def tui_context(node: DOMNode) -> TuiContext:
    value = getattr(node.app, "tui_context", None)
    if not isinstance(value, TuiContext):
        raise RuntimeError("this widget only runs inside EndpointctlApp")
    return value
