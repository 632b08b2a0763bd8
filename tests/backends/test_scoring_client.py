"""The client half of invoke that every backend shares: headers sent, answers returned, transport errors named."""

from __future__ import annotations

import ssl
from typing import Any

import httpx
import pytest

from endpointctl.backends.common.scoring_client import post_score
from endpointctl.backends.local.ports import free_port
from endpointctl.core import tls
from endpointctl.core.errors import BackendUnavailable
from endpointctl.core.views import Credentials

KEY = Credentials("key", primary_key="primary-0123", secondary_key="secondary-4567")


def answering(seen: list[httpx.Request]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=[1], headers={"azureml-model-deployment": "green"})

    return httpx.MockTransport(handle)


async def test_sends_the_bearer_key_and_pins_a_deployment() -> None:
    seen: list[httpx.Request] = []
    result = await post_score(
        "http://127.0.0.1:1/score", KEY, b"{}", deployment="green", transport=answering(seen)
    )
    assert (result.status, result.deployment, result.body) == (200, "green", b"[1]")
    request = seen[0]
    assert request.headers["authorization"] == "Bearer primary-0123"
    assert request.headers["azureml-model-deployment"] == "green"
    assert request.headers["content-type"] == "application/json"


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
        with pytest.raises(BackendUnavailable):
            await post_score(f"http://127.0.0.1:{free_port()}/score", KEY, b"{}")
    assert loads == [], "the CA bundle was read again for an invoke (about 45 ms of CPU each time)"


async def test_an_unreachable_scoring_uri_is_backend_unavailable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(BackendUnavailable, match="ConnectError"):
        await post_score("http://127.0.0.1:1/score", KEY, b"{}", transport=httpx.MockTransport(refuse))
