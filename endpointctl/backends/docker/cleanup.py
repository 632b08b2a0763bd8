"""Removing what endpointctl made, found by label: a deployment's or endpoint's containers and volumes,
and environment images no container uses any more."""

from __future__ import annotations

import contextlib

import docker.errors
from docker import DockerClient

from endpointctl.backends.docker import labels


def purge(client: DockerClient, **owner: str) -> None:
    """Remove every container (instances, init containers) and volume of ours matching `owner`."""
    selector = labels.selector(labels.ours(**owner))
    # Something else (an agent retiring an instance) may remove an object between listing and removing.
    for container in client.containers.list(all=True, filters=selector, ignore_removed=True):
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True)
    for volume in client.volumes.list(filters=selector):
        with contextlib.suppress(docker.errors.NotFound):
            volume.remove(force=True)


def remove_unused_images(client: DockerClient) -> list[str]:
    """Remove our environment images that no container (of anyone) is created from; returns their ids."""
    used = {c.attrs.get("Image") for c in client.containers.list(all=True, ignore_removed=True)}
    removed: list[str] = []
    for image in client.images.list(filters=labels.selector(labels.ours())):
        if labels.ENV_DIGEST not in image.labels or image.id in used:
            continue
        try:
            client.images.remove(image.id, force=False, noprune=False)
        except docker.errors.APIError as exc:
            if exc.status_code != 409:  # 409: came into use meanwhile
                raise
            continue
        removed.append(str(image.id))
    return removed
