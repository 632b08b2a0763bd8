"""Publishing a locally built image: pushed to a registry and named by digest, or kept in the local engine.

A cluster pulls what a manifest names. With a registry (`configure --defaults kube_registry=HOST[:PORT]/PREFIX`)
an image is tagged `HOST/PREFIX/NAME:TAG`, pushed, and named by the digest the registry answered
(`HOST/PREFIX/NAME@sha256:…`), so every pod of a revision runs exactly the same bytes whatever happens to the
tag later. Without one it keeps its local tag for clusters that share this engine (kind, minikube, Docker
Desktop), where `imagePullPolicy: IfNotPresent` finds it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import docker.errors
from docker import DockerClient

from endpointctl.backends.engine.builder import Progress
from endpointctl.core.errors import InvalidInput, OperationFailed

# HOST[:PORT]/PREFIX…: lower-case path components as the distribution spec allows.
_REGISTRY = re.compile(
    r"(?P<host>[a-zA-Z0-9.-]+(?::[0-9]{1,5})?)(?P<prefix>(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)"
)
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


class PushError(OperationFailed):
    """The registry refused the image or could not be reached; the message names the registry."""


@dataclass(frozen=True)
class PublishedImage:
    local: str  # the tag in this engine
    reference: str  # what a manifest names: REGISTRY/NAME@sha256:… after a push, else `local`
    pushed: bool

    @property
    def pull_policy(self) -> str:
        # By digest nothing can change under the name; a local tag must not be pulled from anywhere.
        return "IfNotPresent"


def parse_registry(value: str, where: str = "kube_registry") -> str:
    """`HOST[:PORT][/PREFIX]` without a scheme or a trailing slash, or InvalidInput naming `where`.

    The host must look like one (a dot, a port or `localhost`): otherwise Docker would read it as a Docker
    Hub namespace and push there."""
    text = value.strip().rstrip("/")
    host = text.split("/", 1)[0]
    if (
        "://" in text
        or not _REGISTRY.fullmatch(text)
        or not ("." in host or ":" in host or host == "localhost")
    ):
        raise InvalidInput(
            f"{where}={value!r}: expected HOST[:PORT][/PREFIX] (e.g. registry.example.com/ml or 127.0.0.1:5000)"
        )
    return text


def publish(
    client: DockerClient, local_tag: str, registry: str | None, *, progress: Progress | None = None
) -> PublishedImage:
    """Push `local_tag` (REPOSITORY:TAG in this engine) to `registry` and name it by digest; without a
    registry the local tag is the reference."""
    if registry is None:
        return PublishedImage(local_tag, local_tag, False)
    repository, _, tag = local_tag.rpartition(":")
    target = f"{registry}/{repository.rsplit('/', 1)[-1]}"
    try:
        client.images.get(local_tag).tag(target, tag)
    except docker.errors.DockerException as exc:
        raise PushError(f"cannot tag {local_tag} as {target}:{tag}: {_explain(exc)}") from exc
    digest = _push(client, target, tag, progress)
    return PublishedImage(local_tag, f"{target}@{digest}", True)


def _push(client: DockerClient, repository: str, tag: str, progress: Progress | None) -> str:
    digest = ""
    try:
        for event in client.api.push(repository, tag=tag, stream=True, decode=True):
            if "error" in event:
                raise PushError(f"pushing {repository}:{tag} failed: {event['error']}")
            aux: dict[str, Any] = event.get("aux") or {}
            digest = str(aux.get("Digest") or digest)
            if progress is not None and "status" in event and "progressDetail" not in event:
                progress(
                    f"push {repository}:{tag}: {event.get('id', '')} {event['status']}".replace("  ", " ")
                )
    except docker.errors.DockerException as exc:
        raise PushError(f"pushing {repository}:{tag} failed: {_explain(exc)}") from exc
    if not _DIGEST.fullmatch(digest):
        raise PushError(f"pushing {repository}:{tag}: the registry answered no digest")
    return digest


def _explain(exc: Exception) -> str:
    return str(getattr(exc, "explanation", None) or exc)
