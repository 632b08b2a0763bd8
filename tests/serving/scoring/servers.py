"""Starting scoring servers as real subprocesses on free loopback ports, and talking HTTP to them."""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from endpointctl.backends.local.ports import free_port

__all__ = ["Reply", "Server", "fetch", "free_port"]

STARTUP_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        values = self.headers_named(name)
        return values[0] if values else None

    def headers_named(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]


def fetch(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 30.0,
) -> Reply:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=dict(headers or {}))
        response = connection.getresponse()
        return Reply(response.status, list(response.getheaders()), response.read())
    finally:
        connection.close()


@dataclass
class Server:
    """One server process; ``log`` collects its stdout and stderr."""

    command: Sequence[str]
    env: Mapping[str, str]
    cwd: Path
    port: int
    log: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self) -> Server:
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                list(self.command),
                env=dict(self.env),
                cwd=self.cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def wait_ready(self, timeout: float = STARTUP_TIMEOUT_S) -> bool:
        """True once GET / answers; False if the process exited first."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            with contextlib.suppress(OSError, http.client.HTTPException):
                if fetch(self.port, "GET", "/", timeout=2).status == 200:
                    return True
            time.sleep(0.05)
        raise TimeoutError(f"server did not start within {timeout}s:\n{self.output()}")

    def wait_exit(self, timeout: float = STARTUP_TIMEOUT_S) -> int:
        assert self.process is not None
        return self.process.wait(timeout=timeout)

    def wait_for_output(self, pattern: str, timeout: float = 10.0) -> re.Match[str] | None:
        """The first match of ``pattern`` in the log, waiting for lines written after a response."""
        deadline = time.monotonic() + timeout
        while True:
            match = re.search(pattern, self.output())
            if match or time.monotonic() > deadline:
                return match
            time.sleep(0.02)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        # The whole session: gunicorn and our supervisor both have worker children.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


def scoring_env(
    app_root: Path, model_dir: Path | None, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AZUREML_", "AML_"))}
    env.pop("SERVER_PORT", None)
    env.pop("SCORING_TIMEOUT_MS", None)
    env["AML_APP_ROOT"] = str(app_root)
    if model_dir is not None:
        env["AZUREML_MODEL_DIR"] = str(model_dir)
    env.update(extra or {})
    return env
