"""The ARM HTTP client: bearer auth, retries for throttling and server errors, ARM errors as our errors.

Nothing secret is logged or put in an exception: no headers, no request bodies, no response bodies of
listKeys/listSecrets/token (only the error object ARM returns on failure, which never holds secrets).
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from endpointctl.backends.azure.auth import TokenSource, identity_of
from endpointctl.backends.azure.settings import WorkspaceScope, with_api_version
from endpointctl.core.errors import (
    BackendUnavailable,
    Conflict,
    EndpointctlError,
    InvalidInput,
    NotFound,
    OperationFailed,
)
from endpointctl.core.tls import client_ssl_context

log = logging.getLogger("endpointctl.azure")
RETRIED_STATUS = frozenset({408, 429, 500, 502, 503, 504})
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class Tuning:
    """Timing knobs. Production keeps ARM's own pace; tests shrink the sleeps so they run fast."""

    attempts: int = 5
    backoff_s: float = 1.0
    # Retry-After is honoured up to this many seconds per wait (ARM asks for 10–600 s on long operations).
    max_sleep_s: float = 120.0
    # Poll interval for long-running operations that give no Retry-After.
    lro_interval_s: float = 10.0
    timeout: httpx.Timeout = field(default_factory=lambda: httpx.Timeout(60.0, connect=15.0))
    # Blob uploads: files up to this size go in one Put Blob; larger ones as blocks of block_size.
    single_put_max: int = 64 * 1024 * 1024
    block_size: int = 8 * 1024 * 1024
    sleep: Sleep = asyncio.sleep


