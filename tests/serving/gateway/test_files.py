"""The gateway driven by mounted files (Kubernetes ConfigMap + Secret): reloads on change, survives bad edits."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from endpointctl.serving.gateway import ConfigError, Gateway
from endpointctl.serving.gateway.files import FileSource, FileWatcher, merge_keys
from tests.serving.gateway.conftest import KEY_A, KEY_B, UpstreamFactory, auth, deployment

ROTATED = "rotated-primary-key-0123456789"


class MountedVolume:
    """Writes files the way the kubelet updates a ConfigMap/Secret volume: a new timestamped folder, then an
    atomic swap of the `..data` symlink the visible files point through."""

    def __init__(self, root: Path, name: str) -> None:
        self.root = root
        self.name = name
        self.generation = 0
        root.mkdir(parents=True, exist_ok=True)

    @property
    def path(self) -> Path:
        return self.root / self.name

    def write(self, content: bytes) -> None:
        self.generation += 1
        folder = self.root / f"..{self.generation}"
        folder.mkdir()
        (folder / self.name).write_bytes(content)
        staging = self.root / "..data_tmp"
        staging.symlink_to(folder.name)
        staging.replace(self.root / "..data")
        if not self.path.is_symlink():
            self.path.symlink_to(f"..data/{self.name}")


def routing(deployments: dict[str, Any], traffic: dict[str, int], port: int = 0) -> bytes:
    doc = {
        "endpoints": {
            "ep1": {
                "host": "127.0.0.1",
                "port": port,
                "auth_mode": "key",
                "deployments": deployments,
                "traffic": traffic,
            }
        }
    }
    return json.dumps(doc).encode()


def keys(*values: str) -> bytes:
    return json.dumps({"endpoints": {"ep1": {"keys": list(values)}}}).encode()


@pytest.fixture
def volumes(tmp_path: Path) -> tuple[MountedVolume, MountedVolume]:
    return MountedVolume(tmp_path / "routing", "routing.json"), MountedVolume(tmp_path / "keys", "keys.json")


async def test_key_rotation_and_traffic_change_in_files_apply_without_restart(
    gateway: Gateway,
    upstreams: UpstreamFactory,
    client: httpx.AsyncClient,
    volumes: tuple[MountedVolume, MountedVolume],
) -> None:
    route, secret = volumes
    blue, green = upstreams("blue-0"), upstreams("green-0")
    deps = {"blue": deployment(blue), "green": deployment(green)}
    route.write(routing(deps, {"blue": 100, "green": 0}))
    secret.write(keys(KEY_A, KEY_B))
    watcher = FileWatcher(gateway, FileSource(route.path, secret.path), interval_s=0.05)
    await watcher.apply_initial()
    url = gateway.scoring_uri("ep1")
    assert (await client.post(url, json={}, headers=auth(KEY_A))).json()["instance"] == "blue-0"
    assert not await watcher.check()  # nothing changed: nothing re-applied

    secret.write(keys(ROTATED, KEY_B))
    assert await watcher.check()
    assert (await client.post(url, json={}, headers=auth(KEY_A))).status_code == 401
    assert (await client.post(url, json={}, headers=auth(ROTATED))).status_code == 200
    assert (await client.post(url, json={}, headers=auth(KEY_B))).status_code == 200

    route.write(routing(deps, {"blue": 0, "green": 100}))
    assert await watcher.check()
    assert gateway.scoring_uri("ep1") == url  # port 0 was resolved once and kept
    served = {(await client.post(url, json={}, headers=auth(KEY_B))).json()["instance"] for _ in range(5)}
    assert served == {"green-0"}
    assert watcher.reloads == 2


async def test_a_bad_document_is_reported_once_and_the_running_config_stays(
    gateway: Gateway,
    upstreams: UpstreamFactory,
    client: httpx.AsyncClient,
    volumes: tuple[MountedVolume, MountedVolume],
    caplog: pytest.LogCaptureFixture,
) -> None:
    route, secret = volumes
    blue = upstreams("blue-0")
    route.write(routing({"blue": deployment(blue)}, {"blue": 100}))
    secret.write(keys(KEY_A))
    watcher = FileWatcher(gateway, FileSource(route.path, secret.path))
    await watcher.apply_initial()
    url = gateway.scoring_uri("ep1")

    route.write(routing({"blue": deployment(blue)}, {"blue": 60}))  # does not sum to 100
    assert not await watcher.check()
    assert watcher.last_error is not None and "sum to 100" in watcher.last_error
    secret.write(b'{"endpoints": {"ep1": {"keys": ["x"], "port": 1}}}')  # a secret must not reroute
    assert not await watcher.check()
    assert "only instance_token, keys, token_secret may appear here" in (watcher.last_error or "")
    assert (await client.post(url, json={}, headers=auth(KEY_A))).status_code == 200
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 2
    assert not await watcher.check()  # the same bad contents are not reported again
    assert KEY_A not in caplog.text

    route.write(routing({"blue": deployment(blue)}, {"blue": 100}))
    secret.write(keys(ROTATED))
    assert await watcher.check()
    assert (await client.post(url, json={}, headers=auth(ROTATED))).status_code == 200


def test_merge_keys_ignores_endpoints_the_routing_does_not_list() -> None:
    doc: dict[str, Any] = {"endpoints": {"ep1": {"traffic": {}}}}
    merge_keys(doc, {"endpoints": {"ep1": {"keys": ["k"]}, "gone": {"keys": ["z"]}}})
    assert doc == {"endpoints": {"ep1": {"traffic": {}, "keys": ["k"]}}}
    with pytest.raises(ConfigError, match="keys: expected"):
        merge_keys(doc, {"other": 1})


def _wait_until(predicate: Any, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


@contextmanager
def standalone_gateway(route: MountedVolume, secret: MountedVolume, *extra: str) -> Iterator[tuple[str, str]]:
    """`python -m endpointctl.serving.gateway` following the two files, as its pod runs it; yields the scoring
    URL of endpoint ep1 and the admin API's base URL, and checks that it stops cleanly."""
    cmd = [sys.executable, "-m", "endpointctl.serving.gateway", "--admin-port", "0"]
    cmd += ["--config-file", str(route.path), "--keys-file", str(secret.path), "--reload-interval", "0.1"]
    process = subprocess.Popen(
        [*cmd, *extra], stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )
    try:
        assert process.stdout is not None
        started = json.loads(process.stdout.readline())
        yield (
            f"http://127.0.0.1:{started['endpoints']['ep1']}/score",
            f"http://127.0.0.1:{started['admin_port']}",
        )
    finally:
        process.terminate()
        assert process.wait(15) == 0


