"""Hostile clients on raw sockets: head size limits, early 401, timeouts, the connection cap, half-close."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator

import httpx
import pytest

from endpointctl.serving.gateway import Gateway
from endpointctl.serving.gateway.admin import AdminApi
from endpointctl.serving.limits import WireLimits
from tests.serving.gateway.conftest import KEY_A, UpstreamFactory, apply, auth, deployment, endpoint

# Short timeouts so a test waits seconds, not the production defaults; every wait below is a bounded loop.
SHORT = WireLimits(header_timeout_s=0.5, body_idle_timeout_s=0.5, keep_alive_timeout_s=0.5, linger_s=0.5)
GIVE_UP_S = 20.0


@pytest.fixture
async def hardened() -> AsyncIterator[Gateway]:
    gw = Gateway(drain_timeout_s=2, limits=SHORT)
    await gw.start()
    yield gw
    await gw.stop()


def address(gw: Gateway) -> tuple[str, int]:
    return "127.0.0.1", gw.ports()["ep1"]


def request_head(
    target: str = "/score", *, key: str | None = KEY_A, extra: str = "", length: int = 2
) -> bytes:
    lines = [
        f"POST {target} HTTP/1.1",
        "Host: gw",
        "Content-Type: application/json",
        f"Content-Length: {length}",
    ]
    if key is not None:
        lines.append(f"Authorization: Bearer {key}")
    return ("\r\n".join(lines) + "\r\n" + extra + "\r\n").encode("latin-1")


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One response (content-length delimited); status and body."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), GIVE_UP_S)
    status = int(head.split(b" ", 2)[1])
    match = re.search(rb"content-length: (\d+)", head, re.IGNORECASE)
    body = await asyncio.wait_for(reader.readexactly(int(match.group(1)) if match else 0), GIVE_UP_S)
    return status, body


async def closed_by_server(reader: asyncio.StreamReader) -> bytes:
    """Everything the server still sends before it closes; fails the test if it never does."""
    received = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := await asyncio.wait_for(reader.read(65536), GIVE_UP_S):
            received += chunk
    return received


async def exchange(gw: Gateway, data: bytes) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection(*address(gw))
    try:
        writer.write(data)
        await writer.drain()
        return await read_response(reader)
    finally:
        writer.close()


async def serve_ep1(gw: Gateway, upstreams: UpstreamFactory) -> None:
    up = upstreams("blue-0")
    await apply(gw, ep1=endpoint({"blue": deployment(up)}, {"blue": 100}))


async def test_request_line_over_4094_bytes_is_414(hardened: Gateway, upstreams: UpstreamFactory) -> None:
    await serve_ep1(hardened, upstreams)
    prefix = "/score?pad="
    # "POST " + target + " HTTP/1.1" is exactly 4,094 bytes: still accepted.
    at_limit = prefix + "a" * (4094 - len("POST  HTTP/1.1") - len(prefix))
    status, _ = await exchange(hardened, request_head(at_limit) + b"{}")
    assert status == 200
    status, body = await exchange(hardened, request_head(at_limit + "a") + b"{}")
    assert status == 414
    assert b"4094" in body


async def test_header_field_over_8190_bytes_is_431(hardened: Gateway, upstreams: UpstreamFactory) -> None:
    await serve_ep1(hardened, upstreams)
    name = "x-padding"
    fits = f"{name}: {'v' * (8190 - len(name) - 2)}\r\n"
    assert (await exchange(hardened, request_head(extra=fits) + b"{}"))[0] == 200
    too_long = f"{name}: {'v' * (8191 - len(name) - 2)}\r\n"
    status, body = await exchange(hardened, request_head(extra=too_long) + b"{}")
    assert status == 431
    assert b"8190" in body
    # Many fields each within the limit, but a head over 64 KiB in total.
    many = "".join(f"x-pad-{i}: {'v' * 8000}\r\n" for i in range(9))
    assert (await exchange(hardened, request_head(extra=many) + b"{}"))[0] == 431
    # More than 100 fields.
    count = "".join(f"x-n-{i}: 1\r\n" for i in range(101))
    assert (await exchange(hardened, request_head(extra=count) + b"{}"))[0] == 431


async def test_duplicate_authorization_is_400(hardened: Gateway, upstreams: UpstreamFactory) -> None:
    up = upstreams("blue-0")
    await apply(hardened, ep1=endpoint({"blue": deployment(up)}, {"blue": 100}))
    both_valid = f"Authorization: Bearer {KEY_A}\r\n"
    status, body = await exchange(hardened, request_head(extra=both_valid) + b"{}")
    assert status == 400
    assert b"Authorization" in body
    bad_then_good = request_head(key="wrong", extra=both_valid) + b"{}"
    assert (await exchange(hardened, bad_then_good))[0] == 400
    assert up.received() == 0


async def test_keyless_request_is_refused_before_its_body_is_sent(
    hardened: Gateway, upstreams: UpstreamFactory
) -> None:
    await serve_ep1(hardened, upstreams)
    reader, writer = await asyncio.open_connection(*address(hardened))
    # Declares 31 MB and sends none of it: the answer must not wait for the body.
    writer.write(request_head(key=None, length=31 * 1024 * 1024))
    await writer.drain()
    status, body = await read_response(reader)
    assert status == 401
    assert b"Unauthorized" in body
    await closed_by_server(reader)
    writer.close()
    # A wrong key is refused the same way, with the body the client insists on sending dropped unread.
    reader, writer = await asyncio.open_connection(*address(hardened))
    writer.write(request_head(key="wrong", length=1024 * 1024) + b"x" * 1024 * 1024)
    status, _ = await read_response(reader)
    assert status == 401
    writer.close()


async def test_slowloris_head_is_closed_after_the_header_timeout(
    hardened: Gateway, upstreams: UpstreamFactory
) -> None:
    await serve_ep1(hardened, upstreams)
    reader, writer = await asyncio.open_connection(*address(hardened))
    writer.write(b"POST /score HTTP/1.1\r\nHost: gw\r\n")
    closed = asyncio.create_task(closed_by_server(reader))
    # Keep trickling header bytes, as slowloris does, until the server gives up on us.
    with contextlib.suppress(ConnectionError):
        for _ in range(int(GIVE_UP_S / 0.05)):
            if closed.done():
                break
            writer.write(b"x")
            await writer.drain()
            await asyncio.sleep(0.05)
    received = await closed
    assert received.startswith(b"HTTP/1.1 408 ")
    writer.close()
    # A connection that never sends anything is closed too (nothing to answer).
    reader, writer = await asyncio.open_connection(*address(hardened))
    assert await closed_by_server(reader) == b""
    writer.close()


async def test_idle_keep_alive_connection_is_closed(hardened: Gateway, upstreams: UpstreamFactory) -> None:
    await serve_ep1(hardened, upstreams)
    reader, writer = await asyncio.open_connection(*address(hardened))
    for _ in range(3):
        writer.write(request_head() + b"{}")
        status, _ = await read_response(reader)
        assert status == 200
    # Kept alive between requests, closed once idle for the keep-alive timeout.
    assert await closed_by_server(reader) == b""
    writer.close()


async def test_half_closed_client_still_gets_its_answer(
    hardened: Gateway, upstreams: UpstreamFactory
) -> None:
    await serve_ep1(hardened, upstreams)
    reader, writer = await asyncio.open_connection(*address(hardened))
    writer.write(request_head() + b"{}")
    await writer.drain()
    writer.write_eof()  # shutdown(SHUT_WR)
    status, body = await read_response(reader)
    assert status == 200
    assert b"blue-0" in body
    assert await closed_by_server(reader) == b""
    writer.close()


async def test_connection_cap_refuses_extra_connections_and_recovers(upstreams: UpstreamFactory) -> None:
    cap = 8
    limits = WireLimits(max_connections=cap, keep_alive_timeout_s=60, header_timeout_s=60)
    gw = Gateway(drain_timeout_s=2, limits=limits)
    await gw.start()
    admin = AdminApi(gw)
    admin_port = await admin.start("127.0.0.1", 0)
    try:
        await serve_ep1(gw, upstreams)
        idle = [await asyncio.open_connection(*address(gw)) for _ in range(cap)]
        # Wait until the gateway has taken them all in (accept runs on the loop, not in open_connection).
        for _ in range(int(GIVE_UP_S / 0.02)):
            if gw.budget.open == cap:
                break
            await asyncio.sleep(0.02)
        assert gw.budget.open == cap
        refused = 0
        for _ in range(4):
            try:
                status, body = await exchange(gw, request_head() + b"{}")
            except (ConnectionError, asyncio.IncompleteReadError):
                refused += 1  # closed before the answer could be read: refused all the same
            else:
                assert status == 503, body
                refused += 1
        assert refused == 4
        assert gw.budget.open == cap
        # The control side of the process is unaffected: its own listener still answers a probe.
        async with httpx.AsyncClient(timeout=GIVE_UP_S) as client:
            assert (await client.get(f"http://127.0.0.1:{admin_port}/healthz")).status_code == 200
        for _, writer in idle[: cap // 2]:
            writer.close()
        status = 0
        for _ in range(int(GIVE_UP_S / 0.05)):
            with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
                status, _ = await exchange(gw, request_head() + b"{}")
            if status == 200:
                break
            await asyncio.sleep(0.05)
        assert status == 200
        for _, writer in idle[cap // 2 :]:
            writer.close()
    finally:
        await admin.close()
        await gw.stop()


async def test_huge_url_is_refused_while_other_clients_keep_flowing(
    hardened: Gateway, upstreams: UpstreamFactory
) -> None:
    up = upstreams("blue-0")
    await apply(
        hardened,
        ep1=endpoint({"blue": deployment(up, max_concurrent_requests_per_instance=4)}, {"blue": 100}),
    )
    url = hardened.scoring_uri("ep1")
    attack_done = asyncio.Event()
    statuses: list[int] = []

    async def flow() -> None:
        async with httpx.AsyncClient(timeout=GIVE_UP_S) as client:
            while not attack_done.is_set() or len(statuses) < 5:
                statuses.append((await client.post(url, json={}, headers=auth())).status_code)

    async def attack() -> bytes:
        reader, writer = await asyncio.open_connection(*address(hardened))
        try:
            writer.write(b"GET /score?")
            chunk = b"a" * (1024 * 1024)
            with contextlib.suppress(ConnectionError):
                for _ in range(100):  # 100 MB of URL
                    writer.write(chunk)
                    await writer.drain()
                writer.write(b" HTTP/1.1\r\n\r\n")
                await writer.drain()
            return await closed_by_server(reader)
        finally:
            writer.close()
            attack_done.set()

    flowing = asyncio.create_task(flow())
    answer = await attack()
    await flowing
    assert answer.startswith(b"HTTP/1.1 414 ")
    assert set(statuses) == {200}
    assert up.received() == len(statuses)
