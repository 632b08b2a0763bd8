"""The storage-initializer as a real init container: model and code copied into a per-revision volume.

Layout inside the volume (mounted at `APP_ROOT`, reference §4):

    /var/azureml-app/azureml-models/<model-name>/<version>/<model folder or file, by its own name>
    /var/azureml-app/<code-folder-name>/...

Sources are bind-mounted read-only (so the engine must be local, as for `az ml … --local`); the container
runs `stage_script.py` with the environment image's Python, which also verifies each staged copy against
the digest computed here (the registry's for registered models). The exited container is kept until the
next revision replaces it, so `docker logs` and `storage_log()` still show it; its output is also appended
to the caller's log file, which outlives the container.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import docker.errors
from docker import DockerClient
from docker.types import Mount

from endpointctl.backends.engine import labels
from endpointctl.core.assets.sources import CodeSource, ModelSource
from endpointctl.core.digest import PREFIX, tree_digest
from endpointctl.core.errors import EndpointctlError

APP_ROOT = "/var/azureml-app"
MODELS_DIR = "azureml-models"
_SOURCES = "/run/endpointctl-src"
_SCRIPT = Path(__file__).with_name("stage_script.py")


class StagingError(EndpointctlError):
    """The model or code could not be staged; the storage-initializer log says why."""


@dataclass(frozen=True)
class StagedVolume:
    volume: str
    container: str
    env: dict[str, str]
    log: Path


def volume_name(endpoint: str, deployment: str, revision: int) -> str:
    return f"endpointctl-app-{endpoint}-{deployment}-r{revision}"


def init_container_name(endpoint: str, deployment: str, revision: int) -> str:
    return f"endpointctl-init-{endpoint}-{deployment}-r{revision}"


def stage_volume(
    client: DockerClient,
    image: str,
    *,
    endpoint: str,
    deployment: str,
    revision: int,
    model: ModelSource | None,
    code: CodeSource | None,
    log: Path,
) -> StagedVolume:
    """Run the init container for one revision; returns the volume and the env vars instances need."""
    owner = labels.ours(endpoint=endpoint, deployment=deployment, revision=str(revision))
    plan: dict[str, Any] = {"app": APP_ROOT}
    env: dict[str, str] = {}
    mounts: list[Mount] = []
    if model is not None:
        plan["model"], model_env, model_mount = _model_plan(model)
        env.update(model_env)
        mounts.append(model_mount)
    if code is not None:
        plan["code"], code_env, code_mount = _code_plan(code)
        env.update(code_env)
        mounts.append(code_mount)
    plan["env"] = env

    volume = volume_name(endpoint, deployment, revision)
    try:
        client.volumes.get(volume)
    except docker.errors.NotFound:
        client.volumes.create(volume, labels={**owner, labels.ROLE: labels.ROLE_APP})
    name = init_container_name(endpoint, deployment, revision)
    _remove_container(client, name)  # an earlier attempt at the same revision
    mounts += [
        Mount(APP_ROOT, volume, type="volume"),
        Mount(f"{_SOURCES}/stage.py", str(_SCRIPT), type="bind", read_only=True),
    ]
    container = client.containers.create(
        image,
        name=name,
        entrypoint=["python", f"{_SOURCES}/stage.py"],
        command=[json.dumps(plan)],
        mounts=mounts,
        labels={**owner, labels.ROLE: labels.ROLE_STORAGE},
        network_disabled=True,
    )
    container.start()
    status = int(container.wait().get("StatusCode", -1))
    output = container.logs().decode("utf-8", "replace")
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a", encoding="utf-8") as out:
        out.write(output)
    if status != 0:
        failed = [line.split("FAILED: ", 1)[1] for line in output.splitlines() if "FAILED: " in line]
        reason = failed[-1] if failed else f"the init container exited with status {status}"
        raise StagingError(f"storage-initializer for {endpoint}/{deployment} revision {revision}: {reason}")
    return StagedVolume(volume, str(container.id), env, log)


def storage_log(client: DockerClient, endpoint: str, deployment: str) -> str | None:
    """The newest kept init container's output, or None when there is none."""
    found = client.containers.list(
        all=True,
        ignore_removed=True,
        filters=labels.selector(
            {**labels.ours(endpoint=endpoint, deployment=deployment), labels.ROLE: labels.ROLE_STORAGE}
        ),
    )
    if not found:
        return None
    newest = max(found, key=lambda c: int(c.labels.get(labels.REVISION, "0")))
    return str(newest.logs().decode("utf-8", "replace"))


