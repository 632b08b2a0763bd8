"""End to end against the API double: the official client, real HTTP, the simulated controllers."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

import pytest

from endpointctl.backends.kubernetes import naming
from endpointctl.backends.kubernetes.backend import KubernetesBackend
from endpointctl.core.errors import InvalidInput, OperationFailed
from endpointctl.core.operations import Staged
from endpointctl.core.service import EndpointService
from endpointctl.core.spec import load_deployment, load_endpoint
from endpointctl.core.traffic import TrafficSplit
from endpointctl.core.views import Container, ProvisioningState
from tests.backends.kubernetes.apiserver import CRASH_VARIABLE, ApiServer
from tests.backends.kubernetes.conftest import KUBE_DEFAULTS
from tests.conftest import SAMPLES

K8S = SAMPLES / "kubernetes"
NS = "team-a"


def service(backend: KubernetesBackend) -> EndpointService:
    return EndpointService(backend._ctx, {"kubernetes": lambda _ctx: backend})


def routing(apiserver: ApiServer) -> dict[str, object]:
    cm = apiserver.cluster.get("ConfigMap", NS, "my-endpoint-gw-routing")
    doc: dict[str, object] = json.loads(cm["data"]["routing.json"])["endpoints"]["my-endpoint"]
    return doc


async def _create(backend: KubernetesBackend) -> EndpointService:
    svc = service(backend)
    await svc.create_endpoint(load_endpoint(K8S / "kubernetes-endpoint.yml"), backend="kubernetes")
    await svc.apply_deployment(
        load_deployment(K8S / "kubernetes-blue-deployment.yml"),
        backend="kubernetes",
        timeout_s=20,
    )
    return svc


async def test_create_from_samples_runs_pods_and_routes_through_the_configmap(
    backend: KubernetesBackend, apiserver: ApiServer
) -> None:
    svc = await _create(backend)
    view = await svc.get_deployment("my-endpoint", "blue", backend="kubernetes")
    assert view.provisioning_state is ProvisioningState.SUCCEEDED
    assert [i.state.value for i in view.instances] == ["Ready"]
    assert view.spec.resources is not None and view.spec.resources.limits is not None
    dep = apiserver.cluster.get("Deployment", NS, "my-endpoint-blue")
    template = dep["spec"]["template"]["spec"]
    assert [c["name"] for c in template["initContainers"]] == ["storage-initializer"]
    assert [c["name"] for c in template["containers"]] == ["inference-server"]
    assert dep["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": "20%", "maxUnavailable": 0}
    assert routing(apiserver)["traffic"] == {"blue": 0}
    ep = await svc.get_endpoint("my-endpoint", backend="kubernetes")
    assert ep.context == f"double/{NS}"
    apiserver.wait_for(lambda c: bool(c.get("Service", NS, "my-endpoint-gw").get("status")))
    ep = await svc.get_endpoint("my-endpoint", backend="kubernetes")
    assert ep.scoring_uri == "http://203.0.113.10:80/score"
    creds = await svc.get_credentials("my-endpoint", backend="kubernetes")
    secret = json.loads(
        base64.b64decode(apiserver.cluster.get("Secret", NS, "my-endpoint-gw-keys")["data"]["keys.json"])
    )
    assert secret["endpoints"]["my-endpoint"]["keys"] == [creds.primary_key, creds.secondary_key]


async def test_update_rolls_out_a_new_revision_and_traffic_lands_in_the_configmap(
    backend: KubernetesBackend, apiserver: ApiServer
) -> None:
    svc = await _create(backend)
    spec = load_deployment(K8S / "kubernetes-blue-deployment.yml")
    updated = spec.model_copy(update={"instance_count": 3, "environment_variables": {"GEN": "2"}})
    operation = await backend.apply_deployment(updated)
    assert isinstance(operation, Staged)
    await operation.recorded()  # the images are built and the objects written
    # The double's controller may already have finished; either way the new revision is what was accepted.
    accepted = (await operation.poll()).deployment
    assert accepted is not None and accepted.revision == 2
    assert accepted.provisioning_state in (ProvisioningState.UPDATING, ProvisioningState.SUCCEEDED)
    view = await svc.wait_for_deployment("my-endpoint", "blue", backend="kubernetes", timeout_s=30)
    assert view.revision == 2 and view.ready_instances == 3
    assert view.rollout is not None and view.rollout.phase == "complete" and view.rollout.updated == 3
    await svc.set_traffic("my-endpoint", traffic={"blue": 100}, backend="kubernetes")
    assert routing(apiserver)["traffic"] == {"blue": 100}
    with pytest.raises(InvalidInput):
        await svc.set_traffic("my-endpoint", traffic={"blue": 90}, backend="kubernetes")
    assert routing(apiserver)["traffic"] == {"blue": 100}


async def test_crash_loop_fails_the_rollout_and_rolls_back(
    backend: KubernetesBackend, apiserver: ApiServer
) -> None:
    svc = await _create(backend)
    spec = load_deployment(K8S / "kubernetes-blue-deployment.yml")
    broken = {**spec.environment_variables, CRASH_VARIABLE: "broken-1"}
    apiserver.cluster.crash_markers.add("broken-1")
    with pytest.raises(OperationFailed, match=r"CrashLoopBackOff.*rolled back to revision 1"):
        await svc.apply_deployment(
            spec.model_copy(update={"environment_variables": broken}), backend="kubernetes", timeout_s=20
        )

    def crashing(container: dict[str, Any]) -> bool:
        return any(e.get("value") == "broken-1" for e in container.get("env") or [])

    dep = apiserver.cluster.get("Deployment", NS, "my-endpoint-blue")
    assert not any(crashing(c) for c in dep["spec"]["template"]["spec"]["containers"])
    apiserver.wait_for(
        lambda c: (
            not any(
                crashing(p["spec"]["containers"][0])
                for p in c.select("Pod", NS, "endpointctl.io/deployment=blue")
            )
        )
    )
    view = await svc.get_deployment("my-endpoint", "blue", backend="kubernetes")
    assert view.provisioning_state is ProvisioningState.FAILED  # kept until the next apply
    assert CRASH_VARIABLE not in view.spec.environment_variables
    rolled_back = [e for e in await svc.events("my-endpoint", backend="kubernetes") if e.kind == "RolledBack"]
    assert len(rolled_back) == 1 and rolled_back[0].deployment == "blue"
    assert "rolled back to revision 1" in rolled_back[0].message


async def test_reading_a_failed_rollout_changes_nothing_and_says_how_to_roll_back(
    backend: KubernetesBackend, apiserver: ApiServer
) -> None:
    svc = await _create(backend)
    spec = load_deployment(K8S / "kubernetes-blue-deployment.yml")
    broken = {**spec.environment_variables, CRASH_VARIABLE: "broken-2"}
    apiserver.cluster.crash_markers.add("broken-2")
    # --no-wait: nobody follows this rollout.
    await svc.apply_deployment(
        spec.model_copy(update={"environment_variables": broken}), backend="kubernetes", wait=False
    )
    for _ in range(200):
        view = await svc.get_deployment("my-endpoint", "blue", backend="kubernetes")
        if view.provisioning_state is ProvisioningState.FAILED:
            break
        await asyncio.sleep(0.05)
    assert view.provisioning_state is ProvisioningState.FAILED
    assert "not rolled back yet" in view.reason and "without --no-wait" in view.reason
    writes = len([r for r in apiserver.cluster.requests if r[0] in ("PUT", "POST", "PATCH", "DELETE")])
    for _ in range(3):
        await svc.get_deployment("my-endpoint", "blue", backend="kubernetes")
        await svc.list_deployments("my-endpoint", backend="kubernetes")
    after = len([r for r in apiserver.cluster.requests if r[0] in ("PUT", "POST", "PATCH", "DELETE")])
    assert after == writes, "a read wrote to the cluster"
    dep = apiserver.cluster.get("Deployment", NS, "my-endpoint-blue")
    (server,) = dep["spec"]["template"]["spec"]["containers"]
    assert {"name": CRASH_VARIABLE, "value": "broken-2"} in server["env"]  # the failed template stays
    # Following it (what `update` without --no-wait does) is the reconcile step that rolls back.
    with pytest.raises(OperationFailed, match="rolled back to revision 1"):
        await svc.wait_for_deployment("my-endpoint", "blue", backend="kubernetes", timeout_s=20)


async def test_logs_of_both_containers_and_following(
    backend: KubernetesBackend, apiserver: ApiServer
) -> None:
    svc = await _create(backend)
    server = await svc.get_logs("my-endpoint", "blue", backend="kubernetes")
    assert any("Listening on" in line.text for line in server)
    init = await svc.get_logs(
        "my-endpoint", "blue", container=Container.STORAGE_INITIALIZER, backend="kubernetes"
    )
    assert any("storage-initializer unpacked" in line.text for line in init)
    assert all(line.container is Container.STORAGE_INITIALIZER for line in init)
    pod = server[0].instance
    stream = svc.follow_logs("my-endpoint", "blue", backend="kubernetes")
    following = asyncio.ensure_future(anext(stream))
    # A running pod is followed from where its log ends: the tail was shown already (get-logs, the TUI).
    for _ in range(100):
        if any(
            "/log?" in p and "follow=true" in p and "tailLines=0" in p for _, p in apiserver.cluster.requests
        ):
            break
        await asyncio.sleep(0.05)
    written: list[str] = []
    for n in range(50):
        line = f"POST /score 200 0.8ms {n}"
        with apiserver.cluster.lock:
            apiserver.cluster.logs[(pod, "inference-server")].append(line)
            apiserver.cluster.changed.notify_all()
        written.append(line)
        await asyncio.wait({following}, timeout=0.2)
        if following.done():
            break
    first = following.result()
    assert first.text in written and first.instance == pod, f"replayed an old line: {first.text!r}"
    await stream.aclose()  # type: ignore[attr-defined]


async def test_a_concurrent_write_is_retried_with_the_new_resource_version(
    backend: KubernetesBackend, apiserver: ApiServer
) -> None:
    svc = await _create(backend)
    apiserver.cluster.conflict_next_put.add("my-endpoint-gw-routing")
    await backend.set_traffic("my-endpoint", TrafficSplit({"blue": 100}, {}))
    assert routing(apiserver)["traffic"] == {"blue": 100}
    puts = [p for m, p in apiserver.cluster.requests if m == "PUT" and p.endswith("my-endpoint-gw-routing")]
    assert len(puts) >= 2  # the first PUT met a 409 Conflict
    assert (await svc.get_endpoint("my-endpoint", backend="kubernetes")).traffic == {"blue": 100}


async def test_status_without_kubeconfig_and_with_an_unreachable_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from endpointctl.core.context import BackendContext
    from endpointctl.core.home import Home
    from tests.backends.kubernetes.conftest import write_kubeconfig

    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    ctx = BackendContext.open(Home(tmp_path / "home"))
    status = await KubernetesBackend(ctx).status()
    assert (
        not status.available
        and "no kubeconfig (KUBECONFIG unset, ~/.kube/config missing)"
        in status.reason.replace(str(tmp_path), "~")
    )
    # 192.0.2.1 (TEST-NET-1) never answers: status must give up within about 2 s.
    monkeypatch.setenv("KUBECONFIG", str(write_kubeconfig(tmp_path / "kc", "http://192.0.2.1:6443")))
    loop = asyncio.get_running_loop()
    started = loop.time()
    status = await KubernetesBackend(ctx).status()
    assert not status.available and loop.time() - started < 3.5
    ctx.store.close()


async def test_disruption_budgets_policies_and_the_admin_token_live_and_die_with_their_owners(
    backend: KubernetesBackend, apiserver: ApiServer
) -> None:
    svc = await _create(backend)
    cluster = apiserver.cluster

    def ours() -> set[tuple[str, str]]:
        with cluster.lock:
            return {
                (kind, name)
                for (kind, ns, name), obj in cluster.objects.items()
                if ns == NS and (obj["metadata"].get("labels") or {}).get(naming.MANAGED_BY) == naming.MANAGER
            }

    assert {
        ("PodDisruptionBudget", "my-endpoint-gw"),
        ("PodDisruptionBudget", "my-endpoint-blue"),
        ("NetworkPolicy", "my-endpoint-gw"),
        ("NetworkPolicy", "my-endpoint-inference"),
        ("Secret", "my-endpoint-gw-admin-token"),
    } <= ours()
    token = cluster.get("Secret", NS, "my-endpoint-gw-admin-token")["data"]["token"]
    assert base64.b64decode(token).decode() == "ab" * 32
    # The token is made once: an update keeps it (as it keeps the keys).
    backend.new_secret = lambda: "cd" * 32
    await svc.update_endpoint(load_endpoint(K8S / "kubernetes-endpoint.yml"), backend="kubernetes")
    assert cluster.get("Secret", NS, "my-endpoint-gw-admin-token")["data"]["token"] == token

    await svc.delete_deployment("my-endpoint", "blue", backend="kubernetes")
    apiserver.wait_for(lambda c: ("PodDisruptionBudget", "my-endpoint-blue") not in ours())
    assert ("NetworkPolicy", "my-endpoint-inference") in ours()  # the endpoint's, not the deployment's
    await svc.delete_endpoint("my-endpoint", backend="kubernetes")
    apiserver.wait_for(lambda c: not ours())


async def test_status_says_when_no_engine_can_build_the_images(
    backend: KubernetesBackend, kubeconfig: Path, tmp_path: Path
) -> None:
    """Reads need only the cluster; an apply builds images, so a missing engine is said up front."""
    from dataclasses import replace

    from endpointctl.core.context import BackendContext
    from endpointctl.core.home import Home

    status = await backend.status()
    assert status.available and "Docker engine" not in status.context
    ctx = BackendContext.open(Home(tmp_path / "other-home"))
    engineless = KubernetesBackend(
        replace(ctx, defaults={**KUBE_DEFAULTS, "docker_host": f"unix://{tmp_path}/no-engine.sock"})
    )
    status = await engineless.status()
    assert status.available  # the cluster answers: endpoints can be read and watched
    assert "no Docker engine to build images" in status.context and "applies will fail" in status.context
    await engineless.close()
    ctx.store.close()
