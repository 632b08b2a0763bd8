"""A Pod template run under the Docker engine exactly as its manifest says, for tests.

What the kubelet would do with a Deployment's `spec.template`, on one engine:

* the pod's network namespace is a "pause" container (BASE_IMAGE, `sleep infinity`, as the pod's user,
  read-only, no capabilities) on a user-defined network, with the pod's Service names as aliases and the pod's
  name as hostname; every init and app container joins it (`network_mode=container:…`), so they share
  localhost, the hostname and the pod's address, as containers of one pod do;
* volumes: `emptyDir` is a host folder shared by the pod's containers; `configMap` and `secret` become files
  (`defaultMode`, always mounted read-only); `persistentVolumeClaim` is a folder the test provides; `subPath`
  and `readOnly` are honoured. `fsGroup` ownership is the kubelet's (see `_fs_group_own`);
* each container runs as `runAsUser[:runAsGroup]` (container overrides pod) with `fsGroup` and
  `supplementalGroups` added; `readOnlyRootFilesystem` → read-only root; `capabilities.drop/add` →
  `cap_drop/cap_add`; `allowPrivilegeEscalation: false` → no-new-privileges; `seccompProfile: RuntimeDefault`
  → Docker's default seccomp profile, which the engine applies to every unprivileged container (the runtime
  default Kubernetes names is the same profile family); `command` replaces the image's ENTRYPOINT and `args`
  its CMD (with `command` and no `args` the image's CMD is not used: the engine drops it as the kubelet does);
  `$(VAR)` references in env values, command and args are expanded as Kubernetes expands them;
  `resources.limits` → memory limit and CFS quota, `requests.cpu` (or the limit, as Kubernetes defaults it)
  → CPU shares;
* images: `imagePullPolicy` Always pulls, IfNotPresent pulls when missing, Never requires the image present;
  without a policy Kubernetes' default applies (Always for `:latest` or no tag, else IfNotPresent). Tests run
  offline: a template whose images are local says `Never` (or IfNotPresent), one from a test registry pulls;
* init containers run in order, each to exit 0 (else `PodFailed` with its output); then the app containers
  start, and `wait_ready` polls each `readinessProbe.httpGet` at the pod's address.

A field this harness does not emulate is an error (`PodSpecError`) raised by the constructor, before anything
is created, never silently ignored. `IGNORED` lists the fields accepted without effect, each with why. Not
emulated and not a field (nothing to refuse): Service-link and KUBERNETES_SERVICE_* environment variables (a
pod that needs them fails visibly here), the OOM score the kubelet sets per QoS class, /dev/termination-log,
and ConfigMap/Secret updates after the pod started.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import stat
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import docker.errors
import httpx
from docker import DockerClient
from docker.models.containers import Container
from docker.types import Mount

from tests.backends.engine import BASE_IMAGE

LABEL = "endpointctl.test/pod"

# Accepted, no effect on one engine — and why. Anything neither emulated nor listed here is a PodSpecError.
IGNORED: dict[str, str] = {
    "pod.topologySpreadConstraints": "scheduling: one engine is one node",
    "pod.affinity": "scheduling: one engine is one node",
    "pod.nodeSelector": "scheduling: one engine is one node",
    "pod.tolerations": "scheduling: one engine is one node",
    "pod.priorityClassName": "scheduling and eviction order: nothing is evicted here",
    "pod.serviceAccountName": "API identity: no token is mounted (automountServiceAccountToken must be false)",
    "pod.terminationGracePeriodSeconds": "close() removes the containers with SIGKILL; nothing waits for a grace",
    "pod.restartPolicy": "only Always (a Deployment's); nothing restarts here: an exit fails wait_ready",
    "container.livenessProbe": "not emulated: nothing restarts a container; an exit fails wait_ready",
    "container.terminationMessagePath": "the termination message is not collected",
    "container.terminationMessagePolicy": "the termination message is not collected",
    "resources.requests.memory": "scheduling only (memory QoS is off by default in Kubernetes)",
    "readinessProbe.initialDelaySeconds": "a container that answers is ready; waiting longer proves nothing",
    "readinessProbe.successThreshold": "one answer is enough here (the API server's default, 1)",
    "readinessProbe.failureThreshold": "readiness is awaited, never withdrawn",
    "template.metadata": "labels and annotations (runtime annotations — AppArmor, seccomp — are refused)",
}

_POD = {"initContainers", "containers", "volumes", "securityContext", "automountServiceAccountToken"}
_POD |= {"enableServiceLinks", "dnsPolicy"}
_CONTAINER = {"name", "image", "imagePullPolicy", "command", "args", "workingDir", "env", "ports"}
_CONTAINER |= {"readinessProbe", "securityContext", "volumeMounts", "resources"}
_POD_SECURITY = {"runAsNonRoot", "runAsUser", "runAsGroup", "fsGroup", "fsGroupChangePolicy"}
_POD_SECURITY |= {"seccompProfile", "supplementalGroups"}
_CONTAINER_SECURITY = {"runAsNonRoot", "runAsUser", "runAsGroup", "allowPrivilegeEscalation", "privileged"}
_CONTAINER_SECURITY |= {"readOnlyRootFilesystem", "capabilities", "seccompProfile"}
_RUNTIME_ANNOTATIONS = (
    "container.apparmor.security.beta.kubernetes.io/",
    "seccomp.security.alpha.kubernetes.io",
)
_PULL_POLICIES = {"Always", "IfNotPresent", "Never"}
# Kubernetes' quantity suffixes (resource.Quantity); an exponent form is refused.
_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(n|u|m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
_SCALE = {
    None: 1.0, "n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
    "Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40, "Pi": 2.0**50, "Ei": 2.0**60,
}  # fmt: skip
# `$$` or `$(NAME)`: Kubernetes' expansion (third_party/forked/golang/expansion); anything else stays as is.
_REFERENCE = re.compile(r"\$(\$|\(([^)]*)\))")
# The kubelet's volume-ownership masks (pkg/volume/volume_linux.go): OR-ed into a file's existing mode.
_RW_MASK, _RO_MASK, _EXEC_MASK = 0o660, 0o440, 0o110
_POLL_S = 0.2


class PodFailed(AssertionError):
    """A container of the pod failed: its name, exit code and output are in the message."""


class PodSpecError(ValueError):
    """The template uses a field, or a value, this harness cannot run as Kubernetes would."""


@contextlib.contextmanager
def network(engine: DockerClient, name: str) -> Iterator[str]:
    """A user-defined bridge network (names and aliases resolve between its containers), removed afterwards.

    Close the pods on it first: a network with containers attached cannot be removed (an error, not a leak).
    """
    created = engine.networks.create(name, driver="bridge", labels={LABEL: name})
    try:
        yield name
    finally:
        with contextlib.suppress(docker.errors.NotFound):
            created.remove()


@dataclass
class _Volume:
    kind: str  # emptyDir | configMap | secret | persistentVolumeClaim
    source: Mapping[str, Any]
    read_only: bool  # configMap and secret: always; a claim: as it says
    folder: Path = field(default=Path())


@dataclass
class _Container:
    name: str
    image: str
    pull: str
    init: bool
    user: str | None
    options: dict[str, Any]  # containers.create keyword arguments, but mounts and the network
    mounts: list[tuple[str, str, str, bool]]  # (volume, subPath, mountPath, readOnly)
    ports: dict[str, int]
    probe: Mapping[str, Any] | None


class Pod:
    """One pod of `template` (a Deployment's spec.template: {"metadata": …, "spec": …}). A context manager.

    `config_maps` and `secrets` are the objects the pod's volumes name (name → object with `data`, and for a
    ConfigMap `binaryData`, base64 as the API returns them); `pvc_dirs` maps a claim name to a host folder.
    Every container carries the label `endpointctl.test/pod=<name>`; `close()` removes all of them.
    """

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
        self.aliases = list(aliases)
        self._where = f"pod {name}"
        self._work = work_dir / name
        self._pause: Container | None = None
        self._running: dict[str, Container] = {}
        self._sources = {"configMap": config_maps or {}, "secret": secrets or {}}
        spec = _template_spec(template, self._where)
        security = dict(spec.get("securityContext") or {})
        self._check_pod(spec, security)
        self.fs_group: int | None = security.get("fsGroup")
        self._change_policy: str = security.get("fsGroupChangePolicy", "Always")
        self._volumes = self._read_volumes(
            spec.get("volumes") or [], config_maps or {}, secrets or {}, pvc_dirs or {}
        )
        groups = [
            *([self.fs_group] if self.fs_group is not None else []),
            *security.get("supplementalGroups", []),
        ]
        self._containers = [
            self._read_container(c, security, groups, init=init)
            for init, key in ((True, "initContainers"), (False, "containers"))
            for c in spec.get(key) or []
        ]
        if not any(not c.init for c in self._containers):
            raise PodSpecError(f"{self._where}: spec.containers is empty")
        names = [c.name for c in self._containers]
        if len(set(names)) != len(names):
            raise PodSpecError(f"{self._where}: container names repeat: {names}")
        uid, gid = security.get("runAsUser"), security.get("runAsGroup")
        # The kubelet's pause runs as 65535 when the pod names no user.
        self._pause_user = _user(uid if uid is not None else 65535, gid if uid is not None else 65535)

    def __enter__(self) -> Pod:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- running ----------------------------------------------------------------------------------------------
    def start(self, timeout: float = 300) -> None:
        """The pod's volumes, its pause container, each init container to exit 0 in order (else PodFailed),
        then the app containers, detached. `timeout` bounds the whole start (pulls and init containers)."""
        deadline = time.monotonic() + timeout
        self._materialise_volumes()
        for container in self._containers:
            self._pull(container)
        self._start_pause()
        for container in self._containers:
            created = self._create(container)
            created.start()
            if container.init:
                self._await_exit(container.name, created, deadline)

    def wait_ready(self, timeout: float = 180) -> None:
        """Until every container with a readinessProbe answers it with 2xx/3xx at the pod's address.

        The probes are polled every 0.2 s, faster than their periodSeconds: the answer is the same, the test
        waits less. PodFailed when an app container stops meanwhile or the time runs out.
        """
        deadline = time.monotonic() + timeout
        pending = {c.name: c for c in self._containers if not c.init and c.probe is not None}
        last = ""
        while True:
            for name, container in self._running.items():
                if name in self._app_names():
                    self._fail_if_stopped(name, container)
            for name, spec in list(pending.items()):
                ok, last = self._probe(spec)
                if ok:
                    del pending[name]
            if not pending:
                return
            if time.monotonic() > deadline:
                logs = "\n".join(f"--- {n}\n{self.logs(n)}" for n in pending)
                raise PodFailed(f"{self._where}: {sorted(pending)} not ready in {timeout} s ({last})\n{logs}")
            time.sleep(_POLL_S)

    @property
    def ip(self) -> str:
        """The pod's address on its network (the pause container's)."""
        if self._pause is None:
            raise RuntimeError(f"{self._where} is not started")
        self._pause.reload()
        address: str = self._pause.attrs["NetworkSettings"]["Networks"][self.network]["IPAddress"]
        return address

    def port(self, name_or_number: str | int, container: str | None = None) -> int:
        """A container port by number (itself) or by name (from the `ports` of `container`, or of any)."""
        if isinstance(name_or_number, int):
            return name_or_number
        for spec in self._containers:
            if (container is None or spec.name == container) and name_or_number in spec.ports:
                return spec.ports[name_or_number]
        raise PodSpecError(f"{self._where}: no container port named {name_or_number!r}")

    def logs(self, container: str) -> str:
        """The output (stdout and stderr) of a started container, init or app."""
        text: bytes = self._started(container).logs()
        return text.decode("utf-8", "replace")

    def exec(self, container: str, argv: Sequence[str]) -> tuple[int, str]:
        """Run `argv` in a running container as its user (its groups, capabilities and no-new-privileges apply
        as they do to the container's own process): (exit code, stdout and stderr)."""
        running = self._started(container)
        user = next(c.user for c in self._containers if c.name == container)
        code, output = running.exec_run(list(argv), user=user or "")
        return int(code), output.decode("utf-8", "replace")

    def close(self) -> None:
        """Remove every container of the pod (by its label, so even ones a failed start left)."""
        leftovers = self.engine.containers.list(all=True, filters={"label": f"{LABEL}={self.name}"})
        for container in leftovers:
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True)
        self._running.clear()
        self._pause = None

    # --- reading the template ---------------------------------------------------------------------------------
    def _check_pod(self, spec: Mapping[str, Any], security: Mapping[str, Any]) -> None:
        _check(spec, _POD, "pod", self._where)
        if spec.get("automountServiceAccountToken") is not False:
            raise PodSpecError(
                f"{self._where}: automountServiceAccountToken is not false: Kubernetes would mount a "
                "service-account token, which this harness cannot"
            )
        if spec.get("enableServiceLinks", False) is not False:
            raise PodSpecError(f"{self._where}: enableServiceLinks true: Service variables are not emulated")
        if spec.get("dnsPolicy", "ClusterFirst") != "ClusterFirst":
            raise PodSpecError(f"{self._where}: dnsPolicy {spec['dnsPolicy']} (only ClusterFirst)")
        if spec.get("restartPolicy", "Always") != "Always":
            raise PodSpecError(f"{self._where}: restartPolicy {spec['restartPolicy']} (only Always)")
        where = f"{self._where}: securityContext"
        _check(security, _POD_SECURITY, "podSecurity", where)
        _seccomp(security, where)
        if security.get("fsGroupChangePolicy", "Always") not in {"Always", "OnRootMismatch"}:
            raise PodSpecError(f"{where}.fsGroupChangePolicy {security['fsGroupChangePolicy']}")

    def _read_volumes(
        self,
        volumes: Sequence[Mapping[str, Any]],
        config_maps: Mapping[str, Mapping[str, Any]],
        secrets: Mapping[str, Mapping[str, Any]],
        pvc_dirs: Mapping[str, Path],
    ) -> dict[str, _Volume]:
        out: dict[str, _Volume] = {}
        for volume in volumes:
            name = volume["name"]
            where = f"{self._where}: volume {name}"
            kinds = set(volume) - {"name"}
            if len(kinds) != 1 or not kinds <= {"emptyDir", "configMap", "secret", "persistentVolumeClaim"}:
                raise PodSpecError(
                    f"{where}: {sorted(kinds)} not emulated (emptyDir, configMap, secret, pvc)"
                )
            kind = kinds.pop()
            source = volume[kind] or {}
            if kind == "emptyDir":
                _check(source, {"medium"}, "emptyDir", where)
                if source.get("medium", "") != "":
                    raise PodSpecError(f"{where}: emptyDir.medium {source['medium']} (only the node's disk)")
                out[name] = _Volume(kind, {}, read_only=False)
            elif kind == "configMap":
                _check(source, {"name", "defaultMode"}, "configMap", where)
                if source["name"] not in config_maps:
                    raise PodSpecError(f"{where}: ConfigMap {source['name']} not given (config_maps=)")
                out[name] = _Volume(kind, source, read_only=True)
            elif kind == "secret":
                _check(source, {"secretName", "defaultMode"}, "secret", where)
                if source["secretName"] not in secrets:
                    raise PodSpecError(f"{where}: Secret {source['secretName']} not given (secrets=)")
                out[name] = _Volume(kind, source, read_only=True)
            else:
                _check(source, {"claimName", "readOnly"}, "persistentVolumeClaim", where)
                if source["claimName"] not in pvc_dirs:
                    raise PodSpecError(f"{where}: claim {source['claimName']} has no folder (pvc_dirs=)")
                out[name] = _Volume(
                    kind, source, bool(source.get("readOnly")), Path(pvc_dirs[source["claimName"]])
                )
        return out

    def _read_container(
        self, spec: Mapping[str, Any], pod_security: Mapping[str, Any], groups: Sequence[int], *, init: bool
    ) -> _Container:
        name = spec["name"]
        where = f"{self._where}: {'init container' if init else 'container'} {name}"
        _check(spec, _CONTAINER, "container", where)
        if init and "readinessProbe" in spec:
            raise PodSpecError(f"{where}: an init container may not have a readinessProbe")
        pull = spec.get("imagePullPolicy") or _default_pull_policy(spec["image"])
        if pull not in _PULL_POLICIES:
            raise PodSpecError(f"{where}: imagePullPolicy {pull}")
        security = dict(spec.get("securityContext") or {})
        _check(security, _CONTAINER_SECURITY, "containerSecurity", where)
        _seccomp(security, f"{where}: securityContext")
        if security.get("privileged"):
            raise PodSpecError(f"{where}: privileged containers are not emulated")
        capabilities = security.get("capabilities") or {}
        _check(capabilities, {"drop", "add"}, "capabilities", f"{where}: securityContext")
        uid = security.get("runAsUser", pod_security.get("runAsUser"))
        gid = security.get("runAsGroup", pod_security.get("runAsGroup"))
        if security.get("runAsNonRoot", pod_security.get("runAsNonRoot")):
            # The kubelet checks the image's user when none is named; this harness does not read images.
            if uid is None:
                raise PodSpecError(
                    f"{where}: runAsNonRoot without runAsUser (the image's user is not checked)"
                )
            if uid == 0:
                raise PodSpecError(f"{where}: runAsNonRoot with runAsUser 0: the kubelet refuses to start it")
        env = _environment(spec.get("env") or [], where)
        options: dict[str, Any] = {
            "environment": env,
            "read_only": bool(security.get("readOnlyRootFilesystem")),
            "cap_drop": list(capabilities.get("drop") or []) or None,
            "cap_add": list(capabilities.get("add") or []) or None,
            "group_add": [str(g) for g in groups] or None,
            # Kubernetes' default is true: only an explicit false sets no_new_privs.
            "security_opt": ["no-new-privileges"]
            if security.get("allowPrivilegeEscalation") is False
            else None,
            **_resources(spec.get("resources") or {}, where),
        }
        if spec.get("command"):
            options["entrypoint"] = [_expand(a, env) for a in spec["command"]]
        if spec.get("args"):
            options["command"] = [_expand(a, env) for a in spec["args"]]
        if spec.get("workingDir"):
            options["working_dir"] = spec["workingDir"]
        ports = _ports(spec.get("ports") or [], where)
        probe = spec.get("readinessProbe")
        if probe is not None:
            _check_probe(probe, ports, where)
        mounts = []
        for mount in spec.get("volumeMounts") or []:
            _check(mount, {"name", "mountPath", "readOnly", "subPath"}, "volumeMount", where)
            if mount["name"] not in self._volumes:
                raise PodSpecError(f"{where}: volumeMount {mount['name']}: no such volume")
            sub = mount.get("subPath", "")
            if PurePosixPath(sub).is_absolute() or ".." in PurePosixPath(sub).parts:
                raise PodSpecError(f"{where}: volumeMount {mount['name']}: subPath {sub!r} leaves the volume")
            mounts.append((mount["name"], sub, mount["mountPath"], bool(mount.get("readOnly"))))
        user = None if uid is None else _user(uid, gid)
        return _Container(name, spec["image"], pull, init, user, options, mounts, ports, probe)

    # --- volumes ----------------------------------------------------------------------------------------------
    def _materialise_volumes(self) -> None:
        for name, volume in self._volumes.items():
            if volume.kind == "persistentVolumeClaim":
                # The kubelet re-owns a writable claim for fsGroup (drivers that support it: most block and
                # CSI volumes); a read-only one never (hardening.POD_SECURITY relies on that).
                if self.fs_group is not None and not volume.read_only:
                    _fs_group_own(volume.folder, self.fs_group, read_only=False, policy=self._change_policy)
                continue
            volume.folder = self._work / "volumes" / name
            volume.folder.mkdir(parents=True)
            if volume.kind == "emptyDir":
                # The kubelet makes an emptyDir 0777, then for fsGroup OR-s rw+x for the group and setgid into
                # it and chowns it to :fsGroup — 2777 root:fsGroup (not 2775: the mask adds, never removes).
                volume.folder.chmod(0o777)
            else:
                self._write_files(volume)
            if self.fs_group is not None:
                _fs_group_own(volume.folder, self.fs_group, read_only=volume.read_only, policy="Always")

    def _write_files(self, volume: _Volume) -> None:
        """A ConfigMap's `data` (text) and `binaryData`, or a Secret's `data` (base64), one file per key with
        `defaultMode` (0644 by default) in a 0755 folder, owned by root, as the kubelet's atomic writer does."""
        if volume.kind == "configMap":
            source = self._sources["configMap"][volume.source["name"]]
            files = {k: str(v).encode() for k, v in (source.get("data") or {}).items()}
            files |= {k: base64.b64decode(v) for k, v in (source.get("binaryData") or {}).items()}
        else:
            source = self._sources["secret"][volume.source["secretName"]]
            files = {k: base64.b64decode(v) for k, v in (source.get("data") or {}).items()}
        mode = int(volume.source.get("defaultMode", 0o644))
        volume.folder.chmod(0o755)
        for key, data in files.items():
            if "/" in key or key in {".", ".."}:
                raise PodSpecError(f"{self._where}: {volume.kind} key {key!r} is not a file name")
            path = volume.folder / key
            path.write_bytes(data)
            path.chmod(mode)

    def _bind(self, container: _Container) -> list[Mount]:
        out = []
        for volume_name, sub, target, read_only in container.mounts:
            volume = self._volumes[volume_name]
            source = volume.folder / sub if sub else volume.folder
            if sub and not source.exists():
                if volume.read_only:
                    raise PodFailed(
                        f"{self._where}: {container.name}: subPath {sub} not in volume {volume_name}"
                    )
                # The kubelet creates a missing subPath folder with the volume root's mode (setgid included,
                # so the group stays the fsGroup).
                source.mkdir(parents=True)
                source.chmod(stat.S_IMODE(volume.folder.stat().st_mode))
            out.append(Mount(target, str(source), type="bind", read_only=read_only or volume.read_only))
        return out

    # --- containers -------------------------------------------------------------------------------------------
    def _pull(self, container: _Container) -> None:
        try:
            self.engine.images.get(container.image)
            present = True
        except docker.errors.ImageNotFound:
            present = False
        if container.pull == "Never" and not present:
            raise PodFailed(
                f"{self._where}: {container.name}: {container.image} absent, imagePullPolicy Never"
            )
        if container.pull == "Always" or not present:
            self.engine.images.pull(container.image)

    def _start_pause(self) -> None:
        endpoint = self.engine.api.create_endpoint_config(aliases=self.aliases or None)
        self._pause = self.engine.containers.create(
            BASE_IMAGE,
            entrypoint=["sleep"],
            command=["infinity"],
            name=f"{self.name}_pause",
            hostname=self.name[:63],
            user=self._pause_user,
            read_only=True,
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            network=self.network,
            networking_config={self.network: endpoint},
            labels={LABEL: self.name},
        )
        self._pause.start()

    def _create(self, container: _Container) -> Container:
        created = self.engine.containers.create(
            container.image,
            name=f"{self.name}_{container.name}",
            user=container.user,
            mounts=self._bind(container),
            network_mode=f"container:{self.name}_pause",
            labels={LABEL: self.name},
            **container.options,
        )
        self._running[container.name] = created
        return created

    def _await_exit(self, name: str, container: Container, deadline: float) -> None:
        while True:
            container.reload()
            if container.status == "exited":
                code = int(container.attrs["State"]["ExitCode"])
                if code != 0:
                    raise PodFailed(f"{self._where}: init container {name} exited {code}:\n{self.logs(name)}")
                return
            if time.monotonic() > deadline:
                raise PodFailed(f"{self._where}: init container {name} still running:\n{self.logs(name)}")
            time.sleep(_POLL_S)

    def _fail_if_stopped(self, name: str, container: Container) -> None:
        container.reload()
        if container.status != "running":
            code = container.attrs["State"].get("ExitCode")
            raise PodFailed(
                f"{self._where}: container {name} is {container.status} (exit {code}):\n{self.logs(name)}"
            )

    def _probe(self, container: _Container) -> tuple[bool, str]:
        assert container.probe is not None
        get = container.probe["httpGet"]
        url = f"http://{self.ip}:{self.port(get['port'], container.name)}{get.get('path', '/')}"
        headers = {h["name"]: h["value"] for h in get.get("httpHeaders") or []}
        try:
            answer = httpx.get(url, headers=headers, timeout=container.probe.get("timeoutSeconds", 1))
        except httpx.HTTPError as exc:
            return False, f"{url}: {exc!r}"
        return 200 <= answer.status_code < 400, f"{url}: {answer.status_code}"

    def _app_names(self) -> set[str]:
        return {c.name for c in self._containers if not c.init}

    def _started(self, container: str) -> Container:
        if container not in self._running:
            raise KeyError(
                f"{self._where}: no started container {container!r} (started: {sorted(self._running)})"
            )
        return self._running[container]


