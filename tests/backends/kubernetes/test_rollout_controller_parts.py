"""The progressive-rollout controller's parts that need no running pod: its manifests (strict against the
official schemas, a golden file checkov reads, the Role's least privilege), the split it writes (byte for byte
what the backend's own routing render gives), its image's contents (exactly its import closure), the state's
compare-and-swap, and the API double's RBAC it is held to."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from endpointctl.backends.common.environments.closure import closure, third_party
from endpointctl.backends.common.environments.scoring_host import (
    CONTROLLER_HOST,
    CONTROLLER_REQUIREMENTS,
    copy_host,
)
from endpointctl.backends.kubernetes import manifests, naming, rollout_state
from endpointctl.backends.kubernetes.backend import KubernetesBackend
from endpointctl.backends.kubernetes.client import KubeClient
from endpointctl.backends.kubernetes.controller_manifests import controller_manifests
from endpointctl.backends.kubernetes.images import GatewayImage
from endpointctl.backends.kubernetes.rollout_state import StoredRollout
from endpointctl.backends.kubernetes.settings import Target
from endpointctl.backends.kubernetes.split import with_split
from endpointctl.core.errors import Conflict, OperationFailed
from endpointctl.core.progressive import machine
from endpointctl.core.progressive.gates import Gates
from endpointctl.core.progressive.machine import Phase
from endpointctl.core.progressive.plan import make_plan
from endpointctl.core.spec import load_deployment, load_endpoint
from endpointctl.core.traffic import TrafficSplit
from tests.backends.kubernetes import plans
from tests.backends.kubernetes.apiserver import ApiServer
from tests.backends.kubernetes.test_scenarios import NS, _create

GOLDEN = Path(__file__).with_name("golden") / "rollout-controller.yaml"
UPDATE = os.environ.get("ENDPOINTCTL_UPDATE_GOLDEN") == "1"
# As a dry run with `kube_registry` names it: the content tag it would be pushed under (an apply names the digest).
IMAGE = GatewayImage("registry.example.com/ml/rollout-controller:0123456789abcdef", "Always")
PROGRAM = "endpointctl.backends.kubernetes.controller.__main__"


def docs() -> list[dict[str, Any]]:
    return controller_manifests("my-endpoint", plans.NAMESPACE, IMAGE)


def test_the_controllers_objects_are_valid_and_golden() -> None:
    for doc in docs():
        kubernetes_validate.validate(doc, "1.37", strict=True)
        assert plans.is_ours(doc)
        assert doc["metadata"]["labels"][naming.COMPONENT] == naming.CONTROLLER
    assert [d["kind"] for d in docs()] == [
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "NetworkPolicy",
        "Deployment",
    ]
    text = plans.golden_text(docs())
    if UPDATE:
        GOLDEN.write_text(text, encoding="utf-8")
    assert GOLDEN.read_text(encoding="utf-8") == text, (
        "regenerate with ENDPOINTCTL_UPDATE_GOLDEN=1 if intended"
    )


def test_the_role_grants_two_configmaps_by_name_pod_listing_and_events_only() -> None:
    role = next(d for d in docs() if d["kind"] == "Role")
    rules = {(tuple(r["resources"]), tuple(r["verbs"])): r.get("resourceNames") for r in role["rules"]}
    assert rules == {
        (("configmaps",), ("get", "update")): ["my-endpoint-gw-routing", "my-endpoint-gw-rollout"],
        (("pods",), ("list",)): None,
        (("events",), ("create",)): None,
    }
    deployment = next(d for d in docs() if d["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert (
        pod["automountServiceAccountToken"] is True and pod["serviceAccountName"] == "my-endpoint-gw-rollout"
    )
    assert deployment["spec"]["replicas"] == 1 and deployment["spec"]["strategy"] == {"type": "Recreate"}
    (container,) = pod["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert "secrets" not in json.dumps(role)  # the admin token is mounted, never read through the API
    account = next(d for d in docs() if d["kind"] == "ServiceAccount")
    assert account["automountServiceAccountToken"] is False  # only the controller's pod asks for it
    policy = next(d for d in docs() if d["kind"] == "NetworkPolicy")
    assert policy["spec"]["ingress"] == [] and policy["spec"]["policyTypes"] == ["Ingress"]


def test_the_controller_image_carries_its_import_closure_and_its_requirements_cover_it(
    tmp_path: Path,
) -> None:
    files = closure(PROGRAM)
    assert "core/progressive/machine.py" in files and "backends/kubernetes/split.py" in files
    # Nothing of the TUI, the CLI or the other backends.
    assert not [f for f in files if f.startswith(("tui/", "cli/", "backends/process/", "backends/azure/"))]
    copy_host(tmp_path / "endpointctl", host=CONTROLLER_HOST)
    copied = {p.relative_to(tmp_path / "endpointctl").as_posix() for p in tmp_path.rglob("*.py")}
    assert set(files) <= copied
    wanted = {"pydantic", "yaml", "httpx", "kubernetes", "docker", "httptools"}
    named = {r.split(">")[0].split("=")[0].replace("pyyaml", "yaml") for r in CONTROLLER_REQUIREMENTS}
    assert named == wanted
    stdlib = __import__("sys").stdlib_module_names
    assert {m for m in third_party(PROGRAM) if m not in stdlib} <= wanted | {"pydantic_core"}


def test_the_split_is_rendered_exactly_as_the_backend_renders_it() -> None:
    endpoint = load_endpoint(plans.K8S / "kubernetes-endpoint.yml")
    deployments = {
        "blue": load_deployment(plans.K8S / "kubernetes-blue-deployment.yml"),
        "green": load_deployment(plans.K8S / "kubernetes-green-deployment.yml"),
    }

    def rendered(traffic: dict[str, int], mirror: dict[str, int]) -> dict[str, Any]:
        spec = endpoint.model_copy(update={"traffic": traffic, "mirror_traffic": mirror})
        routing = manifests.routing_config(spec, deployments, plans.NAMESPACE)
        return manifests.routing_config_map(spec, routing, plans.NAMESPACE)

    before = rendered({"blue": 100, "green": 0}, {})
    after = with_split(before, TrafficSplit({"blue": 70, "green": 30}, {}))
    assert after == rendered({"blue": 70, "green": 30}, {})
    mirrored = with_split(before, TrafficSplit({"blue": 100, "green": 0}, {"green": 10}), 0.01)
    entry = json.loads(mirrored["data"][naming.ROUTING_KEY])["endpoints"]["my-endpoint"]
    assert entry["mirror_traffic"] == {"green": 10} and entry["shadow_tolerance"] == 0.01
    assert with_split(mirrored, TrafficSplit({"blue": 100, "green": 0}, {})) == before


async def test_the_state_is_compare_and_swap_and_rbac_refuses_what_the_role_does_not_grant(
    apiserver: ApiServer, kubeconfig: Path
) -> None:
    client = KubeClient(Target(None, plans.NAMESPACE))
    plan = make_plan(
        "my-endpoint",
        deployments={"blue": "Succeeded", "green": "Succeeded"},
        current=TrafficSplit({"blue": 100, "green": 0}, {}),
        candidate="green",
        gates=Gates(),
    )
    state = machine.start(plan, 1000.0, {}).state
    first = await rollout_state.save(client, "my-endpoint", StoredRollout(state, None, "", None))
    loaded = await rollout_state.load(client, "my-endpoint")
    assert loaded.state == state and loaded.resource_version == first.resource_version
    paused = machine.steer(state, "pause", 1001.0).state
    await rollout_state.save(client, "my-endpoint", StoredRollout(paused, None, "", loaded.resource_version))
    with pytest.raises(Conflict):  # a writer that read before the pause loses
        await rollout_state.save(
            client, "my-endpoint", StoredRollout(state, None, "", loaded.resource_version)
        )
    assert (await rollout_state.load(client, "my-endpoint")).state == paused
    await client.aclose()

    # RBAC for a ServiceAccount's token: what the Role names, and nothing else.
    for doc in docs():
        if doc["kind"] in ("Role", "RoleBinding"):
            apiserver.cluster.create(doc["kind"], plans.NAMESPACE, doc)
    apiserver.cluster.service_account_tokens["sa-token"] = (plans.NAMESPACE, "my-endpoint-gw-rollout")
    allows = apiserver.cluster.allows
    account = (plans.NAMESPACE, "my-endpoint-gw-rollout")
    assert allows(account, plans.NAMESPACE, "", "configmaps", "update", "my-endpoint-gw-rollout")
    assert allows(account, plans.NAMESPACE, "", "configmaps", "get", "my-endpoint-gw-routing")
    assert not allows(account, plans.NAMESPACE, "", "configmaps", "update", "other-gw-routing")
    assert not allows(account, plans.NAMESPACE, "", "configmaps", "list", "")
    assert not allows(account, plans.NAMESPACE, "", "configmaps", "create", "")
    assert not allows(account, plans.NAMESPACE, "", "secrets", "get", "my-endpoint-gw-keys")
    assert not allows(account, "other-namespace", "", "pods", "list", "")
    assert allows(account, plans.NAMESPACE, "", "pods", "list", "")
    assert allows(account, plans.NAMESPACE, "", "events", "create", "")
    assert not allows(account, plans.NAMESPACE, "apps", "deployments", "update", "my-endpoint-blue")


async def test_start_says_at_once_why_the_controller_cannot_run_and_abort_still_works(
    backend: KubernetesBackend, apiserver: ApiServer
) -> None:
    svc = await _create(backend)
    green = load_deployment(plans.K8S / "kubernetes-green-deployment.yml")
    await svc.apply_deployment(green, backend="kubernetes", timeout_s=60)
    await svc.set_traffic("my-endpoint", traffic={"blue": 100, "green": 0}, backend="kubernetes")
    apiserver.cluster.unpullable.add("endpointctl/rollout-controller:")
    started = time.monotonic()
    with pytest.raises(OperationFailed, match=r"cannot run: pod .*: controller: ImagePullBackOff") as failed:
        await svc.start_progressive("my-endpoint", to="green", backend="kubernetes")
    assert time.monotonic() - started < 60, "it waited instead of saying why"
    assert "rollout abort -e my-endpoint" in str(failed.value)
    # Recorded, not routed: the split is still the original one.
    state = await svc.progressive_status("my-endpoint", backend="kubernetes")
    assert not state.phase.terminal
    routing = apiserver.cluster.get("ConfigMap", NS, naming.routing_name("my-endpoint"))
    assert json.loads(routing["data"][naming.ROUTING_KEY])["endpoints"]["my-endpoint"]["traffic"] == {
        "blue": 100,
        "green": 0,
    }
    backend.progressive.steer_confirm_s = 0.5
    aborted = await svc.steer_progressive("my-endpoint", "abort", backend="kubernetes")
    assert aborted.phase is Phase.ABORTED
