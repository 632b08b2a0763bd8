"""The pod harness itself (podrun.py): a hardened pod runs and serves as Kubernetes would run it, a failing init
container fails the pod with its output, a field the harness cannot emulate is refused, nothing is left behind.
"""

from __future__ import annotations

import base64
import copy
import os
import secrets
from pathlib import Path
from typing import Any

import httpx
import pytest
from docker import DockerClient

from endpointctl.backends.kubernetes import hardening
from tests.backends.engine import BASE_IMAGE
from tests.backends.kubernetes.podrun import LABEL, Pod, PodFailed, PodSpecError, network

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="fsGroup ownership needs root (CI runs as root)")

ALIAS = "web.podrun.svc.cluster.local"
TOKEN = b"s3cret-token\n"
GREETING = "hello from the configMap"
# `$(SERVE_PORT)` is expanded by Kubernetes (the harness), not by the shell: unexpanded, the shell would run a
# command named SERVE_PORT and the server would not start.
SERVE = "exec python3 -m http.server $(SERVE_PORT) --bind 0.0.0.0 --directory /srv/site >/tmp/server.log 2>&1"
STAGE = (
    "set -e; id -u > /site/uid;"
    " cat /etc/token/token > /site/token-copy;"
    ' printf "%s" "$(cat /etc/greeting/greeting.txt)" > /site/greeting.txt'
)


def _container(name: str, command: list[str], **fields: Any) -> dict[str, Any]:
    return {
        "name": name,
        "image": BASE_IMAGE,
        "imagePullPolicy": "Never",
        "command": command,
        "securityContext": hardening.CONTAINER_SECURITY,
        **fields,
    }


