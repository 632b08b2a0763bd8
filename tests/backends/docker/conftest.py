"""Fixtures for the Docker backend's tests, run against a real engine (see .ci/docker-setup.sh).

Without an engine every test here skips with the reason, unless ENDPOINTCTL_REQUIRE_DOCKER=1 (CI), when a
missing engine fails the run instead. Each test works under its own endpoint name and everything of ours
it leaves is removed by label; environment images this session built are removed at the end of it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from docker import DockerClient

from endpointctl.backends.common.environments.conda import parse_conda_file
from endpointctl.backends.docker.cleanup import purge
from endpointctl.backends.engine import labels
from endpointctl.backends.engine.builder import EnvironmentImage, ImageBuilder
from endpointctl.backends.engine.client import connect
from endpointctl.core.errors import BackendUnavailable
from tests.conftest import SAMPLES

MODEL_1 = SAMPLES / "model-1"
# The name the sample YAMLs use; docker-setup.sh tags the offline base image with it.
BASE_IMAGE = os.environ.get(
    "ENDPOINTCTL_TEST_BASE_IMAGE", "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest"
)


@pytest.fixture(scope="session")
def engine() -> Iterator[DockerClient]:
    try:
        client = connect()
    except BackendUnavailable as exc:
        if os.environ.get("ENDPOINTCTL_REQUIRE_DOCKER") == "1":
            pytest.fail(f"ENDPOINTCTL_REQUIRE_DOCKER=1 but {exc}")
        pytest.skip(str(exc))
    if not client.images.list(name=BASE_IMAGE.rsplit(":", 1)[0]):
        message = f"base image {BASE_IMAGE} is missing; run .ci/docker-setup.sh"
        if os.environ.get("ENDPOINTCTL_REQUIRE_DOCKER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    before = _our_images(client)
    yield client
    remove_unused_images_of_session(client, before)
    client.close()


def _our_images(client: DockerClient) -> set[str]:
    return {str(i.id) for i in client.images.list(filters=labels.selector(labels.ours()))}


def remove_unused_images_of_session(client: DockerClient, before: set[str]) -> None:
    """Images this session added go; images that were there before it (another run's, a user's) stay."""
    for image_id in _our_images(client) - before:
        client.images.remove(image_id, force=True)


@pytest.fixture(scope="session")
def work_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("docker-work")


@pytest.fixture(scope="session")
def builder(engine: DockerClient, work_dir: Path) -> ImageBuilder:
    return ImageBuilder(engine, work_dir)


@pytest.fixture(scope="session")
def model1_image(builder: ImageBuilder, work_dir: Path) -> EnvironmentImage:
    """The sample's numpy/scipy/scikit-learn environment, built once per session."""
    requirements = parse_conda_file(MODEL_1 / "environment" / "conda.yaml")
    return builder.ensure(BASE_IMAGE, requirements, log=work_dir / "model1-build.log")


@pytest.fixture
def endpoint(engine: DockerClient) -> Iterator[str]:
    """A fresh endpoint name; whatever the test leaves under it is removed and must then be gone."""
    name = f"dt-{uuid.uuid4().hex[:10]}"
    yield name
    purge(engine, endpoint=name)
    selector = labels.selector(labels.ours(endpoint=name))
    assert engine.containers.list(all=True, filters=selector) == []
    assert engine.volumes.list(filters=selector) == []
