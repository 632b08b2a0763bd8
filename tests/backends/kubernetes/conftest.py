"""A kubeconfig pointing the official client at the API double, and a backend wired to it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from itertools import count
from pathlib import Path

import pytest
import yaml
from docker import DockerClient

from endpointctl.backends.kubernetes.backend import KubernetesBackend
from endpointctl.core.context import BackendContext
from endpointctl.core.home import Home
from tests.backends.engine import BASE_IMAGE, require_engine
from tests.backends.kubernetes.apiserver import ApiServer

# What `configure --defaults` would hold: the sample's compute mapped to the double, and the gateway image built
# FROM the machine's offline base image (the default, python:3.11-slim, cannot be pulled here).
KUBE_DEFAULTS = {"kube_computes": "inferencecompute=double/team-a", "kube_gateway_image": BASE_IMAGE}


@pytest.fixture
def engine() -> Iterator[DockerClient]:
    """The Docker engine the tests run pods and builds on (skipped without one, failed in CI)."""
    client = require_engine()
    yield client
    client.close()


@pytest.fixture
def apiserver() -> Iterator[ApiServer]:
    server = ApiServer().start()
    yield server
    server.stop()


def write_kubeconfig(path: Path, url: str, namespace: str = "team-a") -> Path:
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "double", "cluster": {"server": url}}],
        "users": [{"name": "tester", "user": {"token": "test-token"}}],
        "contexts": [
            {"name": "double", "context": {"cluster": "double", "user": "tester", "namespace": namespace}}
        ],
        "current-context": "double",
    }
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.fixture
def kubeconfig(apiserver: ApiServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = write_kubeconfig(tmp_path / "kubeconfig", apiserver.url)
    monkeypatch.setenv("KUBECONFIG", str(path))
    return path


@pytest.fixture
async def backend(kubeconfig: Path, tmp_path: Path) -> AsyncIterator[KubernetesBackend]:
    # Applying builds the images (the environment's, the modelcar, the gateway's) with the Docker engine.
    require_engine().close()
    context = BackendContext.open(Home(tmp_path / "home"))
    # The sample endpoint says `compute: azureml:inferencecompute`; map it as `configure --defaults` would.
    context = replace(context, defaults=dict(KUBE_DEFAULTS))
    kube = KubernetesBackend(context)
    numbers = count()
    kube.new_key = lambda: f"key-{next(numbers):04d}-0123456789abcdef"
    kube.new_secret = lambda: "ab" * 32
    yield kube
    await kube.close()
    context.store.close()