def test_standalone_gateway_follows_its_files_and_refuses_admin_writes(
    upstreams: UpstreamFactory, volumes: tuple[MountedVolume, MountedVolume]
) -> None:
    route, secret = volumes
    blue = upstreams("blue-0")
    route.write(routing({"blue": deployment(blue)}, {"blue": 100}))
    secret.write(keys(KEY_A))
    with standalone_gateway(route, secret) as (url, admin):
        assert httpx.post(url, json={}, headers=auth(KEY_A)).status_code == 200
        refused = httpx.put(f"{admin}/v1/config", content=routing({}, {}))
        assert refused.status_code == 403
        assert "read from" in refused.json()["message"]
        secret.write(keys(ROTATED))
        _wait_until(lambda: httpx.post(url, json={}, headers=auth(ROTATED)).status_code == 200)
        assert httpx.post(url, json={}, headers=auth(KEY_A)).status_code == 401


def test_standalone_gateway_takes_its_wire_limits_from_the_environment(
    upstreams: UpstreamFactory, volumes: tuple[MountedVolume, MountedVolume]
) -> None:
    route, secret = volumes
    route.write(routing({"blue": deployment(upstreams("blue-0"))}, {"blue": 100}))
    secret.write(keys(KEY_A))
    cmd = [sys.executable, "-m", "endpointctl.serving.gateway", "--admin-port", "0"]
    cmd += ["--config-file", str(route.path), "--keys-file", str(secret.path)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    bad = subprocess.run(
        cmd, env={**env, "ENDPOINTCTL_MAX_CONNECTIONS": "-3"}, capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 2 and "ENDPOINTCTL_MAX_CONNECTIONS='-3'" in bad.stderr

    process = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, text=True, env={**env, "ENDPOINTCTL_KEEP_ALIVE_TIMEOUT_S": "0.3"}
    )
    try:
        assert process.stdout is not None
        port = json.loads(process.stdout.readline())["endpoints"]["ep1"]
        with socket.create_connection(("127.0.0.1", port), timeout=30) as idle:
            # The default would keep this idle connection for 30 s; 0.3 s closes it (recv sees the end).
            assert idle.recv(1) == b""
    finally:
        process.terminate()
        assert process.wait(15) == 0
