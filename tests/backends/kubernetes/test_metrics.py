"""Metrics of a Kubernetes endpoint: its gateway's admin Service, read through the API server's service proxy.

The gateway here is the real one, run as its pod runs it (`--config-file` / `--keys-file`, the ConfigMap's and
the Secret's documents), on this machine; the API double's service proxy forwards to its admin port. The
deployments' Services cannot resolve outside a cluster, so every request is answered 503 by the gateway —
which is exactly what its metrics must then count.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from endpointctl.backends.kubernetes import naming
from endpointctl.backends.kubernetes.backend import KubernetesBackend
from endpointctl.core.errors import BackendUnavailable
from tests.backends.kubernetes.apiserver import ApiServer
from tests.backends.kubernetes.test_scenarios import NS, _create
from tests.serving.gateway.conftest import unused_port

ENDPOINT = "my-endpoint"


class LocalGateway:
    def __init__(self, apiserver: ApiServer, folder: Path) -> None:
        cluster = apiserver.cluster
        routing = json.loads(
            cluster.get("ConfigMap", NS, naming.routing_name(ENDPOINT))["data"]["routing.json"]
        )
        secret = cluster.get("Secret", NS, naming.keys_secret_name(ENDPOINT))
        keys = json.loads(base64.b64decode(secret["data"]["keys.json"]))
        self.scoring_port, self.admin_port = unused_port(), unused_port()
        routing["endpoints"][ENDPOINT].update(host="127.0.0.1", port=self.scoring_port)
        (folder / "routing.json").write_text(json.dumps(routing))
        (folder / "keys.json").write_text(json.dumps(keys))
        self.key = keys["endpoints"][ENDPOINT]["keys"][0]
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-m", "endpointctl.serving.gateway", "--admin-port", str(self.admin_port)),
                *("--config-file", str(folder / "routing.json"), "--keys-file", str(folder / "keys.json")),
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{self.admin_port}/healthz", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise
                time.sleep(0.1)

    def score(self, deployment: str) -> int:
        response = httpx.post(
            f"http://127.0.0.1:{self.scoring_port}/score",
            json={"data": [[1, 2, 3]]},
            headers={"Authorization": f"Bearer {self.key}", "azureml-model-deployment": deployment},
            timeout=30,
        )
        return response.status_code

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


@pytest.fixture
def gateway_folder(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "gateway"
    folder.mkdir()
    yield folder


async def test_metrics_come_from_the_gateway_through_the_service_proxy(
    backend: KubernetesBackend, apiserver: ApiServer, gateway_folder: Path
) -> None:
    await _create(backend)
    with pytest.raises(BackendUnavailable, match="no endpoints available"):
        await backend.metrics(ENDPOINT)

    gateway = LocalGateway(apiserver, gateway_folder)
    try:
        admin = naming.gateway_admin_name(ENDPOINT)
        apiserver.cluster.proxies[(NS, admin, "admin")] = f"http://127.0.0.1:{gateway.admin_port}"
        assert [gateway.score("blue") for _ in range(3)] == [503, 503, 503]
        snapshot = await backend.metrics(ENDPOINT)
    finally:
        gateway.stop()
    blue = snapshot.deployments["blue"]
    assert blue.requests == 3
    assert {k: v for k, v in blue.by_status.items() if v} == {"5xx": 3}
    assert any(
        path.endswith(f"/services/{admin}:admin/proxy/v1/metrics") for _, path in apiserver.cluster.requests
    )
