"""Progressive rollouts on Kubernetes, driven by the controller the backend deploys, on real parts.

The backend applies the sample endpoint, blue and green to the API double. The gateway's two replicas and
both deployments' pods then run under the Docker engine as their templates say (podrun.py), on one network
where the Services' names resolve. `rollout start` builds the controller's image and applies its objects; the
controller then runs from that image, as its Deployment says, with the API access its Role grants and no more
(the double enforces RBAC for the controller's ServiceAccount token; the container reaches the double through
the host's network, where a pod would use its mounted token). Steady load goes through both gateway replicas.

Proven: the gates judge both replicas' counters summed; each step and the final split reach both replicas
through the controller's push (the pods' ConfigMap files never change here: podrun mounts them once, as a
kubelet that has not synced yet would); a failing candidate is rolled back by the error gate with the original
split back in both replicas; `rollout status` and steering work from the operator's side; and a controller
killed mid-step is replaced and carries on at the same step.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import secrets
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from docker import DockerClient
from docker.models.containers import Container

from endpointctl.backends.kubernetes import naming, rollout_state
from endpointctl.backends.kubernetes.backend import KubernetesBackend
from endpointctl.backends.kubernetes.controller.gateways import TOKEN_HEADER, routing_digest
from endpointctl.backends.kubernetes.manifests import GATEWAY_ADMIN_PORT, GATEWAY_PORT
from endpointctl.core.errors import Conflict
from endpointctl.core.progressive.gates import Gates
from endpointctl.core.progressive.machine import Phase, RolloutState
from endpointctl.core.service import EndpointService
from endpointctl.core.spec import load_deployment, load_endpoint
from tests.backends.kubernetes.apiserver import ApiServer
from tests.backends.kubernetes.podrun import LABEL, Pod, network
from tests.backends.kubernetes.test_pods_under_docker import _objects
from tests.backends.kubernetes.test_scenarios import K8S, NS, service
from tests.backends.process.load import Load
from tests.backends.scenarios.test_progressive import FLAKY_SCORE
from tests.conftest import SAMPLES

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.geteuid() != 0, reason="fsGroup ownership of volume files needs root (CI runs as root)"
    ),
]
ENDPOINT = "my-endpoint"
REQUEST = SAMPLES / "model-1" / "sample-request.json"
# Two load generators keep 16 requests in flight through two gateway replicas: the sample's one request at a
# time would leave most of them waiting past the queue limit (429 from the gateways, by design).
CAPACITY = (
    "request_settings.max_concurrent_requests_per_instance=16",
    "request_settings.max_queue_wait_ms=5000",
    "request_settings.request_timeout_ms=10000",
)
CONTROLLER_TOKEN = "controller-" + secrets.token_hex(8)


class Cluster:
    """The endpoint's pods under Docker, and the controller when its Deployment exists."""

    def __init__(self, apiserver: ApiServer, engine: DockerClient, work: Path) -> None:
        self.apiserver, self.engine, self.work = apiserver, engine, work
        self.suffix = secrets.token_hex(4)
        self.stack = ExitStack()
        self.gateways: list[Pod] = []
        self.controller: Container | None = None

    def run_pods(self) -> None:
        deployments = _objects(self.apiserver, "Deployment")
        shared: dict[str, Any] = {
            "work_dir": self.work / "pods",
            "config_maps": _objects(self.apiserver, "ConfigMap"),
            "secrets": _objects(self.apiserver, "Secret"),
        }
        net = self.stack.enter_context(network(self.engine, f"endpointctl-test-{self.suffix}"))
        for deployment in ("blue", "green"):
            template = deployments[naming.deployment_name(ENDPOINT, deployment)]["spec"]["template"]
            pod = self.stack.enter_context(
                Pod(
                    self.engine,
                    template,
                    name=f"{deployment}-{self.suffix}",
                    network=net,
                    aliases=[naming.service_host(ENDPOINT, deployment, NS)],
                    **shared,
                )
            )
            pod.start()
            pod.wait_ready()
        gateway_template = deployments[naming.gateway_name(ENDPOINT)]["spec"]["template"]
        pods = sorted(
            self.apiserver.cluster.select("Pod", NS, naming.gateway(ENDPOINT)),
            key=lambda p: p["metadata"]["name"],
        )
        assert len(pods) == 2, "the gateway runs two replicas by default"
        for i, listed in enumerate(pods):
            pod = self.stack.enter_context(
                Pod(self.engine, gateway_template, name=f"gw{i}-{self.suffix}", network=net, **shared)
            )
            pod.start()
            pod.wait_ready()
            self.gateways.append(pod)
            # What the kubelet reports: the pod's address (here the container's on the Docker network).
            with self.apiserver.cluster.lock:
                stored = self.apiserver.cluster.objects[("Pod", NS, listed["metadata"]["name"])]
                stored["status"]["podIP"] = pod.ip
        self.stack.callback(self._stop_controller)

    def start_controller(self) -> None:
        """The controller's container, from the image and command its Deployment names."""
        deployment = self.apiserver.cluster.get("Deployment", NS, naming.controller_name(ENDPOINT))
        spec = deployment["spec"]["template"]["spec"]
        (container,) = spec["containers"]
        assert spec["serviceAccountName"] == naming.controller_name(ENDPOINT)
        token = self.apiserver.cluster.get("Secret", NS, naming.admin_token_secret_name(ENDPOINT))
        secret_dir = self.work / f"controller-{secrets.token_hex(3)}"
        secret_dir.mkdir(parents=True)
        (secret_dir / "token").write_bytes(base64.b64decode(token["data"]["token"]))
        kubeconfig = secret_dir / "kubeconfig"
        kubeconfig.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "double", "cluster": {"server": self.apiserver.url}}],
                    "users": [{"name": "controller", "user": {"token": CONTROLLER_TOKEN}}],
                    "contexts": [{"name": "double", "context": {"cluster": "double", "user": "controller"}}],
                    "current-context": "double",
                }
            )
        )
        for path in secret_dir.iterdir():
            path.chmod(0o444)
        self.apiserver.cluster.service_account_tokens[CONTROLLER_TOKEN] = (NS, spec["serviceAccountName"])
        mount = next(m for m in container["volumeMounts"] if m["name"] == "admin-token")["mountPath"]
        self.controller = self.engine.containers.run(
            container["image"],
            command=[*container["command"], "--namespace", NS, "--tick-seconds", "0.5"],
            detach=True,
            network_mode="host",
            user="10001:10001",
            read_only=True,
            tmpfs={"/tmp": "mode=1777"},
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            environment={"KUBECONFIG": "/etc/controller/kubeconfig", "HOME": "/tmp", "TMPDIR": "/tmp"},
            volumes={
                str(secret_dir / "token"): {"bind": f"{mount}/token", "mode": "ro"},
                str(kubeconfig): {"bind": "/etc/controller/kubeconfig", "mode": "ro"},
            },
            labels={LABEL: f"controller-{self.suffix}"},
        )

    def kill_controller(self) -> str:
        assert self.controller is not None
        self.controller.kill()
        self.controller.wait(timeout=30)
        logs = str(self.controller.logs().decode())
        self.controller.remove(force=True)
        self.controller = None
        return logs

    def _stop_controller(self) -> None:
        if self.controller is not None:
            self.controller.remove(force=True)

    def check_controller(self) -> None:
        """Fails the test with the controller's output if its container has exited."""
        assert self.controller is not None
        self.controller.reload()
        assert self.controller.status == "running", f"the controller exited:\n{self.controller_logs()}"

    def controller_logs(self) -> str:
        return "" if self.controller is None else self.controller.logs().decode()

    def _admin(self, token: str, path: str) -> list[Any]:
        """`GET path` on each gateway replica's admin API, by pod address, as the controller asks."""
        out = []
        for gateway in self.gateways:
            answer = httpx.get(
                f"http://{gateway.ip}:{GATEWAY_ADMIN_PORT}{path}", headers={TOKEN_HEADER: token}, timeout=5
            )
            answer.raise_for_status()
            out.append(answer.json())
        return out

    def routing_digests(self, token: str) -> list[str]:
        return [status["routing"] for status in self._admin(token, "/v1/status")]

    def served(self, token: str, deployment: str) -> list[int]:
        """Each gateway replica's own count of requests routed to `deployment`."""
        return [
            int(m["endpoints"][ENDPOINT]["deployments"][deployment]["requests"])
            for m in self._admin(token, "/v1/metrics")
        ]

    def uris(self) -> list[str]:
        return [f"http://{g.ip}:{GATEWAY_PORT}/score" for g in self.gateways]


