"""A real OCI registry for the tests: Debian's `docker-registry` (the CNCF distribution registry) on loopback.

Started per test session on a free port with its own storage folder, and stopped with it. The engine pushes
to it over plain HTTP, which Docker allows for loopback registries without configuration.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from endpointctl.backends.local.ports import free_port
from tests.backends.engine import _unavailable

BINARY = "docker-registry"
CONFIG = """version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
"""


@contextlib.contextmanager
def running_registry(folder: Path) -> Iterator[str]:
    """`127.0.0.1:PORT` of a registry that answers /v2/, or the test is skipped (failed in CI)."""
    binary = shutil.which(BINARY) or (f"/usr/bin/{BINARY}" if Path(f"/usr/bin/{BINARY}").exists() else None)
    if binary is None:
        _unavailable(f"{BINARY} is not installed (Debian package docker-registry; .ci/run installs it)")
        raise AssertionError("unreachable")
    port = free_port()
    (folder / "storage").mkdir(parents=True, exist_ok=True)
    config = folder / "config.yml"
    config.write_text(CONFIG.format(root=folder / "storage", port=port))
    log = (folder / "registry.log").open("wb")
    process = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=2) as reply:
                    if reply.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the registry did not start: {(folder / 'registry.log').read_text()[-2000:]}")
            time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)
        log.close()
