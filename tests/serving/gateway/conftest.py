"""Fixtures: model instances as real subprocesses, an embedded gateway, an HTTP client, config builders."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvloop

from endpointctl.backends.local.ports import free_port
from endpointctl.serving.gateway import Gateway, GatewayConfig

LoopFactory = Callable[[], asyncio.AbstractEventLoop]
UPSTREAM_SCRIPT = Path(__file__).with_name("upstream_server.py")
KEY_A = "primary-key-0123456789abcdef"
KEY_B = "secondary-key-0123456789abcdef"
SECRET_HEX = "11" * 32


@dataclass
class Upstream:
    name: str
    port: int
    process: subprocess.Popen[str]

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def received(self) -> int:
        return self._stats("received")

    def connections(self) -> int:
        return self._stats("connections")

    def _stats(self, name: str) -> int:
        # A fresh connection each time (no keep-alive), so asking never changes what is counted next.
        response = httpx.get(f"http://{self.address}/stats", timeout=5, headers={"connection": "close"})
        count: int = response.json()[name]
        return count


@dataclass
class UpstreamFactory:
    started: list[Upstream] = field(default_factory=list)

    def __call__(self, name: str, *, delay_ms: int = 0, status: int = 200) -> Upstream:
        cmd = [sys.executable, str(UPSTREAM_SCRIPT), "--name", name, "--delay-ms", str(delay_ms)]
        process = subprocess.Popen([*cmd, "--status", str(status)], stdout=subprocess.PIPE, text=True)
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:
            process.kill()
            raise RuntimeError(f"upstream {name} did not start")
        upstream = Upstream(name, json.loads(line)["port"], process)
        self.started.append(upstream)
        return upstream

    def stop(self, upstream: Upstream) -> None:
        upstream.process.terminate()
        upstream.process.wait(10)


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> dict[str, LoopFactory]:
    """Embedded-gateway tests run on both loops the gateway meets: the process backend's agent may run plain
    asyncio, the standalone gateway runs uvloop (whose transports are not asyncio.Transport subclasses)."""
    return {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}


@pytest.fixture
def upstreams() -> Iterator[UpstreamFactory]:
    factory = UpstreamFactory()
    yield factory
    for upstream in factory.started:
        if upstream.process.poll() is None:
            upstream.process.terminate()
            upstream.process.wait(10)


@pytest.fixture
async def gateway() -> AsyncIterator[Gateway]:
    gw = Gateway(drain_timeout_s=5)
    await gw.start()
    yield gw
    await gw.stop()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(timeout=20, limits=limits) as c:
        yield c


def unused_port() -> int:
    """A loopback port nobody listens on, so connecting to it is refused."""
    return free_port()


def deployment(*instances: Upstream | str, **settings: int) -> dict[str, Any]:
    addrs = [i if isinstance(i, str) else i.address for i in instances]
    return {"instances": addrs, **settings}


def endpoint(
    deployments: dict[str, dict[str, Any]],
    traffic: dict[str, int] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    doc: dict[str, Any] = {"auth_mode": "key", "keys": [KEY_A, KEY_B], "deployments": deployments}
    if traffic is not None:
        doc["traffic"] = traffic
    doc.update(extra)
    return doc


async def apply(gw: Gateway, **endpoints: dict[str, Any]) -> GatewayConfig:
    return await gw.apply(GatewayConfig.from_dict({"endpoints": endpoints}))


def score_url(gw: Gateway, name: str) -> str:
    return gw.scoring_uri(name)


def auth(key: str = KEY_A) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def run_load(
    client: httpx.AsyncClient,
    url: str,
    headers: Callable[[], dict[str, str]],
    stop: asyncio.Event,
    workers: int = 8,
) -> list[httpx.Response]:
    """Keep ``workers`` requests in flight until ``stop`` is set; returns every response."""
    responses: list[httpx.Response] = []

    async def worker() -> None:
        while not stop.is_set():
            responses.append(await client.post(url, json={"data": [1]}, headers=headers()))

    await asyncio.gather(*(worker() for _ in range(workers)))
    return responses
