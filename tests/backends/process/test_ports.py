"""Loopback ports for instances: never from the range the kernel gives outgoing connections."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from endpointctl.backends.local import ports


def test_the_pool_lies_below_the_ephemeral_range_when_there_is_room() -> None:
    assert ports.pool((32768, 60999)) == range(ports.FLOOR, 32768)


def test_the_pool_lies_above_it_when_the_range_starts_low() -> None:
    assert ports.pool((1024, 50000)) == range(50001, 65536)


def test_no_pool_when_the_range_takes_everything() -> None:
    assert ports.pool((1024, 65000)) is None


def test_the_range_is_read_from_the_kernel_file(tmp_path: Path) -> None:
    source = tmp_path / "ip_local_port_range"
    source.write_text("40000\t50000\n")
    assert ports.ephemeral_range(source) == (40000, 50000)
    assert ports.ephemeral_range(tmp_path / "missing") == ports.DEFAULT_EPHEMERAL


def test_ports_are_outside_the_ephemeral_range_distinct_and_bindable() -> None:
    low, high = ports.ephemeral_range()
    handed = [ports.free_port() for _ in range(50)]
    assert len(set(handed)) == len(handed), "a port was handed out twice"
    if ports.pool((low, high)) is not None:
        assert all(not low <= port <= high for port in handed)
    for port in handed[:5]:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


class _Scripted:
    """Draws the given ports in order, standing in for the random choice."""

    def __init__(self, *draws: int) -> None:
        self._draws = list(draws)

    def choice(self, candidates: range) -> int:
        port = self._draws.pop(0)
        assert port in candidates
        return port


def test_a_port_someone_listens_on_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", ports.free_port()))
        listener.listen()
        taken = listener.getsockname()[1]
        other = ports.free_port()
        monkeypatch.setattr(ports, "_random", _Scripted(taken, taken, other))
        monkeypatch.setattr(ports, "_recent", type(ports._recent)(maxlen=8))
        assert ports.free_port() == other
