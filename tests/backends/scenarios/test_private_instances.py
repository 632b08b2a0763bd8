"""Only the gateway reaches an instance: instances listen on 0600 Unix sockets, never on a TCP port.

Checked the way an attacker on the same machine would try: as another user (`nobody`, through setpriv),
no instance socket can be opened and the endpoint answers only with its key; the instances themselves hold
no listening TCP socket (read from /proc), and a container publishes no port.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess

import pytest

from endpointctl.core.service import EndpointService
from endpointctl.core.spec import load_deployment, load_endpoint
from tests.backends.scenarios.conftest import ENDPOINT, LocalTarget
from tests.conftest import SAMPLES
from tests.listeners import descendants, tcp_listeners

SAMPLE = SAMPLES / "managed" / "sample"
AS_NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", "-c"]

# Run as nobody: try every socket, then the scoring URI without and with the key; print what happened.
PROBE = """
import json, socket, sys, urllib.request, urllib.error
sockets, uri, key, body = json.loads(sys.argv[1])
seen = {}
for path in sockets:
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(path)
        seen[path] = "connected"
    except OSError as exc:
        seen[path] = type(exc).__name__
    finally:
        s.close()
def call(headers):
    request = urllib.request.Request(uri, data=body.encode(), headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status
    except urllib.error.HTTPError as exc:
        return exc.code
print(json.dumps({"sockets": seen, "no_key": call({}), "key": call({"Authorization": "Bearer " + key})}))
"""


def _as_nobody(sockets: list[str], uri: str, key: str) -> dict[str, object]:
    body = (SAMPLE / "sample-request.json").read_text()
    argv = [*AS_NOBODY, PROBE, json.dumps([sockets, uri, key, body])]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=True)
    result: dict[str, object] = json.loads(done.stdout)
    return result


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root and setpriv")
async def test_only_the_gateway_with_a_key_reaches_an_instance(
    service: EndpointService, target: LocalTarget
) -> None:
    await service.create_endpoint(load_endpoint(SAMPLE / "endpoint.yml"))
    await service.apply_deployment(
        load_deployment(SAMPLE / "blue-deployment.yml", ("instance_count=2",)), all_traffic=True
    )
    uri = (await service.get_endpoint(ENDPOINT)).scoring_uri
    key = (await service.get_credentials(ENDPOINT)).primary_key
    assert uri and key
    instances = (await service.get_deployment(ENDPOINT, "blue")).instances
    addresses = [str(i.address) for i in instances]
    assert len(addresses) == 2 and all(a.startswith("unix:") for a in addresses), addresses
    sockets = [a.removeprefix("unix:") for a in addresses]
    for path in sockets:
        info = os.lstat(path)
        assert stat.S_ISSOCK(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o600, path
        assert info.st_uid == os.getuid(), f"{path} must belong to the user whose gateway connects"

    for instance in instances:
        runtime = target.record(instance.id)["runtime"]
        if target.engine is None:
            assert tcp_listeners(descendants(int(runtime["pid"]))) == [], "an instance listens on TCP"
        else:
            container = target.engine.containers.get(runtime["container"])
            assert not container.attrs["HostConfig"].get("PortBindings"), "a container publishes a port"

    seen = _as_nobody(sockets, uri, key)
    assert seen["sockets"] == dict.fromkeys(sockets, "PermissionError")
    assert (seen["no_key"], seen["key"]) == (401, 200)

    # A regenerated key shuts the old one out everywhere, since nothing else leads to the model.
    await service.regenerate_keys(ENDPOINT, "primary")
    seen = _as_nobody(sockets, uri, key)
    assert (seen["no_key"], seen["key"]) == (401, 401)
