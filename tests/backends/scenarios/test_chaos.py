"""Chaos under steady load: random faults for a minute, and no request may fail but in a gateway's restart.

Steady closed-loop load goes through the scoring URI (the load generator's clients, primary key) while a seeded
injector fires, every 1–3 s, one of: SIGKILL of a random instance, SIGKILL of the agent, SIGKILL of the gateway,
a traffic shift (100/0 → 50/50 → 0/100 → …) or a rotation of the secondary key (what a client that rotates keys
does: regenerate the key it is not using). Each request is attributed to the last fault fired before it; the
report counts requests and failures per fault kind. Only a gateway kill may lose requests (those in flight and
until it is back), and it must be back within 1 s; the requests a SIGKILLed instance was running are sent once
more to another instance by the gateway, so an instance kill loses none.
An instance is killed only while its deployment has another ready one, as a disruption budget would allow. A killed agent stays down for a moment while serving goes
on alone, then a command brings it back (nothing restarts a gateway or an instance while no agent runs).
Control-plane calls that meet a just-killed agent are retried
and counted, not hidden. ENDPOINTCTL_CHAOS_S shortens the run for local iteration; ENDPOINTCTL_CHAOS_SEED
replays one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

import docker.errors
import httpx

from endpointctl.backends.local import procs
from endpointctl.backends.local.lock import lock_holder
from endpointctl.core.errors import EndpointctlError
from endpointctl.core.service import EndpointService
from endpointctl.core.spec import load_deployment, load_endpoint
from endpointctl.core.views import InstanceState
from tests.backends.process.load import Load
from tests.backends.scenarios.conftest import ENDPOINT, LocalTarget
from tests.conftest import SAMPLES

SAMPLE = SAMPLES / "managed" / "sample"
REQUEST = SAMPLE / "sample-request.json"
DURATION_S = float(os.environ.get("ENDPOINTCTL_CHAOS_S", "60"))
CAPACITY = (
    "instance_count=2",
    "request_settings.max_concurrent_requests_per_instance=4",
    "request_settings.max_queue_wait_ms=5000",
)
SPLITS = ({"blue": 100, "green": 0}, {"blue": 50, "green": 50}, {"blue": 0, "green": 100})
FAULTS = ("instance kill", "agent kill", "gateway kill", "traffic shift", "key rotation")


def _gateway(target: LocalTarget) -> dict[str, int]:
    data: dict[str, int] = json.loads((target.layout.root / "gateway" / "gateway.json").read_text())
    return data


async def _retrying(what: str, call: Callable[[], Awaitable[Any]], retries: Counter[str]) -> Any:
    """A control-plane call that may meet an agent killed a moment ago: retried, and counted."""
    for attempt in range(5):
        try:
            return await call()
        except EndpointctlError:
            if attempt == 4:
                raise
            retries[what] += 1
            await asyncio.sleep(0.5)
    raise AssertionError("unreachable")


async def _back_after(uri: str, key: str, since: float) -> float:
    body = REQUEST.read_bytes()
    headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    async with httpx.AsyncClient(timeout=5, trust_env=False) as client:
        while True:
            try:
                if (await client.post(uri, content=body, headers=headers)).status_code == 200:
                    return time.monotonic() - since
            except httpx.TransportError:
                pass
            assert time.monotonic() - since < 30, "the gateway never came back"
            await asyncio.sleep(0.02)


async def test_a_minute_of_random_faults_under_load(
    service: EndpointService, target: LocalTarget, tmp_path: Path
) -> None:
    seed = int(os.environ.get("ENDPOINTCTL_CHAOS_SEED", str(random.randrange(1 << 30))))
    print(
        f"chaos seed {seed} (ENDPOINTCTL_CHAOS_SEED={seed} replays it), {DURATION_S:.0f} s on {target.name}"
    )
    rng = random.Random(seed)
    await service.create_endpoint(load_endpoint(SAMPLE / "endpoint.yml"))
    await service.apply_deployment(
        load_deployment(SAMPLE / "blue-deployment.yml", CAPACITY), all_traffic=True
    )
    await service.apply_deployment(load_deployment(SAMPLE / "green-deployment.yml", CAPACITY))
    uri = (await service.get_endpoint(ENDPOINT)).scoring_uri
    key = (await service.get_credentials(ENDPOINT)).primary_key
    assert uri and key

    fired: list[str] = []
    kills = 0
    recoveries: list[float] = []
    retries: Counter[str] = Counter()
    split = 0
    with Load(uri, key, REQUEST, tmp_path) as load:
        load.phase("start#0")
        deadline = time.monotonic() + DURATION_S
        while time.monotonic() < deadline:
            await asyncio.sleep(rng.uniform(1.0, 3.0))
            fault = rng.choice(FAULTS)
            fired.append(fault)
            load.phase(f"{fault}#{len(fired)}")
            if fault == "instance kill":
                # A crash of one instance while its deployment has another ready one, as a disruption budget
                # allows: with both down a deployment has no capacity at all, which no router can hide.
                name = rng.choice(("blue", "green"))
                view = await _retrying("read", partial(service.get_deployment, ENDPOINT, name), retries)
                ready = [i.id for i in view.instances if i.state is InstanceState.READY]
                if len(ready) >= 2:
                    # The view may lag a crash by a poll: an instance already gone has nothing to kill.
                    with contextlib.suppress(
                        ProcessLookupError, docker.errors.NotFound, docker.errors.APIError
                    ):
                        target.kill(rng.choice(ready))
                        kills += 1
                else:
                    fired[-1] = "instance kill skipped"
            elif fault == "agent kill":
                agent = lock_holder(target.layout)
                if agent is not None and agent > 0:
                    os.kill(agent, signal.SIGKILL)
                    for _ in range(600):  # its lock goes with the process
                        if lock_holder(target.layout) is None:
                            break
                        await asyncio.sleep(0.05)
                    # Serving goes on alone; the next command brings the agent back, as any command does.
                    # (Nothing restarts a killed gateway or instance while no agent runs: see the README.)
                    await asyncio.sleep(rng.uniform(0.5, 2.0))
                    await _retrying("revive", lambda: service.get_endpoint(ENDPOINT), retries)
            elif fault == "gateway kill":
                gateway = _gateway(target)
                if procs.is_running(gateway["pid"], gateway["started"]):
                    os.kill(gateway["pid"], signal.SIGKILL)
                    killed_at = time.monotonic()
                    recoveries.append(await _back_after(uri, key, killed_at))
                    # Requests after its return count as an ordinary period, not the gateway kill's.
                    load.phase(f"recovered#{len(fired)}")
            elif fault == "traffic shift":
                split = (split + 1) % len(SPLITS)
                weights = SPLITS[split]
                await _retrying(fault, partial(service.set_traffic, ENDPOINT, traffic=weights), retries)
            else:
                await _retrying(fault, lambda: service.regenerate_keys(ENDPOINT, "secondary"), retries)
        load.phase("end#0")
        await asyncio.sleep(1.0)

    requests: Counter[str] = Counter()
    failures: Counter[str] = Counter()
    examples: dict[str, list[tuple[float, int, str]]] = {}
    for phase in load.phases:
        kind = phase.name.split("#", 1)[0]
        results = load.results(phase.name)
        bad = [r for r in results if r[1] != 200]
        requests[kind] += len(results)
        failures[kind] += len(bad)
        examples.setdefault(kind, []).extend(bad[:3])
    print(f"{'period after':<16} {'fired':>5} {'requests':>9} {'failed':>7}")
    for kind in ("start", *FAULTS, "instance kill skipped", "recovered", "end"):
        print(f"{kind:<16} {fired.count(kind):>5} {requests[kind]:>9} {failures[kind]:>7}")
    print(f"gateway back after (s): {', '.join(f'{r:.2f}' for r in recoveries) or '-'}")
    print(f"control-plane retries: {dict(retries) or 'none'}")

    total = sum(requests.values())
    assert total > 20 * DURATION_S, f"the load did not run: {total} requests"
    # The requests a SIGKILLed instance was running are sent once more to another one: nothing fails but in a
    # gateway's restart.
    print(f"instance kills: {kills}")
    other = {k: n for k, n in failures.items() if n and k != "gateway kill"}
    assert other == {}, {k: examples[k] for k in failures if failures[k]}
    assert all(r <= 1.0 for r in recoveries), f"a killed gateway took {max(recoveries):.2f} s to come back"

    # Afterwards: the state last set holds, every instance is back, nothing runs twice.
    endpoint = await _retrying("final read", lambda: service.get_endpoint(ENDPOINT), retries)
    assert dict(endpoint.traffic) == SPLITS[split]
    for name in ("blue", "green"):
        await _until_ready(service, name, retries)
    assert len(_gateway_processes(target)) == 1, "more than one gateway runs for the data directory"
    assert len(list(target.layout.instances.glob("*.json"))) == 4


def _gateway_processes(target: LocalTarget) -> list[int]:
    """Gateway processes following this data directory's routing file (a duplicate would be a second one)."""
    marker = str(target.layout.root / "gateway").encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if b"endpointctl.serving.gateway" in cmdline and marker in cmdline:
            found.append(int(entry.name))
    return found


async def _until_ready(service: EndpointService, name: str, retries: Counter[str]) -> None:
    deadline = time.monotonic() + 60
    while True:
        view = await _retrying("final read", lambda: service.get_deployment(ENDPOINT, name), retries)
        if view.ready_instances == 2:
            return
        assert time.monotonic() < deadline, (
            f"{name}: {view.ready_instances}/2 instances ready after the chaos"
        )
        await asyncio.sleep(0.5)
