"""One image per environment digest: `FROM environment.image`, a venv with the conda file's packages,
and the scoring host.

Built with `docker run` + `docker commit`, not a Dockerfile: the SDK speaks only the classic builder
(BuildKit needs a gRPC session the SDK does not offer, and Debian's docker.io has no buildx), and the
classic builder can neither mount a file nor take a secret. A build container can: the CA bundle, the
local index folders and pip.conf arrive as read-only bind mounts (see pipconf.py) and vanish with the
container, so no layer holds them. The image config is then written wholesale at commit time.

The digest covers the requirements (minus servers the host replaces), the scoring host's source, the
base image's name and its image id, so a changed base or host makes a new image and identical
deployments share one. Builds of one digest are serialised by a lock file and re-checked under it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker.errors
from docker import DockerClient
from docker.types import Mount
from docker.utils import parse_repository_tag

from endpointctl.backends.common.environments.conda import PythonRequirements, requirements_digest
from endpointctl.backends.common.environments.scoring_host import (
    REPLACED_BY_HOST,
    REPLACED_REASON,
    SCORING_HOST,
    ServingHost,
    copy_host,
    host_marker,
)
from endpointctl.backends.engine import labels
from endpointctl.backends.engine.pipconf import container_pip_config
from endpointctl.core.errors import OperationFailed
from endpointctl.core.filelock import exclusive

REPOSITORY = "endpointctl/env"
# Images of other serving hosts (the Kubernetes gateway's) are named after the host.
REPOSITORIES = {
    SCORING_HOST.name: REPOSITORY,
    "gateway": "endpointctl/gateway",
    "controller": "endpointctl/rollout-controller",
}
VENV = "/opt/endpointctl/venv"
BUILD_ROOT = "/run/endpointctl-build"
CONTEXT = BUILD_ROOT + "/ctx"
SCORING_PORT = 5001
SERVE_COMMAND = (
    "python",
    "-m",
    "endpointctl.serving.scoring",
    "--host",
    "0.0.0.0",
    "--port",
    str(SCORING_PORT),
)
_SCRIPT = Path(__file__).with_name("build_script.sh")

Progress = Callable[[str], None]


class ImageBuildError(OperationFailed):
    """The base image could not be had or the build container failed; the message names the log."""


@dataclass(frozen=True)
class EnvironmentImage:
    image_id: str
    tag: str
    digest: str
    reused: bool
    notes: tuple[str, ...]


def environment_digest(
    requirements: PythonRequirements, base_image: str, base_id: str, host: ServingHost = SCORING_HOST
) -> str:
    """Hex digest naming the environment image; `requirements` must already exclude replaced servers."""
    payload = {
        "requirements": requirements_digest(requirements, host_marker=host_marker(host=host)),
        "base": base_image,
        "base_id": base_id,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


class ImageBuilder:
    """Builds and finds environment images. `work_dir` holds lock files and transient build contexts."""

    def __init__(self, client: DockerClient, work_dir: Path) -> None:
        self.client = client
        self.work_dir = work_dir

    def find(self, digest: str) -> Any | None:
        found = self.client.images.list(filters=labels.selector(labels.ours(env_digest=digest)))
        return found[0] if found else None

    def ensure(
        self,
        base_image: str,
        requirements: PythonRequirements,
        *,
        log: Path,
        progress: Progress | None = None,
        host: ServingHost = SCORING_HOST,
    ) -> EnvironmentImage:
        """The image for `requirements` on `base_image`, built on first use; later calls only look it up."""
        emit = _Emitter(log, progress)
        wanted = requirements.without(REPLACED_BY_HOST, REPLACED_REASON)
        base = self._base(base_image, emit)
        digest = environment_digest(wanted, base_image, base.id, host)
        repository = REPOSITORIES[host.name]
        tag = f"{repository}:{digest[:16]}"
        existing = self.find(digest)
        if existing is not None:
            emit(f"environment image {tag} ({existing.short_id}) is ready; nothing to build")
            return EnvironmentImage(existing.id, tag, digest, True, wanted.notes)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        with exclusive(self.work_dir / f"image-{digest[:16]}.lock"):
            existing = self.find(digest)
            if existing is not None:
                emit(f"environment image {tag} was built meanwhile by another deployment; reusing it")
                return EnvironmentImage(existing.id, tag, digest, True, wanted.notes)
            image_id = self._build(base, base_image, wanted, digest, tag, emit, host)
        return EnvironmentImage(image_id, tag, digest, False, wanted.notes)

    def _base(self, name: str, emit: _Emitter) -> Any:
        try:
            return self.client.images.get(name)
        except docker.errors.ImageNotFound:
            pass
        except docker.errors.APIError as exc:
            raise ImageBuildError(
                f"base image {name}: the engine cannot inspect it: {_explain(exc)}"
            ) from exc
        emit(f"base image {name} is not present locally; pulling it")
        repository, tag = parse_repository_tag(name)
        try:
            for event in self.client.api.pull(repository, tag=tag or "latest", stream=True, decode=True):
                if "error" in event:
                    raise ImageBuildError(f"base image {name} could not be pulled: {event['error']}")
                status = " ".join(str(event[k]) for k in ("id", "status") if k in event)
                emit(f"pull {status}")
            return self.client.images.get(name)
        except docker.errors.DockerException as exc:
            emit(f"pull failed: {_explain(exc)}")
            raise ImageBuildError(
                f"base image {name} is not present locally and could not be pulled: {_explain(exc)}; "
                f"see {emit.log}"
            ) from exc

    def _build(
        self,
        base: Any,
        base_name: str,
        requirements: PythonRequirements,
        digest: str,
        tag: str,
        emit: _Emitter,
        host: ServingHost,
    ) -> str:
        started = time.monotonic()
        for note in requirements.notes:
            emit(note)
        emit(f"building environment image {tag} FROM {base_name} ({base.short_id}) for {requirements.source}")
        context = Path(tempfile.mkdtemp(prefix=f"build-{digest[:16]}-", dir=self.work_dir))
        name = f"endpointctl-build-{digest[:16]}"
        self._remove_container(name)  # debris of a build that died with its supervisor
        container = None
        try:
            pip = _write_context(context, requirements, host)
            # HostConfig mounts, not `volumes=`: the latter also declares VOLUMEs, which commit would keep.
            # Under a tmpfs, the bind mounts' mount points are made in memory, not as empty files in the layer.
            mounts = [Mount(BUILD_ROOT, None, type="tmpfs")]
            mounts += [Mount(CONTEXT, str(context), type="bind", read_only=True)]
            mounts += [
                Mount(inside, host, type="bind", read_only=True) for host, inside in pip.mounts.items()
            ]
            container = self.client.containers.create(
                base.id,
                name=name,
                entrypoint=["/bin/sh"],
                command=[f"{CONTEXT}/build.sh", requirements.python or "", host.smoke_imports],
                mounts=mounts,
                labels=labels.ours(env_digest=digest),
            )
            container.start()
            for line in _lines(container.logs(stream=True, follow=True)):
                emit(line, raw=True)
            status = int(container.wait().get("StatusCode", -1))
            if status != 0:
                raise ImageBuildError(
                    f"building the environment image for {requirements.source} FROM {base_name} failed "
                    f"(build container exited with status {status}); the build log {emit.log} has the output"
                )
            image = container.commit(
                repository=tag.rsplit(":", 1)[0], tag=digest[:16], conf=_image_config(base, digest, host)
            )
            emit(f"environment image {tag} ({image.short_id}) built in {time.monotonic() - started:.1f}s")
            return str(image.id)
        except docker.errors.DockerException as exc:
            emit(f"build failed: {_explain(exc)}")
            raise ImageBuildError(
                f"building environment image {tag} failed: {_explain(exc)}; see {emit.log}"
            ) from exc
        finally:
            if container is not None:
                self._remove_container(name)
            shutil.rmtree(context, ignore_errors=True)

    def _remove_container(self, name: str) -> None:
        with suppress(docker.errors.NotFound):
            self.client.containers.get(name).remove(force=True)


def _write_context(context: Path, requirements: PythonRequirements, host: ServingHost) -> Any:
    pip = container_pip_config()
    (context / "pip.conf").write_text(pip.text, encoding="utf-8")
    lines = [*requirements.pip_options, *requirements.packages, *host.requirements]
    (context / "requirements.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    shutil.copyfile(_SCRIPT, context / "build.sh")
    copy_host(context / "host" / "endpointctl", host=host)
    # The context is mounted read-only, but the container may run as another user: make it world-readable.
    for path in [context, *context.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return pip


def _image_config(base: Any, digest: str, host: ServingHost) -> dict[str, Any]:
    """The committed image's whole config: the base's, with the venv first on PATH and the server as CMD."""
    config = base.attrs.get("Config") or {}
    env = [e for e in config.get("Env") or [] if not e.startswith(("PATH=", "VIRTUAL_ENV="))]
    base_path = next(
        (e.split("=", 1)[1] for e in config.get("Env") or [] if e.startswith("PATH=")),
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    )
    return {
        "Env": [*env, f"PATH={VENV}/bin:{base_path}", f"VIRTUAL_ENV={VENV}"],
        "Cmd": list(SERVE_COMMAND) if host == SCORING_HOST else host.command,
        # The base's entrypoint is kept; the build container's /bin/sh must not leak into the image.
        "Entrypoint": config.get("Entrypoint") or [],
        "WorkingDir": config.get("WorkingDir") or "/",
        "ExposedPorts": {f"{SCORING_PORT}/tcp": {}} if host == SCORING_HOST else {},
        "Labels": {**(config.get("Labels") or {}), **labels.ours(env_digest=digest)},
    }


def _lines(chunks: Iterator[bytes]) -> Iterator[str]:
    pending = b""
    for chunk in chunks:
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for line in complete:
            yield line.decode("utf-8", "replace").rstrip("\r")
    if pending:
        yield pending.decode("utf-8", "replace")


def _explain(exc: Exception) -> str:
    explanation = getattr(exc, "explanation", None)
    return str(explanation or exc)


class _Emitter:
    """Appends to the build log (kept after the build) and forwards each line to the caller's progress."""

    def __init__(self, log: Path, progress: Progress | None) -> None:
        self.log = log
        self.progress = progress
        log.parent.mkdir(parents=True, exist_ok=True)

    def __call__(self, message: str, *, raw: bool = False) -> None:
        line = message if raw else f"{time.strftime('%Y-%m-%dT%H:%M:%S%z')} {message}"
        with self.log.open("a", encoding="utf-8") as out:
            out.write(line + "\n")
        if self.progress is not None:
            self.progress(message)