# --- the template's pieces ----------------------------------------------------------------------------------------
def _template_spec(template: Mapping[str, Any], where: str) -> dict[str, Any]:
    _check(template, {"spec"}, "template", where)
    annotations = (template.get("metadata") or {}).get("annotations") or {}
    for key in annotations:
        if key.startswith(_RUNTIME_ANNOTATIONS):
            raise PodSpecError(f"{where}: metadata.annotations {key} is not emulated")
    return dict(template["spec"])


def _check(fields: Mapping[str, Any], emulated: set[str], kind: str, where: str) -> None:
    """Every field is emulated or listed in IGNORED under `kind`."""
    prefix = f"{kind}."
    ignored = {
        k.removeprefix(prefix) for k in IGNORED if k.startswith(prefix) and "." not in k.removeprefix(prefix)
    }
    unknown = sorted(set(fields) - emulated - ignored)
    if unknown:
        raise PodSpecError(f"{where}: {', '.join(unknown)} not emulated by the pod harness")


def _seccomp(security: Mapping[str, Any], where: str) -> None:
    kind = (security.get("seccompProfile") or {}).get("type", "RuntimeDefault")
    if kind != "RuntimeDefault":
        raise PodSpecError(f"{where}.seccompProfile {kind} (only RuntimeDefault: Docker's default profile)")