def _web_template(stage: str = STAGE) -> dict[str, Any]:
    """A hardened pod like the backend's: an initializer stages files into an emptyDir from a Secret and a
    ConfigMap; the app serves that emptyDir on a named port with a readinessProbe."""
    site = {"name": "site", "mountPath": "/site"}
    return {
        "metadata": {"labels": {"app": "web"}},
        "spec": {
            **hardening.pod_fields({"app": "web"}),
            "initContainers": [
                _container(
                    "stage",
                    ["/bin/sh", "-c", stage],
                    volumeMounts=[
                        site,
                        {"name": "token", "mountPath": "/etc/token", "readOnly": True},
                        {"name": "greeting", "mountPath": "/etc/greeting"},
                    ],
                ),
                # `command` without `args`: the image's CMD (/bin/bash) is not appended.
                _container("announce", ["echo", "staged"]),
            ],
            "containers": [
                _container(
                    "web",
                    ["/bin/sh", "-c"],
                    args=[SERVE],
                    env=[{"name": "SERVE_PORT", "value": "8080"}, *hardening.SCRATCH_ENV],
                    ports=[{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                    readinessProbe={
                        "httpGet": {"path": "/greeting.txt", "port": "http"},
                        "periodSeconds": 2,
                        "timeoutSeconds": 2,
                    },
                    resources={"limits": {"cpu": "500m", "memory": "128Mi"}},
                    volumeMounts=[
                        {"name": "site", "mountPath": "/srv/site", "readOnly": True},
                        {"name": "site", "mountPath": "/srv/uid", "subPath": "uid", "readOnly": True},
                        {"name": "token", "mountPath": "/etc/token"},
                        hardening.SCRATCH_MOUNT,
                    ],
                )
            ],
            "volumes": [
                {"name": "site", "emptyDir": {}},
                {
                    "name": "token",
                    "secret": {"secretName": "web-token", "defaultMode": hardening.SECRET_FILE_MODE},
                },
                {"name": "greeting", "configMap": {"name": "web-greeting"}},
                hardening.SCRATCH_VOLUME,
            ],
        },
    }


OBJECTS: dict[str, Any] = {
    "config_maps": {"web-greeting": {"data": {"greeting.txt": GREETING}}},
    "secrets": {"web-token": {"data": {"token": base64.b64encode(TOKEN).decode()}}},
}


def _client_template() -> dict[str, Any]:
    return {
        "metadata": {},
        "spec": {
            **hardening.pod_fields({"app": "client"}),
            "containers": [_container("client", ["sleep", "infinity"])],
        },
    }


def _status(text: str) -> dict[str, str]:
    return dict((k, v.strip()) for k, v in (line.split(":", 1) for line in text.splitlines() if ":" in line))


def _leftovers(engine: DockerClient, name: str) -> list[Any]:
    return list(engine.containers.list(all=True, filters={"label": f"{LABEL}={name}"}))


def test_a_hardened_pod_serves_its_staged_files_as_kubernetes_runs_it(
    engine: DockerClient, tmp_path: Path
) -> None:
    suffix = secrets.token_hex(4)
    web_name, client_name = f"podrun-web-{suffix}", f"podrun-client-{suffix}"
    with (
        network(engine, f"podrun-{suffix}") as net,
        Pod(
            engine, _web_template(), name=web_name, work_dir=tmp_path, network=net, aliases=[ALIAS], **OBJECTS
        ) as web,
        Pod(engine, _client_template(), name=client_name, work_dir=tmp_path, network=net) as client,
    ):
        web.start()
        web.wait_ready()
        assert web.logs("announce") == "staged\n"

        # The staged file, from the pod's address: the initializer read the ConfigMap and ran as the pod's user.
        base = f"http://{web.ip}:{web.port('http', 'web')}"
        assert httpx.get(f"{base}/greeting.txt", timeout=30).text == GREETING
        assert httpx.get(f"{base}/uid", timeout=30).text == f"{hardening.RUN_AS}\n"
        # It read the 0440 Secret through the fsGroup, as the kubelet owns it (root:fsGroup).
        assert httpx.get(f"{base}/token-copy", timeout=30).content == TOKEN
        assert web.exec("web", ["stat", "-c", "%a %u:%g", "/etc/token/token"]) == (0, "440 0:10001\n")
        # The emptyDir: root:fsGroup 2777; what a container writes there keeps the fsGroup (setgid).
        assert web.exec("web", ["stat", "-c", "%a %u:%g", "/srv/site"]) == (0, "2777 0:10001\n")
        assert web.exec("web", ["stat", "-c", "%g", "/srv/site/greeting.txt"]) == (0, "10001\n")
        assert web.exec("web", ["cat", "/srv/uid"]) == (0, "10001\n")  # subPath binds one file

        # The hardened context, in the running container and in its own main process.
        assert web.exec("web", ["id", "-u"]) == (0, "10001\n")
        assert web.exec("web", ["id", "-G"])[1].split() == ["10001"]
        code, out = web.exec("web", ["touch", "/written"])
        assert code != 0 and "Read-only file system" in out
        code, out = web.exec("web", ["touch", "/srv/site/written"])
        assert code != 0 and "Read-only file system" in out  # readOnly mount of a writable volume
        assert web.exec("web", ["touch", "/tmp/written"])[0] == 0  # the scratch emptyDir
        for status_file in ("/proc/self/status", "/proc/1/status"):
            code, out = web.exec("web", ["cat", status_file])
            fields = _status(out)
            assert code == 0 and int(fields["CapEff"], 16) == 0 and fields["NoNewPrivs"] == "1", out
            assert fields["Seccomp"] == "2", out  # Docker's default profile: filter mode
        # The memory limit, as the container's cgroup sees it (cgroup v2, else v1).
        limit = "cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes"
        assert web.exec("web", ["sh", "-c", limit]) == (0, f"{128 * 2**20}\n")

        # Another pod on the network reaches this one by its Service name.
        client.start()
        fetch = f"import urllib.request; print(urllib.request.urlopen('http://{ALIAS}:8080/greeting.txt').read().decode())"
        assert client.exec("client", ["python3", "-c", fetch]) == (0, f"{GREETING}\n")
    assert not _leftovers(engine, web_name) and not _leftovers(engine, client_name)
    assert not engine.networks.list(names=[f"podrun-{suffix}"])


def test_a_failing_init_container_fails_the_pod_with_its_output(engine: DockerClient, tmp_path: Path) -> None:
    name = f"podrun-{secrets.token_hex(4)}"
    template = _web_template(stage="echo staging failed; id -u > /site/uid; exit 3")
    with (
        network(engine, name) as net,
        Pod(engine, template, name=name, work_dir=tmp_path, network=net, **OBJECTS) as pod,
        pytest.raises(PodFailed) as failed,
    ):
        pod.start()
    assert "init container stage exited 3:\nstaging failed\n" in str(failed.value)
    # The later init container and the app never started.
    assert (tmp_path / name / "volumes" / "site" / "uid").read_text() == f"{hardening.RUN_AS}\n"
    assert not _leftovers(engine, name)


def test_an_app_container_that_exits_fails_the_wait_with_its_output(
    engine: DockerClient, tmp_path: Path
) -> None:
    name = f"podrun-{secrets.token_hex(4)}"
    template = _with(["spec", "containers", 0, "args"], ["echo serving failed; exit 4"])
    with (
        network(engine, name) as net,
        Pod(engine, template, name=name, work_dir=tmp_path, network=net, **OBJECTS) as pod,
    ):
        pod.start()
        with pytest.raises(PodFailed, match=r"container web is exited \(exit 4\):\nserving failed\n"):
            pod.wait_ready()
    assert not _leftovers(engine, name)


def _with(path: list[str | int], value: Any) -> dict[str, Any]:
    template = _web_template()
    target: Any = template
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = copy.deepcopy(value)
    return template


@pytest.mark.parametrize(
    ("template", "message"),
    [
        (_with(["spec", "hostNetwork"], True), r"pod x: hostNetwork not emulated"),
        (_with(["spec", "automountServiceAccountToken"], True), r"automountServiceAccountToken is not false"),
        (
            _with(["spec", "containers", 0, "env"], [{"name": "K", "valueFrom": {"secretKeyRef": {}}}]),
            r"container web: env K: valueFrom not emulated",
        ),
        (
            _with(["spec", "containers", 0, "readinessProbe"], {"exec": {"command": ["true"]}}),
            r"container web: readinessProbe: exec not emulated",
        ),
        (
            _with(["spec", "volumes", 0], {"name": "site", "emptyDir": {"medium": "Memory"}}),
            r"volume site: emptyDir.medium Memory",
        ),
        (
            _with(["spec", "containers", 0, "resources"], {"limits": {"nvidia.com/gpu": "1"}}),
            r"container web: resources.limits: nvidia.com/gpu not emulated",
        ),
        (
            _with(["spec", "securityContext"], {"runAsNonRoot": True}),
            r"runAsNonRoot without runAsUser",
        ),
        (
            _with(["spec", "containers", 0, "volumeMounts", 0, "subPath"], "../../etc"),
            r"subPath '../../etc' leaves the volume",
        ),
    ],
)
def test_a_field_the_harness_cannot_run_is_refused_before_anything_runs(
    engine: DockerClient, tmp_path: Path, template: dict[str, Any], message: str
) -> None:
    with pytest.raises(PodSpecError, match=message):
        Pod(engine, template, name="x", work_dir=tmp_path, network="none", **OBJECTS)
    assert not _leftovers(engine, "x") and not (tmp_path / "x").exists()