@contextmanager
def loads(running: Cluster, key: str, tmp_path: Path) -> Iterator[tuple[Load, Load]]:
    """Steady load through each gateway replica, in a phase named "rollout" from the start."""
    one, two = running.uris()
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with Load(one, key, REQUEST, tmp_path / "a") as a, Load(two, key, REQUEST, tmp_path / "b") as b:
        for load in (a, b):
            load.phase("rollout")
        yield a, b


@contextmanager
def cluster(apiserver: ApiServer, engine: DockerClient, work: Path) -> Iterator[Cluster]:
    running = Cluster(apiserver, engine, work)
    with running.stack:
        yield running
    assert not engine.containers.list(all=True, filters={"label": LABEL}), "containers were left behind"


async def _blue_and_green(backend: KubernetesBackend, *green_sets: str) -> tuple[EndpointService, str]:
    svc = service(backend)
    await svc.create_endpoint(load_endpoint(K8S / "kubernetes-endpoint.yml"), backend="kubernetes")
    blue = load_deployment(K8S / "kubernetes-blue-deployment.yml", CAPACITY)
    await svc.apply_deployment(blue, backend="kubernetes", timeout_s=60)
    await svc.set_traffic(ENDPOINT, traffic={"blue": 100}, backend="kubernetes")
    green = load_deployment(K8S / "kubernetes-green-deployment.yml", [*CAPACITY, *green_sets])
    await svc.apply_deployment(green, backend="kubernetes", timeout_s=60)
    key = (await svc.get_credentials(ENDPOINT, backend="kubernetes")).primary_key
    assert key is not None
    return svc, key


