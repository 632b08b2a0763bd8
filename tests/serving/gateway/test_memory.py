"""The standalone gateway process does not buffer bodies of requests without a valid key."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.serving.gateway.conftest import UpstreamFactory, deployment, endpoint

CONNECTIONS = 16
BODY_BYTES = 31 * 1024 * 1024
MAX_GROWTH_BYTES = 50 * 1024 * 1024


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


@pytest.fixture
def gateway_process(tmp_path: Path, upstreams: UpstreamFactory) -> Iterator[tuple[int, int]]:
    """(pid, endpoint port) of ``python -m endpointctl.serving.gateway`` serving ep1."""
    up = upstreams("blue-0")
    config = tmp_path / "gateway.json"
    config.write_text(json.dumps({"endpoints": {"ep1": endpoint({"blue": deployment(up)}, {"blue": 100})}}))
    cmd = [sys.executable, "-m", "endpointctl.serving.gateway", "--admin-port", "0", "--config", str(config)]
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        started = json.loads(process.stdout.readline())
        yield process.pid, started["endpoints"]["ep1"]
    finally:
        process.terminate()
        process.wait(30)


def keyless_upload(port: int, answers: list[bytes]) -> None:
    head = f"POST /score HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\nContent-Length: {BODY_BYTES}\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(head.encode("ascii"))
        chunk = b"x" * (1024 * 1024)
        try:
            for _ in range(BODY_BYTES // len(chunk)):
                sock.sendall(chunk)
        except OSError:
            pass  # the gateway stopped listening to the body it had refused
        received = b""
        try:
            while data := sock.recv(65536):
                received += data
        except OSError:
            pass
        answers.append(received)


def test_keyless_uploads_do_not_grow_the_gateway(gateway_process: tuple[int, int]) -> None:
    pid, port = gateway_process
    warm: list[bytes] = []
    keyless_upload(port, warm)  # first-request allocations (parser, code paths) are not what is measured
    baseline = rss_bytes(pid)
    answers: list[bytes] = []
    threads = [threading.Thread(target=keyless_upload, args=(port, answers)) for _ in range(CONNECTIONS)]
    for thread in threads:
        thread.start()
    peak = baseline
    while any(thread.is_alive() for thread in threads):
        peak = max(peak, rss_bytes(pid))
        time.sleep(0.01)
    for thread in threads:
        thread.join()
    peak = max(peak, rss_bytes(pid))
    assert peak - baseline < MAX_GROWTH_BYTES, f"RSS grew {(peak - baseline) / 2**20:.0f} MiB"
    assert len(answers) == CONNECTIONS
    # Each client read its 401 (none got a reset before the answer).
    assert [a.split(b"\r\n", 1)[0] for a in [*warm, *answers]] == [b"HTTP/1.1 401 Unauthorized"] * (
        CONNECTIONS + 1
    )
