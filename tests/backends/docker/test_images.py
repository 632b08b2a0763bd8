"""Environment images against the real engine: built once per digest, reused, labelled, failures named."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from docker import DockerClient

from endpointctl.backends.common.environments.conda import parse_conda, parse_conda_file
from endpointctl.backends.engine import labels
from endpointctl.backends.engine.builder import EnvironmentImage, ImageBuilder, ImageBuildError
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


# Stands in for conda in a base image: no conda channel is reachable from here, so `create` makes the
# prefix with the image's own python3 -m venv and records how it was called. What is under test is that
# the build finds conda where Azure's images keep it and asks it for the conda file's Python.
CONDA_SHIM = """#!/bin/sh
echo "$*" >> /var/log/conda-shim.calls
prefix=
while [ $# -gt 0 ]; do
  if [ "$1" = "-p" ]; then prefix=$2; shift; fi
  shift
done
exec python3 -m venv "$prefix"
"""


def test_a_base_image_with_conda_gets_its_python_from_conda(
    builder: ImageBuilder, work_dir: Path, engine: DockerClient
) -> None:
    setup = engine.containers.create(
        BASE_IMAGE,
        [
            "/bin/sh",
            "-c",
            f"mkdir -p /opt/miniconda/bin && cat > /opt/miniconda/bin/conda <<'EOF'\n{CONDA_SHIM}EOF\n"
            "chmod +x /opt/miniconda/bin/conda",
        ],
        entrypoint=[],
    )
    setup.start()
    assert setup.wait()["StatusCode"] == 0
    base = setup.commit(repository="endpointctl-test/conda-base", tag="1")
    setup.remove()
    built = None
    try:
        requirements = parse_conda("dependencies: [python=3.11, pip]", source="conda.yaml")
        log = work_dir / "conda.log"
        built = builder.ensure("endpointctl-test/conda-base:1", requirements, log=log)
        assert (
            "the base image has /opt/miniconda/bin/conda: creating /opt/endpointctl/venv with python=3.11"
            in (log.read_text())
        )
        probe = "import sys, endpointctl.serving.scoring.app; print(sys.prefix)"
        out = engine.containers.run(built.image_id, ["python", "-c", probe], remove=True, entrypoint=[])
        assert out.decode().strip() == "/opt/endpointctl/venv"
        calls = engine.containers.run(
            built.image_id, ["cat", "/var/log/conda-shim.calls"], remove=True, entrypoint=[]
        )
        assert calls.decode().split() == [
            "create",
            "-y",
            "-q",
            "-p",
            "/opt/endpointctl/venv",
            "python=3.11",
            "pip",
        ]
    finally:
        if built is not None:
            engine.images.remove(built.image_id, force=True)
        engine.images.remove(base.id, force=True)
