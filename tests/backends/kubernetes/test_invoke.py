"""invoke on Kubernetes, end to end: the scoring URI the backend derives, the key it reads, the real gateway.

A client reaches a NodePort endpoint at a node's address and the Service's nodePort. Here the API double's
node is 127.0.0.1, the nodePort it allocates is free on this machine, and the gateway pod runs on this machine
from the routing ConfigMap and keys Secret the backend wrote (tests/backends/kubernetes/local_gateway.py). The
deployment's Service leads to a real scoring host running a small score.py, as its pod would.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from itertools import count
from pathlib import Path

import pytest

from endpointctl.backends.kubernetes import naming
from endpointctl.backends.kubernetes.backend import KubernetesBackend
from endpointctl.backends.local.ports import free_port, is_free
from endpointctl.core.context import BackendContext
from endpointctl.core.home import Home
from endpointctl.core.service import EndpointService
from tests.backends.engine import require_engine
from tests.backends.kubernetes.apiserver import ApiServer
from tests.backends.kubernetes.conftest import KUBE_DEFAULTS
from tests.backends.kubernetes.local_gateway import LocalGateway
from tests.backends.kubernetes.test_scenarios import NS, _create
from tests.serving.scoring.servers import Server, scoring_env

ENDPOINT = "my-endpoint"
REQUEST = json.dumps({"data": [[1, 2, 3, 4]]}).encode()
SCORE_PY = """
import json, os

def init():
    pass

def run(raw_data):
    return {"echo": json.loads(raw_data)["data"], "pod": os.environ["POD_NAME"]}
"""


@pytest.fixture
async def node_port_backend(kubeconfig: Path, tmp_path: Path) -> AsyncIterator[KubernetesBackend]:
    require_engine().close()
    context = BackendContext.open(Home(tmp_path / "home"))
    context = replace(context, defaults={**KUBE_DEFAULTS, "kube_service_type": "NodePort"})
    kube = KubernetesBackend(context)
    numbers = count()
    kube.new_key = lambda: f"key-{next(numbers):04d}-0123456789abcdef"
    yield kube
    await kube.close()
    context.store.close()


@pytest.fixture
def blue_pod(tmp_path: Path) -> Iterator[Server]:
    app = tmp_path / "blue-app"
    app.mkdir()
    (app / "score.py").write_text(SCORE_PY)
    port = free_port()
    server = Server(
        [
            *(sys.executable, "-m", "endpointctl.serving.scoring", "--entry_script", str(app / "score.py")),
            *("--port", str(port), "--host", "127.0.0.1"),
        ],
        scoring_env(app, None, {"POD_NAME": "my-endpoint-blue-0"}),
        app,
        port,
        tmp_path / "blue-pod.log",
    ).start()
    try:
        assert server.wait_ready(), server.output()
        yield server
    finally:
        server.stop()


def _free_node_port() -> int:
    """A port in the NodePort range nobody listens on, for the gateway to take as the node would."""
    for port in range(30000, 32768):
        if is_free(port):
            return port
    raise RuntimeError("no free port in the NodePort range")


async def _gateway(
    svc: EndpointService, apiserver: ApiServer, tmp_path: Path, blue_pod: Server, node_port: int
) -> LocalGateway:
    await svc.set_traffic(ENDPOINT, traffic={"blue": 100}, backend="kubernetes")
    folder = tmp_path / "gateway"
    folder.mkdir()
    return LocalGateway(
        apiserver,
        folder,
        ENDPOINT,
        NS,
        scoring_port=node_port,
        instances={"blue": [f"127.0.0.1:{blue_pod.port}"]},
    )


async def test_invoke_reaches_the_deployment_through_the_node_port_with_the_secret_s_key(
    node_port_backend: KubernetesBackend, apiserver: ApiServer, tmp_path: Path, blue_pod: Server
) -> None:
    node_port = _free_node_port()
    apiserver.cluster.node_address = "127.0.0.1"
    apiserver.cluster.node_ports = iter([node_port])
    svc = await _create(node_port_backend)
    gateway_service = apiserver.cluster.get("Service", NS, naming.gateway_name(ENDPOINT))
    assert gateway_service["spec"]["type"] == "NodePort"
    view = await svc.get_endpoint(ENDPOINT, backend="kubernetes")
    assert view.scoring_uri == f"http://127.0.0.1:{node_port}/score"

    gateway = await _gateway(svc, apiserver, tmp_path, blue_pod, node_port)
    try:
        routed = await svc.invoke(ENDPOINT, REQUEST, backend="kubernetes")
        assert routed.status == 200, routed.body
        assert json.loads(routed.body) == {"echo": [[1, 2, 3, 4]], "pod": "my-endpoint-blue-0"}
        assert routed.deployment == "blue"
        pinned = await svc.invoke(ENDPOINT, REQUEST, deployment="blue", backend="kubernetes")
        assert (pinned.status, pinned.deployment) == (200, "blue")
        unknown = await svc.invoke(ENDPOINT, REQUEST, deployment="green", backend="kubernetes")
        assert unknown.status == 404, unknown.body

        # A regenerated key is in the Secret at once; the gateway serves with it once the kubelet has
        # refreshed the mounted Secret, without a restart.
        await svc.regenerate_keys(ENDPOINT, "primary", backend="kubernetes")
        stale = await svc.invoke(ENDPOINT, REQUEST, backend="kubernetes")
        assert stale.status == 401
        gateway.sync_keys()
        deadline = time.monotonic() + 15
        while (result := await svc.invoke(ENDPOINT, REQUEST, backend="kubernetes")).status == 401:
            assert time.monotonic() < deadline, "the gateway never took the regenerated key"
            await asyncio.sleep(0.2)
        assert result.status == 200
        assert gateway.process.poll() is None
    finally:
        gateway.stop()
