"""The scoring host, reached directly (containers, pods), refuses what the gateway refuses."""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.serving.scoring.cases import CORPUS
from tests.serving.scoring.servers import Server, free_port, scoring_env

GIVE_UP_S = 30.0
SHORT = {
    "ENDPOINTCTL_HEADER_TIMEOUT_S": "0.5",
    "ENDPOINTCTL_KEEP_ALIVE_TIMEOUT_S": "0.5",
    "ENDPOINTCTL_BODY_IDLE_TIMEOUT_S": "1",
}
# Pause between two pieces of a steady upload: well under the 1 s body-idle limit above.
STEADY_PAUSE_S = 0.3


@pytest.fixture
def echo_host(tmp_path: Path) -> Iterator[Server]:
    port = free_port()
    script = CORPUS / "echo_str" / "score.py"
    command = [
        sys.executable,
        "-m",
        "endpointctl.serving.scoring",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    command += ["--entry_script", str(script)]
    env = scoring_env(script.parent, None, SHORT)
    server = Server(command, env, tmp_path, port, tmp_path / "host.log").start()
    try:
        assert server.wait_ready(), server.output()
        yield server
    finally:
        server.stop()


def request(target: str = "/score", extra: str = "") -> bytes:
    head = f"POST {target} HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\nContent-Length: 2\r\n{extra}\r\n"
    return head.encode("latin-1") + b"{}"


def until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (fails the test if it never does)."""
    sock.settimeout(GIVE_UP_S)
    received = b""
    try:
        while data := sock.recv(65536):
            received += data
    except ConnectionResetError:
        pass
    return received


def status_of(port: int, data: bytes, *, half_close: bool = False) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=GIVE_UP_S) as sock:
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        answer = until_closed(sock) if half_close else sock.recv(65536)
    return int(answer.split(b" ", 2)[1])


def test_request_line_and_header_limits(echo_host: Server) -> None:
    port = echo_host.port
    fits = "/score?p=" + "a" * (4094 - len("POST  HTTP/1.1") - len("/score?p="))
    assert status_of(port, request(fits)) == 200
    assert status_of(port, request(fits + "a")) == 414
    field = f"x-pad: {'v' * (8190 - 7)}\r\n"
    assert status_of(port, request(extra=field)) == 200
    assert status_of(port, request(extra=f"x-pad: {'v' * (8191 - 7)}\r\n")) == 431
    assert status_of(port, request(extra="".join(f"x-{i}: 1\r\n" for i in range(101)))) == 431


def test_slow_head_and_silent_connection_are_closed(echo_host: Server) -> None:
    with socket.create_connection(("127.0.0.1", echo_host.port), timeout=GIVE_UP_S) as sock:
        sock.sendall(b"POST /score HTTP/1.1\r\nHost: h\r\n")
        assert until_closed(sock).startswith(b"HTTP/1.1 408 ")
    with socket.create_connection(("127.0.0.1", echo_host.port), timeout=GIVE_UP_S) as sock:
        assert until_closed(sock) == b""


def test_half_closed_client_still_gets_its_answer(echo_host: Server) -> None:
    assert status_of(echo_host.port, request(), half_close=True) == 200


def body_head(length: int | None) -> bytes:
    framing = "Transfer-Encoding: chunked" if length is None else f"Content-Length: {length}"
    return f"POST /score HTTP/1.1\r\nHost: h\r\nContent-Type: text/plain\r\n{framing}\r\n\r\n".encode()


def test_stalled_content_length_body_gets_408_and_close(echo_host: Server) -> None:
    with socket.create_connection(("127.0.0.1", echo_host.port), timeout=GIVE_UP_S) as sock:
        sock.sendall(body_head(10) + b"hello")
        answer = until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert answer.endswith(b'{"message": "Timed out reading the request body."}')
    assert b"connection: close" in answer.lower()


def test_stalled_chunked_body_gets_408_and_close(echo_host: Server) -> None:
    with socket.create_connection(("127.0.0.1", echo_host.port), timeout=GIVE_UP_S) as sock:
        sock.sendall(body_head(None) + b"5\r\nhello\r\n")
        assert until_closed(sock).startswith(b"HTTP/1.1 408 ")


def test_slow_but_steady_body_is_answered(echo_host: Server) -> None:
    pieces = [f"piece{i:02d};".encode() for i in range(10)]  # 10 pauses of 0.3 s: 3 s in all, over the limit
    for chunked in (False, True):
        with socket.create_connection(("127.0.0.1", echo_host.port), timeout=GIVE_UP_S) as sock:
            sock.sendall(body_head(None if chunked else sum(map(len, pieces))))
            for piece in pieces:
                time.sleep(STEADY_PAUSE_S)
                sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
            if chunked:
                sock.sendall(b"0\r\n\r\n")
            sock.shutdown(socket.SHUT_WR)
            answer = until_closed(sock)
        assert answer.startswith(b"HTTP/1.1 200 "), answer
        assert answer.endswith(b"".join(pieces) + b'"')


def test_a_stalled_body_holds_no_slot(echo_host: Server) -> None:
    with socket.create_connection(("127.0.0.1", echo_host.port), timeout=GIVE_UP_S) as stalled:
        stalled.sendall(body_head(10) + b"hello")
        # The other client is answered while the stalled body waits (before its 1 s limit or after: either way
        # it never waited for a worker slot the stalled request took).
        assert status_of(echo_host.port, request()) == 200
        assert until_closed(stalled).startswith(b"HTTP/1.1 408 ")


@pytest.mark.parametrize("variable", ["ENDPOINTCTL_HEADER_TIMEOUT_S", "ENDPOINTCTL_BODY_IDLE_TIMEOUT_S"])
def test_bad_limit_in_the_environment_is_named(tmp_path: Path, variable: str) -> None:
    import subprocess

    env = scoring_env(tmp_path, None, {variable: "soon"})
    command = [sys.executable, "-m", "endpointctl.serving.scoring", "--port", str(free_port())]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert f"{variable}='soon'" in done.stderr
