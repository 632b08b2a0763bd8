"""The dry-run plans the manifest tests check: the sample YAMLs and the kubernetes shapes of the reference.

Built through the backend's own `plan_endpoint` / `plan_deployment` (what `--dry-run` prints), with no
kubeconfig and a fixed namespace, so nothing here can reach a cluster. A plan names the images an apply would
build by their content tags, which it asks the Docker engine for (the base image's id): the tests that plan
need the engine (tests/backends/engine.py).
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from endpointctl.backends.kubernetes import manifests, naming
from endpointctl.backends.kubernetes.backend import KubernetesBackend
from endpointctl.cli.output import DocumentStream, render
from endpointctl.core.context import BackendContext
from endpointctl.core.home import Home
from endpointctl.core.spec import load_deployment, load_endpoint, parse_deployment
from tests.backends.engine import BASE_IMAGE
from tests.conftest import REPO, SAMPLES

MANAGED = SAMPLES / "managed" / "sample"
K8S = SAMPLES / "kubernetes"
NAMESPACE = "ml-serving"
REGISTRY = "registry.example.com/ml"
# With a registry, as a production cluster has: the manifests name the images where the cluster pulls them.
# The gateway's base: the machine's offline base image (the default, python:3.11-slim, cannot be pulled here).
DEFAULTS = {"kube_namespace": NAMESPACE, "kube_registry": REGISTRY, "kube_gateway_image": BASE_IMAGE}
# A content tag: the first 16 hex digits of the digest of what the image holds (engine/builder.py, modelcar.py).
CONTENT_TAG = re.compile(rf"\b({re.escape(REGISTRY)}/(?:env|modelcar|gateway)):[0-9a-f]{{16}}\b")

# The reference's kubernetes deployment shape with target-utilization scaling and a GPU limit (§3).
AUTOSCALED = """\
name: autoscaled
type: kubernetes
endpoint_name: my-endpoint
model:
  name: sklearn-regression
  version: "3"
  path: ../model-1/model/
code_configuration:
  code: ../model-1/onlinescoring/
  scoring_script: score.py
environment:
  conda_file: ../model-1/environment/conda.yaml
  image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest
instance_type: gpuinstance
environment_variables:
  WORKER_COUNT: "2"
request_settings:
  request_timeout_ms: 10000
  max_concurrent_requests_per_instance: 2
resources:
  requests:
    cpu: "500m"
    memory: 1Gi
  limits:
    cpu: "2"
    memory: 4Gi
    nvidia.com/gpu: "1"
liveness_probe:
  initial_delay: 30
  period: 15
  timeout: 5
  failure_threshold: 4
readiness_probe:
  initial_delay: 10
  period: 5
  timeout: 3
  success_threshold: 2
  failure_threshold: 6
scale_settings:
  type: target_utilization
  min_instances: 2
  max_instances: 6
  polling_interval: 10
  target_utilization_percentage: 60
"""

# Model on a PersistentVolumeClaim, code behind https: fetched by the storage initializer (no package payload).
REMOTE = """\
name: remote
type: kubernetes
endpoint_name: my-endpoint
model:
  name: big-model
  version: "1"
  path: pvc://models-claim/sklearn/model
code_configuration:
  code: https://example.com/releases/onlinescoring.tar.gz
  scoring_script: score.py
environment:
  image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest
instance_count: 2
"""


@dataclass(frozen=True)
class Case:
    name: str
    kind: str  # "endpoint" | "deployment"
    source: Path | str  # a sample file, or YAML text resolved against K8S


CASES = (
    Case("sample-endpoint", "endpoint", MANAGED / "endpoint.yml"),
    Case("sample-blue", "deployment", MANAGED / "blue-deployment.yml"),
    Case("sample-green", "deployment", MANAGED / "green-deployment.yml"),
    Case("kubernetes-endpoint", "endpoint", K8S / "kubernetes-endpoint.yml"),
    Case("kubernetes-blue", "deployment", K8S / "kubernetes-blue-deployment.yml"),
    Case("kubernetes-green", "deployment", K8S / "kubernetes-green-deployment.yml"),
    Case("kubernetes-autoscaled", "deployment", AUTOSCALED),
    Case("kubernetes-remote-sources", "deployment", REMOTE),
)


def make_backend(home: Path, defaults: Mapping[str, str] = DEFAULTS) -> KubernetesBackend:
    context = replace(BackendContext.open(Home(home)), defaults=dict(defaults))
    return KubernetesBackend(context)


async def plan(backend: KubernetesBackend, case: Case) -> list[dict[str, Any]]:
    if case.kind == "endpoint":
        assert isinstance(case.source, Path)
        result = await backend.plan_endpoint(load_endpoint(case.source))
    elif isinstance(case.source, Path):
        result = await backend.plan_deployment(load_deployment(case.source))
    else:
        spec = parse_deployment(case.source, source=f"{case.name}.yml", base_dir=K8S)
        result = await backend.plan_deployment(spec)
    return [dict(d) for d in result.documents]


def fixed_keys() -> manifests.KeyMaterial:
    return manifests.KeyMaterial("primary-key-for-tests", "secondary-key-for-tests", "ab" * 32)


# --- golden text -------------------------------------------------------------------------------------------
def yaml_stream(docs: Sequence[Mapping[str, Any]]) -> str:
    """Exactly what `--dry-run -o yaml` prints."""
    out = io.StringIO()
    render(DocumentStream(dict(d) for d in docs), "yaml", stream=out)
    return out.getvalue()


def golden_text(docs: Sequence[Mapping[str, Any]]) -> str:
    """The dry-run stream with what is not the manifests' own business made stable and readable.

    Replaced: the images' content tags (`<content-tag>`: they digest endpointctl's serving code, which changes
    with every edit to it, and this machine's base image id) and the repository's absolute path in the spec
    annotations (`<repo>`). Everything else is compared byte for byte.
    """
    text = CONTENT_TAG.sub(r"\1:<content-tag>", yaml_stream(docs))
    return text.replace(str(REPO), "<repo>")


def labels_of(doc: Mapping[str, Any]) -> Mapping[str, str]:
    labels: Mapping[str, str] = doc["metadata"].get("labels") or {}
    return labels


def is_ours(doc: Mapping[str, Any]) -> bool:
    return labels_of(doc).get(naming.MANAGED_BY) == naming.MANAGER
