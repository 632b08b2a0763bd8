"""The gateway reaching an instance over a Unix socket (``unix:/path``), as the local backends route."""

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


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[Path]:
    directory = Path(f"/tmp/ectl-gw-uds-{os.getpid()}")
    directory.mkdir(mode=0o700, exist_ok=True)
    sock = directory / "blue-0.sock"
    command = [sys.executable, "-m", "endpointctl.serving.scoring", "--entry_script", str(SCRIPT)]
    with (tmp_path / "host.log").open("wb") as log:
        process = subprocess.Popen(
            [*command, "--uds", str(sock)],
            env=scoring_env(SCRIPT.parent, None),
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
    config = await apply(gateway, ep1=endpoint({"blue": deployment(f"unix:{instance}")}, {"blue": 100}))
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
