"""The pod harness itself: it refuses what it cannot emulate and reports a failing init container."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from docker import DockerClient

from endpointctl.backends.kubernetes import hardening
from tests.backends.engine import BASE_IMAGE, require_engine
from tests.backends.kubernetes.podrun import LABEL, Pod, PodFailed, PodSpecError, network

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="fsGroup ownership needs root (CI runs as root)")


@pytest.fixture
def engine() -> Iterator[DockerClient]:
    client = require_engine()
    yield client
    client.close()


def _template(init_command: list[str], **extra: Any) -> dict[str, Any]:
    container = {"name": "app", "image": BASE_IMAGE, "imagePullPolicy": "Never", "command": ["sleep", "60"]}
    return {
        "metadata": {"labels": {"app": "t"}},
        "spec": {
            "securityContext": hardening.POD_SECURITY,
            "initContainers": [
                {
                    "name": "init",
                    "image": BASE_IMAGE,
                    "imagePullPolicy": "Never",
                    "command": init_command,
                    "securityContext": hardening.CONTAINER_SECURITY,
                    "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                }
            ],
            "containers": [{**container, "securityContext": hardening.CONTAINER_SECURITY}],
            "volumes": [{"name": "data", "emptyDir": {}}],
            **extra,
        },
    }


def test_a_field_the_harness_cannot_run_is_an_error(engine: DockerClient, tmp_path: Path) -> None:
    with pytest.raises(PodSpecError, match=r"hostNetwork"):
        Pod(engine, _template(["true"], hostNetwork=True), name="x", work_dir=tmp_path, network="none")


def test_a_failing_init_container_fails_the_pod_with_its_output(engine: DockerClient, tmp_path: Path) -> None:
    name = f"podrun-{secrets.token_hex(4)}"
    command = ["sh", "-c", "id -u > /data/uid && echo staging failed && exit 3"]
    with (
        network(engine, name) as net,
        Pod(engine, _template(command), name=name, work_dir=tmp_path, network=net) as pod,
        pytest.raises(PodFailed, match=r"init container init exited 3:\nstaging failed"),
    ):
        pod.start()
    # It ran as the pod's user on the shared, fsGroup-owned emptyDir.
    assert (tmp_path / name / "volumes" / "data" / "uid").read_text() == f"{hardening.RUN_AS}\n"
    assert not engine.containers.list(all=True, filters={"label": f"{LABEL}={name}"})
