"""Preparing a revision says what it is doing: the lines the CLI's status line and the TUI show while waiting."""

from __future__ import annotations

import threading

from endpointctl.backends.docker.supervised import ContainerRuntime
from endpointctl.backends.local.runtime import Runtime
from endpointctl.backends.process.runtime import ProcessRuntime
from endpointctl.core.context import BackendContext
from endpointctl.core.spec import load_deployment
from tests.backends.scenarios.conftest import LocalTarget
from tests.conftest import SAMPLES

SAMPLE = SAMPLES / "managed" / "sample"


async def test_prepare_reports_environment_and_storage_steps(target: LocalTarget) -> None:
    context = BackendContext.open(target.home)
    runtime: Runtime = (
        ProcessRuntime(target.layout, context)
        if target.engine is None
        else ContainerRuntime(target.layout, context)
    )
    lines: list[str] = []
    lock = threading.Lock()

    def progress(line: str) -> None:
        with lock:  # image builds report from their own thread
            lines.append(line)

    try:
        prepared = await runtime.prepare(load_deployment(SAMPLE / "blue-deployment.yml"), 1, progress)
        await runtime.remove_deployment("my-endpoint", "blue")
    finally:
        await runtime.close()
    assert prepared.env
    first_environment = next(i for i, line in enumerate(lines) if line.startswith(("environment:", "image")))
    staging = next(i for i, line in enumerate(lines) if line.startswith("storage-initializer:"))
    assert first_environment < staging, lines
