"""An endpoint's gateway pod, run on this machine from what the backend wrote to the API double.

The real gateway runs as its pod runs it: `--config-file` / `--keys-file` / `--admin-token-file` hold the
routing ConfigMap's, the keys Secret's and the admin-token Secret's documents, as their volume mounts would. What only a cluster provides is substituted, and only
that: the port it listens on (the node's), and, when given, where each deployment's Service sends requests
(its pods' addresses, here local scoring hosts).
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx

from endpointctl.backends.kubernetes import naming
from endpointctl.backends.local.ports import free_port
from tests.backends.kubernetes.apiserver import ApiServer

STARTUP_S = 20.0


class LocalGateway:
    def __init__(
        self,
        apiserver: ApiServer,
        folder: Path,
        endpoint: str,
        namespace: str,
        *,
        scoring_port: int | None = None,
        instances: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self._apiserver, self._folder = apiserver, folder
        self.endpoint, self.namespace = endpoint, namespace
        self.scoring_port, self.admin_port = scoring_port or free_port(), free_port()
        self._instances = dict(instances or {})
        self.sync_config()
        self.sync_keys()
        token = apiserver.cluster.get("Secret", namespace, naming.admin_token_secret_name(endpoint))
        self.admin_token = base64.b64decode(token["data"]["token"]).decode()
        (folder / "admin-token").write_text(self.admin_token)
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-m", "endpointctl.serving.gateway", "--admin-port", str(self.admin_port)),
                *("--config-file", str(folder / "routing.json"), "--keys-file", str(folder / "keys.json")),
                *("--admin-token-file", str(folder / "admin-token")),
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + STARTUP_S
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{self.admin_port}/healthz", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise
                time.sleep(0.1)

    def sync_config(self) -> None:
        """The routing ConfigMap's current document, as the kubelet refreshes a mounted ConfigMap."""
        cluster = self._apiserver.cluster
        routing = json.loads(
            cluster.get("ConfigMap", self.namespace, naming.routing_name(self.endpoint))["data"][
                "routing.json"
            ]
        )
        entry = routing["endpoints"][self.endpoint]
        entry.update(host="127.0.0.1", port=self.scoring_port)
        for deployment, addresses in self._instances.items():
            entry["deployments"][deployment]["instances"] = list(addresses)
        (self._folder / "routing.json").write_text(json.dumps(routing))

    def sync_keys(self) -> None:
        """The keys Secret's current document, as the kubelet refreshes a mounted Secret."""
        secret = self._apiserver.cluster.get("Secret", self.namespace, naming.keys_secret_name(self.endpoint))
        keys = json.loads(base64.b64decode(secret["data"]["keys.json"]))
        (self._folder / "keys.json").write_text(json.dumps(keys))
        self.key = keys["endpoints"][self.endpoint]["keys"][0]

    def score(self, deployment: str) -> int:
        response = httpx.post(
            f"http://127.0.0.1:{self.scoring_port}/score",
            json={"data": [[1, 2, 3]]},
            headers={"Authorization": f"Bearer {self.key}", "azureml-model-deployment": deployment},
            timeout=30,
        )
        return response.status_code

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
