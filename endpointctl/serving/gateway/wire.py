"""A small HTTP/1.1 server on raw asyncio Protocols and httptools, shared by the endpoint and admin listeners.

An ASGI server would add a scope dict, receive/send coroutines and header re-encoding per request; this keeps the
per-request cost to one parse, one task and one write, which is most of the gateway's latency budget.
Keep-alive and pipelining are supported (responses go out in request order); bodies over the listener's cap are
read and discarded, then answered 413 with ``connection: close``, so the client reliably sees the answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from collections import deque
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import cast

import httptools

log = logging.getLogger("endpointctl.gateway")

Headers = list[tuple[bytes, bytes]]
# A client may pipeline; beyond this many queued requests we stop reading until responses catch up.
MAX_PIPELINED = 16
_REASONS = {s.value: s.phrase.encode("ascii") for s in HTTPStatus}


class Request:
    __slots__ = ("body", "headers", "keep_alive", "method", "reject", "target")

    def __init__(self, method: bytes, target: bytes, headers: Headers, body: bytes, keep_alive: bool) -> None:
        self.method = method
        self.target = target
        self.headers = headers
        self.body = body
        self.keep_alive = keep_alive
        # Set when the listener answers without calling the handler (oversized body).
        self.reject: Response | None = None

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


class HttpListener:
    """One listening socket, its handler and its open connections (so it can be drained on close)."""

    def __init__(self, handler: Handler, max_body_bytes: int, name: str) -> None:
        self.handler = handler
        self.max_body_bytes = max_body_bytes
        self.name = name
        self.connections: set[HttpConnection] = set()
        self._server: asyncio.Server | None = None
        self._all_closed: asyncio.Event | None = None

    async def start(self, host: str, port: int) -> int:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: HttpConnection(self), host, port, reuse_address=True, backlog=1024
        )
        sock: socket.socket = self._server.sockets[0]
        bound: int = sock.getsockname()[1]
        return bound

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
        # Not awaiting Server.wait_closed(): in 3.11 it is a no-op, in 3.12+ it waits for connections we closed.


class HttpConnection(asyncio.Protocol):
    __slots__ = (
        "_body",
        "_body_len",
        "_busy",
        "_closing",
        "_headers",
        "_listener",
        "_loop",
        "_parser",
        "_paused_read",
        "_queue",
        "_too_large",
        "_transport",
        "_url",
    )

    def __init__(self, listener: HttpListener) -> None:
        self._listener = listener
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

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it, so no isinstance check.
        self._transport = cast(asyncio.Transport, transport)
        self._listener.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._queue.clear()
        self._listener.forget(self)

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(400, "Protocol upgrades are not supported.")
        except httptools.HttpParserError:
            self._fail(400, "Malformed HTTP request.")

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

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        expect_continue = False
        for key, value in self._headers:
            if key == b"content-length":
                with contextlib.suppress(ValueError):
                    self._too_large = int(value) > self._listener.max_body_bytes
            elif key == b"expect":
                expect_continue = value.lower() == b"100-continue"
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
        parser = self._parser
        body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
        request = Request(parser.get_method(), self._url, self._headers, body, parser.should_keep_alive())
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
                keep_alive = request.keep_alive and not self._closing
                transport.write(response.encode(keep_alive))
                if not keep_alive:
                    transport.close()
                    return
                if self._paused_read and len(self._queue) < MAX_PIPELINED // 2:
                    self._resume_reading()
        finally:
            self._busy = False

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
