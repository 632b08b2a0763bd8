"""Request-id correlation headers: the rules azmlinfsrv applies to its own routes."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass

from endpointctl.serving.scoring.messages import Request, Response
from endpointctl.serving.scoring.responses import error_response

HEADER_LIMIT = 100

logger = logging.getLogger("azmlinfsrv")


@dataclass(slots=True)
class Correlation:
    request_id: str = ""
    legacy_client_request_id: str = ""
    client_request_id: str = ""
    trace_id: str | None = None


_RANDOM_BATCH = 16 * 256


class _RandomBytes:
    """os.urandom read 4 KiB at a time: one getrandom() system call per 256 request ids instead of one each."""

    def __init__(self) -> None:
        self._pool = b""
        self._used = 0
        # A forked worker must not hand out the ids its parent (or a sibling) will.
        os.register_at_fork(after_in_child=self.reset)

    def reset(self) -> None:
        self._pool = b""
        self._used = 0

    def take16(self) -> bytes:
        if self._used + 16 > len(self._pool):
            self._pool = os.urandom(_RANDOM_BATCH)
            self._used = 0
        start = self._used
        self._used = start + 16
        return self._pool[start : start + 16]


_random = _RandomBytes()


def _uuid4() -> str:
    # str(uuid.uuid4()) without the UUID object: the same 122 random bits from os.urandom, version 4, RFC 4122
    # variant, in a third of the time.
    raw = bytearray(_random.take16())
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    text = raw.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def correlate(request: Request) -> tuple[Correlation, Response | None]:
    """The ids to echo, plus a 431 response when the caller's ids are too long."""
    ids = Correlation(trace_id=request.header("traceid"))
    request_id = request.header("x-request-id")
    if request_id is None:
        request_id = _uuid4()
    if len(request_id) > HEADER_LIMIT:
        return ids, error_response(431, f"x-request-id must not exceed {HEADER_LIMIT} characters")
    ids.request_id = request_id

    legacy = request.header("x-ms-request-id") or ""
    client = request.header("x-ms-client-request-id") or ""
    if legacy:
        logger.warning(
            "x-ms-request-id header has been deprecated and will be removed from future versions of the "
            "server. Please use x-ms-client-request-id."
        )
        client = client or legacy
    else:
        legacy = client or request_id
    if len(legacy) > HEADER_LIMIT or len(client) > HEADER_LIMIT:
        return ids, error_response(
            431, f"x-ms-request-id and x-ms-client-request-id must not exceed {HEADER_LIMIT} characters"
        )
    ids.legacy_client_request_id = legacy
    ids.client_request_id = client
    return ids, None


def decorate(response: Response, ids: Correlation, server_version: str | None) -> None:
    headers = response.headers
    if server_version:
        headers.append(("x-ms-server-version", server_version))
    # Only a script's response object can already carry these; the host's own never do.
    put = response.set_header if response.from_script else _append(headers)
    if ids.request_id:
        put("x-request-id", ids.request_id)
    if ids.legacy_client_request_id:
        put("x-ms-request-id", ids.legacy_client_request_id)
    if ids.client_request_id:
        put("x-ms-client-request-id", ids.client_request_id)
    if ids.trace_id is not None:
        headers.append(("TraceId", ids.trace_id))


def _append(headers: list[tuple[str, str]]) -> Callable[[str, str], None]:
    def append(name: str, value: str) -> None:
        headers.append((name, value))

    return append
