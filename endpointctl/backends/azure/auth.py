"""Bearer tokens for ARM from an azure-identity credential, created on first use only.

Importing this module never imports azure.identity: every CLI call loads every backend, and
`--dry-run` and `status()` on an unconfigured backend must not pay for (or trigger) a credential.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any, Protocol


class AccessTokenLike(Protocol):
    token: str
    expires_on: int


class AsyncTokenCredential(Protocol):
    async def get_token(self, *scopes: str, **kwargs: Any) -> Any: ...

    async def close(self) -> None: ...


CredentialFactory = Callable[[], AsyncTokenCredential]
# Tokens are refreshed this long before they expire, so a long poll never sends an expired one.
_REFRESH_MARGIN_S = 300


def default_credential() -> AsyncTokenCredential:
    from azure.identity.aio import DefaultAzureCredential

    credential: AsyncTokenCredential = DefaultAzureCredential()
    return credential


class TokenSource:
    """Caches one token per scope; the credential is built at the first `token()` call."""

    def __init__(self, factory: CredentialFactory = default_credential) -> None:
        self._factory = factory
        self._credential: AsyncTokenCredential | None = None
        self._cache: dict[str, tuple[str, float]] = {}

    @property
    def created(self) -> bool:
        return self._credential is not None

    async def token(self, scope: str) -> str:
        cached = self._cache.get(scope)
        if cached is not None and cached[1] - _REFRESH_MARGIN_S > time.time():
            return cached[0]
        if self._credential is None:
            self._credential = self._factory()
        try:
            result = await self._credential.get_token(scope)
        except Exception as exc:
            # azure-identity's message lists every source it tried; it carries no secret.
            from endpointctl.core.errors import BackendUnavailable

            raise BackendUnavailable(
                f"azure: no Azure credential could get a token for {scope}: {_first_line(exc)} "
                "(sign in with `az login`, or set AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET)"
            ) from None
        self._cache[scope] = (str(result.token), float(result.expires_on))
        return str(result.token)

    def forget(self) -> None:
        self._cache.clear()

    async def close(self) -> None:
        if self._credential is not None:
            await self._credential.close()
            self._credential = None


def identity_of(token: str | None) -> str:
    """Who a bearer token speaks for, from its claims (never the token itself)."""
    claims = token_claims(token) if token else {}
    if not claims:
        return "an unknown identity (the token is not a JWT)"
    parts: list[str] = []
    for key, label in (("upn", "user"), ("unique_name", "user"), ("appid", "app"), ("oid", "object id")):
        value = claims.get(key)
        if isinstance(value, str) and value and not any(value in p for p in parts):
            parts.append(f"{label} {value}")
    tenant = claims.get("tid")
    if isinstance(tenant, str) and tenant:
        parts.append(f"tenant {tenant}")
    return ", ".join(parts) or "an identity without user, app or object id claims"


def token_claims(token: str) -> dict[str, Any]:
    pieces = token.split(".")
    if len(pieces) != 3:
        return {}
    payload = pieces[1] + "=" * (-len(pieces[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (ValueError, UnicodeDecodeError):
        return {}
    return claims if isinstance(claims, dict) else {}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
