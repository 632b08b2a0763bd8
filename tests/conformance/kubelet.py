"""What the API double's cluster would run, run on this machine, so a Kubernetes endpoint serves end to end.

The double simulates the controllers (ReplicaSets, Pods, readiness) but runs no container. Here, for each
inference Deployment the backend wrote, one scoring host runs the *current pod template*: the files of the
storage-initializer's image (the modelcar the backend built) are copied out of the Docker engine and staged by
the storage-initializer's own code with the template's plan, and the `inference-server` container's
environment is used as written. (tests/backends/kubernetes/test_pods_under_docker.py runs whole pod templates
under the engine, images and hardened context included.) The endpoint's gateway runs as its pod does
(tests/backends/kubernetes/local_gateway.py), from the routing ConfigMap and keys Secret, on the NodePort the
endpoint's Service was given.

Only what a cluster provides is substituted: the interpreter (this virtual environment, which has the
sample's scikit-learn, instead of the environment image's venv), the folder the model and code are staged in
(instead of /var/azureml-app), loopback ports, and where each deployment's Service sends
requests (its local scoring host). After a rollout that the backend rolled back, the template is the old one
again and so is what serves; a template whose score.py cannot start gets no address, so the gateway answers
503 for it, as a cluster with a crash-looping Service would.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
import tarfile
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker.errors
import httpx

from endpointctl.backends.kubernetes import naming
from endpointctl.backends.kubernetes.images import MODELCAR_ROOT
from endpointctl.backends.kubernetes.packaging import APP_ROOT
from endpointctl.backends.local.ports import free_port
from endpointctl.serving import storage
from tests.backends.engine import require_engine
from tests.backends.kubernetes.apiserver import ApiServer
from tests.backends.kubernetes.local_gateway import LocalGateway
from tests.serving.scoring.servers import Server, scoring_env

HOST_STARTUP_S = 60.0
RELOAD_S = 15.0
# Where a probe request is pinned: a deployment that never exists, so probes never count for a real one.
PROBE_DEPLOYMENT = "conformance-probe"


class ClusterGateway(LocalGateway):
    """The endpoint's gateway pod, with each deployment's Service pointed at its local scoring host."""

    def route(self, instances: Mapping[str, Sequence[str]]) -> None:
        self._instances = {name: list(addresses) for name, addresses in instances.items()}
        self.sync_config()
        self.sync_keys()

    def wait_reloaded(self, endpoint: str, primary_key: str) -> None:
        """Until the gateway runs the files just written (it re-reads them every 2 s, as from a volume)."""
        written = json.loads((self._folder / "routing.json").read_text())["endpoints"][endpoint]
        admin = f"http://127.0.0.1:{self.admin_port}/v1/config"
        deadline = time.monotonic() + RELOAD_S
        running: Any = None
        while time.monotonic() < deadline:
            # The admin API asks for the endpoint's admin token (from its Secret), as on the cluster.
            answer = httpx.get(admin, headers={"Authorization": f"Bearer {self.admin_token}"}, timeout=5)
            running = answer.raise_for_status().json()["endpoints"].get(endpoint)
            if (
                running is not None
                and _routes(running) == _routes(written)
                and self._key_accepted(primary_key)
            ):
                return
            time.sleep(0.1)
        raise AssertionError(
            f"the gateway did not load the routing it was given within {RELOAD_S} s: "
            f"running {running}, written {written}"
        )

    def _key_accepted(self, key: str) -> bool:
        response = httpx.post(
            f"http://127.0.0.1:{self.scoring_port}/score",
            content=b"{}",
            headers={"Authorization": f"Bearer {key}", "azureml-model-deployment": PROBE_DEPLOYMENT},
            timeout=10,
        )
        return response.status_code != 401


def _routes(entry: Mapping[str, Any]) -> tuple[object, ...]:
    deployments = entry.get("deployments") or {}
    return (
        dict(entry.get("traffic") or {}),
        dict(entry.get("mirror_traffic") or {}),
        {name: list(d.get("instances") or []) for name, d in deployments.items()},
    )


@dataclass
class Host:
    template: str  # digest of the pod template it runs
    server: Server | None  # None: the template's scoring host did not start (its init() raised)

    @property
    def addresses(self) -> list[str]:
        return [f"127.0.0.1:{self.server.port}"] if self.server is not None else []

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()


class Kubelet:
    """One scoring host per inference Deployment, running its current pod template."""

    def __init__(self, apiserver: ApiServer, namespace: str, folder: Path) -> None:
        self._apiserver, self._namespace, self._folder = apiserver, namespace, folder
        self.hosts: dict[str, Host] = {}
        self._runs = 0

    def sync(self, endpoint: str) -> dict[str, list[str]]:
        """Start what the templates say (stopping what they replaced); each deployment's addresses."""
        cluster = self._apiserver.cluster
        selector = naming.selector({naming.ENDPOINT: endpoint, naming.COMPONENT: naming.INFERENCE})
        wanted: dict[str, dict[str, Any]] = {}
        for deployment in cluster.select("Deployment", self._namespace, selector):
            wanted[deployment["metadata"]["labels"][naming.DEPLOYMENT]] = deployment["spec"]["template"]
        for name in set(self.hosts) - set(wanted):
            self.hosts.pop(name).stop()
        for name, template in wanted.items():
            digest = hashlib.sha256(json.dumps(template["spec"], sort_keys=True).encode()).hexdigest()
            current = self.hosts.get(name)
            if current is not None and current.template == digest:
                continue
            self.hosts[name] = Host(digest, self._start(name, template))
            if current is not None:
                current.stop()
        return {name: host.addresses for name, host in self.hosts.items()}

    def _start(self, deployment: str, template: Mapping[str, Any]) -> Server | None:
        self._runs += 1
        root = self._folder / f"{deployment}-{self._runs}"
        root.mkdir(parents=True)
        spec = template["spec"]
        app = root / "app"
        (initializer,) = spec["initContainers"]
        _copy_out(initializer["image"], MODELCAR_ROOT, root / "modelcar")
        plan = next(e["value"] for e in initializer["env"] if e["name"] == "ENDPOINTCTL_STAGE_PLAN")
        plan = plan.replace(MODELCAR_ROOT, str(root / "modelcar")).replace(APP_ROOT, str(app))
        storage.run(json.loads(plan))
        server_spec = next(c for c in spec["containers"] if c["name"] == "inference-server")
        env = {e["name"]: str(e["value"]).replace(APP_ROOT, str(app)) for e in server_spec.get("env") or []}
        # Secret volumes as the kubelet mounts them: each key a file, paths in the env pointed at them.
        volumes = {v["name"]: v for v in spec["volumes"]}
        for mount in server_spec.get("volumeMounts") or []:
            secret_ref = volumes[mount["name"]].get("secret")
            if secret_ref is None:
                continue
            secret = self._apiserver.cluster.get("Secret", self._namespace, secret_ref["secretName"])
            folder = root / "secrets" / mount["name"]
            folder.mkdir(parents=True)
            for key, value in secret["data"].items():
                (folder / key).write_bytes(base64.b64decode(value))
            env = {k: v.replace(mount["mountPath"], str(folder)) for k, v in env.items()}
        port = free_port()
        env["SERVER_PORT"] = str(port)
        model_dir = Path(env["AZUREML_MODEL_DIR"]) if "AZUREML_MODEL_DIR" in env else None
        server = Server(
            [sys.executable, "-m", "endpointctl.serving.scoring", "--host", "127.0.0.1"],
            scoring_env(Path(env["AML_APP_ROOT"]), model_dir, env),
            app,
            port,
            root / "inference-server.log",
        ).start()
        if server.wait_ready(HOST_STARTUP_S):
            return server
        server.stop()
        return None

    def stop(self) -> None:
        for host in self.hosts.values():
            host.stop()
        self.hosts.clear()


def _copy_out(image: str, folder: str, target: Path) -> None:
    """`folder` of `image` (from the engine the backend built it in) as `target`; nothing when the image has
    none (an environment image: every source remote)."""
    engine = require_engine()
    container = engine.containers.create(image, command=["true"])
    try:
        try:
            chunks, _ = container.get_archive(folder)
        except docker.errors.NotFound:
            return
        with tempfile.TemporaryFile() as raw:
            for chunk in chunks:
                raw.write(chunk)
            raw.seek(0)
            with tarfile.open(fileobj=raw) as tar:
                tar.extractall(target.parent / ".unpack", filter="data")
        (target.parent / ".unpack" / Path(folder).name).rename(target)
        (target.parent / ".unpack").rmdir()
    finally:
        container.remove(force=True)
        engine.close()
