"""Under steady load from another process: rollouts, traffic shifts, key rotation and crashes.

Acceptance of both local backends (processes, containers): zero failed requests through a 5-instance
rolling update, a traffic shift 100/0 → 50/50 → 0/100 and a key regeneration; a killed instance (SIGKILL,
`docker kill`) costs at most its in-flight requests (counted and reported). A rollout to a script whose init() raises leaves the old version serving.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from endpointctl.backends.local import procs
from endpointctl.backends.local.launcher import ensure_agent
from endpointctl.backends.local.lock import lock_holder
from endpointctl.core.service import EndpointService
from endpointctl.core.spec import load_deployment, load_endpoint
from endpointctl.core.views import ProvisioningState
from tests.backends.process.load import Load
from tests.backends.scenarios.conftest import LocalTarget
from tests.conftest import SAMPLES

SAMPLE = SAMPLES / "managed" / "sample"
REQUEST = SAMPLE / "sample-request.json"
MIN_RATE = 200
CAPACITY = (
    "request_settings.max_concurrent_requests_per_instance=4",
    "request_settings.max_queue_wait_ms=5000",
)
BLUE = ("instance_count=5", *CAPACITY)


async def _deploy(service: EndpointService, path: Path, *sets: str, all_traffic: bool = False) -> None:
    await service.apply_deployment(load_deployment(path, sets), all_traffic=all_traffic)


async def _key_and_uri(service: EndpointService) -> tuple[str, str]:
    credentials = await service.get_credentials("my-endpoint")
    endpoint = await service.get_endpoint("my-endpoint")
    assert credentials.secondary_key and endpoint.scoring_uri
    return credentials.secondary_key, endpoint.scoring_uri


async def test_zero_failed_requests_through_rollout_traffic_keys_and_a_crash(
    service: EndpointService, target: LocalTarget, tmp_path: Path
) -> None:
    await service.create_endpoint(load_endpoint(SAMPLE / "endpoint.yml"))
    # Capacity for the load generator's 8 connections on either deployment, so a 429 can only mean a bug.
    await _deploy(service, SAMPLE / "blue-deployment.yml", *BLUE, all_traffic=True)
    await _deploy(service, SAMPLE / "green-deployment.yml", *CAPACITY)
    key, uri = await _key_and_uri(service)

    with Load(uri, key, REQUEST, tmp_path) as load:
        load.phase("rolling update")
        started = time.monotonic()
        await _deploy(service, SAMPLE / "blue-deployment.yml", *BLUE, "environment_variables.ROLL=2")
        rollout_s = time.monotonic() - started
        blue = await service.get_deployment("my-endpoint", "blue")
        assert blue.provisioning_state is ProvisioningState.SUCCEEDED
        assert {i.revision for i in blue.instances} == {blue.revision} and len(blue.instances) == 5

        load.phase("traffic 100/0 → 50/50 → 0/100")
        for weights in ({"blue": 100, "green": 0}, {"blue": 50, "green": 50}, {"blue": 0, "green": 100}):
            await service.set_traffic("my-endpoint", traffic=weights)
            await asyncio.sleep(1.0)

        load.phase("regenerate primary key")
        await service.regenerate_keys("my-endpoint", "primary")
        await asyncio.sleep(0.5)
        await service.set_traffic("my-endpoint", traffic={"blue": 100, "green": 0})
        await asyncio.sleep(1.0)

        load.phase("kill one instance")
        blue = await service.get_deployment("my-endpoint", "blue")
        target.kill(blue.instances[0].id)
        await asyncio.sleep(3.0)

    rate = load.rate()
    print(f"\n{target.name}: {rate:.0f} requests/s; rolling update of 5 instances took {rollout_s:.1f} s")
    for phase in ("rolling update", "traffic 100/0 → 50/50 → 0/100", "regenerate primary key"):
        assert load.results(phase), phase
        assert load.failures(phase) == [], phase
    split = load.served_by("traffic 100/0 → 50/50 → 0/100")
    assert split["blue"] > 0 and split["green"] > 0
    killed = load.failures("kill one instance")
    print(
        f"{target.name}: kill of one instance: {len(killed)} failed request(s) (its in-flight requests): {killed}"
    )
    # At most the requests that were in flight on the killed instance: one per loadgen connection.
    assert len(killed) <= 8
    blue = await service.get_deployment("my-endpoint", "blue")
    assert any(i.restarts >= 1 for i in blue.instances), "the killed instance was not restarted"
    assert rate >= MIN_RATE


async def test_rollout_to_a_failing_init_rolls_back_while_serving(
    service: EndpointService, target: LocalTarget, tmp_path: Path
) -> None:
    await service.create_endpoint(load_endpoint(SAMPLE / "endpoint.yml"))
    await _deploy(service, SAMPLE / "blue-deployment.yml", "instance_count=2", *CAPACITY, all_traffic=True)
    before = await service.get_deployment("my-endpoint", "blue")
    code = tmp_path / "broken"
    code.mkdir()
    (code / "score.py").write_text(
        "def init():\n    raise RuntimeError('the model file is corrupt')\n\ndef run(raw):\n    return raw\n"
    )
    key, uri = await _key_and_uri(service)
    with Load(uri, key, REQUEST, tmp_path) as load:
        load.phase("failing rollout")
        with pytest.raises(Exception, match="rolled back"):
            await _deploy(
                service,
                SAMPLE / "blue-deployment.yml",
                "instance_count=2",
                *CAPACITY,
                f"code_configuration.code={code}",
            )
        await asyncio.sleep(1.0)
    assert load.results("failing rollout")
    assert load.failures("failing rollout") == []
    after = await service.get_deployment("my-endpoint", "blue")
    assert after.provisioning_state is ProvisioningState.FAILED
    assert "rolled back" in after.reason and f"revision {before.revision} keeps serving" in after.reason
    # The cause, not only an exit code: the user's exception and where it was raised.
    assert "init() raised RuntimeError: the model file is corrupt (score.py:2)" in after.reason, after.reason
    assert {i.revision for i in after.instances} == {before.revision} and len(after.instances) == 2
    events = await service.events("my-endpoint")
    failed = [e for e in events if e.kind == "failed"]
    assert failed and "RuntimeError: the model file is corrupt" in str(failed[-1].data.get("log_tail"))


async def test_agent_sigkill_keeps_ports_and_adopts_instances(
    service: EndpointService, target: LocalTarget
) -> None:
    await service.create_endpoint(load_endpoint(SAMPLE / "endpoint.yml"))
    await _deploy(service, SAMPLE / "blue-deployment.yml", "instance_count=2", all_traffic=True)
    _, uri = await _key_and_uri(service)
    layout = target.layout
    running = target.running()
    assert len(running) == 2
    agent = lock_holder(layout)
    assert agent is not None and agent > 0
    started = procs.start_time(agent)
    os.kill(agent, signal.SIGKILL)
    for _ in range(100):
        if procs.start_time(agent) != started:
            break
        await asyncio.sleep(0.05)
    await ensure_agent(layout)
    result = await service.invoke("my-endpoint", REQUEST.read_bytes())
    assert result.status == 200
    assert (await service.get_endpoint("my-endpoint")).scoring_uri == uri
    assert target.running() == running, "instances were duplicated or lost instead of adopted"
    assert lock_holder(layout) not in (None, agent)
