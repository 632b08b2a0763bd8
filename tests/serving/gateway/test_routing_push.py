"""PUT /v1/routing: a rollout controller pushes a routing document ahead of the kubelet's ConfigMap volume sync
(60-90 s), and the stale file does not undo the push until the file itself changes."""

from __future__ import annotations

import hashlib
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from endpointctl.serving.gateway import Gateway
from endpointctl.serving.gateway.admin import MAX_CONFIG_BYTES, AdminApi
from endpointctl.serving.gateway.files import FileSource, FileWatcher
from tests.serving.gateway.conftest import KEY_A, KEY_B, Upstream, UpstreamFactory, auth, deployment
from tests.serving.gateway.test_files import ROTATED, MountedVolume, keys, routing, standalone_gateway

TOKEN = "admin-token-0123456789abcdef"
ADMIN_AUTH = {"Authorization": f"Bearer {TOKEN}"}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Followed:
    """A real gateway following mounted files, its admin API with a token, and blue and green instances."""

    gateway: Gateway
    watcher: FileWatcher
    admin: str
    route: MountedVolume
    secret: MountedVolume
    blue: Upstream
    green: Upstream

    def deployments(self) -> dict[str, Any]:
        return {"blue": deployment(self.blue), "green": deployment(self.green)}

    def to(self, target: str, port: int = 0) -> bytes:
        """The routing document sending every request to `target`."""
        return routing(
            self.deployments(), {name: 100 if name == target else 0 for name in ("blue", "green")}, port
        )

    async def served_by(self, http: httpx.AsyncClient, key: str = KEY_A, n: int = 4) -> set[str]:
        url = self.gateway.scoring_uri("ep1")
        served = set()
        for _ in range(n):
            response = await http.post(url, json={}, headers=auth(key))
            assert response.status_code == 200, response.text
            served.add(response.json()["instance"])
        return served

    async def push(self, http: httpx.AsyncClient, body: bytes) -> httpx.Response:
        return await http.put(f"{self.admin}/v1/routing", content=body, headers=ADMIN_AUTH)

    async def status(self, http: httpx.AsyncClient) -> dict[str, Any]:
        response = await http.get(f"{self.admin}/v1/status", headers=ADMIN_AUTH)
        assert response.status_code == 200
        answer: dict[str, Any] = response.json()
        return answer


@pytest.fixture
async def followed(gateway: Gateway, upstreams: UpstreamFactory, tmp_path: Path) -> AsyncIterator[Followed]:
    route = MountedVolume(tmp_path / "routing", "routing.json")
    secret = MountedVolume(tmp_path / "keys", "keys.json")
    blue, green = upstreams("blue-0"), upstreams("green-0")
    route.write(routing({"blue": deployment(blue), "green": deployment(green)}, {"blue": 100, "green": 0}))
    secret.write(keys(KEY_A, KEY_B))
    # A long interval: only the test's own check() calls re-read the files.
    watcher = FileWatcher(gateway, FileSource(route.path, secret.path), interval_s=3600)
    await watcher.apply_initial()
    admin = AdminApi(gateway, read_only="files", watcher=watcher, token=TOKEN)
    port = await admin.start("127.0.0.1", 0)
    try:
        yield Followed(gateway, watcher, f"http://127.0.0.1:{port}", route, secret, blue, green)
    finally:
        await admin.close()


async def test_a_push_reroutes_at_once_and_the_stale_file_does_not_undo_it(
    followed: Followed, client: httpx.AsyncClient
) -> None:
    stale = followed.route.path.read_bytes()
    assert (await followed.status(client))["routing"] == sha256(stale)
    assert await followed.served_by(client) == {"blue-0"}

    pushed = followed.to("green")
    answer = await followed.push(client, pushed)
    assert answer.status_code == 200, answer.text
    assert answer.json() == await followed.status(client)
    assert answer.json()["routing"] == sha256(pushed)
    assert answer.json()["error"] is None
    assert answer.json()["running"] == FileSource.fingerprint((pushed, keys(KEY_A, KEY_B)))
    assert await followed.served_by(client) == {"green-0"}

    # The kubelet has not synced: the file still holds the routing the push replaced.
    assert not await followed.watcher.check()
    reloaded = await client.post(f"{followed.admin}/v1/reload", headers=ADMIN_AUTH)
    assert reloaded.json()["routing"] == sha256(pushed)
    assert await followed.served_by(client) == {"green-0"}
    assert followed.route.path.read_bytes() == stale


async def test_new_keys_while_the_push_stands_apply_with_the_pushed_routing(
    followed: Followed, client: httpx.AsyncClient
) -> None:
    pushed = followed.to("green")
    assert (await followed.push(client, pushed)).status_code == 200

    followed.secret.write(keys(ROTATED, KEY_B))
    assert await followed.watcher.check()
    assert await followed.served_by(client, ROTATED) == {"green-0"}
    rejected = await client.post(followed.gateway.scoring_uri("ep1"), json={}, headers=auth(KEY_A))
    assert rejected.status_code == 401
    status = await followed.status(client)
    assert status["routing"] == sha256(pushed)
    assert status["running"] == FileSource.fingerprint((pushed, keys(ROTATED, KEY_B)))