def _user(uid: int, gid: int | None) -> str:
    # No runAsGroup: the runtime takes the user's group from the image (or 0), which Docker does for "uid".
    return f"{uid}" if gid is None else f"{uid}:{gid}"


def _default_pull_policy(image: str) -> str:
    """Kubernetes' default: Always for `:latest` or no tag (and no digest), else IfNotPresent."""
    if "@" in image:
        return "IfNotPresent"
    last = image.rsplit("/", 1)[-1]
    return "Always" if ":" not in last or last.endswith(":latest") else "IfNotPresent"


def _environment(env: Sequence[Mapping[str, Any]], where: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in env:
        _check(item, {"name", "value"}, "env", f"{where}: env {item.get('name')}")
        # Each value may refer to the variables defined before it, as in Kubernetes.
        out[item["name"]] = _expand(str(item.get("value", "")), out)
    return out


def _expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes' `$(VAR)` expansion: a defined variable is replaced, `$$` is `$`, the rest stays as written."""

    def replace(match: re.Match[str]) -> str:
        if match[1] == "$":
            return "$"
        return env.get(match[2], match[0])

    return _REFERENCE.sub(replace, text)


def _ports(ports: Sequence[Mapping[str, Any]], where: str) -> dict[str, int]:
    out = {}
    for port in ports:
        _check(
            port, {"name", "containerPort", "protocol"}, "port", f"{where}: port {port.get('containerPort')}"
        )
        if "name" in port:
            out[port["name"]] = int(port["containerPort"])
    return out


def _check_probe(probe: Mapping[str, Any], ports: Mapping[str, int], where: str) -> None:
    where = f"{where}: readinessProbe"
    _check(probe, {"httpGet", "periodSeconds", "timeoutSeconds"}, "readinessProbe", where)
    if "httpGet" not in probe:
        raise PodSpecError(f"{where}: only httpGet probes are emulated (got {sorted(probe)})")
    get = probe["httpGet"]
    _check(get, {"path", "port", "scheme", "httpHeaders"}, "httpGet", f"{where}.httpGet")
    if get.get("scheme", "HTTP") != "HTTP":
        raise PodSpecError(f"{where}.httpGet.scheme {get['scheme']} (only HTTP)")
    if isinstance(get["port"], str) and get["port"] not in ports:
        raise PodSpecError(f"{where}.httpGet.port {get['port']!r}: no container port has that name")


def _resources(resources: Mapping[str, Any], where: str) -> dict[str, Any]:
    _check(resources, {"limits", "requests"}, "resources", where)
    limits, requests = resources.get("limits") or {}, resources.get("requests") or {}
    _check(limits, {"cpu", "memory"}, "resources.limits", f"{where}: resources.limits")
    _check(requests, {"cpu"}, "resources.requests", f"{where}: resources.requests")
    out: dict[str, Any] = {}
    if "memory" in limits:
        out["mem_limit"] = round(_quantity(limits["memory"], where))
    if "cpu" in limits:
        # The kubelet's CFS quota per 100 ms period, which nano_cpus sets.
        out["nano_cpus"] = round(_quantity(limits["cpu"], where) * 1e9)
    # The kubelet's cpu.shares: the request (defaulted to the limit), 1024 a core, 2 at least.
    cpu = requests.get("cpu", limits.get("cpu"))
    out["cpu_shares"] = max(2, int(_quantity(cpu, where) * 1024)) if cpu is not None else 2
    return out


def _quantity(text: Any, where: str) -> float:
    match = _QUANTITY.match(str(text))
    if match is None:
        raise PodSpecError(f"{where}: resource quantity {text!r} not understood")
    return float(match[1]) * _SCALE[match[2]]


def _fs_group_own(root: Path, gid: int, *, read_only: bool, policy: str) -> None:
    """The kubelet's SetVolumeOwnership: every file :gid, its mode OR-ed with rw (ro for a read-only volume)
    for the group, folders also x and setgid; the owner stays. OnRootMismatch skips a volume whose root
    already has the group and those bits."""
    mask = _RO_MASK if read_only else _RW_MASK
    folder_bits = mask | _EXEC_MASK | stat.S_ISGID
    info = root.stat()
    if policy == "OnRootMismatch" and info.st_gid == gid and info.st_mode & folder_bits == folder_bits:
        return
    paths = [root]
    for folder, folders, files in os.walk(root):
        paths += [Path(folder, name) for name in [*folders, *files]]
    for path in paths:
        os.lchown(path, -1, gid)
        if not path.is_symlink():
            bits = folder_bits if path.is_dir() else mask
            path.chmod(stat.S_IMODE(path.stat().st_mode) | bits)
