"""Where model and code come from: local folders in the modelcar image (any size), `pvc://` or `https://`;
anything else is refused before any object is created. The storage initializer's copying and fetching are run
here for real (files, a local HTTP server standing in for the https origin), and a model far over the old
ConfigMap limit (50 MB) is applied and found, byte for byte, in the modelcar the Deployment names."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from endpointctl.backends.kubernetes import naming
from endpointctl.backends.kubernetes.backend import KubernetesBackend
from endpointctl.core.errors import InvalidInput
from endpointctl.core.operations import Staged
from endpointctl.core.spec import InlineModel, SpecError, parse_deployment
from endpointctl.serving import storage as stage_script
from tests.backends.engine import require_engine
from tests.backends.kubernetes import plans
from tests.backends.kubernetes.apiserver import ApiServer
from tests.backends.kubernetes.test_scenarios import _create
from tests.conftest import SAMPLES

WRITES = {"POST", "PUT", "PATCH", "DELETE"}


def _writes(apiserver: ApiServer) -> list[tuple[str, str]]:
    return [(m, p) for m, p in apiserver.cluster.requests if m in WRITES]


# --- refused before anything is created --------------------------------------------------------------------
def test_an_unsupported_scheme_is_refused_when_the_file_is_read() -> None:
    text = plans.REMOTE.replace("pvc://models-claim/sklearn/model", "s3://bucket/model")
    with pytest.raises(SpecError, match=r"model\.path: s3:// sources are not supported"):
        parse_deployment(text, source="remote.yml", base_dir=plans.K8S)
    text = plans.REMOTE.replace("https://example.com/releases/", "ftp://example.com/releases/")
    with pytest.raises(SpecError, match=r"code_configuration\.code: ftp:// sources are not supported"):
        parse_deployment(text, source="remote.yml", base_dir=plans.K8S)
    # Only model and code may be remote: the conda file is read on this machine.
    text = plans.REMOTE.replace(
        "environment:\n", "environment:\n  conda_file: https://example.com/conda.yaml\n"
    )
    with pytest.raises(SpecError, match=r"environment\.conda_file: https:// is not a local path"):
        parse_deployment(text, source="remote.yml", base_dir=plans.K8S)


def test_remote_sources_need_a_kubernetes_deployment() -> None:
    """The process and docker backends stage local folders: a managed-type spec keeps the local-path rule."""
    managed = plans.REMOTE.replace("type: kubernetes\n", "type: managed\ninstance_type: Standard_DS3_v2\n")
    with pytest.raises(SpecError) as caught:
        parse_deployment(managed, source="remote.yml", base_dir=plans.K8S)
    message = str(caught.value)
    assert "model.path: pvc:// sources are fetched inside a cluster: they need `type: kubernetes`" in message
    assert "code_configuration.code: https:// sources are fetched inside a cluster" in message


async def test_an_unsupported_scheme_creates_nothing(
    backend: KubernetesBackend, apiserver: ApiServer
) -> None:
    """A spec that bypassed the loader (built in code, say) is refused by packaging before any request."""
    await _create(backend)
    spec = parse_deployment(plans.REMOTE, source="remote.yml", base_dir=plans.K8S)
    assert isinstance(spec.model, InlineModel)
    bad = spec.model_copy(update={"model": spec.model.model_copy(update={"path": "s3://bucket/model"})})
    before = _writes(apiserver)
    with pytest.raises(InvalidInput, match=r"s3:// is not supported"):
        await backend.apply_deployment(bad)
    assert _writes(apiserver) == before


async def test_a_model_of_any_size_travels_in_the_modelcar(
    backend: KubernetesBackend, apiserver: ApiServer, tmp_path: Path
) -> None:
    """50 MB of random weights (fifty times what a ConfigMap could carry): applied, and in the image."""
    await _create(backend)
    model = tmp_path / "big" / "model"
    model.mkdir(parents=True)
    weights = os.urandom(50 * 1024 * 1024)
    (model / "weights.bin").write_bytes(weights)
    text = plans.REMOTE.replace("pvc://models-claim/sklearn/model", str(model)).replace(
        "https://example.com/releases/onlinescoring.tar.gz", str(SAMPLES / "model-1" / "onlinescoring")
    )
    spec = parse_deployment(text, source="big.yml", base_dir=plans.K8S)
    operation = await backend.apply_deployment(spec)
    assert isinstance(operation, Staged)  # the build is the operation's first stage
    await operation.recorded()
    deployment = apiserver.cluster.get(
        "Deployment", "team-a", naming.deployment_name("my-endpoint", "remote")
    )
    (init,) = deployment["spec"]["template"]["spec"]["initContainers"]
    assert init["image"].startswith("endpointctl/modelcar:")  # no registry: the local engine's tag
    assert not apiserver.cluster.select("ConfigMap", "team-a", naming.selector({naming.DEPLOYMENT: "remote"}))
    engine = require_engine()
    try:
        out = engine.containers.run(
            init["image"],
            ["sha256sum", "/modelcar/model/weights.bin", "/modelcar/code/score.py"],
            remove=True,
            user="10001:10001",  # the pod's user can read what the initializer copies
        ).decode()
    finally:
        engine.close()
    assert hashlib.sha256(weights).hexdigest() in out
    score = (SAMPLES / "model-1" / "onlinescoring" / "score.py").read_bytes()
    assert hashlib.sha256(score).hexdigest() in out


async def test_https_code_must_be_an_archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))
    text = plans.REMOTE.replace("onlinescoring.tar.gz", "score.py")
    spec = parse_deployment(text, source="remote.yml", base_dir=plans.K8S)
    with pytest.raises(InvalidInput, match=r"must be a \.tar\.gz, \.tgz or \.zip archive"):
        await plans.make_backend(tmp_path / "home").plan_deployment(spec)


def test_a_pvc_source_must_name_a_path_inside_the_claim(tmp_path: Path) -> None:
    for bad in ("pvc://models-claim", "pvc://models-claim/", "pvc://models-claim/../etc"):
        text = plans.REMOTE.replace("pvc://models-claim/sklearn/model", bad)
        spec = parse_deployment(text, source="remote.yml", base_dir=plans.K8S)
        with pytest.raises(InvalidInput, match=r"expected pvc://CLAIM/PATH"):
            asyncio.run(plans.make_backend(tmp_path / "home").plan_deployment(spec))


def test_a_signed_https_url_is_refused_without_echoing_its_signature(tmp_path: Path) -> None:
    for signed in (
        "https://acct.blob.core.windows.net/c/code.tar.gz?sv=2024&sig=SECRETSIG",
        "https://user:SECRETSIG@example.com/code.tar.gz",
    ):
        text = plans.REMOTE.replace("https://example.com/releases/onlinescoring.tar.gz", signed)
        spec = parse_deployment(text, source="remote.yml", base_dir=plans.K8S)
        with pytest.raises(InvalidInput, match=r"no query string or credentials") as info:
            asyncio.run(plans.make_backend(tmp_path / "home").plan_deployment(spec))
        assert "SECRETSIG" not in str(info.value)


# --- the storage initializer fetches them ------------------------------------------------------------------
@pytest.fixture
def origin(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A local HTTP server standing in for the https origin (the fetch code is the same for both)."""
    root = tmp_path / "origin"
    root.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", root
    server.shutdown()
    server.server_close()


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def _tar(members: dict[str, bytes], *, symlink: tuple[str, str] | None = None) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        if symlink is not None:
            info = tarfile.TarInfo(symlink[0])
            info.type, info.linkname = tarfile.SYMTYPE, symlink[1]
            tar.addfile(info)
    return out.getvalue()