async def test_a_changed_file_ends_the_push(followed: Followed, client: httpx.AsyncClient) -> None:
    pushed = followed.to("green")
    assert (await followed.push(client, pushed)).status_code == 200

    # The kubelet syncs what was pushed: nothing to re-apply, and the file rules again.
    followed.route.write(pushed)
    assert not await followed.watcher.check()
    assert (await followed.status(client))["routing"] == sha256(pushed)
    # Anything newer in the file (here: back to blue) is followed as before.
    newer = followed.to("blue")
    followed.route.write(newer)
    assert await followed.watcher.check()
    assert await followed.served_by(client) == {"blue-0"}
    assert (await followed.status(client))["routing"] == sha256(newer)

    # A push, then any write that changes the file's bytes: the file wins again.
    assert (await followed.push(client, followed.to("green"))).status_code == 200
    assert await followed.served_by(client) == {"green-0"}
    newest = json.dumps(json.loads(newer), indent=1).encode()  # same routing, other bytes: a newer write
    followed.route.write(newest)
    assert await followed.watcher.check()
    assert await followed.served_by(client) == {"blue-0"}
    assert (await followed.status(client))["routing"] == sha256(newest)


async def test_a_bad_push_is_refused_and_changes_nothing(
    followed: Followed, client: httpx.AsyncClient
) -> None:
    before = await followed.status(client)
    not_json = await followed.push(client, b'{"endpoints": ')
    assert not_json.status_code == 400
    assert "pushed routing: not valid JSON" in not_json.json()["message"]
    invalid = await followed.push(client, routing(followed.deployments(), {"blue": 60, "green": 0}))
    assert invalid.status_code == 400
    assert "sum to 100" in invalid.json()["message"]
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        conflict = await followed.push(client, followed.to("green", port=port))
    assert conflict.status_code == 409
    assert f"127.0.0.1:{port}" in conflict.json()["message"]
    assert await followed.status(client) == before
    assert await followed.served_by(client) == {"blue-0"}
    # Nothing was remembered either: a keys change is applied with the file's routing.
    followed.secret.write(keys(ROTATED))
    assert await followed.watcher.check()
    assert await followed.served_by(client, ROTATED) == {"blue-0"}


async def test_a_push_needs_the_admin_token(followed: Followed, client: httpx.AsyncClient) -> None:
    url = f"{followed.admin}/v1/routing"
    pushed = followed.to("green")
    assert (await client.put(url, content=pushed)).status_code == 401
    wrong = {"Authorization": f"Bearer {TOKEN}x"}
    assert (await client.put(url, content=pushed, headers=wrong)).status_code == 401
    assert await followed.served_by(client) == {"blue-0"}
    # The header the Kubernetes API server's service proxy forwards works as the bearer does.
    accepted = await client.put(url, content=pushed, headers={"X-Endpointctl-Admin-Token": TOKEN})
    assert accepted.status_code == 200
    assert await followed.served_by(client) == {"green-0"}
    assert (await client.get(url, headers=ADMIN_AUTH)).status_code == 405


async def test_a_gateway_that_does_not_follow_files_has_no_push() -> None:
    gw = Gateway(drain_timeout_s=2)
    await gw.start()
    admin = AdminApi(gw)
    port = await admin.start("127.0.0.1", 0)
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            refused = await http.put(f"http://127.0.0.1:{port}/v1/routing", content=b'{"endpoints": {}}')
        assert refused.status_code == 404
        assert refused.json()["message"] == "This gateway does not follow files."
    finally:
        await admin.close()
        await gw.stop()


def test_standalone_gateway_takes_a_push_ahead_of_its_files(
    upstreams: UpstreamFactory, tmp_path: Path
) -> None:
    route = MountedVolume(tmp_path / "routing", "routing.json")
    secret = MountedVolume(tmp_path / "keys", "keys.json")
    blue, green = upstreams("blue-0"), upstreams("green-0")
    deps = {"blue": deployment(blue), "green": deployment(green)}
    route.write(routing(deps, {"blue": 100, "green": 0}))
    secret.write(keys(KEY_A))
    token_file = tmp_path / "admin-token"
    token_file.write_text(TOKEN)
    token_file.chmod(0o600)
    with (
        standalone_gateway(route, secret, "--admin-token-file", str(token_file)) as (url, admin),
        httpx.Client(timeout=30, headers=ADMIN_AUTH) as http,
    ):
        assert http.post(url, json={}, headers=auth(KEY_A)).json()["instance"] == "blue-0"
        too_large = http.put(f"{admin}/v1/routing", content=b" " * (MAX_CONFIG_BYTES + 1))
        assert too_large.status_code == 413

        pushed = routing(deps, {"blue": 0, "green": 100})
        answer = http.put(f"{admin}/v1/routing", content=pushed)
        assert answer.status_code == 200, answer.text
        assert answer.json()["routing"] == sha256(pushed)
        assert http.post(url, json={}, headers=auth(KEY_A)).json()["instance"] == "green-0"
        # A re-read of the unchanged (stale) files keeps the push.
        assert http.post(f"{admin}/v1/reload").json()["routing"] == sha256(pushed)
        assert http.post(url, json={}, headers=auth(KEY_A)).json()["instance"] == "green-0"
