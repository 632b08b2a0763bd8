"""Signed, expiring endpoint tokens for ``auth_mode: aml_token``.

Format: ``<payload>.<signature>``, both base64url without padding. ``payload`` is the compact JSON object
``{"v": 1, "endpoint": NAME, "iat": INT, "exp": INT}`` (epoch seconds); ``signature`` is HMAC-SHA256 over the
payload's base64url text with the endpoint's token secret. The control plane issues tokens with
:func:`issue_token` (``get-credentials``); the gateway checks them with :func:`verify_token`. Standard library
only, because both sides import it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time

TOKEN_VERSION = 1
# Tokens issued a little in the future (another host's clock) are still accepted.
CLOCK_SKEW_S = 60
# Real tokens are ~200 bytes; refusing huge input keeps verification cheap for garbage.
MAX_TOKEN_CHARS = 4096


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: bytes, payload_b64: str) -> str:
    return _b64encode(hmac.new(secret, payload_b64.encode("ascii"), hashlib.sha256).digest())


def issue_token(secret: bytes, endpoint: str, ttl_s: int, now: float | None = None) -> tuple[str, int]:
    """Return ``(token, exp)`` for ``endpoint``, valid for ``ttl_s`` seconds from ``now``."""
    if not secret:
        raise ValueError("token secret must not be empty")
    if ttl_s <= 0:
        raise ValueError("ttl_s must be positive")
    issued = int(time.time() if now is None else now)
    exp = issued + int(ttl_s)
    payload = json.dumps(
        {"v": TOKEN_VERSION, "endpoint": endpoint, "iat": issued, "exp": exp}, separators=(",", ":")
    )
    payload_b64 = _b64encode(payload.encode("utf-8"))
    return f"{payload_b64}.{_sign(secret, payload_b64)}", exp


def verify_token(secret: bytes, token: str, endpoint: str, now: float | None = None) -> bool:
    """True when ``token`` was signed with ``secret`` for ``endpoint`` and has not expired at ``now``."""
    if not secret or len(token) > MAX_TOKEN_CHARS or token.count(".") != 1:
        return False
    payload_b64, signature = token.split(".")
    try:
        expected = _sign(secret, payload_b64)
    except UnicodeEncodeError:
        return False
    # Checked before the payload is parsed, so nothing about an unsigned payload influences the answer.
    if not hmac.compare_digest(expected.encode("ascii"), signature.encode("utf-8", "replace")):
        return False
    try:
        claims = json.loads(_b64decode(payload_b64))
    except (binascii.Error, ValueError):
        return False
    if not isinstance(claims, dict) or claims.get("v") != TOKEN_VERSION:
        return False
    iat, exp = claims.get("iat"), claims.get("exp")
    if not isinstance(iat, int) or not isinstance(exp, int) or claims.get("endpoint") != endpoint:
        return False
    current = time.time() if now is None else now
    return iat <= current + CLOCK_SKEW_S and current < exp