def test_the_initializer_copies_the_modelcars_folders(tmp_path: Path) -> None:
    car = tmp_path / "modelcar"
    (car / "model" / "sub").mkdir(parents=True)
    (car / "model" / "sub" / "weights.pkl").write_bytes(b"w")
    (car / "code").mkdir()
    (car / "code" / "score.py").write_text("def run(x): return x\n")
    app = tmp_path / "app"
    model_target = app / "azureml-models" / "m" / "1" / "model"
    assert stage_script.copy({"source": str(car / "model"), "target": str(model_target)}) == 1
    assert stage_script.copy({"source": str(car / "code"), "target": str(app / "onlinescoring")}) == 1
    assert (model_target / "sub" / "weights.pkl").read_bytes() == b"w"
    assert (app / "onlinescoring" / "score.py").is_file()
    with pytest.raises(stage_script.StageFailed, match="not in this image"):
        stage_script.copy({"source": str(car / "nothing"), "target": str(app / "x")})


def test_the_initializer_copies_a_pvc_folder(tmp_path: Path) -> None:
    mounted = tmp_path / "mnt" / "model"  # where the pod mounts the claim's sub-path
    (mounted / "sub").mkdir(parents=True)
    (mounted / "weights.pkl").write_bytes(b"w")
    (mounted / "sub" / "vocab.txt").write_text("v")
    target = tmp_path / "app" / "azureml-models" / "big-model" / "1" / "model"
    item = {"scheme": "pvc", "uri": "pvc://c/sklearn/model", "source": str(mounted), "target": str(target)}
    stage_script.fetch(item)
    assert (target / "weights.pkl").read_bytes() == b"w"
    assert (target / "sub" / "vocab.txt").read_text() == "v"
    missing = {**item, "source": str(tmp_path / "nothing")}
    with pytest.raises(stage_script.StageFailed, match="nothing at"):
        stage_script.fetch(missing)


