"""A small HTTP/1.1 server on raw asyncio Protocols and httptools, shared by the endpoint and admin listeners.

An ASGI server would add a scope dict, receive/send coroutines and header re-encoding per request; this keeps the
per-request cost to one parse, one task and one write, which is most of the gateway's latency budget.
Keep-alive and pipelining are supported (responses go out in request order); bodies over the listener's cap are
read and discarded, then answered 413 with ``connection: close``, so the client reliably sees the answer.

Hostile clients are bounded by :mod:`endpointctl.serving.limits`: request line (414), header fields and head size
(431), header/body/keep-alive timeouts, a connection cap per process (503), and an ``admit`` hook run when the
headers are complete, before any body byte is kept: the endpoint refuses a request without a valid key there
(401), so an unauthenticated client never makes the process buffer a body. A request refused that early is
answered in order, then its connection is drained without buffering for ``linger_s`` and closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import socket
from collections import deque
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import cast

import httptools

from endpointctl.serving.limits import WireLimits

log = logging.getLogger("endpointctl.gateway")

Headers = list[tuple[bytes, bytes]]
# A client may pipeline; beyond this many queued requests we stop reading until responses catch up.
MAX_PIPELINED = 16
_REASONS = {s.value: s.phrase.encode("ascii") for s in HTTPStatus}


class Request:
    __slots__ = ("admitted", "body", "headers", "keep_alive", "method", "reject", "target")

    def __init__(self, method: bytes, target: bytes, headers: Headers, body: bytes, keep_alive: bool) -> None:
        self.method = method
        self.target = target
        self.headers = headers
        self.body = body
        self.keep_alive = keep_alive
        # Set when the listener answers without calling the handler (oversized body).
        self.reject: Response | None = None
        # Set when the listener's admit hook accepted the head (the endpoint's key check already passed).
        self.admitted = False

    def header(self, name: bytes) -> bytes | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None


class Response:
    __slots__ = ("body", "headers", "reason", "status")

    def __init__(self, status: int, headers: Headers, body: bytes = b"", reason: bytes | None = None) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.reason = reason

    def encode(self, keep_alive: bool) -> bytes:
        reason = self.reason if self.reason is not None else _REASONS.get(self.status, b"Unknown")
        parts = [b"HTTP/1.1 %d %s\r\n" % (self.status, reason)]
        for key, value in self.headers:
            parts += (key, b": ", value, b"\r\n")
        parts.append(b"content-length: %d\r\n" % len(self.body))
        if not keep_alive:
            parts.append(b"connection: close\r\n")
        parts += (b"\r\n", self.body)
        return b"".join(parts)


def json_response(status: int, doc: object, headers: Headers | None = None) -> Response:
    body = json.dumps(doc).encode("utf-8")
    return Response(status, [(b"content-type", b"application/json"), *(headers or [])], body)


def error_response(status: int, message: str, headers: Headers | None = None) -> Response:
    """Every error the gateway itself produces has the scoring server's shape: ``{"message": "..."}``."""
    return json_response(status, {"message": message}, headers)


Handler = Callable[[Request], Awaitable[Response]]
# Called with a request's headers as soon as they are complete: None lets the body be read, a response refuses it.
Admit = Callable[[Headers], Response | None]

_DUPLICATE_AUTHORIZATION = "More than one Authorization header; send exactly one."
_TOO_MANY_CONNECTIONS = "The server has too many open connections; retry shortly."
_TIMED_OUT = "Timed out reading the request."

# Connection phases: what the client is expected to send next, which decides the deadline that applies.
_IDLE = 0  # between requests (answers may still be pending): keep-alive timeout once nothing is pending
_HEAD = 1  # request line and headers started: header timeout from the first byte
_BODY = 2  # headers complete, body arriving: body idle timeout, renewed by every piece
_LINGER = 3  # refused early and answered: input is dropped until the client closes or the linger time ends


