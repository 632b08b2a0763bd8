"""Fixtures for the TUI tests: a data directory with the sample endpoint (blue 100%, green 0%) and the app on it.

`BACKEND` and `factories()` are the one place that chooses the backend: the behaviour tests are written against
the façade only, so moving them to the real process backend is a change of these two lines.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from endpointctl.core.home import Home
from endpointctl.core.ports import BackendFactory
from endpointctl.core.service import EndpointService
from endpointctl.core.spec import load_deployment, load_endpoint
from endpointctl.tui.app import EndpointctlApp
from tests.conftest import SAMPLES
from tests.fakes.backend import FakeBackend

SAMPLE = SAMPLES / "managed" / "sample"
BACKEND = "fake"
ENDPOINT = "my-endpoint"


def factories() -> dict[str, BackendFactory]:
    return {"fake": FakeBackend}


def open_service(home: Home) -> EndpointService:
    return EndpointService.open(home, factories())


async def seed(home: Home) -> None:
    """The sample endpoint with blue (all traffic) and green (0%) rolled out."""
    FakeBackend.reset()
    service = open_service(home)
    try:
        await service.create_endpoint(load_endpoint(SAMPLE / "endpoint.yml"), backend=BACKEND)
        await service.apply_deployment(
            load_deployment(SAMPLE / "blue-deployment.yml"), backend=BACKEND, all_traffic=True
        )
        await service.apply_deployment(load_deployment(SAMPLE / "green-deployment.yml"), backend=BACKEND)
    finally:
        await service.close()


def make_app(home: Home, *, clock: Callable[[], float] | None = None, poll_s: float = 1.0) -> EndpointctlApp:
    if clock is None:
        return EndpointctlApp(lambda: open_service(home), poll_s=poll_s)
    return EndpointctlApp(lambda: open_service(home), poll_s=poll_s, clock=clock)


@pytest.fixture
async def seeded(home: Home) -> AsyncIterator[Home]:
    await seed(home)
    yield home


@pytest.fixture
def sample_dir() -> Path:
    return SAMPLE
