"""The one invoke every backend shares: headers sent, answers returned, transport errors named, and a
session that resolves its endpoint once and notices a changed key or a restarted gateway."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from endpointctl.backends.local.ports import free_port
from endpointctl.core import tls
from endpointctl.core.errors import BackendUnavailable
from endpointctl.core.ports import ScoringTarget
from endpointctl.core.scoring import ScoringSession
from endpointctl.core.views import Credentials

KEY = Credentials("key", primary_key="primary-0123", secondary_key="secondary-4567")
URI = "http://127.0.0.1:1/score"


def answering(seen: list[httpx.Request], status: int = 200) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, json=[1], headers={"azureml-model-deployment": "green"})

    return httpx.MockTransport(handle)


class Resolver:
    """Counts resolutions; each returns the next of `targets` (the last one repeats)."""

    def __init__(self, *targets: ScoringTarget) -> None:
        self.targets = list(targets)
        self.calls = 0

    async def __call__(self) -> ScoringTarget:
        self.calls += 1
        return self.targets[min(self.calls, len(self.targets)) - 1]


async def test_sends_the_bearer_key_and_pins_a_deployment() -> None:
    seen: list[httpx.Request] = []
    session = ScoringSession(Resolver(ScoringTarget(URI, KEY, answering(seen))))
    result = await session.invoke(b"{}", deployment="green", headers={"x-trace": "1"})
    await session.close()
    assert (result.status, result.deployment, result.body) == (200, "green", b"[1]")
    request = seen[0]
    assert request.headers["authorization"] == "Bearer primary-0123"
    assert request.headers["azureml-model-deployment"] == "green"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-trace"] == "1"


async def test_the_endpoint_is_resolved_once_for_many_requests() -> None:
    seen: list[httpx.Request] = []
    resolve = Resolver(ScoringTarget(URI, KEY, answering(seen)))
    session = ScoringSession(resolve)
    for _ in range(20):
        assert (await session.invoke(b"{}")).status == 200
    await session.close()
    assert (resolve.calls, len(seen)) == (1, 20)


async def test_a_401_after_a_key_changed_elsewhere_resolves_again_and_retries_once() -> None:
    rotated = Credentials("key", primary_key="new-primary", secondary_key="secondary-4567")
    seen: list[httpx.Request] = []

    def gateway(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        ok = request.headers["authorization"] == "Bearer new-primary"
        return httpx.Response(200 if ok else 401)

    transport = httpx.MockTransport(gateway)
    resolve = Resolver(ScoringTarget(URI, KEY, transport), ScoringTarget(URI, rotated, transport))
    session = ScoringSession(resolve)
    assert (await session.invoke(b"{}")).status == 200
    assert [r.headers["authorization"] for r in seen] == ["Bearer primary-0123", "Bearer new-primary"]
    await session.close()


async def test_a_401_with_an_unchanged_key_is_returned_as_it_is() -> None:
    seen: list[httpx.Request] = []
    resolve = Resolver(ScoringTarget(URI, KEY, answering(seen, status=401)))
    session = ScoringSession(resolve)
    assert (await session.invoke(b"{}")).status == 401
    await session.close()
    assert len(seen) == 1, "a refused key is not sent twice"


async def test_a_refused_connection_resolves_again_and_retries_on_the_new_address() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    seen: list[httpx.Request] = []
    moved = ScoringTarget("http://127.0.0.1:2/score", KEY, answering(seen))
    resolve = Resolver(ScoringTarget(URI, KEY, httpx.MockTransport(refuse)), moved)
    session = ScoringSession(resolve)
    assert (await session.invoke(b"{}")).status == 200
    await session.close()
    assert resolve.calls == 2 and str(seen[0].url) == moved.scoring_uri


async def test_an_unreachable_scoring_uri_is_backend_unavailable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    session = ScoringSession(Resolver(ScoringTarget(URI, KEY, httpx.MockTransport(refuse))))
    with pytest.raises(BackendUnavailable, match="ConnectError"):
        await session.invoke(b"{}")
    await session.close()


@pytest.mark.parametrize("error", [httpx.ReadTimeout, httpx.RemoteProtocolError])
async def test_a_failure_after_sending_is_not_retried(error: Callable[..., Exception]) -> None:
    calls: list[httpx.Request] = []

    def fail(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise error("gone", request=request)

    session = ScoringSession(Resolver(ScoringTarget(URI, KEY, httpx.MockTransport(fail))))
    with pytest.raises(BackendUnavailable):
        await session.invoke(b"{}")
    await session.close()
    assert len(calls) == 1, "a request that may have reached the model is never sent twice"


async def test_a_token_is_refreshed_when_the_backend_said_to(monkeypatch: pytest.MonkeyPatch) -> None:
    now = time.time()
    first = Credentials("aml_token", access_token="first", refresh_after_time_utc=int(now) + 600)
    second = Credentials("aml_token", access_token="second", refresh_after_time_utc=int(now) + 1800)
    seen: list[httpx.Request] = []
    transport = answering(seen)
    resolve = Resolver(ScoringTarget(URI, first, transport), ScoringTarget(URI, second, transport))
    session = ScoringSession(resolve)
    await session.invoke(b"{}")
    await session.invoke(b"{}")
    monkeypatch.setattr(time, "time", lambda: now + 601)
    await session.invoke(b"{}")
    await session.close()
    sent = [r.headers["authorization"] for r in seen]
    assert sent == ["Bearer first", "Bearer first", "Bearer second"] and resolve.calls == 2


async def test_no_invoke_loads_the_ca_bundle_again(monkeypatch: pytest.MonkeyPatch) -> None:
    tls.client_ssl_context()  # the one load, at first use
    loads: list[object] = []
    real = ssl.SSLContext.load_verify_locations

    def counting(self: ssl.SSLContext, *args: Any, **kwargs: Any) -> None:
        loads.append(args)
        real(self, *args, **kwargs)

    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", counting)
    # No transport given: the real one is built, as for a user's invoke; nothing listens on the port.
    for _ in range(3):
        session = ScoringSession(Resolver(ScoringTarget(f"http://127.0.0.1:{free_port()}/score", KEY)))
        with pytest.raises(BackendUnavailable):
            await session.invoke(b"{}")
        await session.close()
    assert loads == [], "the CA bundle was read again for an invoke (about 45 ms of CPU each time)"


async def test_a_retired_session_closes_once_its_requests_have_their_answers() -> None:
    release = asyncio.Event()

    async def slow(request: httpx.Request) -> httpx.Response:
        await release.wait()
        return httpx.Response(200)

    session = ScoringSession(Resolver(ScoringTarget(URI, KEY, httpx.MockTransport(slow))))
    in_flight = asyncio.create_task(session.invoke(b"{}"))
    await asyncio.sleep(0.01)
    client = session._client
    assert client is not None
    await session.retire()
    open_while_in_flight = not client.is_closed
    release.set()
    assert (await in_flight).status == 200
    assert open_while_in_flight, "a request in flight lost its connection"
    assert client.is_closed and session._client is None
