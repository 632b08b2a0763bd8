"""The dry-run plans the manifest tests check: the sample YAMLs and the kubernetes shapes of the reference.

Built through the backend's own `plan_endpoint` / `plan_deployment` (what `--dry-run` prints), with no
kubeconfig and a fixed namespace, so nothing here can reach a cluster.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from endpointctl.backends.kubernetes import manifests, naming
from endpointctl.backends.kubernetes.backend import KubernetesBackend
from endpointctl.backends.kubernetes.packaging import PACKAGE_KEY
from endpointctl.cli.output import DocumentStream, render
from endpointctl.core.context import BackendContext
from endpointctl.core.home import Home
from endpointctl.core.spec import load_deployment, load_endpoint, parse_deployment
from tests.conftest import REPO, SAMPLES

MANAGED = SAMPLES / "managed" / "sample"
K8S = SAMPLES / "kubernetes"
NAMESPACE = "ml-serving"
DEFAULTS = {"kube_namespace": NAMESPACE}

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
STAGE_TOKEN = "<endpointctl/backends/kubernetes/stage_script.py>"


def yaml_stream(docs: Sequence[Mapping[str, Any]]) -> str:
    """Exactly what `--dry-run -o yaml` prints."""
    out = io.StringIO()
    render(DocumentStream(dict(d) for d in docs), "yaml", stream=out)
    return out.getvalue()


def _archive_listing(data: bytes) -> list[str]:
    """User files and requirements exactly (sha256), endpointctl's own serving code as a count."""
    lines: list[str] = []
    host = 0
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(data)), mode="r:") as tar:
        for member in tar.getmembers():
            if member.name.startswith("host/"):
                host += 1
                continue
            extracted = tar.extractfile(member)
            assert extracted is not None
            content = extracted.read()
            lines.append(f"{member.name} {len(content)} bytes sha256:{hashlib.sha256(content).hexdigest()}")
            if member.name == "requirements.txt":
                lines += [f"  {line}" for line in content.decode().splitlines()]
    assert host, "the package carries no scoring/gateway code"
    lines.append("host/…: endpointctl's own serving code (not listed: it changes with every edit to it)")
    return lines


def golden_text(docs: Sequence[Mapping[str, Any]]) -> str:
    """The dry-run stream with what is not the manifests' own business made stable and readable.

    Replaced, each after checking it: the package archives' base64 (by a listing of their members; the
    archive embeds endpointctl's serving code, which changes with every edit to it), the digests that archive
    gives object names and annotations (`<digest>`; the name must carry the digest of the bytes it holds),
    the stage script (`STAGE_TOKEN`, after checking it is the file's text), and the repository's absolute
    path in the spec annotations (`<repo>`). Everything else is compared byte for byte.
    """
    stage = manifests.STAGE_SCRIPT.read_text(encoding="utf-8")
    out: list[dict[str, Any]] = []
    digests: dict[str, str] = {}
    for original in docs:
        doc = json.loads(json.dumps(original))  # a deep, plain copy that keeps the key order
        binary = doc.get("binaryData") or {}
        if PACKAGE_KEY in binary:
            data = base64.b64decode(binary[PACKAGE_KEY])
            digest = hashlib.sha256(data).hexdigest()
            assert doc["metadata"]["name"].endswith(digest[:10]), "package name must carry its digest"
            token = "<gateway-digest>" if "-gw-host-" in doc["metadata"]["name"] else "<package-digest>"
            digests[digest] = token
            digests[digest[:10]] = token
            binary[PACKAGE_KEY] = _archive_listing(data)
        if "stage.py" in (doc.get("data") or {}):
            assert doc["data"]["stage.py"] == stage
            doc["data"]["stage.py"] = STAGE_TOKEN
        out.append(doc)
    text = yaml_stream(out)
    for digest in sorted(digests, key=len, reverse=True):  # full digests before their prefixes
        text = text.replace(digest, digests[digest])
    return text.replace(str(REPO), "<repo>")


def labels_of(doc: Mapping[str, Any]) -> Mapping[str, str]:
    labels: Mapping[str, str] = doc["metadata"].get("labels") or {}
    return labels


def is_ours(doc: Mapping[str, Any]) -> bool:
    return labels_of(doc).get(naming.MANAGED_BY) == naming.MANAGER
