"""Images through a real registry: a 50 MB model as a modelcar, pushed, pulled back by digest, checked inside.

The engine, the registry and the container are all real: what a cluster node would do with the manifest's
image reference (pull by digest, run the storage-initializer's copy) happens here under Docker.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import docker.errors
import pytest
from docker import DockerClient

from endpointctl.backends.engine import labels
from endpointctl.backends.engine.modelcar import ROOT, build_modelcar
from endpointctl.backends.engine.registry import PushError, parse_registry, publish
from endpointctl.backends.local.ports import free_port
from endpointctl.core.errors import InvalidInput
from tests.backends.engine import BASE_IMAGE, require_engine
from tests.backends.images.registry import running_registry

pytestmark = pytest.mark.slow
MODEL_BYTES = 50 * 1024 * 1024


@pytest.fixture(scope="module")
def engine() -> Iterator[DockerClient]:
    client = require_engine()
    yield client
    client.close()


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_registry(tmp_path_factory.mktemp("registry")) as address:
        yield address


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("sources")
    model = root / "model"
    model.mkdir()
    with (model / "weights.bin").open("wb") as out:
        out.write(os.urandom(MODEL_BYTES))
    (model / "sub").mkdir()
    (model / "sub" / "vocab.txt").write_text("a\nb\n")
    code = root / "code"
    code.mkdir()
    (code / "score.py").write_text("def init():\n    pass\n\ndef run(data):\n    return data\n")
    return {"model": model, "code": code}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_50_mb_model_travels_by_digest_through_the_registry(
    engine: DockerClient, registry: str, sources: dict[str, Path], tmp_path: Path
) -> None:
    built = build_modelcar(engine, BASE_IMAGE, sources, tmp_path)
    assert not built.reused and built.size_bytes > MODEL_BYTES
    image = engine.images.get(built.image_id)
    assert image.labels[labels.MANAGED_BY] == labels.MANAGER
    again = build_modelcar(engine, BASE_IMAGE, sources, tmp_path)
    assert (again.reused, again.image_id) == (True, built.image_id)

    published = publish(engine, built.tag, f"{registry}/ml")
    assert published.pushed and published.reference.startswith(f"{registry}/ml/modelcar@sha256:")
    # Gone from this engine under every name: what runs next can only have come from the registry.
    for tag in (built.tag, f"{registry}/ml/modelcar:{built.tag.rsplit(':', 1)[1]}"):
        engine.images.remove(tag)
    with pytest.raises(docker.errors.ImageNotFound):
        engine.images.get(built.image_id)

    pulled = engine.images.pull(published.reference)
    try:
        # What the storage-initializer does in the pod: copy the files out, here into a bind-mounted folder.
        out = tmp_path / "app"
        out.mkdir()
        engine.containers.run(
            pulled.id,
            ["sh", "-c", f"cp -a {ROOT}/. /mnt/app/ && sha256sum /mnt/app/model/weights.bin"],
            entrypoint=[],
            volumes={str(out): {"bind": "/mnt/app", "mode": "rw"}},
            remove=True,
        )
        assert _sha256(out / "model" / "weights.bin") == _sha256(sources["model"] / "weights.bin")
        assert (out / "model" / "sub" / "vocab.txt").read_text() == "a\nb\n"
        assert (out / "code" / "score.py").read_text().startswith("def init()")
    finally:
        engine.images.remove(pulled.id, force=True)


def test_a_changed_model_is_a_new_modelcar(
    engine: DockerClient, sources: dict[str, Path], tmp_path: Path
) -> None:
    first = build_modelcar(engine, BASE_IMAGE, {"code": sources["code"]}, tmp_path)
    changed = tmp_path / "code"
    changed.mkdir()
    (changed / "score.py").write_text("def init():\n    pass\n\ndef run(data):\n    return 42\n")
    second = build_modelcar(engine, BASE_IMAGE, {"code": changed}, tmp_path)
    try:
        assert first.digest != second.digest and first.image_id != second.image_id
    finally:
        for car in (first, second):
            engine.images.remove(car.image_id, force=True)


def test_registry_settings_and_push_failures_are_named(engine: DockerClient, tmp_path: Path) -> None:
    assert parse_registry("127.0.0.1:5000/ml/") == "127.0.0.1:5000/ml"
    assert parse_registry("registry.example.com") == "registry.example.com"
    for bad in ("https://registry.example.com", "ml/models", "reg.example.com/Upper"):
        with pytest.raises(InvalidInput, match="kube_registry"):
            parse_registry(bad)
    unreachable = f"127.0.0.1:{free_port()}"  # nothing listens there
    engine.images.get(BASE_IMAGE).tag("endpointctl/modelcar", "push-failure")
    try:
        with pytest.raises(PushError, match=unreachable):
            publish(engine, "endpointctl/modelcar:push-failure", unreachable)
    finally:
        # By name: the tags point at the base image itself, which must stay.
        for tag in ("endpointctl/modelcar:push-failure", f"{unreachable}/modelcar:push-failure"):
            with contextlib.suppress(docker.errors.ImageNotFound):
                engine.images.remove(tag)
