"""The async API client: configuration from the SDK, HTTP through httpx, errors as the façade's."""

from __future__ import annotations

import asyncio
import json
import ssl
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from endpointctl.backends.kubernetes.client import KubeClient
from endpointctl.backends.kubernetes.kubeconfig import ssl_context
from endpointctl.backends.kubernetes.logs import LogFollower
from endpointctl.backends.kubernetes.settings import Target
from endpointctl.core.errors import BackendUnavailable, NotFound
from endpointctl.core.tls import client_ssl_context
from endpointctl.core.views import Container
from tests.backends.kubernetes.apiserver import ApiServer

TARGET = Target(None, "team-a")


def _configuration(**fields: object) -> SimpleNamespace:
    defaults: dict[str, object] = {
        "verify_ssl": True,
        "ssl_ca_cert": None,
        "cert_file": None,
        "key_file": None,
        "assert_hostname": None,
    }
    return SimpleNamespace(**{**defaults, **fields})


def test_tls_follows_the_configuration_without_changing_the_shared_context() -> None:
    assert ssl_context(_configuration()) is client_ssl_context()
    insecure = ssl_context(_configuration(verify_ssl=False))
    assert insecure.verify_mode == ssl.CERT_NONE and not insecure.check_hostname
    no_hostname = ssl_context(_configuration(assert_hostname=False))
    assert no_hostname is not client_ssl_context() and not no_hostname.check_hostname
    assert client_ssl_context().check_hostname and client_ssl_context().verify_mode == ssl.CERT_REQUIRED


async def test_requests_carry_the_kubeconfig_token_and_map_errors(
    kubeconfig: Path, apiserver: ApiServer
) -> None:
    client = KubeClient(TARGET)
    try:
        assert (await client.version())["gitVersion"] == "v1.37.0-double"
        assert apiserver.cluster.authorizations[-1] == "Bearer test-token"
        assert client.host == apiserver.url
        with pytest.raises(NotFound):
            await client.get("ConfigMap", "nothing-here")
        assert await client.find("ConfigMap", "nothing-here") is None
    finally:
        await client.aclose()


async def test_an_exec_plugin_supplies_the_token(
    apiserver: ApiServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    credential = {
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "kind": "ExecCredential",
        "status": {"token": "from-exec"},
    }
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "double", "cluster": {"server": apiserver.url}}],
        "users": [
            {
                "name": "exec",
                "user": {
                    "exec": {
                        "apiVersion": "client.authentication.k8s.io/v1beta1",
                        "command": sys.executable,
                        "args": ["-c", f"print({json.dumps(json.dumps(credential))})"],
                        "interactiveMode": "Never",
                    }
                },
            }
        ],
        "contexts": [{"name": "double", "context": {"cluster": "double", "user": "exec"}}],
        "current-context": "double",
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(doc))
    monkeypatch.setenv("KUBECONFIG", str(path))
    client = KubeClient(TARGET)
    try:
        await client.version()
        assert apiserver.cluster.authorizations[-1] == "Bearer from-exec"
    finally:
        await client.aclose()


async def test_an_unreachable_server_is_unavailable_with_its_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.backends.kubernetes.conftest import write_kubeconfig

    # Port 9 (discard) on localhost: nothing listens there, so the connection is refused at once.
    monkeypatch.setenv("KUBECONFIG", str(write_kubeconfig(tmp_path / "kc", "http://127.0.0.1:9")))
    client = KubeClient(TARGET)
    try:
        with pytest.raises(BackendUnavailable, match=r"http://127\.0\.0\.1:9: "):
            await client.version()
    finally:
        await client.aclose()


def _own_threads() -> set[threading.Thread]:
    """Threads other than the loop's executor (which loads the kubeconfig and refreshes tokens) and the API
    double's request handlers."""
    return {
        t
        for t in threading.enumerate()
        if not t.name.startswith("asyncio_") and "process_request_thread" not in t.name
    }


async def test_following_logs_uses_tasks_and_stop_cancels_them(kubeconfig: Path) -> None:
    client = KubeClient(TARGET)
    threads = _own_threads()
    follower = LogFollower(client, Container.INFERENCE_SERVER)
    follower.start(["pod-a", "pod-b"], watch_selector="app=x")
    # Neither pod exists: each stream ends with its error as a line, and the pod may be followed again later.
    lines = [await asyncio.wait_for(follower.queue.get(), 5) for _ in range(2)]
    assert {line.instance for line in lines} == {"pod-a", "pod-b"}
    assert all(line.text.startswith("(") for line in lines) and not follower._followed
    tasks = set(follower._tasks)
    assert len(tasks) == 1 and _own_threads() == threads  # the watch is a task, not a thread
    follower.stop()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert all(t.cancelled() for t in tasks) and not follower._tasks
    await client.aclose()