async def _start(svc: EndpointService, running: Cluster, **kwargs: Any) -> RolloutState:
    """`rollout start`, with the controller started once the backend has applied its Deployment."""
    started = asyncio.create_task(svc.start_progressive(ENDPOINT, backend="kubernetes", **kwargs))
    deadline = time.monotonic() + 120
    while not running.apiserver.cluster.objects.get(("Deployment", NS, naming.controller_name(ENDPOINT))):
        assert not started.done(), started.result()
        assert time.monotonic() < deadline, "the backend did not apply the controller"
        await asyncio.sleep(0.2)
    await asyncio.to_thread(running.start_controller)
    while not started.done():
        running.check_controller()
        await asyncio.sleep(0.5)
    return await started


async def _until_over(svc: EndpointService, running: Cluster, limit_s: float = 90.0) -> RolloutState:
    deadline = time.monotonic() + limit_s
    while True:
        state = await svc.progressive_status(ENDPOINT, backend="kubernetes")
        if state.phase.terminal:
            return state
        running.check_controller()
        assert time.monotonic() < deadline, (
            f"the rollout did not end: {state.describe(time.time())}\n{running.controller_logs()}"
        )
        await asyncio.sleep(0.5)


def _routing(apiserver: ApiServer) -> str:
    cm = apiserver.cluster.get("ConfigMap", NS, naming.routing_name(ENDPOINT))
    return str(cm["data"]["routing.json"])


def _admin_token(apiserver: ApiServer) -> str:
    secret = apiserver.cluster.get("Secret", NS, naming.admin_token_secret_name(ENDPOINT))
    return base64.b64decode(secret["data"]["token"]).decode()


