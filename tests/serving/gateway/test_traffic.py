"""Weighted split, pinning with azureml-model-deployment, and mirror traffic."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx

from endpointctl.serving.gateway import Gateway
from tests.serving.gateway.conftest import UpstreamFactory, apply, auth, deployment, endpoint


async def test_ninety_ten_split_over_a_thousand_requests(
    gateway: Gateway, upstreams: UpstreamFactory, client: httpx.AsyncClient
) -> None:
    blue, green = upstreams("blue-0"), upstreams("green-0")
    wide = {"max_concurrent_requests_per_instance": 16}
    ep = endpoint(
        {"blue": deployment(blue, **wide), "green": deployment(green, **wide)}, {"blue": 90, "green": 10}
    )
    await apply(gateway, ep1=ep)
    url = gateway.scoring_uri("ep1")
    sem = asyncio.Semaphore(16)

    async def one() -> str:
        async with sem:
            response = await client.post(url, json={}, headers=auth())
        assert response.status_code == 200
        assert response.json()["instance"] == f"{response.headers['azureml-model-deployment']}-0"
        return response.headers["azureml-model-deployment"]

    served = Counter(await asyncio.gather(*(one() for _ in range(1000))))
    assert abs(served["green"] / 1000 - 0.10) <= 0.02
    assert abs(served["blue"] / 1000 - 0.90) <= 0.02
    assert served["blue"] + served["green"] == 1000


async def test_pinned_deployment_wins_even_at_zero_percent(
    gateway: Gateway, upstreams: UpstreamFactory, client: httpx.AsyncClient
) -> None:
    blue, green = upstreams("blue-0"), upstreams("green-0")
    ep = endpoint({"blue": deployment(blue), "green": deployment(green)}, {"blue": 100, "green": 0})
    await apply(gateway, ep1=ep)
    url = gateway.scoring_uri("ep1")
    for _ in range(5):
        response = await client.post(url, json={}, headers={**auth(), "azureml-model-deployment": "GREEN"})
        assert response.status_code == 200
        assert response.json()["instance"] == "green-0"
        assert response.headers["azureml-model-deployment"] == "green"
    unknown = await client.post(url, json={}, headers={**auth(), "azureml-model-deployment": "purple"})
    assert unknown.status_code == 404
    assert "purple" in unknown.json()["message"]
    assert (await client.post(url, json={}, headers=auth())).json()["instance"] == "blue-0"


async def test_no_deployment_with_traffic_is_404_but_pinning_still_works(
    gateway: Gateway, upstreams: UpstreamFactory, client: httpx.AsyncClient
) -> None:
    blue = upstreams("blue-0")
    await apply(gateway, ep1=endpoint({"blue": deployment(blue)}, {"blue": 0}))
    url = gateway.scoring_uri("ep1")
    response = await client.post(url, json={}, headers=auth())
    assert response.status_code == 404
    assert "traffic" in response.json()["message"]
    pinned = await client.post(url, json={}, headers={**auth(), "azureml-model-deployment": "blue"})
    assert pinned.status_code == 200


async def test_mirror_to_slow_failing_deployment_does_not_affect_callers(
    gateway: Gateway, upstreams: UpstreamFactory, client: httpx.AsyncClient
) -> None:
    blue = upstreams("blue-0")
    # The shadow takes 3 s and then fails: callers must neither wait for it nor see its answer.
    shadow = upstreams("shadow-0", delay_ms=3000, status=500)
    deps = {"blue": deployment(blue), "shadow": deployment(shadow, max_concurrent_requests_per_instance=50)}
    await apply(gateway, ep1=endpoint(deps, {"blue": 100}, mirror_traffic={"shadow": 20}))
    url = gateway.scoring_uri("ep1")

    for _ in range(50):
        # 1.5 s is far below the shadow's 3 s: a caller that waited for the mirror would time out here.
        response = await client.post(url, json={}, headers=auth(), timeout=1.5)
        assert response.status_code == 200
        assert response.json()["instance"] == "blue-0"
        assert response.headers["azureml-model-deployment"] == "blue"

    deadline = asyncio.get_running_loop().time() + 15
    while True:
        snap = gateway.metrics_snapshot()["endpoints"]["ep1"]["deployments"]
        mirror = snap["shadow"]["mirror"]
        if mirror["error"] == 10 or asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.2)
    assert mirror == {"ok": 0, "error": 10}
    assert shadow.received() == 10
    # Mirror results are only counted: the shadow has no caller-visible requests.
    assert snap["shadow"]["requests"] == 0
    assert snap["blue"]["requests"] == 50


async def test_mirror_successes_counted_and_pinned_requests_not_mirrored(
    gateway: Gateway, upstreams: UpstreamFactory, client: httpx.AsyncClient
) -> None:
    blue, shadow = upstreams("blue-0"), upstreams("shadow-0")
    deps = {"blue": deployment(blue), "shadow": deployment(shadow, max_concurrent_requests_per_instance=8)}
    await apply(gateway, ep1=endpoint(deps, {"blue": 100}, mirror_traffic={"shadow": 50}))
    url = gateway.scoring_uri("ep1")
    for _ in range(20):
        pinned = await client.post(url, json={}, headers={**auth(), "azureml-model-deployment": "blue"})
        assert pinned.status_code == 200
    await asyncio.sleep(0.3)
    assert shadow.received() == 0
    for _ in range(20):
        assert (await client.post(url, json={}, headers=auth())).status_code == 200
    for _ in range(50):
        if gateway.metrics_snapshot()["endpoints"]["ep1"]["deployments"]["shadow"]["mirror"]["ok"] == 10:
            break
        await asyncio.sleep(0.1)
    assert gateway.metrics_snapshot()["endpoints"]["ep1"]["deployments"]["shadow"]["mirror"] == {
        "ok": 10,
        "error": 0,
    }
    assert shadow.received() == 10
