"""Model and code as an OCI image (KServe's "modelcar" pattern): any size, pulled like any other image.

A modelcar is `FROM` a base the pod already pulls (the deployment's environment image), plus one layer holding
the files under `/modelcar/<name>/` (`model`, `code`). A pod's storage-initializer runs it and copies those
files into its emptyDir, so nothing travels in a ConfigMap (≤ 1 MiB) and no volume must be provisioned first.

The image is named by a digest of its content (the base image's id and every file's path, mode and sha256),
so an unchanged model and code is never built or pushed twice and a changed one always is. The build streams a
tar of the sources to the engine, never a copy of the model in a temporary folder.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import tarfile
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker.errors
from docker import DockerClient

from endpointctl.backends.engine import labels
from endpointctl.backends.engine.builder import Progress
from endpointctl.core.errors import OperationFailed
from endpointctl.core.filelock import exclusive

REPOSITORY = "endpointctl/modelcar"
ROOT = "/modelcar"
_CHUNK = 1 << 20


class ModelcarError(OperationFailed):
    """The sources could not be read or the engine would not build the image."""


@dataclass(frozen=True)
class Modelcar:
    image_id: str
    tag: str
    digest: str
    reused: bool
    size_bytes: int


def _files(sources: Mapping[str, Path]) -> Iterator[tuple[str, Path]]:
    """(path in the image under ROOT, file on disk), sorted, for every regular file of every source."""
    for name in sorted(sources):
        root = sources[name]
        if root.is_file():
            yield f"{name}/{root.name}", root
            continue
        if not root.is_dir():
            raise ModelcarError(f"{root}: no such file or folder for the {name} of the modelcar")
        for folder, dirs, files in os.walk(root):
            dirs.sort()
            for file in sorted(files):
                path = Path(folder) / file
                if path.is_symlink() or not path.is_file():
                    continue  # links may point outside the source; the copy in the pod would differ
                yield f"{name}/{path.relative_to(root).as_posix()}", path


def content_digest(base_key: str, sources: Mapping[str, Path]) -> tuple[str, int]:
    """Hex digest naming the modelcar, and the total size of its files. `base_key` names the base's content:
    its image id, or a tag that is itself a content digest (an environment image's)."""
    digest = hashlib.sha256(json.dumps({"base": base_key}).encode())
    total = 0
    for inside, path in _files(sources):
        file_hash = hashlib.sha256()
        with path.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                file_hash.update(chunk)
        mode = stat.S_IMODE(path.stat().st_mode) & 0o111
        size = path.stat().st_size
        total += size
        digest.update(f"{inside}\0{mode:o}\0{size}\0{file_hash.hexdigest()}\n".encode())
    return digest.hexdigest(), total


def find(client: DockerClient, digest: str) -> Any | None:
    found = client.images.list(filters=labels.selector(labels.ours(modelcar_digest=digest)))
    return found[0] if found else None


def build_modelcar(
    client: DockerClient,
    base: str,
    sources: Mapping[str, Path],
    work_dir: Path,
    *,
    base_key: str | None = None,
    progress: Progress | None = None,
) -> Modelcar:
    """The modelcar of `sources` (name → file or folder) on `base`, built on first use. `base_key` (see
    content_digest) defaults to the base's image id."""
    if base_key is None:
        try:
            base_key = str(client.images.get(base).id)
        except docker.errors.DockerException as exc:
            raise ModelcarError(f"modelcar base image {base}: {_explain(exc)}") from exc
    digest, size = content_digest(base_key, sources)
    tag = f"{REPOSITORY}:{digest[:16]}"
    existing = find(client, digest)
    if existing is not None:
        return Modelcar(str(existing.id), tag, digest, True, size)
    work_dir.mkdir(parents=True, exist_ok=True)
    with exclusive(work_dir / f"modelcar-{digest[:16]}.lock"):
        existing = find(client, digest)
        if existing is not None:
            return Modelcar(str(existing.id), tag, digest, True, size)
        if progress is not None:
            progress(
                f"building modelcar {tag} ({size / 1e6:.1f} MB of {', '.join(sorted(sources))}) FROM {base}"
            )
        image_id = _build(client, base, sources, digest, tag, work_dir)
    return Modelcar(image_id, tag, digest, False, size)


def _build(
    client: DockerClient, base: str, sources: Mapping[str, Path], digest: str, tag: str, work_dir: Path
) -> str:
    dockerfile = "\n".join(
        [
            f"FROM {base}",
            f"COPY modelcar/ {ROOT}/",
            f"LABEL {' '.join(f'{k}={json.dumps(v)}' for k, v in _labels(digest).items())}",
            "",
        ]
    )
    # The context goes to the engine as one tar: written to a temporary file (the engine reads it as a
    # stream) with fixed owners and times, straight from the sources.
    with tempfile.TemporaryFile(dir=work_dir) as context:
        with tarfile.open(fileobj=context, mode="w") as tar:
            _add_bytes(tar, "Dockerfile", dockerfile.encode())
            for inside, path in _files(sources):
                info = tar.gettarinfo(str(path), arcname=f"modelcar/{inside}")
                info.uid = info.gid = 0
                info.uname = info.gname = "root"
                info.mtime = 0
                # Readable by the pod's non-root user; executables stay executable.
                info.mode = 0o755 if info.mode & 0o111 else 0o644
                with path.open("rb") as handle:
                    tar.addfile(info, handle)
        context.seek(0)
        try:
            image, _ = client.images.build(fileobj=context, custom_context=True, tag=tag, rm=True, pull=False)
        except (docker.errors.BuildError, docker.errors.APIError) as exc:
            raise ModelcarError(f"building modelcar {tag} failed: {_explain(exc)}") from exc
    return str(image.id)


def _labels(digest: str) -> dict[str, str]:
    # A modelcar is FROM an environment image and would inherit its env-digest label: blanked, so a lookup of
    # that environment never finds the modelcar instead.
    return {**labels.ours(modelcar_digest=digest), labels.ENV_DIGEST: ""}


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def _explain(exc: Exception) -> str:
    return str(getattr(exc, "explanation", None) or getattr(exc, "msg", None) or exc)