async def test_the_controller_promotes_green_through_both_gateway_replicas_and_survives_a_restart(
    backend: KubernetesBackend, apiserver: ApiServer, engine: DockerClient, tmp_path: Path
) -> None:
    svc, key = await _blue_and_green(backend)
    with cluster(apiserver, engine, tmp_path) as running:
        await asyncio.to_thread(running.run_pods)
        with loads(running, key, tmp_path) as (a, b):
            started = await _start(
                svc, running, to="green", steps=(30, 100), step_seconds=6.0, mirror_first=20,
                gates=Gates(min_requests=20, p99_slack_ms=200.0),
            )  # fmt: skip
            # A mirror phase first: blue keeps all live traffic, green gets a copy of 20% of it.
            assert started.plan.baseline == "blue" and started.mirroring
            assert started.split.weights == {"blue": 100, "green": 0} and started.split.mirror == {
                "green": 20
            }
            # Both replicas run that routing: the push, since their mounted files never change.
            token = _admin_token(apiserver)
            first = _routing(apiserver)
            assert json.loads(first)["endpoints"][ENDPOINT]["mirror_traffic"] == {"green": 20}
            assert await asyncio.to_thread(running.routing_digests, token) == [routing_digest(first)] * 2
            # The controller dies mid-phase; its replacement carries on from the ConfigMap where it was.
            await asyncio.sleep(1.0)
            logs = await asyncio.to_thread(running.kill_controller)
            assert "routed to 2 gateway replicas" in logs, logs
            status = await svc.progressive_status(ENDPOINT, backend="kubernetes")
            assert status.phase is Phase.STEPPING and status.mirroring
            await asyncio.to_thread(running.start_controller)
            done = await _until_over(svc, running)
            for load in (a, b):
                load.phase("after")
            await asyncio.sleep(2.0)
            per_replica = await asyncio.to_thread(running.served, token, "green")
    assert done.phase is Phase.PROMOTED, done.reason
    for load in (a, b):
        assert load.failures("rollout") == [] and load.failures("after") == []
        assert set(load.served_by("after")) == {"green"}
        assert load.served_by("rollout")["green"] > 0
    # The gates judged both replicas' counters, summed: each replica's green requests are in the totals.
    stored = rollout_state.decode(apiserver.cluster.get("ConfigMap", NS, naming.controller_name(ENDPOINT)))
    assert stored.counters is not None and len(stored.counters.last) == 2
    # Green had no request before the rollout, so the totals are exactly the sum of the replicas' last readings.
    last = [readings["green"].requests for readings in stored.counters.last.values()]
    assert all(n > 0 for n in last) and stored.counters.totals["green"].requests == sum(last), last
    assert all(n >= m for n, m in zip(sorted(per_replica), sorted(last), strict=True))  # they went on after
    endpoint = await svc.get_endpoint(ENDPOINT, backend="kubernetes")
    assert dict(endpoint.traffic) == {"blue": 0, "green": 100}
    messages = [e.message for e in await svc.events(ENDPOINT, backend="kubernetes")]
    assert any("promoted green" in m for m in messages), messages
    # model-1 and model-2 answer differently: the mirror phase saw (nearly) every compared answer differ.
    mirror = next(m for m in messages if "mirror phase passed" in m)
    assert re.search(r"diff rate (9\d|100)\.\d%", mirror), mirror
    assert apiserver.cluster.forbidden == []


