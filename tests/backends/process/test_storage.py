from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from endpointctl.backends.process.storage import StagingError, stage_app
from endpointctl.core.assets.sources import CodeSource, ModelSource
from endpointctl.core.digest import tree_digest
from tests.conftest import SAMPLES

MODEL_1 = SAMPLES / "model-1"


@pytest.fixture
def sample(tmp_path: Path) -> tuple[Path, Path]:
    """A private copy of model-1's model and code folders, safe to modify."""
    model = tmp_path / "src" / "model"
    code = tmp_path / "src" / "onlinescoring"
    shutil.copytree(MODEL_1 / "model", model)
    shutil.copytree(MODEL_1 / "onlinescoring", code)
    return model, code


def test_registered_model_and_code_follow_the_azure_layout(tmp_path: Path) -> None:
    app, log = tmp_path / "app", tmp_path / "logs" / "storage-initializer.log"
    digest = tree_digest(MODEL_1 / "model")
    staged = stage_app(
        app,
        model=ModelSource(MODEL_1 / "model", "model-1", "3", digest),
        code=CodeSource(MODEL_1 / "onlinescoring", "score.py"),
        log=log,
    )
    model_dir = app / "azureml-models" / "model-1" / "3"
    pkl = model_dir / "model" / "sklearn_regression_model.pkl"
    assert pkl.read_bytes() == (MODEL_1 / "model" / "sklearn_regression_model.pkl").read_bytes()
    assert (app / "onlinescoring" / "score.py").is_file()
    assert staged.env == {
        "AZUREML_MODEL_DIR": str(model_dir),
        "AML_APP_ROOT": str(app / "onlinescoring"),
        "AZUREML_ENTRY_SCRIPT": "score.py",
    }
    text = log.read_text()
    assert f"digest {digest} OK" in text
    assert "sklearn_regression_model.pkl" in text
    assert sorted(p.name for p in app.iterdir()) == ["azureml-models", "onlinescoring"]


def test_staged_model_is_an_independent_read_only_copy(tmp_path: Path, sample: tuple[Path, Path]) -> None:
    model, _ = sample
    staged = stage_app(
        tmp_path / "app",
        model=ModelSource(model, "m", "1", tree_digest(model)),
        code=None,
        log=tmp_path / "l",
    )
    assert staged.model_dir is not None
    copy = staged.model_dir / "model" / "sklearn_regression_model.pkl"
    original = model / "sklearn_regression_model.pkl"
    assert copy.stat().st_ino != original.stat().st_ino
    assert copy.stat().st_mode & 0o222 == 0
    assert "AML_APP_ROOT" not in staged.env


def test_inline_model_without_name_gets_content_hash_and_version_1(
    tmp_path: Path, sample: tuple[Path, Path]
) -> None:
    model, _ = sample
    staged = stage_app(tmp_path / "app", model=ModelSource(model), code=None, log=tmp_path / "l")
    expected_name = tree_digest(model).removeprefix("sha256:")[:32]
    assert staged.model_dir == tmp_path / "app" / "azureml-models" / expected_name / "1"
    assert (staged.model_dir / "model" / "sklearn_regression_model.pkl").is_file()


def test_single_file_model_is_staged_by_its_own_name(tmp_path: Path, sample: tuple[Path, Path]) -> None:
    model, _ = sample
    pkl = model / "sklearn_regression_model.pkl"
    staged = stage_app(
        tmp_path / "app", model=ModelSource(pkl, "m", "2", tree_digest(pkl)), code=None, log=tmp_path / "l"
    )
    assert staged.model_dir is not None
    assert (staged.model_dir / "sklearn_regression_model.pkl").read_bytes() == pkl.read_bytes()


def test_scoring_script_in_a_subfolder_sets_app_root_to_its_folder(tmp_path: Path) -> None:
    code = tmp_path / "src" / "code"
    (code / "pkg").mkdir(parents=True)
    (code / "pkg" / "main.py").write_text("def init(): pass\n")
    staged = stage_app(tmp_path / "app", model=None, code=CodeSource(code, "pkg/main.py"), log=tmp_path / "l")
    assert staged.env == {
        "AML_APP_ROOT": str(tmp_path / "app" / "code" / "pkg"),
        "AZUREML_ENTRY_SCRIPT": "main.py",
    }


def test_digest_mismatch_fails_leaves_nothing_and_logs_why(tmp_path: Path, sample: tuple[Path, Path]) -> None:
    model, _ = sample
    expected = tree_digest(model)
    (model / "extra.txt").write_text("tampered")
    log = tmp_path / "storage.log"
    with pytest.raises(StagingError, match="digest mismatch"):
        stage_app(tmp_path / "app", model=ModelSource(model, "m", "1", expected), code=None, log=log)
    assert not (tmp_path / "app" / "azureml-models" / "m" / "1").exists()
    assert list((tmp_path / "app" / "azureml-models" / "m").iterdir()) == []
    assert "FAILED" in log.read_text() and expected in log.read_text()


