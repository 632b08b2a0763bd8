"""The labels that mark Docker objects as ours, so they are found again after endpointctl restarts.

Everything endpointctl creates (images, volumes, containers) carries `endpointctl.managed-by`; the rest
say what it belongs to. Label filters are the only index: no state file maps deployments to containers.
"""

from __future__ import annotations

from collections.abc import Mapping

PREFIX = "endpointctl."
MANAGED_BY = PREFIX + "managed-by"
MANAGER = "endpointctl"
ENDPOINT = PREFIX + "endpoint"
DEPLOYMENT = PREFIX + "deployment"
REVISION = PREFIX + "revision"
INSTANCE = PREFIX + "instance"
ROLE = PREFIX + "role"
ENV_DIGEST = PREFIX + "env-digest"
BASE_IMAGE = PREFIX + "base-image"
MODELCAR_DIGEST = PREFIX + "modelcar-digest"

# Roles: what a container or volume is for.
ROLE_BUILD = "build"
ROLE_STORAGE = "storage-initializer"
ROLE_INSTANCE = "instance"
ROLE_APP = "app"


def ours(**labels: str) -> dict[str, str]:
    """`managed-by` plus the given labels, keyed by their short names (endpoint=…, env_digest=…)."""
    result = {MANAGED_BY: MANAGER}
    for key, value in labels.items():
        result[PREFIX + key.replace("_", "-")] = value
    return result


def selector(labels: Mapping[str, str]) -> dict[str, list[str]]:
    """A `filters` argument for the SDK's list calls that matches all of `labels`."""
    return {"label": [f"{key}={value}" for key, value in labels.items()]}
