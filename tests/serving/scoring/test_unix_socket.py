"""The scoring host on a Unix socket: how endpointctl's gateways reach instances, so nobody else can."""

from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.listeners import descendants, tcp_listeners
from tests.serving.scoring.cases import CORPUS
from tests.serving.scoring.servers import scoring_env

SCRIPT = CORPUS / "echo_str" / "score.py"


def _start(tmp_path: Path, sock: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "endpointctl.serving.scoring", "--entry_script", str(SCRIPT)]
    command += ["--uds", str(sock)]
    log = (tmp_path / "host.log").open("wb")
    return subprocess.Popen(
        command,
        env=scoring_env(SCRIPT.parent, None, env),
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _client(sock: Path) -> httpx.Client:
    return httpx.Client(transport=httpx.HTTPTransport(uds=str(sock)), base_url="http://instance", timeout=10)


def _wait_ready(process: subprocess.Popen[bytes], sock: Path, tmp_path: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, (tmp_path / "host.log").read_text()
        try:
            with _client(sock) as client:
                if client.get("/").status_code == 200:
                    return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise AssertionError("the scoring host never answered on its socket")


@pytest.fixture
def sock_dir(tmp_path: Path) -> Iterator[Path]:
    # sun_path is 108 bytes: pytest's tmp_path can be too deep for a socket inside it.
    path = Path(f"/tmp/ectl-uds-{os.getpid()}-{tmp_path.name[-20:]}")
    path.mkdir(mode=0o700)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_serves_on_a_socket_only_its_owner_may_open_and_no_tcp_port(tmp_path: Path, sock_dir: Path) -> None:
    sock = sock_dir / "scoring.sock"
    process = _start(tmp_path, sock, {"WORKER_COUNT": "2"})
    try:
        _wait_ready(process, sock, tmp_path)
        assert stat.S_ISSOCK(sock.lstat().st_mode)
        assert stat.S_IMODE(sock.lstat().st_mode) == 0o600
        with _client(sock) as client:
            reply = client.post("/score", content=b"hello")
        assert (reply.status_code, reply.text) == (200, '"hello"')
        assert tcp_listeners(descendants(process.pid)) == []
    finally:
        process.terminate()
        process.wait(30)


def test_a_stale_socket_is_replaced_but_nothing_else_is_removed(tmp_path: Path, sock_dir: Path) -> None:
    sock = sock_dir / "scoring.sock"
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(sock))
    stale.close()  # the file stays behind, as after a SIGKILL
    process = _start(tmp_path, sock)
    try:
        _wait_ready(process, sock, tmp_path)
    finally:
        process.terminate()
        process.wait(30)

    regular = sock_dir / "not-a-socket"
    regular.write_text("keep me")
    process = _start(tmp_path, regular)
    assert process.wait(60) == 1
    assert regular.read_text() == "keep me"
    assert "Cannot listen on unix:" in (tmp_path / "host.log").read_text()


def test_a_bad_owner_is_a_usage_error(tmp_path: Path, sock_dir: Path) -> None:
    process = _start(tmp_path, sock_dir / "s.sock", {"ENDPOINTCTL_UDS_OWNER": "nobody"})
    assert process.wait(60) == 2
    assert "ENDPOINTCTL_UDS_OWNER must be 'uid:gid'" in (tmp_path / "host.log").read_text()


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root and setpriv")
def test_another_user_cannot_call_the_model(tmp_path: Path, sock_dir: Path) -> None:
    sock = sock_dir / "scoring.sock"
    # The directory is opened up on purpose: the socket's own mode must be enough to keep others out.
    sock_dir.chmod(0o755)
    process = _start(tmp_path, sock)
    try:
        _wait_ready(process, sock, tmp_path)
        probe = (
            "import socket,sys\n"
            "s=socket.socket(socket.AF_UNIX)\n"
            "try:\n"
            f"    s.connect({str(sock)!r})\n"
            "except PermissionError:\n"
            "    sys.exit(13)\n"
            "sys.exit(0)\n"
        )
        nobody = [
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "/usr/bin/python3",
            "-c",
            probe,
        ]
        assert subprocess.run(nobody, check=False, timeout=60).returncode == 13
    finally:
        process.terminate()
        process.wait(30)


def test_an_unusable_instance_token_file_stops_the_host(tmp_path: Path, sock_dir: Path) -> None:
    (tmp_path / "token").write_text("short")
    env = {"ENDPOINTCTL_INSTANCE_TOKEN_FILE": str(tmp_path / "token")}
    assert _start(tmp_path, sock_dir / "s.sock", env).wait(60) == 2
    log = (tmp_path / "host.log").read_text()
    assert "must hold 16 to 1024 characters" in log and "short" not in log.replace(str(tmp_path), "")

    env = {"ENDPOINTCTL_INSTANCE_TOKEN_FILE": str(tmp_path / "missing")}
    assert _start(tmp_path, sock_dir / "s.sock", env).wait(60) == 2
    assert "cannot read" in (tmp_path / "host.log").read_text()
