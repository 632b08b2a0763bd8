"""Key and token authentication, and the headers the model and the caller see."""

from __future__ import annotations

import time
import uuid

import httpx

from endpointctl.serving.gateway import Gateway
from endpointctl.serving.gateway.tokens import issue_token
from tests.serving.gateway.conftest import (
    KEY_A,
    KEY_B,
    SECRET_HEX,
    UpstreamFactory,
    apply,
    auth,
    deployment,
    endpoint,
)


async def test_key_auth_refuses_missing_and_wrong_credentials_alike(
    gateway: Gateway, upstreams: UpstreamFactory, client: httpx.AsyncClient
) -> None:
    up = upstreams("blue-0")
    await apply(gateway, ep1=endpoint({"blue": deployment(up)}, {"blue": 100}))
    url = gateway.scoring_uri("ep1")

    missing = await client.post(url, json={})
    wrong = await client.post(url, json={}, headers=auth("not-the-key"))
    bad_scheme = await client.post(url, json={}, headers={"Authorization": f"Basic {KEY_A}"})
    prefix = await client.post(url, json={}, headers=auth(KEY_A[:-1]))

    for response in (missing, wrong, bad_scheme, prefix):
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/json"
        # Same message whatever was wrong: nothing hints at which part failed.
        assert response.json() == missing.json()
        uuid.UUID(response.headers["x-request-id"])
    assert up.received() == 0


async def test_primary_and_secondary_keys_both_work(
    gateway: Gateway, upstreams: UpstreamFactory, client: httpx.AsyncClient
) -> None:
    up = upstreams("blue-0")
    await apply(gateway, ep1=endpoint({"blue": deployment(up)}, {"blue": 100}))
    url = gateway.scoring_uri("ep1")
    for key in (KEY_A, KEY_B):
        response = await client.post(url, json={"data": 1}, headers=auth(key))
        assert response.status_code == 200
        assert response.json()["instance"] == "blue-0"


async def test_aml_token_valid_expired_and_foreign(
    gateway: Gateway, upstreams: UpstreamFactory, client: httpx.AsyncClient
) -> None:
    up = upstreams("blue-0")
    ep = endpoint(
        {"blue": deployment(up)}, {"blue": 100}, auth_mode="aml_token", keys=[], token_secret=SECRET_HEX
    )
    await apply(gateway, ep1=ep)
    url = gateway.scoring_uri("ep1")
    secret = bytes.fromhex(SECRET_HEX)

    token, _ = issue_token(secret, "ep1", 600)
    assert (await client.post(url, json={}, headers=auth(token))).status_code == 200

    expired, _ = issue_token(secret, "ep1", 60, now=time.time() - 3600)
    other_endpoint, _ = issue_token(secret, "ep2", 600)
    other_secret, _ = issue_token(b"x" * 32, "ep1", 600)
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    for bad in (expired, other_endpoint, other_secret, tampered, KEY_A):
        assert (await client.post(url, json={}, headers=auth(bad))).status_code == 401


async def test_model_gets_fresh_request_id_and_no_credential(
    gateway: Gateway, upstreams: UpstreamFactory, client: httpx.AsyncClient
) -> None:
    up = upstreams("blue-0")
    await apply(gateway, ep1=endpoint({"blue": deployment(up)}, {"blue": 100}))
    url = gateway.scoring_uri("ep1")
    response = await client.post(url, json={}, headers={**auth(), "x-request-id": "caller-chosen"})
    assert response.status_code == 200
    seen = response.json()
    assert seen["saw_authorization"] is False
    assert seen["request_id"] != "caller-chosen"
    assert uuid.UUID(seen["request_id"])
    assert response.headers["x-request-id"] == seen["request_id"]
    assert response.headers["azureml-model-deployment"] == "blue"
    second = await client.post(url, json={}, headers=auth())
    assert second.headers["x-request-id"] != response.headers["x-request-id"]
