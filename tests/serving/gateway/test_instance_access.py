"""How the gateway reaches instances that admit nobody else: over a Unix socket (``unix:/path``, as the local
backends route) and with the endpoint's instance token (as on Kubernetes, where a pod IP is reachable)."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from endpointctl.serving.gateway import Gateway, GatewayConfig
from tests.serving.gateway.conftest import apply, auth, deployment, endpoint, score_url
from tests.serving.scoring.cases import CORPUS
from tests.serving.scoring.servers import scoring_env

SCRIPT = CORPUS / "echo_str" / "score.py"
TOKEN_HEADER = "x-endpointctl-instance-token"


TOKEN = "instance-token-0123456789abcdef"


@pytest.fixture(params=[False, True], ids=["socket", "socket+token"])
def instance(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Path]:
    directory = Path(f"/tmp/ectl-gw-uds-{os.getpid()}")
    directory.mkdir(mode=0o700, exist_ok=True)
    sock = directory / "blue-0.sock"
    command = [sys.executable, "-m", "endpointctl.serving.scoring", "--entry_script", str(SCRIPT)]
    env = scoring_env(SCRIPT.parent, None)
    if request.param:
        (tmp_path / "token").write_text(TOKEN + "\n")
        env["ENDPOINTCTL_INSTANCE_TOKEN_FILE"] = str(tmp_path / "token")
    with (tmp_path / "host.log").open("wb") as log:
        process = subprocess.Popen(
            [*command, "--uds", str(sock)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    yield sock
    process.terminate()
    process.wait(30)
    shutil.rmtree(directory, ignore_errors=True)


async def test_routes_to_an_instance_on_a_unix_socket(
    gateway: Gateway, client: httpx.AsyncClient, instance: Path
) -> None:
    # The gateway sends the token whether or not this instance asks for one.
    config = await apply(
        gateway,
        ep1=endpoint({"blue": deployment(f"unix:{instance}")}, {"blue": 100}, instance_token=TOKEN),
    )
    assert [str(a) for a in config.endpoints["ep1"].deployments["blue"].instances] == [f"unix:{instance}"]
    assert (
        GatewayConfig.from_dict(config.to_dict(redact=False)) == config
    )  # the address survives routing.json
    reply = None
    for _ in range(600):  # the scoring host may still be loading its script: 503 until it listens
        reply = await client.post(score_url(gateway, "ep1"), content=b"hello", headers=auth())
        if reply.status_code == 200:
            break
        await asyncio.sleep(0.05)
    assert reply is not None and (reply.status_code, reply.text) == (200, '"hello"')
    assert reply.headers["azureml-model-deployment"] == "blue"


async def test_without_the_token_the_instance_refuses_even_a_caller_who_sends_it(
    gateway: Gateway, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    (tmp_path / "token").write_text(TOKEN)
    sock = Path(f"/tmp/ectl-gw-tok-{os.getpid()}.sock")
    env = {**scoring_env(SCRIPT.parent, None), "ENDPOINTCTL_INSTANCE_TOKEN_FILE": str(tmp_path / "token")}
    command = [sys.executable, "-m", "endpointctl.serving.scoring", "--entry_script", str(SCRIPT)]
    process = subprocess.Popen([*command, "--uds", str(sock)], env=env, start_new_session=True)  # noqa: ASYNC220
    try:
        direct = httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(uds=str(sock)), timeout=10)
        async with direct:
            for _ in range(600):
                try:
                    if (await direct.get("http://instance/")).status_code == 200:
                        break  # the health check needs no token: probes carry none
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)
            url = "http://instance/score"
            assert (await direct.post(url, content=b"x")).status_code == 401
            assert (
                await direct.post(url, content=b"x", headers={TOKEN_HEADER: "wrong" * 4})
            ).status_code == 401
            twice = [(TOKEN_HEADER, TOKEN), (TOKEN_HEADER, TOKEN)]
            assert (await direct.post(url, content=b"x", headers=twice)).status_code == 401
            assert (await direct.get("http://instance/swagger.json")).status_code == 401
            assert (await direct.post(url, content=b"x", headers={TOKEN_HEADER: TOKEN})).status_code == 200
        # A gateway that has no token for the endpoint passes on no caller's either.
        await apply(gateway, ep1=endpoint({"blue": deployment(f"unix:{sock}")}, {"blue": 100}))
        reply = await client.post(
            score_url(gateway, "ep1"), content=b"x", headers={**auth(), TOKEN_HEADER: TOKEN}
        )
        # The instance's 401 is a failed dependency to the caller, as any refusal of the model is.
        assert reply.status_code == 424, reply.text
    finally:
        process.terminate()
        process.wait(30)
        sock.unlink(missing_ok=True)  # noqa: ASYNC240
