"""A Pod template run under the Docker engine exactly as its manifest says, for tests.

What the kubelet would do with a Deployment's `spec.template`, on one engine:

* the pod's network namespace is a "pause" container on a user-defined network, with the pod's Service names as
  aliases; every init and app container joins it (`network_mode=container:…`), so they share localhost and the
  pod's address, as containers of one pod do;
* volumes: `emptyDir` is a host folder shared by the pod's containers; `configMap` and `secret` become files
  (`defaultMode`, read-only mounts); `persistentVolumeClaim` is a folder the test provides; `subPath` and
  `readOnly` are honoured. With `fsGroup` the kubelet makes volumes group-owned by it (setgid folders); so
  does this;
* each container runs with the pod's `runAsUser:runAsGroup` plus `fsGroup`, a read-only root filesystem when
  `readOnlyRootFilesystem`, `capabilities.drop [ALL]` as `cap_drop`, `allowPrivilegeEscalation: false` as
  no-new-privileges; `seccompProfile: RuntimeDefault` is Docker's default profile, which the engine applies
  to every container anyway; `command` replaces the image's ENTRYPOINT and `args` its CMD (with `command`
  and no `args` the image's CMD is not used, as in Kubernetes); `resources.limits` become memory and CPU limits;
* images are pulled as `imagePullPolicy` says (Always: pulled; IfNotPresent: pulled when missing; Never:
  must be present);
* init containers run in order, each to exit 0 (else `PodFailed` with its output); then the app containers
  start, and `wait_ready` polls each `readinessProbe.httpGet` at the pod's address.

A field this harness does not emulate is an error (`PodSpecError`), never silently ignored; `IGNORED_*`
lists the fields that have no meaning on one engine (scheduling, disruption, liveness restarts).
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import docker.errors
import httpx
from docker import DockerClient
from docker.models.containers import Container
from docker.types import Mount

LABEL = "endpointctl.test/pod"
POD_FIELDS = {"initContainers", "containers", "volumes", "securityContext"}
# Scheduling and lifecycle: meaningless on one engine (one node, no evictions, no restarts here).
IGNORED_POD_FIELDS = {
    "terminationGracePeriodSeconds",
    "topologySpreadConstraints",
    "automountServiceAccountToken",
}
CONTAINER_FIELDS = {
    "name",
    "image",
    "imagePullPolicy",
    "command",
    "args",
    "env",
    "ports",
    "readinessProbe",
    "securityContext",
    "volumeMounts",
    "resources",
    "workingDir",
}
# Liveness restarts a container the kubelet judges dead; a test pod that dies fails wait_ready instead.
IGNORED_CONTAINER_FIELDS = {"livenessProbe"}
POD_SECURITY_FIELDS = {
    "runAsNonRoot",
    "runAsUser",
    "runAsGroup",
    "fsGroup",
    "fsGroupChangePolicy",
    "seccompProfile",
}
CONTAINER_SECURITY_FIELDS = {
    "allowPrivilegeEscalation",
    "privileged",
    "readOnlyRootFilesystem",
    "runAsNonRoot",
    "capabilities",
}
_QUANTITY = re.compile(r"^([0-9.]+)(m|Ki|Mi|Gi|k|M|G)?$")
_UNITS = {None: 1, "k": 1000, "M": 1000**2, "G": 1000**3, "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3}


class PodFailed(AssertionError):
    """A container of the pod failed: its name, exit code and output are in the message."""


class PodSpecError(ValueError):
    """The template uses a field this harness cannot run as Kubernetes would."""


@contextlib.contextmanager
def network(engine: DockerClient, name: str) -> Iterator[str]:
    """A user-defined bridge network (names resolve between its containers), removed afterwards."""
    created = engine.networks.create(name, driver="bridge", labels={LABEL: name})
    try:
        yield name
    finally:
        with contextlib.suppress(docker.errors.DockerException):
            created.remove()


def _check(fields: Mapping[str, Any], allowed: set[str], ignored: set[str], where: str) -> None:
    unknown = set(fields) - allowed - ignored
    if unknown:
        raise PodSpecError(f"{where}: {sorted(unknown)} not emulated by the pod harness")


class Pod:
    """One pod of `template` (a Deployment's spec.template). Use as a context manager."""

    def __init__(
        self,
        engine: DockerClient,
        template: Mapping[str, Any],
        *,
        name: str,
        work_dir: Path,
        network: str,
        aliases: Sequence[str] = (),
        config_maps: Mapping[str, Mapping[str, Any]] | None = None,
        secrets: Mapping[str, Mapping[str, Any]] | None = None,
        pvc_dirs: Mapping[str, Path] | None = None,
    ) -> None:
        self.engine, self.name, self.network = engine, name, network
        self.spec: dict[str, Any] = dict(template["spec"])
        self.aliases = list(aliases)
        self._work = work_dir / name
        self._config_maps = dict(config_maps or {})
        self._secrets = dict(secrets or {})
        self._pvcs = dict(pvc_dirs or {})
        self._containers: dict[str, Container] = {}
        self._pause: Container | None = None
        _check(self.spec, POD_FIELDS, IGNORED_POD_FIELDS, f"pod {name}")
        if self.spec.get("automountServiceAccountToken", False):
            raise PodSpecError(f"pod {name}: a service-account token cannot be mounted here")
        security = self.spec.get("securityContext") or {}
        _check(security, POD_SECURITY_FIELDS, set(), f"pod {name}: securityContext")
        if security.get("runAsNonRoot") and not security.get("runAsUser"):
            raise PodSpecError(
                f"pod {name}: runAsNonRoot without runAsUser (the image's user is not checked here)"
            )
        seccomp = (security.get("seccompProfile") or {}).get("type", "RuntimeDefault")
        if seccomp != "RuntimeDefault":
            raise PodSpecError(
                f"pod {name}: seccompProfile {seccomp} (only RuntimeDefault, Docker's default)"
            )
        self.user = (
            f"{security.get('runAsUser', 0)}:{security.get('runAsGroup', security.get('runAsUser', 0))}"
        )
        self.fs_group: int | None = security.get("fsGroup")
        for container in [*(self.spec.get("initContainers") or []), *self.spec["containers"]]:
            where = f"pod {name}: container {container['name']}"
            _check(container, CONTAINER_FIELDS, IGNORED_CONTAINER_FIELDS, where)
            _check(container.get("securityContext") or {}, CONTAINER_SECURITY_FIELDS, set(), where)

    def __enter__(self) -> Pod:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- running ----------------------------------------------------------------------------------------------
    def start(self, timeout: float = 300) -> None:
        self._work.mkdir(parents=True, exist_ok=True)
        volumes = self._volumes()
        first = self.spec["containers"][0]
        self._pull(first)
        labels = {LABEL: self.name}
        pause = self.engine.containers.create(
            first["image"],
            entrypoint=["sleep"],
            command=["infinity"],
            name=f"{self.name}-pause",
            user=self.user,
            read_only=True,
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            network=self.network,
            labels=labels,
        )
        self._pause = pause
        net = self.engine.networks.get(self.network)
        net.disconnect(pause)
        net.connect(pause, aliases=self.aliases)
        pause.start()
        for spec in self.spec.get("initContainers") or []:
            container = self._create(spec, volumes)
            container.start()
            status = int(container.wait(timeout=timeout).get("StatusCode", -1))
            if status != 0:
                raise PodFailed(
                    f"pod {self.name}: init container {spec['name']} exited {status}:\n{self.logs(spec['name'])}"
                )
        for spec in self.spec["containers"]:
            self._create(spec, volumes).start()

    def wait_ready(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        pending = {c["name"]: c["readinessProbe"] for c in self.spec["containers"] if "readinessProbe" in c}
        last = ""
        while pending:
            for name, probe in list(pending.items()):
                container = self._containers[name]
                container.reload()
                if container.status != "running":
                    raise PodFailed(
                        f"pod {self.name}: container {name} is {container.status} "
                        f"(exit {container.attrs['State'].get('ExitCode')}):\n{self.logs(name)}"
                    )
                get = probe["httpGet"]
                url = f"http://{self.ip}:{self.port(get['port'], name)}{get.get('path', '/')}"
                try:
                    answer = httpx.get(url, timeout=probe.get("timeoutSeconds", 1))
                    if 200 <= answer.status_code < 400:
                        del pending[name]
                        continue
                    last = f"{url}: {answer.status_code}"
                except httpx.HTTPError as exc:
                    last = f"{url}: {exc!r}"
            if pending and time.monotonic() > deadline:
                logs = "\n".join(f"--- {n}\n{self.logs(n)}" for n in pending)
                raise PodFailed(
                    f"pod {self.name}: {sorted(pending)} not ready in {timeout} s ({last})\n{logs}"
                )
            # Faster than the probes' periodSeconds: the test waits less; the answer is the same.
            time.sleep(0.2)

    @property
    def ip(self) -> str:
        assert self._pause is not None, "the pod is not started"
        self._pause.reload()
        address: str = self._pause.attrs["NetworkSettings"]["Networks"][self.network]["IPAddress"]
        return address

    def port(self, name_or_number: str | int, container: str | None = None) -> int:
        if isinstance(name_or_number, int):
            return name_or_number
        for spec in self.spec["containers"]:
            if container is not None and spec["name"] != container:
                continue
            for port in spec.get("ports") or []:
                if port.get("name") == name_or_number:
                    return int(port["containerPort"])
        raise PodSpecError(f"pod {self.name}: no container port named {name_or_number!r}")

    def logs(self, container: str) -> str:
        text: bytes = self._containers[container].logs()
        return text.decode("utf-8", "replace")

    def exec(self, container: str, argv: Sequence[str]) -> tuple[int, str]:
        code, output = self._containers[container].exec_run(list(argv), user=self.user)
        return int(code), output.decode("utf-8", "replace")

    def close(self) -> None:
        for container in [*self._containers.values(), *([self._pause] if self._pause is not None else [])]:
            with contextlib.suppress(docker.errors.DockerException):
                container.remove(force=True)
        self._containers.clear()
        self._pause = None

    # --- pieces -----------------------------------------------------------------------------------------------
    def _pull(self, spec: Mapping[str, Any]) -> None:
        image, policy = spec["image"], spec.get("imagePullPolicy", "IfNotPresent")
        present = True
        try:
            self.engine.images.get(image)
        except docker.errors.ImageNotFound:
            present = False
        if policy == "Never" and not present:
            raise PodFailed(f"pod {self.name}: {image} is not present and imagePullPolicy is Never")
        if policy == "Always" or not present:
            self.engine.images.pull(image)

    def _create(self, spec: Mapping[str, Any], volumes: Mapping[str, tuple[Path, bool]]) -> Container:
        self._pull(spec)
        security = spec.get("securityContext") or {}
        if security.get("privileged"):
            raise PodSpecError(f"pod {self.name}: container {spec['name']} is privileged")
        mounts = []
        for mount in spec.get("volumeMounts") or []:
            source, always_read_only = volumes[mount["name"]]
            if mount.get("subPath"):
                source = source / mount["subPath"]
            read_only = always_read_only or bool(mount.get("readOnly"))
            mounts.append(Mount(mount["mountPath"], str(source), type="bind", read_only=read_only))
        env = {}
        for item in spec.get("env") or []:
            if "value" not in item:
                raise PodSpecError(f"pod {self.name}: env {item['name']} without a plain value")
            env[item["name"]] = item["value"]
        options: dict[str, Any] = {}
        limits = (spec.get("resources") or {}).get("limits") or {}
        if "memory" in limits:
            options["mem_limit"] = int(_quantity(limits["memory"]))
        if "cpu" in limits:
            options["nano_cpus"] = int(_quantity(limits["cpu"]) * 1e9)
        if "command" in spec:
            options["entrypoint"] = list(spec["command"])
        if "args" in spec:
            options["command"] = list(spec["args"])
        if "workingDir" in spec:
            options["working_dir"] = spec["workingDir"]
        drop = (security.get("capabilities") or {}).get("drop") or []
        if drop and drop != ["ALL"]:
            raise PodSpecError(f"pod {self.name}: capabilities.drop {drop} (only [ALL])")
        assert self._pause is not None
        container = self.engine.containers.create(
            spec["image"],
            name=f"{self.name}-{spec['name']}",
            user=self.user,
            group_add=[str(self.fs_group)] if self.fs_group is not None else [],
            environment=env,
            mounts=mounts,
            read_only=bool(security.get("readOnlyRootFilesystem")),
            cap_drop=["ALL"] if drop else None,
            security_opt=["no-new-privileges"] if security.get("allowPrivilegeEscalation") is False else None,
            network_mode=f"container:{self._pause.id}",
            labels={LABEL: self.name},
            **options,
        )
        self._containers[spec["name"]] = container
        return container

    def _volumes(self) -> dict[str, tuple[Path, bool]]:
        """name → (host folder, always read-only)."""
        out: dict[str, tuple[Path, bool]] = {}
        for volume in self.spec.get("volumes") or []:
            name = volume["name"]
            folder = self._work / "volumes" / name
            if "emptyDir" in volume:
                folder.mkdir(parents=True)
                self._own(folder, 0o2777 if self.fs_group is not None else 0o777)
                out[name] = (folder, False)
            elif "configMap" in volume:
                source = self._config_maps[volume["configMap"]["name"]]
                files = {k: v.encode() for k, v in (source.get("data") or {}).items()}
                files |= {k: base64.b64decode(v) for k, v in (source.get("binaryData") or {}).items()}
                self._files(folder, files, volume["configMap"].get("defaultMode", 0o644))
                out[name] = (folder, True)
            elif "secret" in volume:
                source = self._secrets[volume["secret"]["secretName"]]
                files = {k: base64.b64decode(v) for k, v in (source.get("data") or {}).items()}
                self._files(folder, files, volume["secret"].get("defaultMode", 0o644))
                out[name] = (folder, True)
            elif "persistentVolumeClaim" in volume:
                claim = volume["persistentVolumeClaim"]
                out[name] = (self._pvcs[claim["claimName"]], bool(claim.get("readOnly")))
            else:
                raise PodSpecError(f"pod {self.name}: volume {name} of a kind not emulated: {sorted(volume)}")
        return out

    def _files(self, folder: Path, files: Mapping[str, bytes], mode: int) -> None:
        folder.mkdir(parents=True)
        for key, data in files.items():
            path = folder / key
            path.write_bytes(data)
            self._own(path, mode)
        self._own(folder, 0o2755 if self.fs_group is not None else 0o755)

    def _own(self, path: Path, mode: int) -> None:
        if self.fs_group is not None:
            os.chown(path, 0, self.fs_group)  # the kubelet's fsGroup ownership (the test runs as root)
        path.chmod(mode)


def _quantity(text: str) -> float:
    match = _QUANTITY.match(str(text))
    if match is None:
        raise PodSpecError(f"resource quantity {text!r} not understood")
    value, unit = float(match[1]), match[2]
    if unit == "m":
        return value / 1000
    return value * _UNITS[unit]
