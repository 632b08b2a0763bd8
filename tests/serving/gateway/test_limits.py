"""The router's own answers: 429 under overload, 408 on timeout, 424 on model errors, retry on refused."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx

from endpointctl.serving.gateway import Gateway
from tests.serving.gateway.conftest import UpstreamFactory, apply, auth, deployment, endpoint, unused_port


async def test_overload_is_answered_429(
    gateway: Gateway, upstreams: UpstreamFactory, client: httpx.AsyncClient
) -> None:
    slow = upstreams("blue-0", delay_ms=400)
    dep = deployment(slow, max_concurrent_requests_per_instance=2, max_queue_wait_ms=100)
    await apply(gateway, ep1=endpoint({"blue": dep}, {"blue": 100}))
    url = gateway.scoring_uri("ep1")
    responses = await asyncio.gather(*(client.post(url, json={}, headers=auth()) for _ in range(12)))
    statuses = Counter(r.status_code for r in responses)
    # Two run at once; nobody else can get a slot within 100 ms of queueing, and more than 2 x 2 x 1 pending
    # are refused outright.
    assert statuses == {200: 2, 429: 10}
    for response in responses:
        if response.status_code == 429:
            assert response.json()["message"]
            assert response.headers["azureml-model-deployment"] == "blue"
    series = gateway.metrics_snapshot()["endpoints"]["ep1"]["deployments"]["blue"]
    assert series["throttled_429"] == 10
    assert series["by_class"]["4xx"] == 10


async def test_queue_admits_waiting_requests_when_slots_free_up(
    gateway: Gateway, upstreams: UpstreamFactory, client: httpx.AsyncClient
) -> None:
    up = upstreams("blue-0", delay_ms=100)
    dep = deployment(up, max_concurrent_requests_per_instance=1, max_queue_wait_ms=5000)
    await apply(gateway, ep1=endpoint({"blue": dep}, {"blue": 100}))
    url = gateway.scoring_uri("ep1")
    # One served + one queued is within 2 x 1 x 1 pending, so both succeed, one after the other.
    responses = await asyncio.gather(*(client.post(url, json={}, headers=auth()) for _ in range(2)))
    assert [r.status_code for r in responses] == [200, 200]


async def test_slow_model_is_answered_408(
    gateway: Gateway, upstreams: UpstreamFactory, client: httpx.AsyncClient
) -> None:
    up = upstreams("blue-0")
    await apply(gateway, ep1=endpoint({"blue": deployment(up, request_timeout_ms=300)}, {"blue": 100}))
    url = gateway.scoring_uri("ep1")
    response = await client.post(f"{url}?sleep=3000", json={}, headers=auth())
    assert response.status_code == 408
    assert "300 ms" in response.json()["message"]
    # The timed-out connection was dropped; the next request gets a fresh one and succeeds.
    assert (await client.post(url, json={}, headers=auth())).status_code == 200


async def test_model_error_is_answered_424_with_model_status_and_body(
    gateway: Gateway, upstreams: UpstreamFactory, client: httpx.AsyncClient
) -> None:
    up = upstreams("blue-0", status=500)
    await apply(gateway, ep1=endpoint({"blue": deployment(up)}, {"blue": 100}))
    url = gateway.scoring_uri("ep1")
    response = await client.post(url, json={}, headers=auth())
    assert response.status_code == 424
    assert response.headers["ms-azureml-model-error-statuscode"] == "500"
    assert response.headers["ms-azureml-model-error-reason"] == "Model Says No"
    assert response.headers["azureml-model-deployment"] == "blue"
    # The model's own body and content type are passed through for the caller to read.
    assert response.headers["content-type"] == "application/json"
    assert response.json()["message"] == "model failure on blue-0"
    other = await client.post(f"{url}?status=503", json={}, headers=auth())
    assert other.status_code == 424
    assert other.headers["ms-azureml-model-error-statuscode"] == "503"
    assert gateway.metrics_snapshot()["endpoints"]["ep1"]["deployments"]["blue"]["model_errors_424"] == 2


async def test_response_delimited_by_connection_close(
    gateway: Gateway, upstreams: UpstreamFactory, client: httpx.AsyncClient
) -> None:
    up = upstreams("blue-0")
    await apply(gateway, ep1=endpoint({"blue": deployment(up, request_timeout_ms=5000)}, {"blue": 100}))
    url = gateway.scoring_uri("ep1")
    for _ in range(3):
        response = await client.post(f"{url}?eof=1", json={}, headers=auth(), timeout=3)
        assert response.status_code == 200
        assert response.json()["instance"] == "blue-0"
    assert (await client.post(url, json={}, headers=auth())).status_code == 200


async def test_connection_refused_is_retried_on_another_instance(
    gateway: Gateway, upstreams: UpstreamFactory, client: httpx.AsyncClient
) -> None:
    live = upstreams("blue-live")
    dead = f"127.0.0.1:{unused_port()}"
    dep = deployment(
        dead, live, dead.replace("127.0.0.1", "localhost"), max_concurrent_requests_per_instance=4
    )
    await apply(gateway, ep1=endpoint({"blue": dep}, {"blue": 100}))
    url = gateway.scoring_uri("ep1")
    responses = await asyncio.gather(*(client.post(url, json={}, headers=auth()) for _ in range(4)))
    responses += [await client.post(url, json={}, headers=auth()) for _ in range(20)]
    assert [r.status_code for r in responses] == [200] * 24
    assert {r.json()["instance"] for r in responses} == {"blue-live"}


async def test_no_reachable_instance_is_503(
    gateway: Gateway, upstreams: UpstreamFactory, client: httpx.AsyncClient
) -> None:
    dep = deployment(f"127.0.0.1:{unused_port()}", f"127.0.0.1:{unused_port()}")
    await apply(gateway, ep1=endpoint({"blue": dep, "green": deployment()}, {"blue": 100}))
    url = gateway.scoring_uri("ep1")
    response = await client.post(url, json={}, headers=auth())
    assert response.status_code == 503
    assert "no instance accepted a connection" in response.json()["message"]
    empty = await client.post(url, json={}, headers={**auth(), "azureml-model-deployment": "green"})
    assert empty.status_code == 503


async def test_oversized_body_is_413(
    gateway: Gateway, upstreams: UpstreamFactory, client: httpx.AsyncClient
) -> None:
    up = upstreams("blue-0")
    await apply(gateway, ep1=endpoint({"blue": deployment(up)}, {"blue": 100}, max_request_body_bytes=2048))
    url = gateway.scoring_uri("ep1")
    assert (await client.post(url, content=b"x" * 2048, headers=auth())).json()["body_bytes"] == 2048
    assert (await client.post(url, content=b"x" * 2049, headers=auth())).status_code == 413
    assert up.received() == 1


async def test_upstream_connections_are_pooled_and_in_flight_is_reported(
    gateway: Gateway, upstreams: UpstreamFactory, client: httpx.AsyncClient
) -> None:
    up = upstreams("blue-0")
    await apply(gateway, ep1=endpoint({"blue": deployment(up)}, {"blue": 100}))
    url = gateway.scoring_uri("ep1")
    for _ in range(30):
        assert (await client.post(url, json={}, headers=auth())).status_code == 200
    # Thirty sequential requests over one keep-alive connection to the model.
    assert up.connections() == 1
    slow = asyncio.create_task(client.post(f"{url}?sleep=600", json={}, headers=auth()))
    series: dict[str, int] = {}
    for _ in range(50):
        await asyncio.sleep(0.02)
        series = gateway.metrics_snapshot()["endpoints"]["ep1"]["deployments"]["blue"]
        if series["in_flight"] == 1:
            break
    assert series["in_flight"] == 1
    assert (await slow).status_code == 200
    assert gateway.metrics_snapshot()["endpoints"]["ep1"]["deployments"]["blue"]["in_flight"] == 0


async def test_an_instance_that_dies_under_a_request_is_skipped_and_the_request_goes_to_another(
    gateway: Gateway, upstreams: UpstreamFactory, client: httpx.AsyncClient
) -> None:
    # What Docker's userland proxy does for a dead container: accept, then close without a byte.
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    proxy = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = proxy.sockets[0].getsockname()[1]
    try:
        live = upstreams("blue-live")
        await apply(gateway, ep1=endpoint({"blue": deployment(f"127.0.0.1:{port}", live)}, {"blue": 100}))
        url = gateway.scoring_uri("ep1")
        statuses = [(await client.post(url, json={}, headers=auth())).status_code for _ in range(20)]
    finally:
        proxy.close()
        await proxy.wait_closed()
    # The one request that met it is sent once more, to the live instance; the rest avoid the dead one.
    assert statuses == [200] * 20
    assert live.received() == 20


async def test_with_no_other_instance_the_dead_ones_request_is_a_502(
    gateway: Gateway, client: httpx.AsyncClient
) -> None:
    attempts = 0

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal attempts
        attempts += 1
        writer.close()

    proxy = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = proxy.sockets[0].getsockname()[1]
    try:
        await apply(gateway, ep1=endpoint({"blue": deployment(f"127.0.0.1:{port}")}, {"blue": 100}))
        response = await client.post(gateway.scoring_uri("ep1"), json={}, headers=auth())
    finally:
        proxy.close()
        await proxy.wait_closed()
    assert response.status_code == 502
    assert "closed the connection before answering" in response.json()["message"]
    assert attempts == 1  # the same instance is never tried twice for one request
