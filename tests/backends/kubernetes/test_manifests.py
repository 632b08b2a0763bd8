"""Every manifest the backend generates, checked against the official Kubernetes schemas and golden files.

Schema validation: `kubernetes-validate` in strict mode (unknown fields are errors) for the newest Kubernetes
version the installed package ships schemas for.

Golden files: tests/backends/kubernetes/golden/<case>.yaml hold the `--dry-run -o yaml` stream of each plan
in `plans.CASES` (normalised as `plans.golden_text` describes) and are compared exactly. After an intended
change, regenerate them and review the diff:

    ENDPOINTCTL_UPDATE_GOLDEN=1 .venv/bin/pytest -q tests/backends/kubernetes/test_manifests.py
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from endpointctl.backends.kubernetes import manifests, naming, packaging
from endpointctl.backends.kubernetes.backend import KubernetesBackend
from endpointctl.backends.kubernetes.images import GatewayImage
from endpointctl.backends.kubernetes.settings import KubeSettings
from endpointctl.core.errors import InvalidInput
from endpointctl.core.spec import load_deployment, load_endpoint
from tests.backends.engine import require_engine
from tests.backends.kubernetes import plans
from tests.backends.kubernetes.apiserver import ApiServer
from tests.backends.kubernetes.test_scenarios import _create

GOLDEN = Path(__file__).with_name("golden")
UPDATE = os.environ.get("ENDPOINTCTL_UPDATE_GOLDEN") == "1"
KUBE_VERSION = kubernetes_validate.latest_version()  # the newest schemas installed (1.37 with 1.37.0)
CASE_IDS = [c.name for c in plans.CASES]


@pytest.fixture(autouse=True)
def no_kubeconfig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    monkeypatch.setenv("HOME", str(tmp_path))


@pytest.fixture
def planner(tmp_path: Path) -> KubernetesBackend:
    """A backend with no kubeconfig at all: it can plan, and has nothing to contact (the Docker engine names
    the images it would build)."""
    require_engine().close()
    return plans.make_backend(tmp_path / "home")


def validate(doc: dict[str, Any]) -> str:
    return str(kubernetes_validate.validate(doc, KUBE_VERSION, strict=True))


def plan_of(backend: KubernetesBackend, case: plans.Case) -> list[dict[str, Any]]:
    return asyncio.run(plans.plan(backend, case))


# --- schema validation -------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", plans.CASES, ids=CASE_IDS)
def test_every_dry_run_manifest_is_valid_for_the_newest_kubernetes(
    planner: KubernetesBackend, case: plans.Case
) -> None:
    docs = plan_of(planner, case)
    assert docs
    for doc in docs:
        validate(doc)
        assert plans.is_ours(doc), f"{doc['kind']} {doc['metadata']['name']} lacks the managed-by label"
        assert doc["metadata"]["namespace"] == plans.NAMESPACE


def test_the_plans_cover_every_kind_the_backend_creates(planner: KubernetesBackend) -> None:
    kinds = {doc["kind"] for case in plans.CASES for doc in plan_of(planner, case)}
    # The Secrets are the objects a dry run leaves out (keys and the admin token are made at apply time): see
    # the next test.
    assert kinds == {
        "ConfigMap",
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "NetworkPolicy",
    }


def test_the_keys_secret_and_a_live_routing_update_are_valid() -> None:
    secret = manifests.keys_secret("my-endpoint", plans.fixed_keys(), plans.NAMESPACE)
    assert validate(secret)
    assert validate(manifests.admin_token_secret("my-endpoint", "t" * 64, plans.NAMESPACE))
    spec = load_deployment(plans.K8S / "kubernetes-blue-deployment.yml")
    endpoint = load_endpoint(plans.K8S / "kubernetes-endpoint.yml")
    routing = manifests.routing_config(
        endpoint, {"blue": spec}, plans.NAMESPACE, traffic={"blue": 100}, mirror={}
    )
    assert validate(manifests.routing_config_map(endpoint, routing, plans.NAMESPACE))


async def test_every_object_sent_to_the_api_server_is_valid(
    backend: KubernetesBackend, apiserver: ApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a real create writes through the client (the Secret included), as the double received it."""
    sent: list[dict[str, Any]] = []
    check = apiserver.cluster._validate  # the double's own strict check of every client write

    def record(obj: dict[str, Any]) -> None:
        sent.append(copy.deepcopy(obj))
        check(obj)

    monkeypatch.setattr(apiserver.cluster, "_validate", record)
    await _create(backend)
    assert {d["kind"] for d in sent} >= {
        "Secret",
        "ConfigMap",
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "NetworkPolicy",
    }
    for doc in sent:
        assert plans.is_ours(doc)
        validate(doc)


