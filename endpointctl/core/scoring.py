"""Invoke, once for every backend: a scoring session per endpoint that resolves its URI and key once and keeps
one pooled keep-alive client, so the invoke panel's "Send N" pays for a POST, not for a setup, N times.

The session re-resolves the target (and retries once) only where nothing reached the scoring host: a
connection that was refused (an agent that restarted its gateway), or a 401 when the credential has changed
since it was resolved (keys regenerated from another terminal). Tokens are refreshed when the backend said to.

httpx is imported on first use: every CLI call imports the façade, and only invoke needs it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING

from endpointctl.core.errors import BackendUnavailable
from endpointctl.core.ports import ScoringTarget
from endpointctl.core.tls import client_ssl_context
from endpointctl.core.views import InvokeResult
from endpointctl.serving.gateway.config import DEFAULT_MAX_REQUEST_BODY_BYTES

if TYPE_CHECKING:
    import httpx

# Above Azure's 180 s request timeout, so the router's own 408 is what a slow model produces.
INVOKE_TIMEOUT_S = 200.0
# Send N runs at most this many requests at once; more connections than that are never kept.
MAX_CONNECTIONS = 16
# The gateway refuses bigger bodies (413); a request file is read up to this and refused above it, so a wrong
# file (`--request-file /dev/zero`) costs milliseconds, not gigabytes.
MAX_REQUEST_BYTES = DEFAULT_MAX_REQUEST_BODY_BYTES

Resolver = Callable[[], Awaitable[ScoringTarget]]
# Latency is measured with this clock; rendering tests pin it so a snapshot does not depend on the machine.
clock: Callable[[], float] = time.perf_counter


class ScoringSession:
    def __init__(self, resolve: Resolver) -> None:
        self._resolve = resolve
        self._target: ScoringTarget | None = None
        self._generation = 0
        self._lock = asyncio.Lock()
        self._client: httpx.AsyncClient | None = None
        self._retired: list[httpx.AsyncClient] = []
        self._in_flight = 0
        self._retiring = False

    async def target(self) -> ScoringTarget:
        if self._target is None or _token_due(self._target):
            await self._refresh(self._generation)
        assert self._target is not None
        return self._target

    async def _refresh(self, seen: int) -> None:
        """Resolve again, once for all the requests that found the same stale target."""
        async with self._lock:
            if self._generation != seen and self._target is not None:
                return  # another request refreshed it meanwhile
            old = self._target
            self._target = await self._resolve()
            self._generation += 1
            if self._client is not None and old is not None and old.transport is not self._target.transport:
                # Requests in flight may still use it: closed with the session.
                self._retired.append(self._client)
                self._client = None

    def _http(self, target: ScoringTarget) -> httpx.AsyncClient:
        import httpx

        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=INVOKE_TIMEOUT_S,
                transport=target.transport,
                verify=client_ssl_context(),
                limits=httpx.Limits(
                    max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS
                ),
            )
        return self._client

    async def invoke(
        self, body: bytes, *, deployment: str | None = None, headers: Mapping[str, str] | None = None
    ) -> InvokeResult:
        """POST `body` with the endpoint's bearer credential; `deployment` pins it (azureml-model-deployment).

        A scoring URI that cannot be reached is BackendUnavailable; any HTTP answer is returned as it is.
        """
        self._in_flight += 1
        try:
            return await self._invoke(body, deployment, headers)
        finally:
            self._in_flight -= 1
            if self._retiring and self._in_flight == 0:
                await self.close()

    async def retire(self) -> None:
        """Close once the requests in flight have their answers (the façade has a newer session)."""
        self._retiring = True
        if self._in_flight == 0:
            await self.close()

    async def _invoke(
        self, body: bytes, deployment: str | None, headers: Mapping[str, str] | None
    ) -> InvokeResult:
        import httpx

        target = await self.target()
        generation = self._generation
        try:
            result = await self._post(target, body, deployment, headers)
        except httpx.ConnectError:
            # Nothing reached the scoring host: resolve again (the agent may have restarted the gateway on
            # another port) and try once more.
            await self._refresh(generation)
            return await self._send(await self.target(), body, deployment, headers)
        except httpx.TransportError as exc:
            raise BackendUnavailable(f"{target.scoring_uri}: {type(exc).__name__}: {exc}") from None
        if result.status == 401:
            # Refused before scoring: worth one retry if the credential changed since it was resolved.
            await self._refresh(generation)
            fresh = await self.target()
            if (fresh.credentials, fresh.scoring_uri) != (target.credentials, target.scoring_uri):
                return await self._send(fresh, body, deployment, headers)
        return result

    async def _send(
        self,
        target: ScoringTarget,
        body: bytes,
        deployment: str | None,
        headers: Mapping[str, str] | None,
    ) -> InvokeResult:
        import httpx

        try:
            return await self._post(target, body, deployment, headers)
        except httpx.TransportError as exc:
            raise BackendUnavailable(f"{target.scoring_uri}: {type(exc).__name__}: {exc}") from None

    async def _post(
        self,
        target: ScoringTarget,
        body: bytes,
        deployment: str | None,
        headers: Mapping[str, str] | None,
    ) -> InvokeResult:
        sent = {"Content-Type": "application/json", **(headers or {})}
        sent["Authorization"] = f"Bearer {target.credentials.bearer()}"
        if deployment is not None:
            sent["azureml-model-deployment"] = deployment
        client = self._http(target)
        started = clock()
        response = await client.post(target.scoring_uri, content=body, headers=sent)
        latency_ms = (clock() - started) * 1000
        return InvokeResult(
            response.status_code,
            dict(response.headers),
            response.content,
            latency_ms,
            response.headers.get("azureml-model-deployment"),
        )

    async def close(self) -> None:
        clients = [*self._retired, *([self._client] if self._client else [])]
        self._client, self._retired = None, []
        for client in clients:
            await client.aclose()


def _token_due(target: ScoringTarget) -> bool:
    refresh_after = target.credentials.refresh_after_time_utc
    return refresh_after is not None and time.time() >= refresh_after
