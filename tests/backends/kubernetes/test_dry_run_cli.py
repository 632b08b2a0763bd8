"""`endpointctl … create --backend kubernetes --dry-run -o yaml` through the CLI entry, with no kubeconfig.

The output must be a multi-document YAML stream `kubectl apply -f -` can read, equal to the golden files, and
printing it must not open a single network connection: only the local Docker engine's Unix socket is asked (for
the base images' ids the images' content tags digest), and nothing is built or pushed.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from endpointctl.backends.engine.client import engine_address
from endpointctl.backends.kubernetes import client as kube_client
from endpointctl.backends.kubernetes import kubeconfig
from tests.backends.engine import BASE_IMAGE, require_engine
from tests.backends.kubernetes import plans
from tests.backends.kubernetes.test_manifests import GOLDEN
from tests.conftest import Run

# The engine the backend asks (DOCKER_HOST, else the default socket): the one connection a dry run may open.
ENGINE_SOCKET = engine_address().removeprefix("unix://")


@pytest.fixture
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[object]]:
    """No kubeconfig anywhere, no in-cluster service account, and any connection attempt recorded and refused."""
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-such-kubeconfig"))
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    attempts: list[object] = []

    connect = socket.socket.connect

    def refuse(self: socket.socket, address: object) -> Any:
        if self.family == socket.AF_UNIX and address == ENGINE_SOCKET:
            return connect(self, address)  # the local engine names the images; no network
        attempts.append(address)
        raise OSError(f"dry run tried to connect to {address!r}")

    def no_client(*args: Any, **kwargs: Any) -> None:
        attempts.append("KubeClient")
        raise AssertionError("a dry run must not build an API client")

    require_engine().close()
    before = {image.id for image in _images()}
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(kube_client, "KubeClient", no_client)
    yield attempts
    monkeypatch.undo()
    assert {image.id for image in _images()} <= before, "a dry run built an image"
    assert attempts == []


def _images() -> list[Any]:
    engine = require_engine()
    try:
        return list(engine.images.list())
    finally:
        engine.close()


def _configure(cli: Run, *defaults: str) -> None:
    # The gateway's base: the machine's offline image (python:3.11-slim, the default, cannot be pulled here).
    assert cli("configure", "--defaults", f"kube_gateway_image={BASE_IMAGE}", *defaults).code == 0


def _stream(text: str) -> list[dict[str, Any]]:
    assert text.startswith("apiVersion: ") or text.startswith("kind: ")
    docs = list(yaml.safe_load_all(text))
    assert len(docs) == text.count("\n---\n") + 1  # one document per `---`, none empty
    for doc in docs:
        assert isinstance(doc, dict)
        assert isinstance(doc.get("apiVersion"), str) and doc["apiVersion"]
        assert isinstance(doc.get("kind"), str) and doc["kind"]
        assert doc["metadata"]["name"]
    return docs


def test_endpoint_and_deployment_dry_runs_print_kubectl_streams(cli: Run, offline: list[object]) -> None:
    _configure(cli)
    endpoint = cli(
        "online-endpoint",
        "create",
        "-f",
        str(plans.MANAGED / "endpoint.yml"),
        "--backend",
        "kubernetes",
        "--dry-run",
        "-o",
        "yaml",
    )
    assert endpoint.code == 0, endpoint.err
    docs = _stream(endpoint.out)
    assert [(d["kind"], d["metadata"]["name"]) for d in docs] == [
        ("ConfigMap", "my-endpoint-gw-routing"),
        ("Deployment", "my-endpoint-gw"),
        ("Service", "my-endpoint-gw"),
        ("Service", "my-endpoint-gw-admin"),
        ("PodDisruptionBudget", "my-endpoint-gw"),
        ("NetworkPolicy", "my-endpoint-gw"),
        ("NetworkPolicy", "my-endpoint-inference"),
    ]
    # No registry: the gateway image stays in this engine, under its content tag, never pulled.
    (gateway,) = docs[1]["spec"]["template"]["spec"]["containers"]
    assert gateway["image"].startswith("endpointctl/gateway:")
    assert gateway["imagePullPolicy"] == "IfNotPresent"
    assert "stays in the local engine (no kube_registry)" in endpoint.err
    # No kubeconfig: the namespace is Kubernetes' default one, and the dry run says so rather than silently.
    assert {d["metadata"]["namespace"] for d in docs} == {"default"}
    assert 'note: namespace "default": nothing names one' in endpoint.err
    assert "kube_namespace=NAME" in endpoint.err

    deployment = cli(
        "online-deployment",
        "create",
        "-f",
        str(plans.MANAGED / "blue-deployment.yml"),
        "--backend",
        "kubernetes",
        "--dry-run",
        "-o",
        "yaml",
    )
    assert deployment.code == 0, deployment.err
    assert 'note: namespace "default"' in deployment.err
    kinds = [d["kind"] for d in _stream(deployment.out)]
    assert kinds == ["Deployment", "Service", "PodDisruptionBudget"]
    assert "note: environment image endpointctl/env:" in deployment.err
    assert "note: modelcar endpointctl/modelcar:" in deployment.err


@pytest.mark.parametrize(
    ("noun", "case"),
    [
        ("online-endpoint", plans.CASES[3]),  # kubernetes-endpoint
        ("online-deployment", plans.CASES[4]),  # kubernetes-blue
        ("online-deployment", plans.CASES[2]),  # sample-green
    ],
    ids=lambda value: value.name if isinstance(value, plans.Case) else value,
)
def test_the_cli_prints_the_golden_manifests(
    cli: Run, offline: list[object], noun: str, case: plans.Case
) -> None:
    _configure(cli, f"kube_namespace={plans.NAMESPACE}", f"kube_registry={plans.REGISTRY}")
    assert isinstance(case.source, Path)
    result = cli(noun, "create", "-f", str(case.source), "--backend", "kubernetes", "--dry-run", "-o", "yaml")
    assert result.code == 0, result.err
    assert "note: namespace" not in result.err  # kube_namespace names it: nothing to point out
    assert f"would be pushed to {plans.REGISTRY}; the applied manifest names it by digest" in result.err
    assert plans.golden_text(_stream(result.out)) == (GOLDEN / f"{case.name}.yaml").read_text(
        encoding="utf-8"
    )


def test_a_dry_run_with_an_unsupported_source_fails_cleanly(
    cli: Run, offline: list[object], tmp_path: Path
) -> None:
    spec = (plans.K8S / "kubernetes-blue-deployment.yml").read_text().replace("../model-1/model/", "s3://b/m")
    path = plans.K8S / "kubernetes-blue-deployment.yml"
    copy = tmp_path / "s3-deployment.yml"
    copy.write_text(spec.replace("../model-1/", f"{path.parent.parent}/model-1/"))
    result = cli(
        "online-deployment", "create", "-f", str(copy), "--backend", "kubernetes", "--dry-run", "-o", "yaml"
    )
    assert result.code == 2
    assert result.out == ""
    assert "model.path: s3:// sources are not supported" in result.err


def test_registered_model_and_environment_travel_in_the_modelcar(cli: Run, offline: list[object]) -> None:
    _configure(cli)
    sample = plans.MANAGED
    assert cli("model", "create", "-n", "my-model", "-v", "1", "-f", str(sample / "model.yml")).code == 0
    assert cli("environment", "create", "-f", str(sample / "environment.yml")).code == 0
    result = cli(
        "online-deployment",
        "create",
        "-f",
        str(sample / "blue-deployment-with-registered-assets.yml"),
        "--backend",
        "kubernetes",
        "--dry-run",
        "-o",
        "yaml",
    )
    assert result.code == 0, result.err
    docs = _stream(result.out)
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    (init,) = deployment["spec"]["template"]["spec"]["initContainers"]
    assert init["image"].startswith("endpointctl/modelcar:")
    plan = yaml.safe_load(next(e["value"] for e in init["env"] if e["name"] == "ENDPOINTCTL_STAGE_PLAN"))
    (model,) = [c for c in plan["copy"] if c["source"] == "/modelcar/model"]
    assert model["target"].startswith("/var/azureml-app/azureml-models/my-model/1")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["AZUREML_MODEL_DIR"] == "/var/azureml-app/azureml-models/my-model/1"


def test_a_compute_named_after_a_context_plans_that_contexts_namespace(
    cli: Run, offline: list[object], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As an apply resolves it: `compute: azureml:NAME` with no kube_computes entry is the context NAME."""
    _configure(cli)
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": "https://192.0.2.1:6443"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [
            {"name": "other", "context": {"cluster": "c", "user": "u", "namespace": "elsewhere"}},
            {"name": "inferencecompute", "context": {"cluster": "c", "user": "u", "namespace": "ml-team"}},
        ],
        "current-context": "other",
    }
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(doc))
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    endpoint = plans.K8S / "kubernetes-endpoint.yml"
    assert "azureml:inferencecompute" in endpoint.read_text()
    result = cli(
        "online-endpoint", "create", "-f", str(endpoint), "--backend", "kubernetes", "--dry-run", "-o", "yaml"
    )
    assert result.code == 0, result.err
    assert {d["metadata"]["namespace"] for d in _stream(result.out)} == {"ml-team"}
    assert "note: namespace" not in result.err


def test_in_a_pod_the_plan_names_the_pods_own_namespace(
    cli: Run, offline: list[object], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In-cluster (no kubeconfig), the namespace is the service account's, as kubectl uses there."""
    account = tmp_path / "serviceaccount"
    account.mkdir()
    (account / "token").write_text("t")
    (account / "namespace").write_text("ml-pods\n")
    monkeypatch.setattr(kubeconfig, "IN_CLUSTER_TOKEN", account / "token")
    monkeypatch.setattr(kubeconfig, "IN_CLUSTER_NAMESPACE", account / "namespace")
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "192.0.2.1")
    result = cli(
        "online-deployment",
        "create",
        "-f",
        str(plans.MANAGED / "blue-deployment.yml"),
        "--backend",
        "kubernetes",
        "--dry-run",
        "-o",
        "yaml",
    )
    assert result.code == 0, result.err
    assert {d["metadata"]["namespace"] for d in _stream(result.out)} == {"ml-pods"}
    assert "note: namespace" not in result.err
