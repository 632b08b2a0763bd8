"""The pod templates an apply writes, run under the Docker engine exactly as the manifests say (podrun.py).

The backend applies the sample endpoint and its blue deployment to the API double with `kube_registry` pointing
at a real registry, so it builds the environment image, the modelcar and the gateway image and pushes them. Then
the gateway's and blue's pod templates run as their manifests say — images pulled by digest, the hardened
security context (UID 10001, read-only root, no capabilities, no privilege escalation), the storage-initializer
first on the shared emptyDir, the Secrets and ConfigMaps the backend wrote mounted as files — on one network
where the Service name the gateway routes to resolves to the blue pod. A request with the endpoint's key goes
through the real gateway container to the real inference-server container and comes back with the model's
prediction; nothing in any container installed a package.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import secrets
from pathlib import Path
from typing import Any

import httpx
import pytest
from docker import DockerClient

from endpointctl.backends.kubernetes import naming
from endpointctl.backends.kubernetes.backend import KubernetesBackend
from endpointctl.backends.kubernetes.manifests import GATEWAY_PORT, SCORING_PORT
from tests.backends.kubernetes.apiserver import ApiServer
from tests.backends.kubernetes.podrun import LABEL, Pod, network
from tests.backends.kubernetes.test_images_applied import pushing_backend, registry  # noqa: F401
from tests.backends.kubernetes.test_scenarios import NS, _create
from tests.conftest import SAMPLES

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.geteuid() != 0, reason="fsGroup ownership of volume files needs root (CI runs as root)"
    ),
]
REQUEST = SAMPLES / "model-1" / "sample-request.json"


def _objects(apiserver: ApiServer, kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in apiserver.cluster.select(kind, NS)}


async def test_the_gateway_and_a_deployment_pod_serve_under_docker_as_their_manifests_say(
    pushing_backend: KubernetesBackend,  # noqa: F811
    apiserver: ApiServer,
    engine: DockerClient,
    tmp_path: Path,
) -> None:
    svc = await _create(pushing_backend)
    await svc.set_traffic("my-endpoint", traffic={"blue": 100}, backend="kubernetes")
    key = (await svc.get_credentials("my-endpoint", backend="kubernetes")).primary_key
    assert key is not None
    # The engine and the pods are blocking calls: off the loop, which serves the API double's client.
    await asyncio.to_thread(_run_pods, apiserver, engine, tmp_path, key)


def _run_pods(apiserver: ApiServer, engine: DockerClient, tmp_path: Path, key: str) -> None:
    deployments = _objects(apiserver, "Deployment")
    config_maps, secrets_ = _objects(apiserver, "ConfigMap"), _objects(apiserver, "Secret")
    blue_template = deployments[naming.deployment_name("my-endpoint", "blue")]["spec"]["template"]
    gateway_template = deployments[naming.gateway_name("my-endpoint")]["spec"]["template"]
    suffix = secrets.token_hex(4)
    shared: dict[str, Any] = {"work_dir": tmp_path / "pods", "config_maps": config_maps, "secrets": secrets_}
    with (
        network(engine, f"endpointctl-test-{suffix}") as net,
        Pod(
            engine,
            blue_template,
            name=f"blue-{suffix}",
            network=net,
            aliases=[naming.service_host("my-endpoint", "blue", NS)],
            **shared,
        ) as blue,
        Pod(engine, gateway_template, name=f"gw-{suffix}", network=net, **shared) as gateway,
    ):
        blue.start()
        blue.wait_ready()
        gateway.start()
        gateway.wait_ready()

        # Through the gateway, with the endpoint's key: the sample model's prediction.
        answer = httpx.post(
            f"http://{gateway.ip}:{GATEWAY_PORT}/score",
            content=REQUEST.read_bytes(),
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
            timeout=60,
        )
        assert answer.status_code == 200, answer.text
        assert answer.headers["azureml-model-deployment"] == "blue"
        prediction = answer.json()
        assert isinstance(prediction, list) and len(prediction) == 2
        assert all(isinstance(value, float) for value in prediction)
        # Straight to the pod, without the instance token only the gateway holds: refused.
        direct = httpx.post(
            f"http://{blue.ip}:{SCORING_PORT}/score", content=REQUEST.read_bytes(), timeout=30
        )
        assert direct.status_code == 401

        # The hardened context, inside the real containers.
        for pod, container in ((blue, "inference-server"), (gateway, "gateway")):
            assert pod.exec(container, ["id", "-u"]) == (0, "10001\n")
            code, _ = pod.exec(container, ["touch", "/written"])
            assert code != 0, f"{container}: the root filesystem is writable"
            code, status = pod.exec(container, ["cat", "/proc/self/status"])
            fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
            assert int(fields["CapEff"].strip(), 16) == 0
            assert fields["NoNewPrivs"].strip() == "1"
        # The model the initializer copied from the modelcar is the sample's, byte for byte.
        model = SAMPLES / "model-1" / "model" / "sklearn_regression_model.pkl"
        code, out = blue.exec(
            "inference-server",
            ["sh", "-c", 'sha256sum "$AZUREML_MODEL_DIR"/model/sklearn_regression_model.pkl'],
        )
        assert code == 0 and hashlib.sha256(model.read_bytes()).hexdigest() in out, out
        assert "storage initialised" in blue.logs("storage-initializer")
        for text in (
            blue.logs("storage-initializer"),
            blue.logs("inference-server"),
            gateway.logs("gateway"),
        ):
            assert "pip install" not in text and "Collecting " not in text
        # The routing the gateway runs is the one the backend wrote.
        routing = json.loads(config_maps[naming.routing_name("my-endpoint")]["data"]["routing.json"])
        assert routing["endpoints"]["my-endpoint"]["traffic"] == {"blue": 100}
    assert not engine.containers.list(all=True, filters={"label": f"{LABEL}"}), "the pods left containers"
