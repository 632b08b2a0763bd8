"""Live reconfiguration under load: keys, traffic, instance sets and endpoints change without a failed request."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter

import httpx
import pytest

from endpointctl.serving.gateway import Gateway, GatewayBindError
from tests.serving.gateway.conftest import (
    KEY_A,
    KEY_B,
    UpstreamFactory,
    apply,
    auth,
    deployment,
    endpoint,
    run_load,
    unused_port,
)

WIDE = {"max_concurrent_requests_per_instance": 16}


async def test_rotating_one_key_never_fails_requests_using_the_other(
    gateway: Gateway, upstreams: UpstreamFactory, client: httpx.AsyncClient
) -> None:
    up = upstreams("blue-0")
    deps = {"blue": deployment(up, **WIDE)}
    await apply(gateway, ep1=endpoint(deps, {"blue": 100}, keys=[KEY_A, KEY_B]))
    url = gateway.scoring_uri("ep1")
    stop = asyncio.Event()
    load = asyncio.create_task(run_load(client, url, lambda: auth(KEY_B), stop))
    for i in range(30):
        # Primary rotates over and over while callers use the secondary.
        await apply(gateway, ep1=endpoint(deps, {"blue": 100}, keys=[f"rotated-primary-{i:04d}", KEY_B]))
        await asyncio.sleep(0.01)
    new_primary = "rotated-primary-0029"
    stop.set()
    responses = await load
    assert len(responses) > 50
    assert Counter(r.status_code for r in responses) == {200: len(responses)}
    # Then the other way round: callers move to the new primary, the secondary rotates.
    stop = asyncio.Event()
    load = asyncio.create_task(run_load(client, url, lambda: auth(new_primary), stop))
    for i in range(30):
        await apply(
            gateway, ep1=endpoint(deps, {"blue": 100}, keys=[new_primary, f"rotated-secondary-{i:04d}"])
        )
        await asyncio.sleep(0.01)
    stop.set()
    responses = await load
    assert Counter(r.status_code for r in responses) == {200: len(responses)}
    assert (await client.post(url, json={}, headers=auth(KEY_B))).status_code == 401


async def test_instance_swap_under_load_drains_removed_instances(
    gateway: Gateway, upstreams: UpstreamFactory, client: httpx.AsyncClient
) -> None:
    # 150 ms per request, so every swap happens with requests in flight on the instances being removed.
    generations = [[upstreams(f"blue-{g}{i}", delay_ms=150) for i in range(2)] for g in "abc"]
    for gen in generations:
        await apply(gateway, ep1=endpoint({"blue": deployment(*gen, **WIDE)}, {"blue": 100}))
        if gen is generations[0]:
            url = gateway.scoring_uri("ep1")
            stop = asyncio.Event()
            load = asyncio.create_task(run_load(client, url, auth, stop, workers=12))
        await asyncio.sleep(0.6)
    stop.set()
    responses = await load
    assert Counter(r.status_code for r in responses) == {200: len(responses)}
    served = Counter(r.json()["instance"][:6] for r in responses)
    assert set(served) == {"blue-a", "blue-b", "blue-c"}
    # Removed instances no longer get traffic.
    before = [up.received() for up in generations[0]]
    for _ in range(10):
        assert (await client.post(url, json={}, headers=auth())).json()["instance"].startswith("blue-c")
    assert [up.received() for up in generations[0]] == before


async def test_traffic_change_under_load(
    gateway: Gateway, upstreams: UpstreamFactory, client: httpx.AsyncClient
) -> None:
    blue, green = upstreams("blue-0", delay_ms=20), upstreams("green-0", delay_ms=20)
    deps = {"blue": deployment(blue, **WIDE), "green": deployment(green, **WIDE)}
    await apply(gateway, ep1=endpoint(deps, {"blue": 100, "green": 0}))
    url = gateway.scoring_uri("ep1")
    stop = asyncio.Event()
    load = asyncio.create_task(run_load(client, url, auth, stop))
    for blue_pct in itertools.chain(range(90, -1, -10), range(10, 101, 10)):
        await asyncio.sleep(0.05)
        await apply(gateway, ep1=endpoint(deps, {"blue": blue_pct, "green": 100 - blue_pct}))
    await apply(gateway, ep1=endpoint(deps, {"blue": 0, "green": 100}))
    await asyncio.sleep(0.1)
    stop.set()
    responses = await load
    assert Counter(r.status_code for r in responses) == {200: len(responses)}
    assert {r.headers["azureml-model-deployment"] for r in responses} == {"blue", "green"}
    after = [
        (await client.post(url, json={}, headers=auth())).headers["azureml-model-deployment"]
        for _ in range(10)
    ]
    assert after == ["green"] * 10


async def test_endpoints_are_added_and_removed_and_keep_their_port(
    gateway: Gateway, upstreams: UpstreamFactory, client: httpx.AsyncClient
) -> None:
    up = upstreams("blue-0")
    one = endpoint({"blue": deployment(up, **WIDE)}, {"blue": 100})
    first = await apply(gateway, ep1=one)
    port1 = first.endpoints["ep1"].port
    assert port1 > 0
    assert gateway.scoring_uri("ep1") == f"http://127.0.0.1:{port1}/score"

    stop = asyncio.Event()
    load = asyncio.create_task(run_load(client, gateway.scoring_uri("ep1"), auth, stop))
    second = await apply(gateway, ep1=one, ep2=one)
    assert second.endpoints["ep1"].port == port1  # port 0 is resolved once, then kept
    ep2_url = gateway.scoring_uri("ep2")
    assert (await client.post(ep2_url, json={}, headers=auth())).status_code == 200
    await apply(gateway, ep1=one)
    stop.set()
    responses = await load
    assert Counter(r.status_code for r in responses) == {200: len(responses)}
    await asyncio.sleep(0.2)
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as fresh:
            await fresh.post(ep2_url, json={}, headers=auth())


async def test_bind_error_leaves_running_config_untouched(
    gateway: Gateway, upstreams: UpstreamFactory, client: httpx.AsyncClient
) -> None:
    up = upstreams("blue-0")
    one = endpoint({"blue": deployment(up)}, {"blue": 100})
    await apply(gateway, ep1=one)
    taken = gateway.ports()["ep1"]
    free = unused_port()
    with pytest.raises(GatewayBindError) as caught:
        await apply(
            gateway,
            ep1=endpoint({"blue": deployment(up)}, {"blue": 0}),
            ep2={**one, "port": taken},
            ep3={**one, "port": free},
        )
    assert "'ep2'" in str(caught.value)
    assert f"127.0.0.1:{taken}" in str(caught.value)
    assert set(gateway.config.endpoints) == {"ep1"}
    assert gateway.config.endpoints["ep1"].traffic == {"blue": 100}
    assert (await client.post(gateway.scoring_uri("ep1"), json={}, headers=auth())).status_code == 200
    # ep3's listener, bound before ep2 failed, was closed again.
    with pytest.raises(httpx.ConnectError):
        await client.post(f"http://127.0.0.1:{free}/score", json={}, headers=auth())


async def test_pending_request_on_removed_deployment_completes(
    gateway: Gateway, upstreams: UpstreamFactory, client: httpx.AsyncClient
) -> None:
    blue, green = upstreams("blue-0"), upstreams("green-0")
    both = {"blue": deployment(blue), "green": deployment(green)}
    await apply(gateway, ep1=endpoint(both, {"blue": 100}))
    url = gateway.scoring_uri("ep1")
    slow = asyncio.create_task(
        client.post(f"{url}?sleep=500", json={}, headers={**auth(), "azureml-model-deployment": "green"})
    )
    await asyncio.sleep(0.2)
    await apply(gateway, ep1=endpoint({"blue": deployment(blue)}, {"blue": 100}))
    response = await slow
    assert response.status_code == 200
    assert response.json()["instance"] == "green-0"


async def test_stop_lets_in_flight_requests_finish(
    gateway: Gateway, upstreams: UpstreamFactory, client: httpx.AsyncClient
) -> None:
    up = upstreams("blue-0")
    await apply(gateway, ep1=endpoint({"blue": deployment(up)}, {"blue": 100}))
    url = gateway.scoring_uri("ep1")
    slow = asyncio.create_task(client.post(f"{url}?sleep=400", json={}, headers=auth()))
    await asyncio.sleep(0.15)
    await gateway.stop()
    response = await slow
    assert response.status_code == 200
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as fresh:
            await fresh.post(url, json={}, headers=auth())
