"""Checks a request's ``Authorization`` header against an endpoint's auth mode.

Every refusal in a supported mode gives the same message, so a caller learns nothing about which part (scheme,
key, signature, expiry) was wrong; keys are compared in constant time and always against both slots.
"""

from __future__ import annotations

import hmac
import time

from endpointctl.serving.gateway.tokens import verify_token

UNAUTHORIZED = "Unauthorized: send a valid credential as 'Authorization: Bearer <key or token>'."
AAD_UNSUPPORTED = (
    "auth_mode aad_token is not supported by the local gateway: Microsoft Entra tokens can only be validated in "
    "Azure. Use auth_mode key or aml_token locally."
)


class Authenticator:
    __slots__ = ("_endpoint", "_keys", "_mode", "_secret")

    def __init__(
        self, mode: str, endpoint: str, keys: tuple[str, ...] = (), token_secret: bytes = b""
    ) -> None:
        self._mode = mode
        self._endpoint = endpoint
        self._keys = tuple(k.encode("utf-8") for k in keys)
        self._secret = token_secret

    def check(self, authorization: bytes | None, now: float | None = None) -> str | None:
        """None when the request may pass, else the message for the 401 body."""
        if self._mode == "aad_token":
            return AAD_UNSUPPORTED
        if authorization is None:
            return UNAUTHORIZED
        scheme, _, credential = authorization.strip().partition(b" ")
        credential = credential.strip()
        if scheme.lower() != b"bearer" or not credential:
            return UNAUTHORIZED
        if self._mode == "key":
            matched = False
            for key in self._keys:
                # No early exit: the time taken does not reveal which slot matched.
                matched |= hmac.compare_digest(credential, key)
            return None if matched else UNAUTHORIZED
        try:
            token = credential.decode("ascii")
        except UnicodeDecodeError:
            return UNAUTHORIZED
        ok = verify_token(self._secret, token, self._endpoint, time.time() if now is None else now)
        return None if ok else UNAUTHORIZED
