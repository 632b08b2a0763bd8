"""Posting one request to an endpoint's scoring URI as a client would: the shared half of every backend's invoke.

httpx is imported on first use: every CLI call loads every installed backend, and only invoke needs it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from endpointctl.core.errors import BackendUnavailable
from endpointctl.core.tls import client_ssl_context
from endpointctl.core.views import Credentials, InvokeResult

if TYPE_CHECKING:
    import httpx

# Above Azure's 180 s request timeout, so the router's own 408 is what a slow model produces.
INVOKE_TIMEOUT_S = 200.0


async def post_score(
    scoring_uri: str,
    credentials: Credentials,
    body: bytes,
    *,
    deployment: str | None = None,
    headers: Mapping[str, str] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> InvokeResult:
    """POST `body` with the endpoint's bearer credential; `deployment` pins it (azureml-model-deployment).

    A scoring URI that cannot be reached is BackendUnavailable; any HTTP answer is returned as it is.
    """
    import httpx

    sent = {"Content-Type": "application/json", **(headers or {})}
    sent["Authorization"] = f"Bearer {credentials.bearer()}"
    if deployment is not None:
        sent["azureml-model-deployment"] = deployment
    async with httpx.AsyncClient(
        timeout=INVOKE_TIMEOUT_S, transport=transport, verify=client_ssl_context()
    ) as client:
        started = time.perf_counter()
        try:
            response = await client.post(scoring_uri, content=body, headers=sent)
        except httpx.TransportError as exc:
            raise BackendUnavailable(f"{scoring_uri}: {type(exc).__name__}: {exc}") from None
        latency_ms = (time.perf_counter() - started) * 1000
    return InvokeResult(
        response.status_code,
        dict(response.headers),
        response.content,
        latency_ms,
        response.headers.get("azureml-model-deployment"),
    )
