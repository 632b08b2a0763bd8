"""What a data-plane HTTP server (the gateway and the scoring host) accepts from a client, in one place.

Every listener faces clients that may be hostile: a key is not needed to open a socket. These limits bound what
one client can make the process hold (memory, file descriptors, time) before it has proven anything:

* the request line and each header field are capped at azmlinfsrv's own gunicorn limits (4,094 / 8,190 bytes):
  414 and 431, decided as soon as the limit is crossed, so a 100 MB URL costs one read, not a 100 MB buffer;
* the whole head (request line + headers) and the number of header fields are capped too (431);
* a request head must arrive within ``header_timeout_s`` of its first byte (slowloris), a body must keep moving
  (``body_idle_timeout_s``), and a keep-alive connection with nothing to do is closed after
  ``keep_alive_timeout_s``; answers are 408 where a request had started, a plain close otherwise;
* at most ``max_connections`` client connections are open per process; the next ones are answered 503 and
  closed, so the process keeps descriptors for its own work (upstream connections, probes, files).

The stdlib-only module is shared by the gateway (``Gateway(limits=...)``) and the scoring host, which also reads
the timeouts (head, body idle, keep-alive) and the connection cap from the environment (:data:`ENVIRONMENT`),
since containers configure it so.
"""

from __future__ import annotations

import math
import resource
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# gunicorn's limit_request_line (azmlinfsrv runs gunicorn with its defaults): longer request lines get 414.
MAX_REQUEST_LINE_BYTES = 4094
# gunicorn's limit_request_field_size: a longer header field ("name: value") gets 431.
MAX_HEADER_FIELD_BYTES = 8190
# gunicorn's limit_request_fields.
MAX_HEADER_FIELDS = 100
# Request line plus all header fields; stricter than gunicorn's implied 100 x 8,190 bytes, since no Azure ML client
# sends anything close (a bearer token is a few kB).
MAX_HEAD_BYTES = 64 * 1024
# From the first byte of a request to the end of its headers.
HEADER_TIMEOUT_S = 10.0
# Longest pause between two pieces of a body; a slow but steady upload is fine.
BODY_IDLE_TIMEOUT_S = 30.0
# An idle keep-alive connection (and a fresh one that sends nothing) is closed after this. Longer than common
# client pool expiries (httpx: 5 s) so the client, not the server, usually closes first.
KEEP_ALIVE_TIMEOUT_S = 30.0
# After refusing a request early (401 before its body, 414, 431), how long its connection is drained so the
# client, which may still be sending, reads the answer instead of a reset.
LINGER_S = 2.0
# Upper bound on client connections per process; the effective cap is lower when RLIMIT_NOFILE is (see below).
MAX_CONNECTIONS = 10_000


# Environment variables the scoring host reads (seconds, or a count), and the field each sets.
ENVIRONMENT = {
    "ENDPOINTCTL_HEADER_TIMEOUT_S": "header_timeout_s",
    "ENDPOINTCTL_BODY_IDLE_TIMEOUT_S": "body_idle_timeout_s",
    "ENDPOINTCTL_KEEP_ALIVE_TIMEOUT_S": "keep_alive_timeout_s",
    "ENDPOINTCTL_MAX_CONNECTIONS": "max_connections",
}


class LimitsError(ValueError):
    """A limit from the environment is not a positive number; the message names the variable."""


def fd_bounded(cap: int) -> int:
    """``cap``, lowered to half the process's soft descriptor limit: the other half stays for upstream
    connections, health probes, log and key files — running out of those marked a healthy deployment down."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return cap
    return max(1, min(cap, soft // 2))


@dataclass(frozen=True)
class WireLimits:
    max_request_line_bytes: int = MAX_REQUEST_LINE_BYTES
    max_header_field_bytes: int = MAX_HEADER_FIELD_BYTES
    max_header_fields: int = MAX_HEADER_FIELDS
    max_head_bytes: int = MAX_HEAD_BYTES
    header_timeout_s: float = HEADER_TIMEOUT_S
    body_idle_timeout_s: float = BODY_IDLE_TIMEOUT_S
    keep_alive_timeout_s: float = KEEP_ALIVE_TIMEOUT_S
    linger_s: float = LINGER_S
    max_connections: int = MAX_CONNECTIONS

    def effective_max_connections(self) -> int:
        return fd_bounded(self.max_connections)

    def sweep_interval_s(self) -> float:
        """How often deadlines are checked: a quarter of the shortest timeout, at most once a second."""
        shortest = min(
            self.header_timeout_s, self.body_idle_timeout_s, self.keep_alive_timeout_s, self.linger_s
        )
        return max(0.01, min(1.0, shortest / 4))


def from_env(env: Mapping[str, str]) -> WireLimits:
    """The defaults, with what :data:`ENVIRONMENT` names overridden; raises LimitsError naming a bad variable."""
    values: dict[str, Any] = {}
    for var, name in ENVIRONMENT.items():
        raw = env.get(var)
        if raw is None or raw == "":
            continue
        try:
            value: float = int(raw) if name == "max_connections" else float(raw)
        except ValueError:
            raise LimitsError(f"{var}={raw!r}: not a number") from None
        if not (value > 0 and math.isfinite(value)):
            raise LimitsError(f"{var}={raw!r}: must be a positive number")
        values[name] = value
    return WireLimits(**values)
