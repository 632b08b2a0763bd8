"""The storage-initializer as an init container: layout in the volume, digest checks, kept logs."""

from __future__ import annotations

from pathlib import Path

import pytest
from docker import DockerClient
from docker.types import Mount

from endpointctl.backends.docker.storage import (
    APP_ROOT,
    StagingError,
    remove_revisions,
    stage_volume,
    storage_log,
)
from endpointctl.backends.engine import labels
from endpointctl.backends.engine.builder import EnvironmentImage
from endpointctl.core.assets.sources import CodeSource, ModelSource
from tests.backends.docker.conftest import MODEL_1

pytestmark = pytest.mark.slow


def _listing(engine: DockerClient, image: str, volume: str) -> list[str]:
    command = ["sh", "-c", f"cd {APP_ROOT} && find . -type f -exec stat -c '%A %n' {{}} + | sort"]
    out = engine.containers.run(
        image,
        command,
        remove=True,
        entrypoint=[],
        mounts=[Mount(APP_ROOT, volume, type="volume", read_only=True)],
    )
    return [str(line) for line in out.decode().splitlines()]


def test_stages_the_reference_layout_and_keeps_the_log(
    engine: DockerClient, model1_image: EnvironmentImage, endpoint: str, tmp_path: Path
) -> None:
    log = tmp_path / "storage.log"
    staged = stage_volume(
        engine,
        model1_image.image_id,
        endpoint=endpoint,
        deployment="blue",
        revision=1,
        model=ModelSource(MODEL_1 / "model", name="sklearn-model", version="3"),
        code=CodeSource(MODEL_1 / "onlinescoring", "score.py"),
        log=log,
    )
    assert staged.env == {
        "AZUREML_MODEL_DIR": f"{APP_ROOT}/azureml-models/sklearn-model/3",
        "AML_APP_ROOT": f"{APP_ROOT}/onlinescoring",
        "AZUREML_ENTRY_SCRIPT": "score.py",
    }
    assert _listing(engine, model1_image.image_id, staged.volume) == [
        "-r--r--r-- ./azureml-models/sklearn-model/3/model/sklearn_regression_model.pkl",
        "-rw-r--r-- ./onlinescoring/score.py",
    ]
    # The exited init container is kept and labelled; its output is also in the log file.
    container = engine.containers.get(staged.container)
    assert container.status == "exited"
    assert container.labels[labels.ROLE] == labels.ROLE_STORAGE
    assert container.labels[labels.REVISION] == "1"
    kept = storage_log(engine, endpoint, "blue")
    assert kept is not None and "storage initialised" in kept and "digest sha256:" in kept
    assert kept in log.read_text()

    # The next revision replaces the old one's init container and volume.
    second = stage_volume(
        engine,
        model1_image.image_id,
        endpoint=endpoint,
        deployment="blue",
        revision=2,
        model=ModelSource(MODEL_1 / "model"),
        code=None,
        log=log,
    )
    remove_revisions(engine, endpoint, "blue", keep=frozenset({2}))
    owner = labels.selector(labels.ours(endpoint=endpoint))
    assert [c.id for c in engine.containers.list(all=True, filters=owner)] == [second.container]
    assert [v.name for v in engine.volumes.list(filters=owner)] == [second.volume]


def test_digest_mismatch_fails_the_revision(
    engine: DockerClient, model1_image: EnvironmentImage, endpoint: str, tmp_path: Path
) -> None:
    wrong = "sha256:" + "0" * 64
    with pytest.raises(StagingError) as caught:
        stage_volume(
            engine,
            model1_image.image_id,
            endpoint=endpoint,
            deployment="blue",
            revision=1,
            model=ModelSource(MODEL_1 / "model", name="m", version="1", digest=wrong),
            code=None,
            log=tmp_path / "storage.log",
        )
    assert "digest mismatch" in str(caught.value) and wrong in str(caught.value)
    kept = storage_log(engine, endpoint, "blue")
    assert kept is not None and "FAILED: " in kept
    # Nothing half-staged under the final name.
    volume = f"endpointctl-app-{endpoint}-blue-r1"
    assert _listing(engine, model1_image.image_id, volume) == []


def test_missing_scoring_script_fails_before_any_container(
    engine: DockerClient, model1_image: EnvironmentImage, endpoint: str, tmp_path: Path
) -> None:
    with pytest.raises(StagingError, match="must be a path inside the code folder"):
        stage_volume(
            engine,
            model1_image.image_id,
            endpoint=endpoint,
            deployment="blue",
            revision=1,
            model=None,
            code=CodeSource(MODEL_1 / "onlinescoring", "../score.py"),
            log=tmp_path / "storage.log",
        )
    with pytest.raises(StagingError, match=r"scoring_script nope\.py not found"):
        stage_volume(
            engine,
            model1_image.image_id,
            endpoint=endpoint,
            deployment="blue",
            revision=1,
            model=None,
            code=CodeSource(MODEL_1 / "onlinescoring", "nope.py"),
            log=tmp_path / "storage.log",
        )