def retry_after_s(headers: Mapping[str, str], default: float) -> float:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); `default` when absent or bad."""
    value = headers.get("retry-after-ms") or headers.get("x-ms-retry-after-ms")
    if value:
        try:
            return max(0.0, float(value) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return default
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    return max(0.0, when.timestamp() - time.time())


async def send_with_retries(
    client: httpx.AsyncClient, build: Callable[[], Awaitable[httpx.Request]], tuning: Tuning
) -> httpx.Response:
    """Send, retrying 408/429/5xx and transport errors with backoff that honours Retry-After."""
    attempt = 0
    while True:
        attempt += 1
        request = await build()
        try:
            response = await client.send(request)
        except httpx.TransportError as exc:
            if attempt >= tuning.attempts:
                raise BackendUnavailable(
                    f"azure: {request.method} {_path(request.url)}: {type(exc).__name__}: {exc}"
                ) from None
            delay = min(tuning.backoff_s * 2 ** (attempt - 1), tuning.max_sleep_s)
            log.info(
                "%s %s: %s; retrying in %.1f s", request.method, _path(request.url), type(exc).__name__, delay
            )
            await tuning.sleep(delay)
            continue
        await response.aread()
        log.debug("%s %s -> %d", request.method, _path(request.url), response.status_code)
        if response.status_code not in RETRIED_STATUS or attempt >= tuning.attempts:
            return response
        backoff = tuning.backoff_s * 2 ** (attempt - 1)
        delay = min(retry_after_s(response.headers, backoff), tuning.max_sleep_s)
        log.info(
            "%s %s -> %d; retry %d/%d in %.1f s",
            request.method,
            _path(request.url),
            response.status_code,
            attempt,
            tuning.attempts - 1,
            delay,
        )
        await tuning.sleep(delay)


@dataclass(frozen=True)
class ArmResponse:
    status: int
    headers: httpx.Headers
    body: Any
    url: str


class ArmClient:
    def __init__(
        self,
        scope: WorkspaceScope,
        tokens: TokenSource,
        tuning: Tuning,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.scope = scope
        self.tuning = tuning
        self._tokens = tokens
        self._last_token: str | None = None
        self.http = httpx.AsyncClient(
            timeout=tuning.timeout, transport=transport, follow_redirects=False, verify=client_ssl_context()
        )

    async def close(self) -> None:
        await self.http.aclose()

    async def request(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        what: str,
        allow: frozenset[int] = frozenset(),
    ) -> ArmResponse:
        """One ARM call; a status ≥ 400 not in `allow` raises the matching EndpointctlError."""
        full = with_api_version(url)
        refreshed = False
        while True:

            async def build() -> httpx.Request:
                token = await self._tokens.token(self.scope.token_scope)
                self._last_token = token
                headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
                return self.http.build_request(method, full, json=json, headers=headers)

            response = await send_with_retries(self.http, build, self.tuning)
            if response.status_code == 401 and not refreshed:
                # An expired cached token gets one fresh try before we blame the identity.
                refreshed = True
                self._tokens.forget()
                continue
            break
        body = _json(response)
        if response.status_code >= 400 and response.status_code not in allow:
            raise self.error(response.status_code, body, method, full, what)
        return ArmResponse(response.status_code, response.headers, body, full)

    async def list_all(self, url: str, *, what: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        next_url: str | None = url
        while next_url:
            page = await self.request("GET", next_url, what=what)
            body = page.body if isinstance(page.body, dict) else {}
            items.extend(v for v in body.get("value", []) if isinstance(v, dict))
            link = body.get("nextLink")
            next_url = link if isinstance(link, str) and link else None
        return items

    def error(self, status: int, body: Any, method: str, url: str, what: str) -> EndpointctlError:
        code, message = error_of(body)
        detail = f"{code}: {message}" if message else code
        if status == 401:
            return BackendUnavailable(
                f"azure: {what}: ARM rejected the credential of {identity_of(self._last_token)} "
                f"({detail}). Sign in again (`az login`) or check the AZURE_* environment variables."
            )
        if status == 403:
            action = _action_from_message(message) or required_action(method, url)
            return BackendUnavailable(
                f"azure: {what}: {identity_of(self._last_token)} is not allowed to perform {action} on "
                f"workspace {self.scope.workspace} ({detail}). It needs a role assignment on the workspace "
                "that grants it, e.g. 'AzureML Data Scientist' or 'Contributor'."
            )
        text = f"azure: {what}: {detail}"
        if status == 404:
            return NotFound(text)
        if status == 409:
            return Conflict(text)
        if status in (400, 422):
            return InvalidInput(text)
        return OperationFailed(f"{text} (HTTP {status})")


def error_of(body: Any) -> tuple[str, str]:
    """ARM's `{error: {code, message, details}}` as (code, message with the details' messages).

    Azure Monitor's metrics API answers its errors unwrapped (`{code, message}`): read those too."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        if isinstance(body, dict) and isinstance(body.get("code"), str):
            return body["code"], str(body.get("message") or "")
        return "Error", ""
    code = str(error.get("code") or "Error")
    message = str(error.get("message") or "")
    details = [d for d in error.get("details") or [] if isinstance(d, dict)]
    extra = "; ".join(f"{d.get('code', '')}: {d.get('message', '')}" for d in details if d.get("message"))
    return code, f"{message} ({extra})" if extra and extra not in message else message


def _json(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return None


_ACTION_IN_MESSAGE = re.compile(r"perform action '([^']+)'")
_VERBS = {"GET": "read", "PUT": "write", "PATCH": "write", "DELETE": "delete"}


def _action_from_message(message: str) -> str | None:
    match = _ACTION_IN_MESSAGE.search(message)
    return match.group(1) if match else None


def required_action(method: str, url: str) -> str:
    """The RBAC action a call needs, e.g. Microsoft.MachineLearningServices/workspaces/onlineEndpoints/write."""
    parts = [p for p in urlsplit(url).path.split("/") if p]
    try:
        start = parts.index("workspaces")
    except ValueError:
        return f"{method} {urlsplit(url).path}"
    segments = parts[start + 2 :]
    types = ["workspaces", *segments[0::2]]
    if method == "POST" and len(segments) % 2 == 1:
        # …/onlineEndpoints/{name}/listKeys: the last segment is the action's name.
        types = ["workspaces", *segments[0:-1:2]]
        return "Microsoft.MachineLearningServices/" + "/".join(types) + f"/{segments[-1]}/action"
    return "Microsoft.MachineLearningServices/" + "/".join(types) + "/" + _VERBS.get(method, "action")


def _path(url: httpx.URL) -> str:
    # Query strings can carry SAS signatures: log the path only.
    return url.path
