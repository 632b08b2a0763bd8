"""What an apply with `kube_registry` sends: every pod names its image by the digest the registry answered.

A real registry (Debian's docker-registry on loopback), the real Docker engine building the images, and the API
double receiving the objects. The images are then pulled back by those digests, as a node would.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from endpointctl.backends.kubernetes import naming
from endpointctl.backends.kubernetes.backend import KubernetesBackend
from endpointctl.core.context import BackendContext
from endpointctl.core.home import Home
from tests.backends.engine import require_engine
from tests.backends.images.registry import running_registry
from tests.backends.kubernetes.apiserver import ApiServer
from tests.backends.kubernetes.conftest import KUBE_DEFAULTS
from tests.backends.kubernetes.test_scenarios import NS, _create

pytestmark = pytest.mark.slow
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_registry(tmp_path_factory.mktemp("registry")) as address:
        yield f"{address}/ml"


@pytest.fixture
async def pushing_backend(
    kubeconfig: Path, tmp_path: Path, registry: str
) -> AsyncIterator[KubernetesBackend]:
    require_engine().close()
    context = BackendContext.open(Home(tmp_path / "home"))
    context = replace(context, defaults={**KUBE_DEFAULTS, "kube_registry": registry})
    kube = KubernetesBackend(context)
    yield kube
    await kube.close()
    context.store.close()


def _containers(apiserver: ApiServer, name: str) -> list[dict[str, Any]]:
    pod = apiserver.cluster.get("Deployment", NS, name)["spec"]["template"]["spec"]
    containers: list[dict[str, Any]] = [*(pod.get("initContainers") or []), *pod["containers"]]
    return containers


async def test_an_apply_pushes_every_image_and_names_it_by_digest(
    pushing_backend: KubernetesBackend, apiserver: ApiServer, registry: str
) -> None:
    await _create(pushing_backend)
    gateway = _containers(apiserver, naming.gateway_name("my-endpoint"))
    blue = {c["name"]: c for c in _containers(apiserver, naming.deployment_name("my-endpoint", "blue"))}
    references = {
        "gateway": gateway[0]["image"],
        "environment": blue["inference-server"]["image"],
        "modelcar": blue["storage-initializer"]["image"],
    }
    for kind, reference in references.items():
        repository = {"gateway": "gateway", "environment": "env", "modelcar": "modelcar"}[kind]
        assert reference.startswith(f"{registry}/{repository}@sha256:"), reference
        assert DIGEST.search(reference)
    for container in [*gateway, *blue.values()]:
        # By digest from a registry: Always costs a manifest request and proves the node may still pull.
        assert container["imagePullPolicy"] == "Always"

    # A node pulls them by digest: gone from this engine under the registry's name, pulled back, same image.
    engine = require_engine()
    try:
        for reference in references.values():
            local = engine.images.get(reference)
            for tag in [t for t in local.tags if t.startswith(registry)]:
                engine.images.remove(tag)
            pulled = engine.images.pull(reference)
            assert pulled.id == local.id
        # The modelcar is FROM the environment image: a node pulling both fetches the environment's layers once.
        env_layers = engine.images.get(references["environment"]).attrs["RootFS"]["Layers"]
        car_layers = engine.images.get(references["modelcar"]).attrs["RootFS"]["Layers"]
        assert car_layers[: len(env_layers)] == env_layers and len(car_layers) == len(env_layers) + 1
    finally:
        engine.close()