def test_strict_validation_rejects_a_broken_manifest(planner: KubernetesBackend) -> None:
    """The check can fail: an unknown field, a wrong type and a missing required field are each rejected."""
    docs = plan_of(planner, plans.CASES[4])
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    validate(deployment)

    unknown = copy.deepcopy(deployment)
    unknown["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    wrong_type = copy.deepcopy(deployment)
    wrong_type["spec"]["replicas"] = "two"
    missing = copy.deepcopy(deployment)
    del missing["spec"]["selector"]
    bad_hpa = next(d for d in plan_of(planner, plans.CASES[6]) if d["kind"] == "HorizontalPodAutoscaler")
    bad_hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] = "60%"
    for broken in (unknown, wrong_type, missing, bad_hpa):
        with pytest.raises(kubernetes_validate.ValidationError):
            validate(broken)


# --- shapes the issue asks for -----------------------------------------------------------------------------
def test_deployment_shape(planner: KubernetesBackend) -> None:
    docs = plan_of(planner, plans.CASES[6])  # kubernetes-autoscaled
    by_kind = {d["kind"]: d for d in docs}
    assert [d["kind"] for d in docs] == [
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
    ]
    dep = by_kind["Deployment"]
    assert dep["metadata"]["labels"] == {
        naming.MANAGED_BY: "endpointctl",
        naming.ENDPOINT: "my-endpoint",
        naming.DEPLOYMENT: "autoscaled",
        naming.COMPONENT: naming.INFERENCE,
    }
    assert dep["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": "20%", "maxUnavailable": 0},
    }
    assert dep["spec"]["replicas"] == 2  # min_instances; the HPA owns the count from there
    pod = dep["spec"]["template"]["spec"]
    (init,) = pod["initContainers"]
    (server,) = pod["containers"]
    assert (init["name"], server["name"]) == ("storage-initializer", "inference-server")
    # Images, not installs: the server runs the environment image, the initializer the modelcar (the
    # environment image plus the model and code), both by the registry's names.
    assert server["image"].startswith(f"{plans.REGISTRY}/env:")
    assert init["image"].startswith(f"{plans.REGISTRY}/modelcar:")
    assert server["command"] == ["python", "-m", "endpointctl.serving.scoring"]
    assert init["command"] == ["python", "-m", "endpointctl.serving.storage"]
    assert "pip" not in json.dumps(pod)
    plan = json.loads(next(e["value"] for e in init["env"] if e["name"] == "ENDPOINTCTL_STAGE_PLAN"))
    assert plan["copy"] == [
        {
            "source": "/modelcar/model",
            "target": f"{packaging.APP_ROOT}/azureml-models/sklearn-regression/3/model",
        },
        {"source": "/modelcar/code", "target": f"{packaging.APP_ROOT}/onlinescoring"},
    ]
    assert {"name": "app", "mountPath": packaging.APP_ROOT} in init["volumeMounts"]
    assert {"name": "app", "mountPath": packaging.APP_ROOT} in server["volumeMounts"]
    assert {"name": "app", "emptyDir": {}} in pod["volumes"]
    assert server["resources"] == {
        "requests": {"cpu": "500m", "memory": "1Gi"},
        "limits": {"cpu": "2", "memory": "4Gi", "nvidia.com/gpu": "1"},
    }
    assert server["livenessProbe"]["successThreshold"] == 1  # the API server allows nothing else
    assert server["readinessProbe"] == {
        "httpGet": {"path": "/", "port": "http"},
        "initialDelaySeconds": 10,
        "periodSeconds": 5,
        "timeoutSeconds": 3,
        "successThreshold": 2,
        "failureThreshold": 6,
    }
    env = {e["name"]: e["value"] for e in server["env"]}
    assert env["AZUREML_MODEL_DIR"] == f"{packaging.APP_ROOT}/azureml-models/sklearn-regression/3"
    assert env["WORKER_COUNT"] == "2"
    hpa = by_kind["HorizontalPodAutoscaler"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "my-endpoint-autoscaled",
    }
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 6)
    assert hpa["spec"]["metrics"][0]["resource"]["target"] == {
        "type": "Utilization",
        "averageUtilization": 60,
    }
    service = by_kind["Service"]
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["selector"] == dep["spec"]["selector"]["matchLabels"]


