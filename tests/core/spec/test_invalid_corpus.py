"""Each invalid file fails with exactly the diagnostics in its `.expected` twin (file:line:col: field: message)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from endpointctl.core.spec import SpecError, load_deployment, load_endpoint, load_environment, load_model
from tests.conftest import SAMPLES

CORPUS = Path(__file__).parents[2] / "data" / "spec" / "invalid"
LOADERS: dict[str, Callable[..., Any]] = {
    "endpoint": load_endpoint,
    "deployment": load_deployment,
    "model": load_model,
    "environment": load_environment,
}
CASES = sorted(CORPUS.glob("*.yml"))


def test_the_corpus_is_large_enough() -> None:
    assert len(CASES) >= 30
    assert all(case.with_suffix(".expected").is_file() for case in CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_invalid_file_reports_expected_diagnostics(case: Path) -> None:
    load = LOADERS[case.name.split("-")[0]]
    with pytest.raises(SpecError) as caught:
        load(case)
    shown = str(caught.value).replace(str(case), case.name).replace(str(SAMPLES.resolve()), "<samples>")
    assert shown == case.with_suffix(".expected").read_text().rstrip("\n")
    # Every diagnostic carries a location a tool can jump to.
    for diagnostic in caught.value.diagnostics:
        assert diagnostic.source == str(case)
        assert (diagnostic.line, diagnostic.column) != (0, 0) or "empty" in diagnostic.message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"endpoint\.yml: no such file"):
        load_endpoint(tmp_path / "endpoint.yml")


def test_directory_where_a_file_is_expected(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="is a directory; expected a YAML file"):
        load_deployment(tmp_path)


def test_symlink_loop_in_the_spec_path_and_in_a_model_path(tmp_path: Path) -> None:
    (tmp_path / "a.yml").symlink_to(tmp_path / "b.yml")
    (tmp_path / "b.yml").symlink_to(tmp_path / "a.yml")
    with pytest.raises(SpecError, match="symlink loop"):
        load_endpoint(tmp_path / "a.yml")
    (tmp_path / "m1").symlink_to(tmp_path / "m2")
    (tmp_path / "m2").symlink_to(tmp_path / "m1")
    model = tmp_path / "model.yml"
    model.write_text("name: my-model\nversion: 1\npath: m1\n")
    with pytest.raises(SpecError) as caught:
        load_model(model)
    assert str(caught.value) == f"{model}:3:1: path: {tmp_path / 'm1'}: symlink loop"


def test_scoring_script_symlinked_out_of_the_code_folder(tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (tmp_path / "outside.py").write_text("def init(): pass\ndef run(d): return d\n")
    (code / "score.py").symlink_to(tmp_path / "outside.py")
    (tmp_path / "model").mkdir()
    spec = tmp_path / "blue.yml"
    spec.write_text(
        "name: blue\nendpoint_name: my-endpoint\nmodel:\n  path: model\ncode_configuration:\n  code: code\n"
        "  scoring_script: score.py\nenvironment:\n  image: python:3.11\ninstance_type: Standard_DS3_v2\n"
    )
    with pytest.raises(SpecError, match=r"resolves outside code_configuration\.code"):
        load_deployment(spec)


def test_not_utf8(tmp_path: Path) -> None:
    bad = tmp_path / "endpoint.yml"
    bad.write_bytes(b"name: caf\xe9\n")
    with pytest.raises(SpecError, match="not UTF-8"):
        load_endpoint(bad)
