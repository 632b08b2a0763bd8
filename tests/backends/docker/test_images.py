"""Environment images against the real engine: built once per digest, reused, labelled, failures named."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from docker import DockerClient

from endpointctl.backends.docker import labels
from endpointctl.backends.docker.images import EnvironmentImage, ImageBuilder, ImageBuildError
from endpointctl.core.environments.conda import parse_conda, parse_conda_file
from tests.backends.docker.conftest import BASE_IMAGE, MODEL_1

pytestmark = pytest.mark.slow


def test_image_is_labelled_and_holds_the_environment(
    engine: DockerClient, model1_image: EnvironmentImage
) -> None:
    image = engine.images.get(model1_image.image_id)
    assert image.labels[labels.ENV_DIGEST] == model1_image.digest
    assert image.labels[labels.MANAGED_BY] == labels.MANAGER
    assert model1_image.tag in image.tags
    assert any("azureml-inference-server-http" in note for note in model1_image.notes)
    probe = (
        "import sklearn, scipy, endpointctl.serving.scoring.app, importlib.util; "
        "print(sklearn.__version__, importlib.util.find_spec('azureml_inference_server_http'))"
    )
    out = engine.containers.run(model1_image.image_id, ["python", "-c", probe], remove=True, entrypoint=[])
    assert out.decode().split() == ["1.7.0", "None"]
    # The host's pip settings and CA bundle were bind mounts: nothing of them is left in the image.
    listing = engine.containers.run(model1_image.image_id, ["find", "/run/endpointctl-build"], remove=True)
    assert listing.decode().split() == ["/run/endpointctl-build"]
    assert not image.attrs["Config"].get("Volumes")


def test_second_build_of_a_digest_is_a_no_op(
    builder: ImageBuilder, model1_image: EnvironmentImage, work_dir: Path
) -> None:
    log = work_dir / "second.log"
    started = time.monotonic()
    again = builder.ensure(BASE_IMAGE, parse_conda_file(MODEL_1 / "environment" / "conda.yaml"), log=log)
    assert time.monotonic() - started < 5
    assert (again.reused, again.image_id, again.digest) == (True, model1_image.image_id, model1_image.digest)
    assert "nothing to build" in log.read_text()


def test_failed_install_names_the_log(builder: ImageBuilder, work_dir: Path, engine: DockerClient) -> None:
    log = work_dir / "bad.log"
    requirements = parse_conda(
        "dependencies: [{pip: [endpointctl-no-such-package-anywhere==0.0.1]}]", source="bad.yaml"
    )
    with pytest.raises(ImageBuildError) as caught:
        builder.ensure(BASE_IMAGE, requirements, log=log)
    assert str(log) in str(caught.value)
    assert "endpointctl-no-such-package-anywhere" in log.read_text()
    # The failed build left no container behind.
    leftovers = engine.containers.list(all=True, filters={"name": "endpointctl-build-"})
    assert leftovers == []


def test_missing_base_image_that_cannot_be_pulled_is_named(builder: ImageBuilder, work_dir: Path) -> None:
    # A registry on a closed loopback port: refused at once, no traffic leaves the machine.
    missing = "127.0.0.1:9/endpointctl-missing-base:1"
    with pytest.raises(ImageBuildError) as caught:
        builder.ensure(missing, parse_conda("dependencies: []", source="x"), log=work_dir / "pull.log")
    assert f"base image {missing} is not present locally and could not be pulled" in str(caught.value)
