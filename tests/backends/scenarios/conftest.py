"""One scenario suite for both local backends: each test runs against processes and against containers.

A `LocalTarget` hides the only things that differ for a test: how an instance is killed from outside,
and how leftovers are found (scoring processes through /proc, containers and volumes by label).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from docker import DockerClient

from endpointctl.backends.docker.cleanup import purge
from endpointctl.backends.docker.layout import Layout as DockerLayout
from endpointctl.backends.engine import labels
from endpointctl.backends.local import procs
from endpointctl.backends.local.launcher import stop_agent
from endpointctl.backends.local.layout import ENV_CACHE_VARIABLE, Layout
from endpointctl.backends.process.layout import Layout as ProcessLayout
from endpointctl.core.home import Home
from endpointctl.core.service import EndpointService
from tests.backends.engine import require_engine
from tests.backends.process.conftest import ENV_CACHE, scoring_processes

ENDPOINT = "my-endpoint"


@dataclass
class LocalTarget:
    name: str
    home: Home
    layout: Layout
    engine: DockerClient | None = None

    def record(self, instance_id: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.layout.instances / f"{instance_id}.json").read_text())
        return data

    def kill(self, instance_id: str) -> None:
        """What a crash looks like from outside: SIGKILL of the process, `docker kill` of the container."""
        runtime = self.record(instance_id)["runtime"]
        if self.engine is None:
            os.kill(int(runtime["pid"]), signal.SIGKILL)
        else:
            self.engine.containers.get(runtime["container"]).kill()

    def running(self) -> set[str]:
        """The scoring hosts running for this data directory (pids or container ids)."""
        if self.engine is None:
            return {str(pid) for pid in scoring_processes(self.home)}
        found = self.engine.containers.list(
            filters=labels.selector({**labels.ours(endpoint=ENDPOINT), labels.ROLE: labels.ROLE_INSTANCE}),
            ignore_removed=True,
        )
        return {str(c.id) for c in found}

    def gateway_running(self) -> bool:
        path = self.layout.root / "gateway" / "gateway.json"
        if not path.exists():
            return False
        data = json.loads(path.read_text())
        return procs.is_running(int(data["pid"]), int(data["started"]))

    def leftovers(self) -> list[str]:
        """Anything of ours still there for the endpoint: processes, containers, volumes, folders."""
        left = sorted(self.running())
        if self.engine is not None:
            selector = labels.selector(labels.ours(endpoint=ENDPOINT))
            left += [f"container {c.name}" for c in self.engine.containers.list(all=True, filters=selector)]
            left += [f"volume {v.name}" for v in self.engine.volumes.list(filters=selector)]
        for folder in (self.layout.root / "deployments" / ENDPOINT, self.layout.logs / ENDPOINT):
            if folder.exists():
                left.append(str(folder))
        return left


@pytest.fixture(params=["process", "docker"])
def target(
    request: pytest.FixtureRequest, home: Home, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LocalTarget]:
    monkeypatch.setenv(ENV_CACHE_VARIABLE, str(ENV_CACHE))
    if request.param == "process":
        target = LocalTarget("process", home, ProcessLayout(home))
    else:
        engine = require_engine()
        # Another run's (or a killed run's) objects for the sample endpoint would be mistaken for ours.
        purge(engine, endpoint=ENDPOINT)
        target = LocalTarget("docker", home, DockerLayout(home), engine)
    yield target
    asyncio.run(stop_agent(target.layout))
    try:
        assert target.running() == set(), f"the {target.name} agent left scoring hosts behind"
        assert not target.gateway_running(), f"the {target.name} agent left its gateway behind"
    finally:
        if target.engine is not None:
            purge(target.engine, endpoint=ENDPOINT)
            target.engine.close()


@pytest.fixture
async def service(target: LocalTarget) -> AsyncIterator[EndpointService]:
    """The façade, every call going to the backend under test (its default)."""
    setup = EndpointService.open(target.home)
    with setup.context.store.transaction() as tx:
        tx.set_default("backend", target.name)
    await setup.close()
    service = EndpointService.open(target.home)
    yield service
    await service.close()
