"""Endpoint key material: generation and rotation. Tokens are signed by the gateway's token format."""

from __future__ import annotations

import secrets
import time
from typing import Literal

from endpointctl.core.store import KeyRecord
from endpointctl.core.views import Credentials
from endpointctl.serving.gateway.tokens import issue_token

KeyType = Literal["primary", "secondary"]
TOKEN_TTL_S = 3600
# Azure suggests refreshing a token well before it expires; clients read refreshAfterTimeUtc.
TOKEN_REFRESH_FRACTION = 0.5


def new_key() -> str:
    return secrets.token_urlsafe(32)


def new_keys(backend: str, endpoint: str) -> KeyRecord:
    return KeyRecord(
        backend=backend,
        endpoint=endpoint,
        primary_key=new_key(),
        secondary_key=new_key(),
        token_secret=secrets.token_hex(32),
        updated_at=time.time(),
    )


def rotate(record: KeyRecord, key_type: KeyType) -> KeyRecord:
    """Replace one key; the other keeps working, so clients can move over without a failed request."""
    if key_type == "primary":
        return KeyRecord(
            record.backend, record.endpoint, new_key(), record.secondary_key, record.token_secret, time.time()
        )
    return KeyRecord(
        record.backend, record.endpoint, record.primary_key, new_key(), record.token_secret, time.time()
    )


def credentials_for(record: KeyRecord, auth_mode: str, *, now: float | None = None) -> Credentials:
    if auth_mode == "key":
        return Credentials("key", primary_key=record.primary_key, secondary_key=record.secondary_key)
    issued_at = time.time() if now is None else now
    token, expires = issue_token(
        bytes.fromhex(record.token_secret), record.endpoint, TOKEN_TTL_S, now=issued_at
    )
    return Credentials(
        auth_mode,
        access_token=token,
        expiry_time_utc=int(expires),
        refresh_after_time_utc=int(issued_at + TOKEN_TTL_S * TOKEN_REFRESH_FRACTION),
    )
