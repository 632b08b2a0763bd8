"""Pooled keep-alive HTTP/1.1 connections to one model instance, parsed with httptools.

A new TCP connection per request would cost a handshake and, on a busy loopback, TIME_WAIT exhaustion; each
instance keeps its idle connections and reuses the most recently used one (warm in the scoring server's worker).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import cast

import httptools

from endpointctl.serving.gateway.config import Address

Headers = list[tuple[bytes, bytes]]
MAX_IDLE_PER_INSTANCE = 64
SMALL_BODY = 64 * 1024
# Timeouts fire up to this late; request_timeout_ms is at least 1 ms but in practice seconds.
SWEEP_INTERVAL_S = 0.01


class UpstreamError(Exception):
    """The exchange failed. ``closed``: the instance's side closed the connection before a complete response (it
    died under the request, or dropped the connection); ``silent``: it did so without a single response byte."""

    def __init__(self, message: str, *, silent: bool = False, closed: bool = False) -> None:
        super().__init__(message)
        self.silent = silent
        self.closed = closed or silent


class ConnectFailed(UpstreamError):
    """No connection could be opened, so the request certainly never reached the model."""


class UpstreamResponse:
    __slots__ = ("body", "headers", "reason", "status")

    def __init__(self, status: int, reason: bytes, headers: Headers, body: bytes) -> None:
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body


class UpstreamConnection(asyncio.Protocol):
    __slots__ = (
        "_body",
        "_headers",
        "_parser",
        "_pool",
        "_read_to_eof",
        "_reason",
        "_received",
        "_waiter",
        "closed",
        "transport",
        "uses",
    )

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool
        self._parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[UpstreamResponse] | None = None
        self._reason = b""
        self._headers: Headers = []
        self._body: list[bytes] = []
        self._received = False
        self._read_to_eof = False
        self.closed = False
        self.uses = 0

    def send(self, head: bytes, body: bytes) -> asyncio.Future[UpstreamResponse]:
        assert self.transport is not None and self._waiter is None
        self.uses += 1
        self._received = False
        self._read_to_eof = False
        self._reason = b""
        self._headers = []
        self._body = []
        waiter = self._waiter = self._pool.loop.create_future()
        if len(body) < SMALL_BODY:
            self.transport.write(head + body)
        else:
            # Large bodies go out without being copied into one buffer with the head.
            self.transport.writelines((head, body))
        return waiter

    def expire(self) -> None:
        """The request's deadline passed: fail it with TimeoutError and drop the connection."""
        waiter = self._waiter
        self._waiter = None
        if waiter is not None and not waiter.done():
            waiter.set_exception(TimeoutError())
        self.abort()

    def abort(self) -> None:
        """Drop the connection (timeout, removed instance): its response, if it ever comes, is unwanted."""
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it, so no isinstance check.
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.transport = None
        self._pool.discard(self)
        if self._read_to_eof and exc is None:
            # A response without Content-Length or chunking ends when the connection does (HTTP/1.0 style);
            # httptools has no "end of input" call, so the message is completed here.
            self.on_message_complete()
            return
        self._fail(
            UpstreamError(
                "the model instance closed the connection before answering",
                silent=not self._received,
                closed=True,
            )
        )

    def data_received(self, data: bytes) -> None:
        self._received = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            self._fail(UpstreamError("the model instance sent a malformed response"))
            self.abort()

    # httptools callbacks

    def on_status(self, reason: bytes) -> None:
        self._reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        framed = any(k in (b"content-length", b"transfer-encoding") for k, _ in self._headers)
        status = self._parser.get_status_code()
        self._read_to_eof = not framed and status >= 200 and status not in (204, 304)

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        self._read_to_eof = False
        waiter = self._waiter
        self._waiter = None
        body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
        response = UpstreamResponse(self._parser.get_status_code(), self._reason, self._headers, body)
        if self._parser.should_keep_alive() and not self.closed:
            self._pool.put_back(self)
        else:
            self.abort()
        if waiter is not None and not waiter.done():
            waiter.set_result(response)

    def _fail(self, exc: UpstreamError) -> None:
        waiter = self._waiter
        self._waiter = None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)