def test_the_initializer_downloads_and_unpacks_archives(origin: tuple[str, Path], tmp_path: Path) -> None:
    url, root = origin
    (root / "code.tar.gz").write_bytes(_tar({"score.py": b"def run(x): return x\n", "lib/util.py": b""}))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("score.py", "def run(x): return 1\n")
    (root / "code.zip").write_bytes(buffer.getvalue())
    (root / "model.pkl").write_bytes(b"pickled")

    for name in ("code.tar.gz", "code.zip"):
        target = tmp_path / name / "onlinescoring"
        stage_script.fetch(
            {"scheme": "https", "uri": name, "source": f"{url}/{name}?sig=x", "target": str(target)}
        )
        assert (target / "score.py").is_file()
    single = tmp_path / "models" / "1" / "model.pkl"
    stage_script.fetch({"scheme": "https", "uri": "m", "source": f"{url}/model.pkl", "target": str(single)})
    assert single.read_bytes() == b"pickled"


def test_the_initializer_refuses_archives_that_escape_their_folder(
    origin: tuple[str, Path], tmp_path: Path
) -> None:
    url, root = origin
    (root / "dotdot.tar.gz").write_bytes(_tar({"../outside.py": b""}))
    (root / "link.tar.gz").write_bytes(_tar({}, symlink=("evil", "/etc/passwd")))
    for name, why in (("dotdot.tar.gz", "points outside"), ("link.tar.gz", "not a regular file")):
        target = tmp_path / name
        with pytest.raises(stage_script.StageFailed, match=why):
            stage_script.fetch(
                {"scheme": "https", "uri": name, "source": f"{url}/{name}", "target": str(target)}
            )
        assert not (tmp_path / "outside.py").exists()


def test_a_failed_download_fails_the_initializer(
    origin: tuple[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, _ = origin
    plan = {
        "remote": [
            {"scheme": "https", "uri": "u", "source": f"{url}/missing.tar.gz", "target": str(tmp_path / "t")}
        ]
    }
    monkeypatch.setenv("ENDPOINTCTL_STAGE_PLAN", json.dumps(plan))
    assert stage_script.main() == 1
    assert "FAILED: cannot download" in capsys.readouterr().out
    assert not (tmp_path / "t").exists()
