"""Metrics of a Kubernetes endpoint: its gateway's admin Service, read through the API server's service proxy.

The gateway here is the real one, run as its pod runs it (`--config-file` / `--keys-file`, the ConfigMap's and
the Secret's documents), on this machine; the API double's service proxy forwards to its admin port. The
deployments' Services cannot resolve outside a cluster, so every request is answered 503 by the gateway —
which is exactly what its metrics must then count. The gateway asks for its admin token, which the API server
(that consumes the Authorization header itself) forwards only in the admin API's own header.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from endpointctl.backends.kubernetes import naming
from endpointctl.backends.kubernetes.backend import KubernetesBackend
from endpointctl.core.errors import BackendUnavailable
from tests.backends.kubernetes.apiserver import ApiServer
from tests.backends.kubernetes.local_gateway import LocalGateway
from tests.backends.kubernetes.test_scenarios import NS, _create

ENDPOINT = "my-endpoint"


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

    gateway = LocalGateway(apiserver, gateway_folder, ENDPOINT, NS)
    try:
        admin = naming.gateway_admin_name(ENDPOINT)
        apiserver.cluster.proxies[(NS, admin, "admin")] = f"http://127.0.0.1:{gateway.admin_port}"
        assert [gateway.score("blue") for _ in range(3)] == [503, 503, 503]
        snapshot = await backend.metrics(ENDPOINT)
        admin_url = f"http://127.0.0.1:{gateway.admin_port}"
        async with httpx.AsyncClient(timeout=10) as http:
            # Straight to the admin port, without the token: refused, but for the kubelet's probe route.
            assert (await http.get(f"{admin_url}/v1/metrics")).status_code == 401
            assert (await http.get(f"{admin_url}/healthz")).status_code == 200
    finally:
        gateway.stop()
    (forwarded,) = apiserver.cluster.proxied_headers
    assert {k.lower(): v for k, v in forwarded.items()}["x-endpointctl-admin-token"] == gateway.admin_token
    assert "authorization" not in {k.lower() for k in forwarded}
    blue = snapshot.deployments["blue"]
    assert blue.requests == 3
    assert {k: v for k, v in blue.by_status.items() if v} == {"5xx": 3}
    assert any(
        path.endswith(f"/services/{admin}:admin/proxy/v1/metrics") for _, path in apiserver.cluster.requests
    )
