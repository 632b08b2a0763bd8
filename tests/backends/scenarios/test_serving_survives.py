"""Serving survives its control plane: the gateway is a process of its own.

Under steady load through the scoring URI: the agent killed with SIGKILL costs no request, and the next agent
adopts the same gateway (same pid, same port); the gateway killed comes back by itself within moments, and an
agent killed comes back by itself too (the gateway revives it), in time to restart an instance that died
meanwhile; `agent stop` leaves the endpoint answering and the agent stopped, `agent stop --all` leaves nothing
running. The gateway's admin API needs
its token and the files holding credentials are 0600.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path

import httpx
import pytest

from endpointctl.backends.local import procs
from endpointctl.backends.local.lock import lock_holder
from endpointctl.core.service import EndpointService
from endpointctl.core.spec import load_deployment, load_endpoint
from tests.backends.process.load import Load
from tests.backends.scenarios.conftest import ENDPOINT, LocalTarget
from tests.conftest import SAMPLES

SAMPLE = SAMPLES / "managed" / "sample"
REQUEST = SAMPLE / "sample-request.json"
ENDPOINTCTL = Path(sys.executable).with_name("endpointctl")
CAPACITY = (
    "request_settings.max_concurrent_requests_per_instance=4",
    "request_settings.max_queue_wait_ms=5000",
)


async def _blue(service: EndpointService) -> tuple[str, str]:
    await service.create_endpoint(load_endpoint(SAMPLE / "endpoint.yml"))
    await service.apply_deployment(
        load_deployment(SAMPLE / "blue-deployment.yml", CAPACITY), all_traffic=True
    )
    credentials = await service.get_credentials(ENDPOINT)
    uri = (await service.get_endpoint(ENDPOINT)).scoring_uri
    assert uri and credentials.primary_key
    return uri, credentials.primary_key


def _gateway(target: LocalTarget) -> dict[str, int]:
    data: dict[str, int] = json.loads((target.layout.root / "gateway" / "gateway.json").read_text())
    return data


async def _until(predicate: object, what: str, limit_s: float = 30.0) -> None:
    deadline = time.monotonic() + limit_s
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def _answers_again(
    client: httpx.AsyncClient, uri: str, headers: dict[str, str], within_s: float, failure: str
) -> None:
    deadline = time.monotonic() + within_s
    while True:
        try:
            if (await client.post(uri, content=REQUEST.read_bytes(), headers=headers)).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, failure
        await asyncio.sleep(0.05)


async def test_an_agent_killed_under_load_costs_no_request_and_the_next_adopts_the_gateway(
    service: EndpointService, target: LocalTarget, tmp_path: Path
) -> None:
    uri, key = await _blue(service)
    before = _gateway(target)
    agent = lock_holder(target.layout)
    assert agent is not None
    with Load(uri, key, REQUEST, tmp_path) as load:
        load.phase("agent killed")
        os.kill(agent, signal.SIGKILL)
        await _until(lambda: lock_holder(target.layout) is None, "the agent to be gone")
        await asyncio.sleep(
            3.0
        )  # the gateway and the instance serve alone until the gateway revives the agent
        load.phase("next agent")
        await service.get_deployment(ENDPOINT, "blue")  # any command starts the next agent
        await asyncio.sleep(1.0)
    assert load.failures("agent killed") == [] and load.failures("next agent") == []
    assert len(load.results("agent killed")) > 50, "the load did not run while the agent was down"
    assert lock_holder(target.layout) not in (None, agent)
    after = _gateway(target)
    assert after == before, "the next agent started a second gateway instead of adopting the first"
    assert procs.is_running(after["pid"], after["started"])


@pytest.mark.parametrize("target", ["process"], indirect=True)
async def test_a_killed_gateway_is_back_by_itself(service: EndpointService, target: LocalTarget) -> None:
    uri, key = await _blue(service)
    first = _gateway(target)
    os.kill(first["pid"], signal.SIGKILL)
    killed_at = time.monotonic()
    await _until(lambda: not procs.is_running(first["pid"], first["started"]), "the gateway to die")
    async with httpx.AsyncClient(timeout=5, trust_env=False) as client:
        while True:
            try:
                response = await client.post(uri, content=REQUEST.read_bytes(), headers={
                    "authorization": f"Bearer {key}", "content-type": "application/json"})  # fmt: skip
            except httpx.TransportError:
                response = None
            if response is not None and response.status_code == 200:
                break
            assert time.monotonic() - killed_at < 10, "the gateway did not come back"
            await asyncio.sleep(0.05)
    back_after = time.monotonic() - killed_at
    # Serving before it is recorded: the record follows once it answered its health check.
    await _until(lambda: _gateway(target)["pid"] != first["pid"], "the new gateway's record", limit_s=10)
    assert procs.is_running(_gateway(target)["pid"], _gateway(target)["started"])
    # Measured, not asserted tightly (a loaded CI machine): the supervisor checks every 0.25 s.
    print(f"gateway back after {back_after:.2f} s")


async def test_the_gateway_revives_a_killed_agent_which_restarts_a_dead_instance(
    service: EndpointService, target: LocalTarget
) -> None:
    """No command at all after the kill: the gateway starts the agent again, and the agent's supervision
    restarts the instance that died while no agent ran."""
    uri, key = await _blue(service)
    agent = lock_holder(target.layout)
    assert agent is not None
    os.kill(agent, signal.SIGKILL)
    await _until(lambda: lock_holder(target.layout) is None, "the agent to be gone")
    (instance,) = target.running()
    if target.engine is None:
        os.kill(int(instance), signal.SIGKILL)
    else:
        target.engine.containers.get(instance).kill()
    await _until(
        lambda: lock_holder(target.layout) not in (None, -1, agent), "the gateway to revive the agent"
    )
    headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    async with httpx.AsyncClient(timeout=10, trust_env=False) as client:
        await _answers_again(client, uri, headers, 60, "the instance was not restarted")
    assert instance not in target.running()
    assert "was not stopped on request: starting it again" in (target.layout.logs / "gateway.log").read_text()


@pytest.mark.parametrize("target", ["process"], indirect=True)
async def test_an_endpoint_read_brings_back_a_dead_control_plane(
    service: EndpointService, target: LocalTarget
) -> None:
    """Agent and gateway both killed: `online-endpoint show` must not report Succeeded over a dead URI."""
    uri, key = await _blue(service)
    agent, gateway = lock_holder(target.layout), _gateway(target)
    assert agent is not None
    # Back to back, each before the other can act: the agent would restart a dead gateway within 0.25 s, the
    # gateway would revive a dead agent within a second or two.
    os.kill(gateway["pid"], signal.SIGKILL)
    os.kill(agent, signal.SIGKILL)
    await _until(lambda: lock_holder(target.layout) is None, "the agent to be gone")
    await _until(lambda: not procs.is_running(gateway["pid"], gateway["started"]), "the gateway to die")
    headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    async with httpx.AsyncClient(timeout=5, trust_env=False) as client:
        with pytest.raises(httpx.TransportError):
            await client.post(uri, content=REQUEST.read_bytes(), headers=headers)
        assert (await service.get_endpoint(ENDPOINT)).scoring_uri == uri
        assert lock_holder(target.layout) not in (None, agent), "reading the endpoint left no agent running"
        await _answers_again(client, uri, headers, 30, "the endpoint never answered again")


@pytest.mark.parametrize("target", ["process"], indirect=True)
async def test_agent_stop_keeps_serving_and_stop_all_stops_everything(
    service: EndpointService, target: LocalTarget
) -> None:
    uri, key = await _blue(service)
    headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}

    async def endpointctl(*args: str) -> tuple[int, str]:
        proc = await asyncio.create_subprocess_exec(
            str(ENDPOINTCTL), *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        out, err = await proc.communicate()
        assert proc.returncode is not None
        return proc.returncode, out.decode() + err.decode()

    code, out = await endpointctl("agent", "stop", "-o", "json")
    assert code == 0 and "keep serving" in out, out
    assert lock_holder(target.layout) is None
    await asyncio.sleep(4.0)  # several of the gateway's checks: a stop on request is not a death to revive
    assert lock_holder(target.layout) is None, "the gateway revived an agent that was stopped on request"
    async with httpx.AsyncClient(timeout=10, trust_env=False) as client:
        answer = await client.post(uri, content=REQUEST.read_bytes(), headers=headers)
        assert answer.status_code == 200, "the endpoint stopped answering with the agent"

        code, out = await endpointctl("agent", "stop", "--all", "-o", "json")
        assert code == 0 and "nothing" in out, out
        assert target.running() == set(), "instances left running after agent stop --all"
        gateway = _gateway_pid(target)
        assert gateway is None or not procs.start_time(gateway), "the gateway left running after --all"
        with pytest.raises(httpx.TransportError):
            await client.post(uri, content=REQUEST.read_bytes(), headers=headers)


def _gateway_pid(target: LocalTarget) -> int | None:
    path = target.layout.root / "gateway" / "gateway.json"
    return int(json.loads(path.read_text())["pid"]) if path.exists() else None


@pytest.mark.parametrize("target", ["process"], indirect=True)
async def test_the_admin_api_needs_its_token_and_credential_files_are_private(
    service: EndpointService, target: LocalTarget
) -> None:
    await _blue(service)
    folder = target.layout.root / "gateway"
    for name in ("keys.json", "admin-token"):
        assert (folder / name).stat().st_mode & 0o777 == 0o600, name
    assert "keys" not in json.loads((folder / "routing.json").read_text())["endpoints"][ENDPOINT]
    port = _gateway(target)["admin_port"]
    async with httpx.AsyncClient(timeout=5, trust_env=False) as client:
        for method, path in (("GET", "/v1/metrics"), ("GET", "/v1/config"), ("POST", "/v1/reload")):
            refused = await client.request(method, f"http://127.0.0.1:{port}{path}")
            assert refused.status_code == 401, (method, path)
        token = (folder / "admin-token").read_text().strip()
        allowed = await client.get(
            f"http://127.0.0.1:{port}/v1/metrics", headers={"authorization": f"Bearer {token}"}
        )
        assert allowed.status_code == 200 and ENDPOINT in allowed.json()["endpoints"]
