"""Loopback ports for instances and endpoints.

Ports are drawn from below the kernel's ephemeral range. A port the kernel hands out for ``bind(0)`` lies
inside that range, so between our check and the listener's own bind any outgoing connection on the machine
may take it as its local port, and the listener then dies with EADDRINUSE. Below the range only explicit
binds compete, and the bind check sees those.
"""

from __future__ import annotations

import random
import socket
import threading
from collections import deque
from pathlib import Path

EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
# Linux's default ephemeral range, when the kernel does not say.
DEFAULT_EPHEMERAL = (32768, 60999)
# Below this, ports belong to well-known and registered services people run by hand.
FLOOR = 20000
# A pool smaller than this is too crowded to draw from at random.
MIN_POOL = 1000
ATTEMPTS = 200

# Ports handed out lately by this process: a listener may not have bound its port yet, so the bind check
# alone would hand the same port out twice.
_recent: deque[int] = deque(maxlen=512)
_lock = threading.Lock()
_random = random.SystemRandom()


def ephemeral_range(source: Path = EPHEMERAL_RANGE_FILE) -> tuple[int, int]:
    try:
        low, high = (int(part) for part in source.read_text().split())
    except (OSError, ValueError):
        return DEFAULT_EPHEMERAL
    return low, high


def pool(ephemeral: tuple[int, int]) -> range | None:
    """Where to draw ports from: below the ephemeral range, else above it; None when neither is roomy."""
    low, high = ephemeral
    if low - FLOOR >= MIN_POOL:
        return range(FLOOR, low)
    if 65535 - high >= MIN_POOL:
        return range(high + 1, 65536)
    return None


def free_port(host: str = "127.0.0.1") -> int:
    candidates = pool(ephemeral_range())
    with _lock:
        if candidates is not None:
            for _ in range(ATTEMPTS):
                port = _random.choice(candidates)
                if port not in _recent and is_free(port, host):
                    _recent.append(port)
                    return port
        port = _kernel_port(host)
        _recent.append(port)
        return port


def _kernel_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True