def remove_revisions(client: DockerClient, endpoint: str, deployment: str, *, keep: frozenset[int]) -> None:
    """Remove init containers and app volumes of this deployment's revisions not in `keep`.

    A volume still mounted by a container (an instance of an old revision not yet stopped) stays.
    """
    owner = labels.ours(endpoint=endpoint, deployment=deployment)
    for container in client.containers.list(
        all=True, filters=labels.selector({**owner, labels.ROLE: labels.ROLE_STORAGE}), ignore_removed=True
    ):
        if int(container.labels.get(labels.REVISION, "-1")) not in keep:
            container.remove(force=True)
    for volume in client.volumes.list(filters=labels.selector({**owner, labels.ROLE: labels.ROLE_APP})):
        if int((volume.attrs.get("Labels") or {}).get(labels.REVISION, "-1")) in keep:
            continue
        try:
            volume.remove()
        except docker.errors.APIError as exc:
            if exc.status_code != 409:  # 409: in use; removed with a later revision
                raise


def _model_plan(model: ModelSource) -> tuple[dict[str, str], dict[str, str], Mount]:
    source = model.path.resolve()
    if not source.exists():
        raise StagingError(f"model path {model.path} does not exist")
    digest = tree_digest(source)
    name = model.name or digest.removeprefix(PREFIX)[:32]
    version = model.version or "1"
    _check_component(name, "model name")
    _check_component(version, "model version")
    expected = model.digest or digest
    inside = f"{_SOURCES}/model/{source.name}"
    version_dir = f"{APP_ROOT}/{MODELS_DIR}/{name}/{version}"
    item = {
        "source": inside,
        "origin": str(model.path),
        "label": f"{name}:{version}",
        "name": name,
        "version": version,
        "folder": source.name,
        "digest": expected,
    }
    return item, {"AZUREML_MODEL_DIR": version_dir}, Mount(inside, str(source), type="bind", read_only=True)


def _code_plan(code: CodeSource) -> tuple[dict[str, str], dict[str, str], Mount]:
    source = code.path.resolve()
    if not source.is_dir():
        raise StagingError(f"code folder {code.path} does not exist or is not a folder")
    if source.name == MODELS_DIR:
        raise StagingError(f"code folder {code.path} cannot be named {MODELS_DIR!r}: models are staged there")
    script = PurePosixPath(code.scoring_script)
    if script.is_absolute() or ".." in script.parts or not script.parts:
        raise StagingError(f"scoring_script {code.scoring_script!r} must be a path inside the code folder")
    inside = f"{_SOURCES}/code/{source.name}"
    entry = PurePosixPath(APP_ROOT) / source.name / script
    item = {
        "source": inside,
        "origin": str(code.path),
        "label": source.name,
        "folder": source.name,
        "script": str(script),
        "digest": tree_digest(source),
    }
    env = {"AML_APP_ROOT": str(entry.parent), "AZUREML_ENTRY_SCRIPT": entry.name}
    return item, env, Mount(inside, str(source), type="bind", read_only=True)


def _check_component(value: str, what: str) -> None:
    if not value or value in {".", ".."} or "/" in value or "\\" in value or "\0" in value:
        raise StagingError(f"{what} {value!r} cannot be used as a folder name")


def _remove_container(client: DockerClient, name: str) -> None:
    with contextlib.suppress(docker.errors.NotFound):
        client.containers.get(name).remove(force=True)
