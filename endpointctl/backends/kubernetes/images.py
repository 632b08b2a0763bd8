"""The images a Kubernetes endpoint runs, built with the Docker engine and published for the cluster.

Per deployment: its **environment image** (the Docker backend's: `FROM environment.image`, the conda file's
packages in a venv, the scoring host and the storage-initializer; same digest, same cache) and, when the model or
code is local, a **modelcar** (`FROM` the environment image plus one layer with the files; engine/modelcar.py).
Per endpoint: the **gateway image** (`FROM kube_gateway_image`, httptools and the gateway's code). So no container
installs anything when it starts, and a model of any size travels as an image layer.

Publishing (engine/registry.py): with `kube_registry` each image is pushed and the manifests name it by the
digest the registry answered; without one, images stay in this engine under their content tags for clusters that
share it (kind, minikube, Docker Desktop), with `imagePullPolicy: IfNotPresent`.

A plan (`build=False`, for `--dry-run`) builds and pushes nothing: it names each image by its content tag (the
engine is asked only for the base image's id, which the tag digests) and says what an apply would build and push.
Everything here blocks on the engine; callers run it in a thread.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import docker.errors
from docker import DockerClient

from endpointctl.backends.common.environments.conda import PythonRequirements
from endpointctl.backends.common.environments.scoring_host import (
    CONTROLLER_HOST,
    GATEWAY_HOST,
    REPLACED_BY_HOST,
    REPLACED_REASON,
    SCORING_HOST,
    ServingHost,
)
from endpointctl.backends.engine import modelcar
from endpointctl.backends.engine.builder import (
    REPOSITORIES,
    ImageBuilder,
    Progress,
    environment_digest,
)
from endpointctl.backends.engine.client import connect
from endpointctl.backends.engine.registry import publish
from endpointctl.backends.kubernetes.packaging import PodSources
from endpointctl.core.errors import BackendUnavailable, InvalidInput

# Where the modelcar keeps the files (engine/modelcar.py's ROOT), as the storage-initializer reads them.
MODELCAR_ROOT = modelcar.ROOT


def pull_policy(registry: str | None) -> str:
    """From a registry, by digest: `Always` costs one manifest request per pod start (layers are cached by
    digest) and proves the node may still pull the image. From the local engine: never pull (there is nothing
    to pull it from)."""
    return "Always" if registry is not None else "IfNotPresent"


@dataclass(frozen=True)
class DeploymentImages:
    environment: str  # the inference server's image
    modelcar: str | None  # the storage-initializer's image; None when every source is remote
    pull_policy: str
    notes: tuple[str, ...] = ()

    @property
    def initializer(self) -> str:
        return self.modelcar or self.environment


@dataclass(frozen=True)
class GatewayImage:
    reference: str
    pull_policy: str
    notes: tuple[str, ...] = ()


class ImageSupply:
    """Builds (or plans) and publishes the images of one backend context."""

    def __init__(
        self, engine_env: Mapping[str, str], work_dir: Path, logs_dir: Path, registry: str | None
    ) -> None:
        self._engine_env = dict(engine_env)
        self._work_dir = work_dir
        self._logs_dir = logs_dir
        self.registry = registry

    @contextmanager
    def _engine(self) -> Iterator[DockerClient]:
        try:
            client = connect(self._engine_env)
        except BackendUnavailable as exc:
            raise BackendUnavailable(
                "kubernetes: the backend builds each deployment's environment image and modelcar with a Docker "
                f"engine and none answers ({exc}); start one or point `configure --defaults docker_host=…` at it"
            ) from exc
        try:
            yield client
        finally:
            client.close()

    # --- deployments ------------------------------------------------------------------------------------------
    def deployment(
        self,
        sources: PodSources,
        *,
        endpoint: str,
        deployment: str,
        build: bool,
        progress: Progress | None = None,
    ) -> DeploymentImages:
        log = self._logs_dir / endpoint / deployment / "build.log"
        with self._engine() as client:
            env_local, env_ref, notes = self._environment(
                client, sources.base_image, sources.requirements, SCORING_HOST, log, build, progress
            )
            car = None
            if sources.local:
                files = {source.key: source.path for source in sources.local}
                car_ref, car_notes = self._modelcar(client, env_local, files, build, progress)
                car = car_ref
                notes += car_notes
        return DeploymentImages(env_ref, car, pull_policy(self.registry), tuple(notes))

    def gateway(
        self, base_image: str, *, endpoint: str, build: bool, progress: Progress | None = None
    ) -> GatewayImage:
        return self._program(GATEWAY_HOST, base_image, endpoint, build, progress)

    def controller(
        self, base_image: str, *, endpoint: str, build: bool, progress: Progress | None = None
    ) -> GatewayImage:
        """The rollout controller's image, on the gateway's base (a Python 3 image)."""
        return self._program(CONTROLLER_HOST, base_image, endpoint, build, progress)

    def _program(
        self, host: ServingHost, base_image: str, endpoint: str, build: bool, progress: Progress | None
    ) -> GatewayImage:
        """An image of one of endpointctl's own programs (no user packages) on `base_image`."""
        log = self._logs_dir / endpoint / f"{host.name}-build.log"
        nothing = PythonRequirements("kube_gateway_image", None, ())
        with self._engine() as client:
            _, reference, notes = self._environment(client, base_image, nothing, host, log, build, progress)
        return GatewayImage(reference, pull_policy(self.registry), tuple(notes))

    # --- the pieces -------------------------------------------------------------------------------------------
    def _environment(
        self,
        client: DockerClient,
        base_image: str,
        requirements: PythonRequirements,
        host: ServingHost,
        log: Path,
        build: bool,
        progress: Progress | None,
    ) -> tuple[str, str, list[str]]:
        """(local tag, what a manifest names, notes) of a serving host's image on `base_image`."""
        what = {GATEWAY_HOST.name: "gateway image", CONTROLLER_HOST.name: "rollout controller image"}.get(
            host.name, "environment image"
        )
        builder = ImageBuilder(client, self._work_dir)
        if build:
            built = builder.ensure(base_image, requirements, log=log, progress=progress, host=host)
            published = publish(client, built.tag, self.registry, progress=progress)
            notes = [*built.notes, f"{what} {built.tag}: {'reused' if built.reused else 'built'}"]
            if published.pushed:
                notes.append(f"{what} pushed as {published.reference}")
            return built.tag, published.reference, notes
        wanted = requirements.without(REPLACED_BY_HOST, REPLACED_REASON)
        try:
            base = client.images.get(base_image)
        except docker.errors.ImageNotFound as exc:
            raise InvalidInput(
                f"{what}: base image {base_image} is not in the local engine, so the image it would build "
                f"cannot be named yet; pull it first (`docker pull {base_image}`), as an apply would"
            ) from exc
        digest = environment_digest(wanted, base_image, str(base.id), host)
        tag = f"{REPOSITORIES[host.name]}:{digest[:16]}"
        size = len(wanted.packages)
        state = (
            "already built"
            if builder.find(digest) is not None
            else f"would be built FROM {base_image} with {size} package{'s' * (size != 1)} from "
            f"{wanted.source} and endpointctl's {host.name} host"
        )
        return tag, self._planned(tag), [*wanted.notes, f"{what} {tag}: {state}", *self._push_note(tag)]

    def _modelcar(
        self,
        client: DockerClient,
        base_tag: str,
        files: Mapping[str, Path],
        build: bool,
        progress: Progress | None,
    ) -> tuple[str, list[str]]:
        # The environment image's tag is a content digest: the modelcar's name follows from it and the files
        # without the environment image having to exist (a plan may come before its build).
        if build:
            car = modelcar.build_modelcar(
                client, base_tag, files, self._work_dir, base_key=base_tag, progress=progress
            )
            published = publish(client, car.tag, self.registry, progress=progress)
            notes = [
                f"modelcar {car.tag} ({car.size_bytes / 1e6:.1f} MB): {'reused' if car.reused else 'built'}"
            ]
            if published.pushed:
                notes.append(f"modelcar pushed as {published.reference}")
            return published.reference, notes
        digest, size = modelcar.content_digest(base_tag, files)
        tag = f"{modelcar.REPOSITORY}:{digest[:16]}"
        state = (
            "already built"
            if modelcar.find(client, digest) is not None
            else f"would be built FROM {base_tag} with {size / 1e6:.1f} MB of {' and '.join(sorted(files))}"
        )
        return self._planned(tag), [f"modelcar {tag}: {state}", *self._push_note(tag)]

    def _planned(self, tag: str) -> str:
        """What a plan's manifest names: the local tag, or the tag it would be pushed under."""
        if self.registry is None:
            return tag
        repository, _, version = tag.rpartition(":")
        return f"{self.registry}/{repository.rsplit('/', 1)[-1]}:{version}"

    def _push_note(self, tag: str) -> list[str]:
        if self.registry is None:
            return [f"{tag} stays in the local engine (no kube_registry): the cluster must share it"]
        return [f"{tag} would be pushed to {self.registry}; the applied manifest names it by digest"]
