"""The façade over the fake backend, for the core tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from endpointctl.core.home import Home
from endpointctl.core.service import EndpointService
from tests.fakes.backend import FakeBackend


@pytest.fixture
async def service(home: Home) -> AsyncIterator[EndpointService]:
    FakeBackend.reset()
    svc = EndpointService.open(home, {"fake": FakeBackend})
    yield svc
    await svc.close()
