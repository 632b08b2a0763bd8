"""The Docker engine the tests use: skipped without one, a failure when ENDPOINTCTL_REQUIRE_DOCKER=1 (CI)."""

from __future__ import annotations

import os

import pytest
from docker import DockerClient

from endpointctl.backends.engine.client import connect
from endpointctl.core.errors import BackendUnavailable

# The name the sample YAMLs use; docker-setup.sh tags the offline base image with it.
BASE_IMAGE = os.environ.get(
    "ENDPOINTCTL_TEST_BASE_IMAGE", "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest"
)


def require_engine() -> DockerClient:
    """A connected client with the sample's base image present, or the test is skipped (failed in CI)."""
    try:
        client = connect()
    except BackendUnavailable as exc:
        _unavailable(str(exc))
    if not client.images.list(name=BASE_IMAGE.rsplit(":", 1)[0]):
        client.close()
        _unavailable(f"base image {BASE_IMAGE} is missing; run .ci/docker-setup.sh")
    return client


def _unavailable(reason: str) -> None:
    if os.environ.get("ENDPOINTCTL_REQUIRE_DOCKER") == "1":
        pytest.fail(f"ENDPOINTCTL_REQUIRE_DOCKER=1 but {reason}")
    pytest.skip(reason)
