"""Instance containers: start one from an environment image, find it again by label, stop and remove it.

An instance mounts its revision's app volume read-only at /var/azureml-app and runs the scoring host on a
Unix socket in a host directory bind-mounted at /run/endpointctl (the socket is 0600 and owned by the host
user, in the agent's 0700 socket directory: only that user's gateway reaches it; no port is published). Without
a socket directory it listens on 5001, published on 127.0.0.1 at a host port the engine picks, read back from
the container. Nothing about instances is stored outside the engine: labels are the index, so a restarted
endpointctl finds the same containers.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import docker.errors
from docker import DockerClient
from docker.types import DeviceRequest, Mount

from endpointctl.backends.docker.resources import Limits
from endpointctl.backends.docker.storage import APP_ROOT
from endpointctl.backends.engine import labels
from endpointctl.backends.engine.builder import SCORING_PORT, VENV

LOOPBACK = "127.0.0.1"
_PORT_KEY = f"{SCORING_PORT}/tcp"
# Inside the container: the bind-mounted socket directory and the scoring host's socket in it.
SOCKET_MOUNT = "/run/endpointctl"
SOCKET_NAME = "s.sock"


class InstanceError(Exception):
    """The engine would not start the container, or it exited before publishing its port."""


@dataclass(frozen=True)
class InstanceSpec:
    endpoint: str
    deployment: str
    revision: int
    instance: str
    image: str
    volume: str
    env: Mapping[str, str]
    limits: Limits
    # A host directory for the scoring host's Unix socket, and the uid:gid to own it; None: a loopback port.
    socket_dir: str | None = None
    socket_owner: str = ""


@dataclass(frozen=True)
class Instance:
    id: str
    name: str
    endpoint: str
    deployment: str
    revision: int
    instance: str
    status: str  # the engine's: created, running, exited, …
    host: str
    port: int | None  # None while not running

    @property
    def address(self) -> tuple[str, int] | None:
        return (self.host, self.port) if self.port is not None else None


def container_name(endpoint: str, deployment: str, revision: int, instance: str) -> str:
    return f"endpointctl-{endpoint}-{deployment}-r{revision}-{instance}"


def start_instance(client: DockerClient, spec: InstanceSpec, *, port_timeout_s: float = 10.0) -> Instance:
    """Create and start the container; returns once the engine has published its port."""
    name = container_name(spec.endpoint, spec.deployment, spec.revision, spec.instance)
    owner = labels.ours(
        endpoint=spec.endpoint,
        deployment=spec.deployment,
        revision=str(spec.revision),
        instance=spec.instance,
    )
    device_requests = (
        [DeviceRequest(count=spec.limits.gpus, capabilities=[["gpu"]])] if spec.limits.gpus else None
    )
    try:
        container = client.containers.run(
            spec.image,
            name=name,
            detach=True,
            # The venv's interpreter by path: a base image's own entrypoint must not wrap the server.
            entrypoint=[f"{VENV}/bin/python", "-m", "endpointctl.serving.scoring"],
            **_listening(spec),
            labels={**owner, labels.ROLE: labels.ROLE_INSTANCE},
            nano_cpus=spec.limits.nano_cpus,
            mem_limit=spec.limits.memory_bytes,
            device_requests=device_requests,
            init=True,  # signals reach the server and zombies of its workers are reaped
        )
    except docker.errors.APIError as exc:
        raise InstanceError(
            f"instance {name}: the engine refused to start it: {exc.explanation or exc}"
        ) from exc
    deadline = time.monotonic() + port_timeout_s
    while True:
        container.reload()
        instance = _instance(container)
        started = container.status == "running" and (spec.socket_dir is not None or instance.port is not None)
        if started or container.status not in {"created", "running"}:
            break
        if time.monotonic() > deadline:
            raise InstanceError(f"instance {name}: not running within {port_timeout_s:g}s")
        time.sleep(0.05)
    if not started:
        raise InstanceError(f"instance {name} exited at once ({container.status}); see its logs")
    return instance


def _listening(spec: InstanceSpec) -> dict[str, Any]:
    """Command, environment and mounts for a socket in `spec.socket_dir`, or a port published on loopback."""
    app = Mount(APP_ROOT, spec.volume, type="volume", read_only=True)
    if spec.socket_dir is None:
        return {
            "command": ["--host", "0.0.0.0", "--port", str(SCORING_PORT)],
            "environment": dict(spec.env),
            "mounts": [app],
            "ports": {_PORT_KEY: (LOOPBACK, None)},
        }
    environment = {**spec.env, "ENDPOINTCTL_UDS_OWNER": spec.socket_owner} if spec.socket_owner else spec.env
    return {
        "command": ["--uds", f"{SOCKET_MOUNT}/{SOCKET_NAME}"],
        "environment": dict(environment),
        "mounts": [app, Mount(SOCKET_MOUNT, spec.socket_dir, type="bind")],
    }


def death_filter() -> dict[str, list[str]]:
    """Event-stream filters for our instance containers dying (crash, kill, OOM or stop)."""
    selector = labels.selector({**labels.ours(), labels.ROLE: labels.ROLE_INSTANCE})
    return {**selector, "type": ["container"], "event": ["die"]}


def find_instances(client: DockerClient, **wanted: str) -> list[Instance]:
    """Our instance containers (running or not) whose labels match `wanted` (endpoint=…, revision=…)."""
    selector = {**labels.ours(**wanted), labels.ROLE: labels.ROLE_INSTANCE}
    # Another agent (or a test) may remove one between the listing and its inspection.
    found = client.containers.list(all=True, filters=labels.selector(selector), ignore_removed=True)
    return sorted((_instance(c) for c in found), key=lambda i: i.name)


def get_instance(client: DockerClient, container_id: str) -> Instance | None:
    try:
        return _instance(client.containers.get(container_id))
    except docker.errors.NotFound:
        return None


def is_running(client: DockerClient, container_id: str) -> bool:
    found = get_instance(client, container_id)
    return found is not None and found.status == "running"


def exit_code(client: DockerClient, container_id: str) -> int | None:
    """The exit status of a stopped instance, None while it runs or if it is gone."""
    try:
        state = client.containers.get(container_id).attrs.get("State") or {}
    except docker.errors.NotFound:
        return None
    return None if state.get("Running") else int(state.get("ExitCode", -1))


def exit_status(client: DockerClient, container_id: str) -> int | None:
    """None while the instance runs; its exit code once it stopped; -1 when the container is gone."""
    try:
        state = client.containers.get(container_id).attrs.get("State") or {}
    except docker.errors.NotFound:
        return -1
    return None if state.get("Running") else int(state.get("ExitCode", -1))


def stop_instance(client: DockerClient, container_id: str, *, grace_s: int = 10) -> None:
    """SIGTERM, then SIGKILL after `grace_s`; a container already gone is not an error."""
    with contextlib.suppress(docker.errors.NotFound):
        client.containers.get(container_id).stop(timeout=grace_s)


def remove_instance(client: DockerClient, container_id: str) -> None:
    """Gone afterwards, whoever removes it: a removal already in progress (409) ends the same way."""
    try:
        client.containers.get(container_id).remove(force=True)
    except docker.errors.NotFound:
        return
    except docker.errors.APIError as exc:
        if exc.status_code == 409 and "already in progress" in str(exc.explanation or exc):
            return
        raise


def instance_logs(
    client: DockerClient,
    container_id: str,
    *,
    follow: bool = False,
    tail: int | None = None,
    since: float | None = None,
) -> Iterator[str]:
    """The instance's stdout and stderr as lines; with `follow`, until the container stops."""
    container = client.containers.get(container_id)
    pending = b""
    options: dict[str, Any] = {"tail": "all" if tail is None else tail}
    if since is not None:
        options["since"] = since
    for chunk in container.logs(stream=True, follow=follow, **options):
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for line in complete:
            yield line.decode("utf-8", "replace")
    if pending:
        yield pending.decode("utf-8", "replace")


def _instance(container: Any) -> Instance:
    tags = container.labels
    bindings = (container.attrs.get("NetworkSettings") or {}).get("Ports") or {}
    published = [b for b in bindings.get(_PORT_KEY) or [] if b.get("HostIp") in {LOOPBACK, ""}]
    port = int(published[0]["HostPort"]) if published and container.status == "running" else None
    return Instance(
        id=str(container.id),
        name=str(container.name),
        endpoint=tags.get(labels.ENDPOINT, ""),
        deployment=tags.get(labels.DEPLOYMENT, ""),
        revision=int(tags.get(labels.REVISION, "0")),
        instance=tags.get(labels.INSTANCE, ""),
        status=str(container.status),
        host=LOOPBACK,
        port=port,
    )
