"""uvicorn's httptools protocol with the data plane's limits (:mod:`endpointctl.serving.limits`).

In containers and pods the scoring host may be reached without the gateway in front, so it refuses what the
gateway refuses: a request line over the limit (414), a header field, too many fields or too large a head (431),
a head not complete within the header timeout (408), a body that pauses longer than the body-idle timeout between
two reads (408; Content-Length and chunked alike, and only while the host is waiting on the client, not while it
has paused reading itself), and it closes a fresh connection that sends nothing within the keep-alive timeout. uvicorn itself has none of these with httptools (``h11_max_incomplete_event_size`` only
applies to h11, and ``timeout_keep_alive`` only between requests); it also closes a connection whose client
half-closed (SHUT_WR) after a complete request before answering, which this protocol does not.
The connection cap is uvicorn's own ``limit_concurrency`` (503), set by the worker.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httptools
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from endpointctl.serving.limits import WireLimits


class _Refusal(Exception):
    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(status)
        self.status = status
        self.reason = reason
        self.message = message


class _ResumeAwareFlow(FlowControl):
    """uvicorn's flow control, telling the protocol when it resumes reading: time spent paused (the app has not
    taken the body buffered so far) is the host's wait, not the client's stall."""

    def __init__(self, transport: asyncio.Transport, on_resume: Callable[[], None]) -> None:
        super().__init__(transport)
        self._on_resume = on_resume

    def resume_reading(self) -> None:
        if self.read_paused:
            self._on_resume()
        super().resume_reading()


def limited_protocol(limits: WireLimits) -> type[HttpToolsProtocol]:
    """A protocol class for ``uvicorn.Config(http=...)`` enforcing ``limits``."""

    class LimitedHttpToolsProtocol(HttpToolsProtocol):
        _head_timer: asyncio.TimerHandle | None = None
        _head_started = 0.0
        _in_head = False
        _head_bytes = 0
        _head_reads = 0
        _half_closed = False
        _refused = False
        _in_body = False
        _body_moved_at = 0.0
        _body_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self.flow = _ResumeAwareFlow(transport, self._body_moved)
            # uvicorn arms its keep-alive timer only after a response; a connection that never sends would be
            # held forever.
            self.timeout_keep_alive_task = self.loop.call_later(
                limits.keep_alive_timeout_s, self.timeout_keep_alive_handler
            )

        def connection_lost(self, exc: Exception | None) -> None:
            self._cancel_head_timer()
            self._cancel_body_timer()
            super().connection_lost(exc)

        def eof_received(self) -> bool | None:  # type: ignore[override]
            # Keep the sending side open while a complete request is being answered; close after it.
            self._half_closed = True
            cycle = self.cycle
            if (
                cycle is not None
                and not cycle.more_body
                and not cycle.response_complete
                and not self._in_head
            ):
                cycle.keep_alive = False
                return True
            return None

        def data_received(self, data: bytes) -> None:
            if self._refused:
                return
            self._unset_keepalive_if_required()
            was_head = self._in_head
            try:
                self.parser.feed_data(data)
            except httptools.HttpParserCallbackError as exc:
                if isinstance(exc.__context__, _Refusal):
                    self._refuse(exc.__context__)
                    return
                self.send_400_response("Invalid HTTP request received.")
                return
            except httptools.HttpParserError:
                msg = "Invalid HTTP request received."
                self.logger.warning(msg)
                self.send_400_response(msg)
                return
            except httptools.HttpParserUpgrade:
                if self._should_upgrade():
                    self.handle_websocket_upgrade()
                else:
                    self._unsupported_upgrade_warning()
                return
            if self._in_head:
                if was_head:
                    self._head_reads += len(data)
                    if self._head_reads > limits.max_head_bytes:
                        self._refuse(_head_too_large())
                        return
                if self._head_timer is None:
                    # Armed only for a head split over several reads: a head that arrives whole (nearly every
                    # request) costs no timer. The clock starts at the read that began the head.
                    self._head_timer = self.loop.call_at(
                        self._head_started + limits.header_timeout_s, self._head_timed_out
                    )
            elif self._in_body:
                # The body goes on past this read. One timer per body, moved on lazily when it fires, not per
                # chunk: a chunk only notes the time. A body that arrives whole with its head costs no timer.
                self._body_moved()
                if self._body_timer is None:
                    self._body_timer = self.loop.call_at(
                        self._body_moved_at + limits.body_idle_timeout_s, self._body_check
                    )

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._in_head = True
            self._head_bytes = 0
            self._head_reads = 0
            self._cancel_head_timer()
            self._head_started = self.loop.time()

        def on_url(self, url: bytes) -> None:
            super().on_url(url)
            self._head_bytes += len(url)
            if len(self.url) + len(self.parser.get_method()) + 10 > limits.max_request_line_bytes:
                raise _Refusal(
                    414,
                    "URI Too Long",
                    f"Request line longer than the limit of {limits.max_request_line_bytes} bytes.",
                )

        def on_header(self, name: bytes, value: bytes) -> None:
            if len(name) + len(value) + 2 > limits.max_header_field_bytes:
                raise _Refusal(
                    431,
                    "Request Header Fields Too Large",
                    f"A header field is longer than the limit of {limits.max_header_field_bytes} bytes.",
                )
            if len(self.headers) >= limits.max_header_fields:
                raise _Refusal(
                    431,
                    "Request Header Fields Too Large",
                    f"More than {limits.max_header_fields} header fields.",
                )
            self._head_bytes += len(name) + len(value) + 4
            if self._head_bytes > limits.max_head_bytes:
                raise _head_too_large()
            super().on_header(name, value)

        def on_headers_complete(self) -> None:
            self._in_head = False
            self._cancel_head_timer()
            self._in_body = True
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            self._in_body = False
            self._cancel_body_timer()
            super().on_message_complete()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if self._half_closed and not self.transport.is_closing():
                self.transport.close()

        def _head_timed_out(self) -> None:
            self._head_timer = None
            if self._in_head and not self.transport.is_closing():
                self._refuse(_Refusal(408, "Request Timeout", "Timed out reading the request."))

        def _body_moved(self) -> None:
            self._body_moved_at = self.loop.time()

        def _body_check(self) -> None:
            self._body_timer = None
            if not self._in_body or self.transport.is_closing():
                return
            now = self.loop.time()
            if self.flow.read_paused:
                # The host is not reading (the app has not taken what is buffered): the client is not stalling.
                self._body_moved_at = now
            deadline = self._body_moved_at + limits.body_idle_timeout_s
            if now < deadline:
                self._body_timer = self.loop.call_at(deadline, self._body_check)
                return
            cycle = self.cycle
            if cycle is not None and cycle.response_started:
                # Already answered (401 before the body): no second status line, just stop waiting.
                self.transport.close()
                return
            self._refuse(_Refusal(408, "Request Timeout", "Timed out reading the request body."))

        def _cancel_body_timer(self) -> None:
            if self._body_timer is not None:
                self._body_timer.cancel()
                self._body_timer = None

        def _cancel_head_timer(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _refuse(self, refusal: _Refusal) -> None:
            self._refused = True
            self._cancel_head_timer()
            self._cancel_body_timer()
            body = json.dumps({"message": refusal.message}).encode("utf-8")
            head = (
                f"HTTP/1.1 {refusal.status} {refusal.reason}\r\ncontent-type: application/json\r\n"
                f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
            )
            self.transport.write(head.encode("ascii") + body)
            self.transport.close()

    return LimitedHttpToolsProtocol


def _head_too_large() -> _Refusal:
    return _Refusal(431, "Request Header Fields Too Large", "Request headers larger than the limit.")


def uvicorn_limit_settings(limits: WireLimits) -> dict[str, Any]:
    """The limits uvicorn applies itself: the connection cap (503 beyond it) and the keep-alive timeout."""
    return {
        "limit_concurrency": limits.effective_max_connections(),
        "timeout_keep_alive": limits.keep_alive_timeout_s,
        "h11_max_incomplete_event_size": limits.max_head_bytes,
    }