class _Refusal(Exception):
    """Raised inside a parser callback to stop parsing and answer ``response``; never leaves this module."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


class ConnectionBudget:
    """Client connections open in this process across the listeners that share it; beyond ``cap`` they get 503."""

    __slots__ = ("cap", "open")

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.open = 0


class HttpListener:
    """One listening socket, its handler and its open connections (so it can be drained on close)."""

    def __init__(
        self,
        handler: Handler,
        max_body_bytes: int,
        name: str,
        *,
        limits: WireLimits | None = None,
        budget: ConnectionBudget | None = None,
        admit: Admit | None = None,
    ) -> None:
        self.handler = handler
        self.max_body_bytes = max_body_bytes
        self.name = name
        self.limits = limits if limits is not None else WireLimits()
        self.budget = (
            budget if budget is not None else ConnectionBudget(self.limits.effective_max_connections())
        )
        self.admit = admit
        self.connections: set[HttpConnection] = set()
        self._server: asyncio.Server | None = None
        self._all_closed: asyncio.Event | None = None
        self._sweeper: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self, host: str, port: int) -> int:
        loop = self._loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: HttpConnection(self), host, port, reuse_address=True, backlog=1024
        )
        sock: socket.socket = self._server.sockets[0]
        bound: int = sock.getsockname()[1]
        self._sweeper = loop.call_later(self.limits.sweep_interval_s(), self._sweep)
        return bound

    def _sweep(self) -> None:
        # One timer per listener rather than per connection: a request then costs a loop.time() read and a float
        # store instead of scheduling and cancelling timer handles.
        assert self._loop is not None
        now = self._loop.time()
        for conn in [c for c in self.connections if c.deadline <= now]:
            conn.expire()
        self._sweeper = self._loop.call_later(self.limits.sweep_interval_s(), self._sweep)

    def forget(self, conn: HttpConnection) -> None:
        self.connections.discard(conn)
        if not self.connections and self._all_closed is not None:
            self._all_closed.set()

    async def close(self, drain_timeout_s: float = 30.0) -> None:
        """Stop accepting; let requests in progress finish (up to the timeout), then close every connection."""
        if self._server is not None:
            self._server.close()
        self._all_closed = asyncio.Event()
        for conn in list(self.connections):
            conn.shutdown()
        if self.connections:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._all_closed.wait(), drain_timeout_s)
        for conn in list(self.connections):
            conn.abort()
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        # Not awaiting Server.wait_closed(): in 3.11 it is a no-op, in 3.12+ it waits for connections we closed.


class HttpConnection(asyncio.Protocol):
    __slots__ = (
        "_admitted",
        "_body",
        "_body_len",
        "_busy",
        "_closing",
        "_counted",
        "_discarding",
        "_eof",
        "_head_bytes",
        "_head_reads",
        "_headers",
        "_limits",
        "_listener",
        "_loop",
        "_parser",
        "_paused_read",
        "_phase",
        "_queue",
        "_too_large",
        "_transport",
        "_url",
        "deadline",
    )

    def __init__(self, listener: HttpListener) -> None:
        self._listener = listener
        self._limits = listener.limits
        self._loop = asyncio.get_running_loop()
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._queue: deque[Request] = deque()
        self._busy = False
        self._closing = False
        self._paused_read = False
        self._url = b""
        self._headers: Headers = []
        self._body: list[bytes] = []
        self._body_len = 0
        self._too_large = False
        self._admitted = False
        self._counted = False
        self._discarding = False
        self._eof = False
        self._head_bytes = 0
        self._head_reads = 0
        self._phase = _IDLE
        # When the sweeper acts on this connection (loop time); what it does depends on the phase.
        self.deadline = math.inf

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it, so no isinstance check.
        self._transport = cast(asyncio.Transport, transport)
        budget = self._listener.budget
        if budget.open >= budget.cap:
            # Closed at once rather than drained: a flood of refused connections must not hold descriptors.
            self._transport.write(error_response(503, _TOO_MANY_CONNECTIONS).encode(keep_alive=False))
            self._transport.close()
            return
        budget.open += 1
        self._counted = True
        self.deadline = self._loop.time() + self._limits.keep_alive_timeout_s
        self._listener.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._queue.clear()
        if self._counted:
            self._counted = False
            self._listener.budget.open -= 1
            self._listener.forget(self)

    def data_received(self, data: bytes) -> None:
        if self._discarding:
            return
        was_head = self._phase == _HEAD
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            if not isinstance(exc.__context__, _Refusal):
                raise
            self._refuse(exc.__context__.response)
            return
        except httptools.HttpParserUpgrade:
            self._fail(400, "Protocol upgrades are not supported.")
            return
        except httptools.HttpParserError:
            self._fail(400, "Malformed HTTP request.")
            return
        phase = self._phase
        if phase == _BODY:
            self.deadline = self._loop.time() + self._limits.body_idle_timeout_s
        elif phase == _HEAD and was_head:
            # The parser keeps an unfinished header field to itself, where on_header cannot see it; counting the
            # reads that arrived wholly inside the head bounds it too.
            self._head_reads += len(data)
            if self._head_reads > self._limits.max_head_bytes:
                limit = self._limits.max_head_bytes
                self._refuse(error_response(431, f"Request headers larger than the limit of {limit} bytes."))

    def eof_received(self) -> bool | None:
        # A client may shut down its sending side after a complete request (SHUT_WR) and still wait for the answer.
        self._eof = True
        if self._phase == _IDLE and (self._busy or self._queue):
            return True
        return None

    def pause_writing(self) -> None:
        self._pause_reading()

    def resume_writing(self) -> None:
        self._resume_reading()

    # httptools callbacks

    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = []
        self._body = []
        self._body_len = 0
        self._too_large = False
        self._admitted = False
        self._head_bytes = 0
        self._head_reads = 0
        self._phase = _HEAD
        self.deadline = self._loop.time() + self._limits.header_timeout_s

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._head_bytes += len(url)
        # The request line is "METHOD SP target SP HTTP/1.1"; checked on every piece, so a huge URL is refused
        # after the first read instead of being accumulated.
        line = len(self._url) + len(self._parser.get_method()) + 10
        if line > self._limits.max_request_line_bytes:
            limit = self._limits.max_request_line_bytes
            raise _Refusal(error_response(414, f"Request line longer than the limit of {limit} bytes."))

    def on_header(self, name: bytes, value: bytes) -> None:
        limits = self._limits
        if len(name) + len(value) + 2 > limits.max_header_field_bytes:
            limit = limits.max_header_field_bytes
            raise _Refusal(error_response(431, f"A header field is longer than the limit of {limit} bytes."))
        if len(self._headers) >= limits.max_header_fields:
            limit = limits.max_header_fields
            raise _Refusal(error_response(431, f"More than {limit} header fields."))
        self._head_bytes += len(name) + len(value) + 4
        if self._head_bytes > limits.max_head_bytes:
            limit = limits.max_head_bytes
            raise _Refusal(error_response(431, f"Request headers larger than the limit of {limit} bytes."))
        self._headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        self._phase = _BODY
        self.deadline = self._loop.time() + self._limits.body_idle_timeout_s
        expect_continue = False
        authorizations = 0
        for key, value in self._headers:
            if key == b"content-length":
                with contextlib.suppress(ValueError):
                    self._too_large = int(value) > self._listener.max_body_bytes
            elif key == b"expect":
                expect_continue = value.lower() == b"100-continue"
            elif key == b"authorization":
                authorizations += 1
        if authorizations > 1:
            # Proxies disagree on which of two wins; refusing leaves nothing to disagree about.
            raise _Refusal(error_response(400, _DUPLICATE_AUTHORIZATION))
        admit = self._listener.admit
        if admit is not None:
            refused = admit(self._headers)
            if refused is not None:
                raise _Refusal(refused)
            self._admitted = True
        # curl asks before sending bodies over 1 MB and would otherwise stall a second waiting for this.
        if expect_continue and not self._too_large and self._transport is not None:
            self._transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        if self._too_large:
            return
        self._body_len += len(body)
        if self._body_len > self._listener.max_body_bytes:
            self._too_large = True
            self._body = []
        else:
            self._body.append(body)

    def on_message_complete(self) -> None:
        self._phase = _IDLE
        self.deadline = math.inf  # answered first; the keep-alive timeout starts once nothing is pending
        parser = self._parser
        body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
        request = Request(parser.get_method(), self._url, self._headers, body, parser.should_keep_alive())
        request.admitted = self._admitted
        if self._too_large:
            limit = self._listener.max_body_bytes
            request.reject = error_response(413, f"Request body larger than the limit of {limit} bytes.")
            request.keep_alive = False
        self._queue.append(request)
        if len(self._queue) >= MAX_PIPELINED:
            self._pause_reading()
        if not self._busy:
            self._busy = True
            self._loop.create_task(self._serve())

    # serving

    async def _serve(self) -> None:
        try:
            while self._queue:
                request = self._queue.popleft()
                if request.reject is not None:
                    response = request.reject
                else:
                    try:
                        response = await self._listener.handler(request)
                    except Exception:
                        log.exception("%s: unhandled error while serving a request", self._listener.name)
                        response = error_response(500, "An internal error occurred in the gateway.")
                transport = self._transport
                if transport is None:
                    return
                keep_alive = request.keep_alive and not self._closing and not self._eof
                transport.write(response.encode(keep_alive))
                if not keep_alive:
                    if self._discarding:
                        self._linger(transport)
                    else:
                        transport.close()
                    return
                if self._paused_read and len(self._queue) < MAX_PIPELINED // 2:
                    self._resume_reading()
        finally:
            self._busy = False
        if self._phase == _IDLE and self._transport is not None:
            self.deadline = self._loop.time() + self._limits.keep_alive_timeout_s

    def _refuse(self, response: Response) -> None:
        """Answer ``response`` after any earlier pipelined request, and read nothing more of this connection."""
        self._discarding = True
        self._phase = _IDLE
        self.deadline = math.inf
        request = Request(b"", b"", [], b"", keep_alive=False)
        request.reject = response
        self._queue.append(request)
        if not self._busy:
            self._busy = True
            self._loop.create_task(self._serve())

    def _linger(self, transport: asyncio.Transport) -> None:
        # Closing with unread input makes the kernel send a reset, which can destroy the answer before the client
        # reads it; so say we are done writing and drop whatever still comes, for a bounded time.
        self._phase = _LINGER
        self.deadline = self._loop.time() + self._limits.linger_s
        if self._eof:
            transport.close()
            return
        if self._paused_read:
            self._resume_reading()
        if transport.can_write_eof():
            transport.write_eof()
        else:
            transport.close()

    def expire(self) -> None:
        """The phase's deadline passed (called by the listener's sweeper)."""
        transport = self._transport
        self.deadline = math.inf
        if transport is None:
            return
        if self._phase in (_HEAD, _BODY) and not self._busy:
            self._discarding = True
            transport.write(error_response(408, _TIMED_OUT).encode(keep_alive=False))
            transport.close()
        elif self._phase == _IDLE and not self._busy and not self._queue:
            transport.close()
        else:
            # Lingering, or a half-sent pipelined request behind one still being answered: nothing to say.
            transport.abort()

    def _fail(self, status: int, message: str) -> None:
        if self._transport is not None:
            # Earlier pipelined requests still in the queue are dropped with the connection; the parser can't
            # resynchronise after garbage, so there is nothing better to do.
            self._queue.clear()
            self._transport.write(error_response(status, message).encode(keep_alive=False))
            self._transport.close()

    def _pause_reading(self) -> None:
        if not self._paused_read and self._transport is not None:
            self._paused_read = True
            self._transport.pause_reading()

    def _resume_reading(self) -> None:
        if self._paused_read and self._transport is not None:
            self._paused_read = False
            self._transport.resume_reading()

    def shutdown(self) -> None:
        """Close when idle; a connection with a request in progress closes after its response."""
        self._closing = True
        if not self._busy and self._transport is not None:
            self._transport.close()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()
