"""An instance container serving the model-1 sample, through the async runtime API, then cleaned away."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
from docker import DockerClient

from endpointctl.backends.docker.containers import InstanceError, InstanceSpec
from endpointctl.backends.docker.resources import Limits
from endpointctl.backends.docker.runtime import DockerRuntime
from endpointctl.backends.engine import labels
from endpointctl.backends.engine.builder import EnvironmentImage
from endpointctl.core.assets.sources import CodeSource, ModelSource
from tests.backends.docker.conftest import MODEL_1

pytestmark = pytest.mark.slow


async def _post_until_ready(url: str, body: bytes, *, within_s: float = 60) -> httpx.Response:
    deadline = asyncio.get_running_loop().time() + within_s
    async with httpx.AsyncClient(timeout=5) as client:
        while True:
            try:
                response = await client.post(url, content=body, headers={"Content-Type": "application/json"})
                if response.status_code != 503:
                    return response
            except httpx.TransportError:
                pass
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{url} did not answer within {within_s}s")
            await asyncio.sleep(0.2)


async def test_instance_serves_the_sample_and_cleanup_leaves_nothing(
    engine: DockerClient, model1_image: EnvironmentImage, endpoint: str, work_dir: Path, tmp_path: Path
) -> None:
    runtime = DockerRuntime(engine, work_dir)
    staged = await runtime.stage(
        model1_image.image_id,
        endpoint=endpoint,
        deployment="blue",
        revision=1,
        model=ModelSource(MODEL_1 / "model"),
        code=CodeSource(MODEL_1 / "onlinescoring", "score.py"),
        log=tmp_path / "storage.log",
    )
    spec = InstanceSpec(
        endpoint=endpoint,
        deployment="blue",
        revision=1,
        instance="0",
        image=model1_image.image_id,
        volume=staged.volume,
        env={**staged.env, "WORKER_COUNT": "1"},
        limits=Limits(nano_cpus=1_000_000_000, memory_bytes=1 << 30, gpus=0),
    )
    instance = await runtime.start(spec)
    assert instance.address is not None and instance.host == "127.0.0.1"

    body = (MODEL_1 / "sample-request.json").read_bytes()
    response = await _post_until_ready(f"http://127.0.0.1:{instance.port}/score", body)
    assert response.status_code == 200, response.text
    predictions = json.loads(response.text)
    assert isinstance(predictions, list) and len(predictions) == 2
    assert all(isinstance(p, float) for p in predictions)

    attrs = engine.containers.get(instance.id).attrs
    assert attrs["Config"]["Labels"][labels.INSTANCE] == "0"
    assert attrs["Config"]["Labels"][labels.REVISION] == "1"
    assert {b["HostIp"] for b in attrs["NetworkSettings"]["Ports"]["5001/tcp"]} == {"127.0.0.1"}
    assert (attrs["HostConfig"]["NanoCpus"], attrs["HostConfig"]["Memory"]) == (1_000_000_000, 1 << 30)
    assert [(m["Destination"], m["RW"]) for m in attrs["Mounts"]] == [("/var/azureml-app", False)]

    # Found again by label alone, as after a restart of endpointctl.
    found = await runtime.find(endpoint=endpoint, deployment="blue")
    assert [(i.id, i.port) for i in found] == [(instance.id, instance.port)]
    assert await runtime.is_running(instance.id)
    # The access line is written after the answer went out, and reaches the engine's log a moment later.
    for _ in range(200):
        lines = [line async for line in runtime.logs(instance.id)]
        if any("POST /score 200" in line for line in lines):
            break
        await asyncio.sleep(0.05)
    assert any("POST /score 200" in line for line in lines), lines[-20:]

    await runtime.stop(instance.id, grace_s=5)
    assert not await runtime.is_running(instance.id)
    assert await runtime.exit_code(instance.id) is not None
    stopped = await runtime.find(endpoint=endpoint)
    assert [(i.status, i.address) for i in stopped] == [("exited", None)]

    await runtime.purge(endpoint=endpoint)
    owner = labels.selector(labels.ours(endpoint=endpoint))
    assert engine.containers.list(all=True, filters=owner) == []
    assert engine.volumes.list(filters=owner) == []
    assert await runtime.find(endpoint=endpoint) == []


async def test_a_failing_instance_is_seen_as_exited(
    engine: DockerClient, model1_image: EnvironmentImage, endpoint: str, work_dir: Path, tmp_path: Path
) -> None:
    """No scoring script in the volume: the server exits, and the runtime reports it, not a hang."""
    runtime = DockerRuntime(engine, work_dir)
    staged = await runtime.stage(
        model1_image.image_id,
        endpoint=endpoint,
        deployment="green",
        revision=1,
        model=None,
        code=None,
        log=tmp_path / "storage.log",
    )
    env = {"AML_APP_ROOT": "/var/azureml-app/missing", "AZUREML_ENTRY_SCRIPT": "score.py"}
    spec = InstanceSpec(
        endpoint, "green", 1, "0", model1_image.image_id, staged.volume, env, Limits(None, None, 0)
    )
    try:
        instance = await runtime.start(spec)
    except InstanceError:  # exited before its port was published: also a correct report
        instance = (await runtime.find(endpoint=endpoint))[0]
    for _ in range(100):
        if not await runtime.is_running(instance.id):
            break
        await asyncio.sleep(0.1)
    code = await runtime.exit_code(instance.id)
    assert code is not None and code != 0