def test_missing_model_path(tmp_path: Path) -> None:
    log = tmp_path / "storage.log"
    with pytest.raises(StagingError, match="does not exist"):
        stage_app(tmp_path / "app", model=ModelSource(tmp_path / "gone", "m", "1"), code=None, log=log)
    assert "FAILED" in log.read_text() and "gone" in log.read_text()


def test_missing_scoring_script(tmp_path: Path, sample: tuple[Path, Path]) -> None:
    _, code = sample
    log = tmp_path / "storage.log"
    with pytest.raises(StagingError, match=r"nope\.py not found"):
        stage_app(tmp_path / "app", model=None, code=CodeSource(code, "nope.py"), log=log)
    assert not (tmp_path / "app" / "onlinescoring").exists()
    assert "FAILED" in log.read_text()


@pytest.mark.parametrize("script", ["../score.py", "/etc/passwd", ""])
def test_scoring_script_outside_the_code_folder_is_refused(
    tmp_path: Path, sample: tuple[Path, Path], script: str
) -> None:
    _, code = sample
    with pytest.raises(StagingError, match="inside the code folder"):
        stage_app(tmp_path / "app", model=None, code=CodeSource(code, script), log=tmp_path / "l")


def test_symlink_escaping_the_code_folder_is_refused(tmp_path: Path, sample: tuple[Path, Path]) -> None:
    _, code = sample
    secret = tmp_path / "secret.txt"
    secret.write_text("not yours")
    (code / "leak.txt").symlink_to(secret)
    log = tmp_path / "storage.log"
    with pytest.raises(StagingError, match="outside"):
        stage_app(tmp_path / "app", model=None, code=CodeSource(code, "score.py"), log=log)
    assert not (tmp_path / "app" / "onlinescoring").exists()
    assert "FAILED" in log.read_text() and "leak.txt" in log.read_text()


def test_symlinks_inside_the_folder_are_materialised(tmp_path: Path, sample: tuple[Path, Path]) -> None:
    _, code = sample
    (code / "lib").mkdir()
    (code / "lib" / "helper.py").write_text("X = 1\n")
    (code / "alias.py").symlink_to(code / "score.py")
    (code / "libalias").symlink_to("lib")
    stage_app(tmp_path / "app", model=None, code=CodeSource(code, "alias.py"), log=tmp_path / "l")
    staged = tmp_path / "app" / "onlinescoring"
    assert not (staged / "alias.py").is_symlink()
    assert (staged / "alias.py").read_text() == (code / "score.py").read_text()
    assert (staged / "libalias" / "helper.py").read_text() == "X = 1\n"


def test_symlink_loop_is_refused(tmp_path: Path, sample: tuple[Path, Path]) -> None:
    _, code = sample
    (code / "sub").mkdir()
    (code / "sub" / "back").symlink_to("..")
    with pytest.raises(StagingError, match="loop"):
        stage_app(tmp_path / "app", model=None, code=CodeSource(code, "score.py"), log=tmp_path / "l")


def test_dangling_symlink_is_a_missing_file(tmp_path: Path, sample: tuple[Path, Path]) -> None:
    _, code = sample
    (code / "dangling.py").symlink_to(code / "removed.py")
    with pytest.raises(StagingError, match="broken symlink"):
        stage_app(tmp_path / "app", model=None, code=CodeSource(code, "score.py"), log=tmp_path / "l")


def test_restaging_replaces_previous_content(tmp_path: Path, sample: tuple[Path, Path]) -> None:
    model, code = sample
    app = tmp_path / "app"
    stage_app(app, model=ModelSource(model, "m", "1"), code=CodeSource(code, "score.py"), log=tmp_path / "l")
    (code / "old.py").write_text("")
    stage_app(app, model=ModelSource(model, "m", "1"), code=CodeSource(code, "score.py"), log=tmp_path / "l")
    (code / "old.py").unlink()
    stage_app(app, model=ModelSource(model, "m", "1"), code=CodeSource(code, "score.py"), log=tmp_path / "l")
    assert not (app / "onlinescoring" / "old.py").exists()
    assert (app / "azureml-models" / "m" / "1" / "model" / "sklearn_regression_model.pkl").is_file()


@pytest.mark.parametrize(("name", "version"), [("../evil", "1"), ("m", "..")])
def test_names_that_are_not_folder_names_are_refused(
    tmp_path: Path, sample: tuple[Path, Path], name: str, version: str
) -> None:
    model, _ = sample
    with pytest.raises(StagingError, match="folder name"):
        stage_app(tmp_path / "app", model=ModelSource(model, name, version), code=None, log=tmp_path / "l")