def test_default_scale_settings_make_no_hpa(planner: KubernetesBackend) -> None:
    docs = plan_of(planner, plans.CASES[4])  # kubernetes-blue: scale_settings type default
    assert "HorizontalPodAutoscaler" not in {d["kind"] for d in docs}


def test_remote_sources_are_fetched_by_the_storage_initializer(planner: KubernetesBackend) -> None:
    docs = plan_of(planner, plans.CASES[7])  # kubernetes-remote-sources
    dep = next(d for d in docs if d["kind"] == "Deployment")
    pod = dep["spec"]["template"]["spec"]
    assert {
        "name": "model-source",
        "persistentVolumeClaim": {"claimName": "models-claim", "readOnly": True},
    } in pod["volumes"]
    (init,) = pod["initContainers"]
    # Nothing local: no modelcar, the initializer runs the environment image.
    assert init["image"] == pod["containers"][0]["image"]
    assert init["image"].startswith(f"{plans.REGISTRY}/env:")
    assert {
        "name": "model-source",
        "mountPath": f"{manifests.PVC_MOUNT}/model",
        "subPath": "sklearn/model",
        "readOnly": True,
    } in init["volumeMounts"]
    plan = yaml.safe_load(next(e["value"] for e in init["env"] if e["name"] == "ENDPOINTCTL_STAGE_PLAN"))
    assert plan["remote"] == [
        {
            "scheme": "pvc",
            "uri": "pvc://models-claim/sklearn/model",
            "source": f"{manifests.PVC_MOUNT}/model",
            "target": f"{packaging.APP_ROOT}/azureml-models/big-model/1/model",
        },
        {
            "scheme": "https",
            "uri": "https://example.com/releases/onlinescoring.tar.gz",
            "source": "https://example.com/releases/onlinescoring.tar.gz",
            "target": f"{packaging.APP_ROOT}/onlinescoring",
        },
    ]
    env = {e["name"]: e["value"] for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["AML_APP_ROOT"] == f"{packaging.APP_ROOT}/onlinescoring"
    assert env["AZUREML_ENTRY_SCRIPT"] == "score.py"


# --- dry-run determinism and secrets -----------------------------------------------------------------------
def test_dry_runs_are_byte_identical_across_homes(tmp_path: Path) -> None:
    for case in plans.CASES:
        first = plans.yaml_stream(plan_of(plans.make_backend(tmp_path / "a"), case))
        second = plans.yaml_stream(plan_of(plans.make_backend(tmp_path / "b"), case))
        assert first == second, case.name


def test_the_endpoint_dry_run_prints_no_keys(planner: KubernetesBackend) -> None:
    numbers = iter(range(1000))
    planner.new_key = lambda: f"would-be-key-{next(numbers)}"
    docs = plan_of(planner, plans.CASES[0])
    assert "Secret" not in {d["kind"] for d in docs}
    assert "would-be-key" not in plans.yaml_stream(docs)
    # The gateway still names the Secret an apply creates, so the stream and a later apply fit together.
    gateway = next(d for d in docs if d["kind"] == "Deployment")
    volumes = gateway["spec"]["template"]["spec"]["volumes"]
    assert {
        "name": "keys",
        "secret": {"secretName": naming.keys_secret_name("my-endpoint"), "defaultMode": 0o440},
    } in volumes


# --- golden files ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", plans.CASES, ids=CASE_IDS)
def test_golden(planner: KubernetesBackend, case: plans.Case) -> None:
    text = plans.golden_text(plan_of(planner, case))
    path = GOLDEN / f"{case.name}.yaml"
    if UPDATE:
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"{path} is missing: run with ENDPOINTCTL_UPDATE_GOLDEN=1 to create it"
    assert text == path.read_text(encoding="utf-8"), (
        f"{case.name}: the manifests changed; if intended, regenerate with ENDPOINTCTL_UPDATE_GOLDEN=1"
    )


# --- what a platform team asks of every pod ----------------------------------------------------------------
@pytest.mark.parametrize("case", plans.CASES, ids=CASE_IDS)
def test_every_pod_is_hardened_spread_and_covered_by_a_disruption_budget(
    planner: KubernetesBackend, case: plans.Case
) -> None:
    docs = plan_of(planner, case)
    budgets = {d["metadata"]["name"]: d for d in docs if d["kind"] == "PodDisruptionBudget"}
    deployments = [d for d in docs if d["kind"] == "Deployment"]
    assert deployments
    for dep in deployments:
        pod = dep["spec"]["template"]["spec"]
        labels = dep["spec"]["template"]["metadata"]["labels"]
        assert pod["automountServiceAccountToken"] is False
        security = pod["securityContext"]
        assert security["runAsNonRoot"] is True
        assert security["runAsUser"] >= 10000 and security["runAsGroup"] >= 10000
        assert security["seccompProfile"] == {"type": "RuntimeDefault"}
        (spread,) = pod["topologySpreadConstraints"]
        assert (spread["topologyKey"], spread["whenUnsatisfiable"]) == (
            "kubernetes.io/hostname",
            "ScheduleAnyway",
        )
        assert spread["labelSelector"]["matchLabels"] == labels
        writable = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
        for container in pod.get("initContainers", []) + pod["containers"]:
            assert container["securityContext"] == {
                "allowPrivilegeEscalation": False,
                "privileged": False,
                "readOnlyRootFilesystem": True,
                "runAsNonRoot": True,
                "capabilities": {"drop": ["ALL"]},
            }, container["name"]
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            assert mounts["/tmp"] in writable, container["name"]  # TMPDIR and HOME
            env = {e["name"]: e["value"] for e in container["env"]}
            assert (env["HOME"], env["TMPDIR"]) == ("/tmp", "/tmp"), container["name"]
        budget = budgets[dep["metadata"]["name"]]
        assert budget["spec"]["selector"]["matchLabels"] == dep["spec"]["selector"]["matchLabels"]
        # One pod at a time, so even a single replica can be drained (minAvailable 1 would block it).
        assert budget["spec"]["maxUnavailable"] == 1 and "minAvailable" not in budget["spec"]


def test_the_gateway_is_highly_available_and_bounded(planner: KubernetesBackend) -> None:
    docs = plan_of(planner, plans.CASES[0])
    gateway = next(d for d in docs if d["kind"] == "Deployment")
    assert gateway["spec"]["replicas"] == 2
    pod = gateway["spec"]["template"]["spec"]
    assert "initContainers" not in pod  # the gateway image carries its code and httptools
    for container in pod["containers"]:
        assert container["image"].startswith(f"{plans.REGISTRY}/gateway:")
        assert set(container["resources"]) == {"requests", "limits"}
        assert set(container["resources"]["limits"]) == {"cpu", "memory"}
    one = replace(planner.settings, gateway_replicas=1)
    image = GatewayImage("registry.example.com/ml/gateway@sha256:" + "0" * 64, "Always")
    endpoint = load_endpoint(plans.MANAGED / "endpoint.yml")
    assert manifests.gateway_manifests(endpoint, "ns", one, image)[0]["spec"]["replicas"] == 1


def test_gateway_replicas_come_from_the_defaults_and_are_checked() -> None:
    assert KubeSettings.from_defaults({}).gateway_replicas == 2
    assert KubeSettings.from_defaults({"kube_gateway_replicas": "3"}).gateway_replicas == 3
    for bad in ("0", "two", "-1", "51"):
        with pytest.raises(InvalidInput, match="kube_gateway_replicas"):
            KubeSettings.from_defaults({"kube_gateway_replicas": bad})


def test_only_the_endpoints_gateway_reaches_its_inference_pods(planner: KubernetesBackend) -> None:
    endpoint_docs = plan_of(planner, plans.CASES[3])  # kubernetes-endpoint
    blue = plan_of(planner, plans.CASES[4])  # kubernetes-blue
    policies = {d["metadata"]["name"]: d for d in endpoint_docs if d["kind"] == "NetworkPolicy"}
    gateway_pod = next(d for d in endpoint_docs if d["kind"] == "Deployment")["spec"]["template"]
    blue_pod = next(d for d in blue if d["kind"] == "Deployment")["spec"]["template"]

    def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
        return all(labels.get(k) == v for k, v in selector["matchLabels"].items())

    inference = policies[naming.inference_policy_name("my-endpoint")]["spec"]
    assert selects(inference["podSelector"], blue_pod["metadata"]["labels"])
    assert not selects(inference["podSelector"], gateway_pod["metadata"]["labels"])
    (rule,) = inference["ingress"]
    (source,) = rule["from"]
    assert set(source) == {"podSelector"}  # pods of this namespace only, and only the gateway's
    assert selects(source["podSelector"], gateway_pod["metadata"]["labels"])
    assert not selects(source["podSelector"], blue_pod["metadata"]["labels"])
    assert rule["ports"] == [{"protocol": "TCP", "port": manifests.SCORING_PORT}]
    other = naming.labels("other-endpoint", naming.GATEWAY)
    assert not selects(source["podSelector"], other)
    gateway = policies[naming.gateway_name("my-endpoint")]["spec"]
    assert selects(gateway["podSelector"], gateway_pod["metadata"]["labels"])
    assert sorted(p["port"] for r in gateway["ingress"] for p in r["ports"]) == [
        manifests.GATEWAY_PORT,
        manifests.GATEWAY_ADMIN_PORT,
    ]
    command = " ".join(gateway_pod["spec"]["containers"][0]["command"])
    assert "--admin-token-file /etc/endpointctl/admin/token" in command


def test_inference_pods_require_the_instance_token_only_the_gateway_holds(planner: KubernetesBackend) -> None:
    keys = plans.fixed_keys()
    secret = manifests.instance_token_secret("my-endpoint", keys, plans.NAMESPACE)
    assert validate(secret)
    token = base64.b64decode(secret["data"][manifests.INSTANCE_TOKEN_KEY]).decode()
    # The gateway's keys document carries the same token; the routing ConfigMap, readable by more, does not.
    gateway_keys = manifests.keys_document("my-endpoint", keys)["endpoints"]["my-endpoint"]
    assert gateway_keys["instance_token"] == token and len(token) == 64

    blue = plan_of(planner, plans.CASES[4])  # kubernetes-blue
    pod = next(d for d in blue if d["kind"] == "Deployment")["spec"]["template"]["spec"]
    server = next(c for c in pod["containers"] if c["name"] == "inference-server")
    env = {e["name"]: e["value"] for e in server["env"]}
    mount = next(m for m in server["volumeMounts"] if m["name"] == "instance-token")
    assert mount["readOnly"] and env["ENDPOINTCTL_INSTANCE_TOKEN_FILE"] == f"{mount['mountPath']}/token"
    volume = next(v for v in pod["volumes"] if v["name"] == "instance-token")
    assert volume["secret"]["secretName"] == naming.instance_token_secret_name("my-endpoint")
    # Dry runs print no secret: neither the Secret nor the token appears in any planned document.
    docs = plan_of(planner, plans.CASES[3]) + blue
    assert token not in yaml.safe_dump_all(docs)
    assert not [d for d in docs if d["kind"] == "Secret"]