async def test_a_failing_candidate_is_rolled_back_in_both_replicas_and_rbac_holds_the_controller(
    backend: KubernetesBackend, apiserver: ApiServer, engine: DockerClient, tmp_path: Path
) -> None:
    flaky = tmp_path / "flaky-code"
    flaky.mkdir()
    (flaky / "score.py").write_text(FLAKY_SCORE)
    svc, key = await _blue_and_green(backend, f"code_configuration.code={flaky}")
    with cluster(apiserver, engine, tmp_path) as running:
        await asyncio.to_thread(running.run_pods)
        with loads(running, key, tmp_path) as (a, b):
            await _start(
                svc, running, to="green", steps=(20, 100), step_seconds=60.0, gates=Gates(min_requests=20)
            )
            done = await _until_over(svc, running, limit_s=60.0)
            # Rolled back means routed: both replicas run the original split when the state says so.
            token = _admin_token(apiserver)
            assert (
                await asyncio.to_thread(running.routing_digests, token)
                == [routing_digest(_routing(apiserver))] * 2
            )
            for load in (a, b):
                load.phase("after the rollback")
            await asyncio.sleep(2.0)
        # Steering a finished rollout is refused; so is setting traffic while one runs (checked in unit tests).
        logs = running.controller_logs()
    assert done.phase is Phase.ROLLED_BACK, done.reason
    assert done.step == 0 and "gate error rate" in done.reason
    assert '"blue": 100' in _routing(apiserver) and '"green": 0' in _routing(apiserver)
    for load in (a, b):
        assert set(load.served_by("after the rollback")) == {"blue"}
        assert load.failures("after the rollback") == []
    events = await svc.events(ENDPOINT, backend="kubernetes")
    assert any(e.kind == "RolledBack" and "rolled back green" in e.message for e in events), events
    # The controller used only what its Role grants: nothing was refused, and it wrote only its two ConfigMaps.
    assert apiserver.cluster.forbidden == [], apiserver.cluster.forbidden
    assert "Traceback" not in logs, logs
    # And the Role is what keeps it there: other objects are refused to its token.
    as_controller = {"Authorization": f"Bearer {CONTROLLER_TOKEN}"}
    async with httpx.AsyncClient(base_url=f"{apiserver.url}/api/v1/namespaces/{NS}") as api:
        probe = await api.get(f"/secrets/{naming.keys_secret_name(ENDPOINT)}", headers=as_controller)
        assert probe.status_code == 403
        other = await api.put(
            "/configmaps/someone-elses",
            headers=as_controller,
            json={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "someone-elses"}},
        )
        assert other.status_code == 403


async def test_steering_from_any_machine_and_an_abort_without_a_controller(
    backend: KubernetesBackend, apiserver: ApiServer, engine: DockerClient, tmp_path: Path
) -> None:
    svc, _ = await _blue_and_green(backend)
    with cluster(apiserver, engine, tmp_path) as running:
        await asyncio.to_thread(running.run_pods)
        await _start(
            svc, running, to="green", steps=(40, 100), step_seconds=600.0, gates=Gates(min_requests=20)
        )
        with pytest.raises(Conflict, match="steers the traffic"):
            await svc.set_traffic(ENDPOINT, traffic={"blue": 100, "green": 0}, backend="kubernetes")
        # Another machine (another backend object, the same kubeconfig) sees and steers the same rollout.
        elsewhere = KubernetesBackend(backend._ctx)
        other = service(elsewhere)
        paused = await other.steer_progressive(ENDPOINT, "pause", backend="kubernetes")
        await elsewhere.close()
        assert paused.phase is Phase.PAUSED
        assert (await svc.progressive_status(ENDPOINT, backend="kubernetes")).phase is Phase.PAUSED
        resumed = await svc.steer_progressive(ENDPOINT, "resume", backend="kubernetes")
        assert resumed.phase is Phase.STEPPING and resumed.step == 0
        # With the controller gone, an abort still restores the original split: written from here.
        await asyncio.to_thread(running.kill_controller)
        backend.progressive.steer_confirm_s = 1.0
        aborted = await svc.steer_progressive(ENDPOINT, "abort", backend="kubernetes")
        assert aborted.phase is Phase.ABORTED
        assert '"blue": 100' in _routing(apiserver) and '"green": 0' in _routing(apiserver)
        with pytest.raises(Conflict, match="is over"):
            await svc.steer_progressive(ENDPOINT, "resume", backend="kubernetes")
        await svc.set_traffic(ENDPOINT, traffic={"blue": 90, "green": 10}, backend="kubernetes")
