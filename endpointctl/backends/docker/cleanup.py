"""Removing what endpointctl made, found by label: a deployment's or endpoint's containers and volumes,
and environment images no container uses any more."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping
from datetime import datetime

import docker.errors
from docker import DockerClient

from endpointctl.backends.engine import labels
from endpointctl.core.views import DiskItem


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


def collect_images(
    client: DockerClient,
    needed: Mapping[str, str],
    *,
    min_idle_s: float,
    dry_run: bool = False,
    max_bytes: int | None = None,
) -> tuple[list[DiskItem], list[DiskItem]]:
    """(freed, kept) among our environment images. `needed` maps image tags to who needs them.

    An image stays while a revision needs it, while any container (ours or not, running or stopped) was
    created from it, and for `min_idle_s` after it was built (a rollout about to create its first container).
    With `max_bytes`, the oldest collectable images go first, until what is left fits.
    """
    used = {c.attrs.get("Image") for c in client.containers.list(all=True, ignore_removed=True)}
    now = time.time()
    freed: list[DiskItem] = []
    kept: list[DiskItem] = []
    candidates: list[tuple[float, str, str, int]] = []
    for image in client.images.list(filters=labels.selector(labels.ours())):
        if labels.ENV_DIGEST not in image.labels:
            continue
        name = next(iter(image.tags), str(image.id))
        size = int(image.attrs.get("Size") or 0)
        owners = [needed[tag] for tag in image.tags if tag in needed]
        created = _created(image.attrs.get("Created"))
        if owners:
            kept.append(DiskItem("image", name, size, "used by " + ", ".join(owners)))
        elif image.id in used:
            kept.append(DiskItem("image", name, size, "a container was created from it"))
        elif now - created < min_idle_s:
            kept.append(DiskItem("image", name, size, f"built {now - created:.0f} s ago"))
        else:
            candidates.append((created, str(image.id), name, size))
    total = sum(item.size_bytes for item in kept) + sum(c[3] for c in candidates)
    for _, image_id, name, size in sorted(candidates):
        if max_bytes is not None and total <= max_bytes:
            kept.append(DiskItem("image", name, size, "unused, but images are under the cap"))
            continue
        if not dry_run:
            try:
                client.images.remove(image_id, force=False, noprune=False)
            except docker.errors.APIError as exc:
                if exc.status_code != 409:  # 409: came into use meanwhile
                    raise
                kept.append(DiskItem("image", name, size, "came into use while being collected"))
                continue
        freed.append(DiskItem("image", name, size, "no deployment uses it"))
        total -= size
    return freed, kept


def _created(value: object) -> float:
    """Docker's RFC 3339 `Created` (nanoseconds, `Z`) as epoch seconds; 0 when unreadable (so: old)."""
    if not isinstance(value, str) or not value:
        return 0.0
    text = value.replace("Z", "+00:00")
    if "." in text:  # Python parses at most microseconds
        head, _, rest = text.partition(".")
        digits = "".join(ch for ch in rest if ch.isdigit())
        zone = rest[len(digits) :]
        text = f"{head}.{digits[:6]}{zone}"
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return 0.0
