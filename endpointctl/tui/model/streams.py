"""The log stream on screen, owned here and keyed by its target: a pane can never show another target's lines.

Opening a stream for a new key cancels the previous one, and every batch is handed over with the key it was read
for; the receiver drops batches whose key is not its current one. Cancelling a task is only a request (a read in
flight still completes), so the key check, not the cancellation, is what keeps a line of blue out of green's view.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from endpointctl.core.service import EndpointService
    from endpointctl.core.views import Container, LogLine

TAIL_LINES = 500


@dataclass(frozen=True)
class LogKey:
    backend: str
    endpoint: str
    deployment: str
    container: Container
    instance: str | None = None  # None: every instance, interleaved


@dataclass(frozen=True)
class LogBatch:
    key: LogKey
    lines: Sequence[LogLine]
    # True for the tail read when the stream opens: shown, but not counted as new lines.
    backlog: bool = False


Sink = Callable[[LogBatch], None]


def new_lines(previous: Sequence[LogLine], latest: Sequence[LogLine]) -> list[LogLine]:
    """Lines of `latest` not already seen: backends that only return "the last N lines" are polled and de-duplicated."""
    for k in range(min(len(previous), len(latest)), 0, -1):
        if list(previous[len(previous) - k :]) == list(latest[:k]):
            return list(latest[k:])
    return list(latest)


class LogStreams:
    """At most one open stream; `open` replaces it."""

    def __init__(self) -> None:
        self.key: LogKey | None = None
        self._task: asyncio.Task[None] | None = None

    def open(
        self,
        key: LogKey,
        service: EndpointService,
        sink: Sink,
        *,
        follow: bool,
        poll_s: float,
        on_error: Callable[[LogKey, Exception], None],
    ) -> None:
        self.close()
        self.key = key
        self._task = asyncio.create_task(self._run(key, service, sink, follow, poll_s, on_error))

    def close(self) -> None:
        self.key = None
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def wait_closed(self) -> None:
        task, self._task = self._task, None
        self.key = None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _run(
        self,
        key: LogKey,
        service: EndpointService,
        sink: Sink,
        follow: bool,
        poll_s: float,
        on_error: Callable[[LogKey, Exception], None],
    ) -> None:
        kwargs = {"container": key.container, "instance": key.instance, "backend": key.backend}
        try:
            tail = await service.get_logs(key.endpoint, key.deployment, lines=TAIL_LINES, **kwargs)  # type: ignore[arg-type]
            sink(LogBatch(key, tail, backlog=True))
            if follow:
                async for line in service.follow_logs(key.endpoint, key.deployment, **kwargs):  # type: ignore[arg-type]
                    sink(LogBatch(key, (line,)))
            else:
                seen = tail
                while True:
                    await asyncio.sleep(poll_s)
                    latest = await service.get_logs(key.endpoint, key.deployment, lines=TAIL_LINES, **kwargs)  # type: ignore[arg-type]
                    sink(LogBatch(key, new_lines(seen, latest)))
                    seen = latest
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # said once; the operator retries by toggling
            on_error(key, exc)