class ConnectionPool:
    """Idle connections to one instance. Closing it closes idle connections now and busy ones when they finish."""

    def __init__(self, address: Address, loop: asyncio.AbstractEventLoop) -> None:
        self.address = address
        self.loop = loop
        self._idle: list[UpstreamConnection] = []
        self._closed = False
        # Deadlines of busy connections, checked by one periodic sweep instead of a timer per request: creating
        # and cancelling a loop timer for every request is a measurable part of the gateway's per-request cost.
        self._deadlines: dict[UpstreamConnection, float] = {}
        self._sweeper: asyncio.TimerHandle | None = None

    def take_idle(self) -> UpstreamConnection | None:
        idle = self._idle
        while idle:
            conn = idle.pop()
            if not conn.closed:
                return conn
        return None

    async def connect(self, timeout_s: float) -> UpstreamConnection:
        try:
            async with asyncio.timeout(timeout_s):
                if self.address.path:
                    _, conn = await self.loop.create_unix_connection(
                        lambda: UpstreamConnection(self), self.address.path
                    )
                else:
                    _, conn = await self.loop.create_connection(
                        lambda: UpstreamConnection(self), self.address.host, self.address.port
                    )
        except TimeoutError:
            raise
        except OSError as exc:
            raise ConnectFailed(f"cannot connect to {self.address}: {exc.strerror or exc}") from None
        sock = conn.transport.get_extra_info("socket") if conn.transport is not None else None
        if sock is not None and sock.family != socket.AF_UNIX:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    def watch(self, conn: UpstreamConnection, deadline: float) -> None:
        self._deadlines[conn] = deadline
        if self._sweeper is None:
            self._sweeper = self.loop.call_later(SWEEP_INTERVAL_S, self._sweep)

    def unwatch(self, conn: UpstreamConnection) -> None:
        self._deadlines.pop(conn, None)

    def _sweep(self) -> None:
        self._sweeper = None
        now = self.loop.time()
        expired = [conn for conn, deadline in self._deadlines.items() if deadline <= now]
        for conn in expired:
            del self._deadlines[conn]
            conn.expire()
        if self._deadlines:
            self._sweeper = self.loop.call_later(SWEEP_INTERVAL_S, self._sweep)

    def put_back(self, conn: UpstreamConnection) -> None:
        if self._closed or len(self._idle) >= MAX_IDLE_PER_INSTANCE:
            conn.abort()
        else:
            self._idle.append(conn)

    def discard(self, conn: UpstreamConnection) -> None:
        with contextlib.suppress(ValueError):
            self._idle.remove(conn)

    def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.abort()

    @property
    def idle_count(self) -> int:
        return len(self._idle)


def encode_head(method: bytes, target: bytes, host: bytes, headers: Headers, content_length: int) -> bytes:
    parts = [method, b" ", target, b" HTTP/1.1\r\nhost: ", host, b"\r\n"]
    for key, value in headers:
        parts += (key, b": ", value, b"\r\n")
    parts.append(b"content-length: %d\r\n\r\n" % content_length)
    return b"".join(parts)


async def exchange(pool: ConnectionPool, head: bytes, body: bytes, timeout_s: float) -> UpstreamResponse:
    """Send one request to the instance behind ``pool`` and return its whole response.

    Raises TimeoutError after ``timeout_s`` (the connection is dropped), ConnectFailed when no connection could
    be opened, UpstreamError for anything else. A reused keep-alive connection the instance closed just before we
    wrote to it is retried once on a fresh one: the instance never saw that request.
    """
    loop = pool.loop
    deadline = loop.time() + timeout_s
    conn = pool.take_idle()
    reused = conn is not None
    while True:
        if conn is None:
            conn = await pool.connect(max(deadline - loop.time(), 0.001))
        waiter = conn.send(head, body)
        pool.watch(conn, deadline)
        try:
            return await waiter
        except UpstreamError as exc:
            if not (reused and exc.silent):
                raise
        finally:
            pool.unwatch(conn)
        reused = False
        conn = None
