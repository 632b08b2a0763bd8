"""The backend under test: one per module and backend, shared by the module's scenarios in order.

Standing a backend up (and, in the scenarios, deploying to it) is what costs; the checks are cheap. So each
test module gets one harness per backend, and pytest runs all of a module's tests against one backend before
it tears that backend down and stands up the next. The event loop lives as long as the harness: the façade's
clients (scoring sessions, ARM's HTTP client) belong to the loop they were created on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from tests.conformance.harness import BACKENDS, Harness, open_harness

# Building environments and starting scoring hosts or containers is what `slow` marks elsewhere.
SLOW = {"process", "docker"}


@pytest_asyncio.fixture(
    scope="module",
    loop_scope="module",
    params=[pytest.param(name, marks=[pytest.mark.slow] if name in SLOW else []) for name in BACKENDS],
)
async def harness(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Harness]:
    name: str = request.param
    async with open_harness(name, tmp_path_factory.mktemp(f"conformance-{name}")) as opened:
        yield opened
