from __future__ import annotations

from pathlib import Path

import pytest

from endpointctl.backends.common.environments.conda import (
    PythonRequirements,
    parse_conda,
    parse_conda_file,
    requirements_digest,
)
from endpointctl.core.errors import InvalidInput
from tests.conftest import SAMPLES


def _deps(*lines: str) -> str:
    return "dependencies:\n" + "".join(f"  - {line}\n" for line in lines)


def test_sample_conda_file() -> None:
    path = SAMPLES / "model-1" / "environment" / "conda.yaml"
    req = parse_conda_file(path)
    assert req.python == "3.12"
    assert req.packages == (
        "numpy==2.3.1",
        "scikit-learn==1.7.0",
        "scipy==1.16.0",
        "azureml-inference-server-http==1.4.1",
        "inference-schema[numpy-support]",
        "joblib",
    )
    assert req.pip_options == ()
    assert len(req.notes) == 1
    assert "pip=25.1.1" in req.notes[0] and str(path) in req.notes[0]


@pytest.mark.parametrize(
    ("conda", "pypi"),
    [
        ("numpy=2.3.1", "numpy==2.3.1"),
        ("numpy==2.3.1", "numpy==2.3.1"),
        ("numpy=2.3.1=py312h1234_0", "numpy==2.3.1"),
        ("conda-forge::numpy=2.3.1", "numpy==2.3.1"),
        ("numpy >=1.26", "numpy>=1.26"),
        ("numpy>=1.26,<3", "numpy>=1.26,<3"),
        ("numpy 2.3.*", "numpy==2.3.*"),
        ("numpy", "numpy"),
        ("pytorch=2.5.1", "torch==2.5.1"),
        ("pytorch-cpu", "torch"),
        ("py-xgboost>=2", "xgboost>=2"),
        ("python-dateutil=2.9.0", "python-dateutil==2.9.0"),
        ("pyyaml", "PyYAML"),
        ("msgpack-python=1.0.8", "msgpack==1.0.8"),
        ("matplotlib-base", "matplotlib"),
        ("setuptools=65.0", "setuptools==65.0"),
    ],
)
def test_conda_spec_becomes_pypi_requirement(conda: str, pypi: str) -> None:
    assert parse_conda(_deps(conda), source="env.yml").packages == (pypi,)


@pytest.mark.parametrize("entry", ["python=3.11", "python==3.11.4", "python=3.11.*", "python 3.11"])
def test_python_pin_is_separated_from_packages(entry: str) -> None:
    req = parse_conda(_deps(entry, "six"), source="env.yml")
    assert (req.python, req.packages) == ("3.11", ("six",))


def test_python_range_means_any_interpreter_with_a_note() -> None:
    req = parse_conda(_deps("python>=3.9"), source="env.yml")
    assert req.python is None
    assert any("python>=3.9" in note for note in req.notes)


def test_no_python_and_no_dependencies() -> None:
    req = parse_conda("name: empty\n", source="env.yml")
    assert (req.python, req.packages) == (None, ())


@pytest.mark.parametrize("package", ["cudatoolkit=11.8", "mkl", "libgcc-ng>=12", "conda-forge::cudnn"])
def test_conda_only_package_is_an_error_naming_package_and_file(package: str) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_conda(_deps("numpy", package), source="/x/conda.yaml")
    name = package.split("::")[-1].split("=")[0].split(">")[0]
    assert repr(name) in str(err.value) and "/x/conda.yaml" in str(err.value)


def test_pip_section_is_kept_verbatim_with_index_options() -> None:
    text = _deps(
        "pip", "{pip: ['--extra-index-url https://example.org/simple', 'foo[bar]>=1; python_version>\"3\"']}"
    )
    req = parse_conda(text, source="env.yml")
    assert req.pip_options == ("--extra-index-url https://example.org/simple",)
    assert req.packages == ('foo[bar]>=1; python_version>"3"',)


@pytest.mark.parametrize("option", ["-r other.txt", "-e ./pkg", "-c constraints.txt"])
def test_pip_options_that_hide_content_are_rejected(option: str) -> None:
    with pytest.raises(InvalidInput, match=r"env\.yml.*not supported"):
        parse_conda(_deps(f"{{pip: ['{option}']}}"), source="env.yml")


@pytest.mark.parametrize(
    "text",
    [
        "dependencies: [\n",
        "- just\n- a list\n",
        "dependencies: numpy\n",
        _deps("{conda: [numpy]}"),
        _deps("numpy 1.2|1.3"),
    ],
)
def test_malformed_files_are_invalid_input_naming_the_file(text: str) -> None:
    with pytest.raises(InvalidInput, match=r"^bad\.yml: "):
        parse_conda(text, source="bad.yml")


def test_unreadable_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(InvalidInput, match=r"nope\.yaml"):
        parse_conda_file(missing)


def test_without_removes_named_packages_and_records_a_note() -> None:
    req = PythonRequirements("f.yml", None, ("Azureml_Inference.Server-HTTP==1.4.1", "six"))
    trimmed = req.without(frozenset({"azureml-inference-server-http"}), "replaced")
    assert trimmed.packages == ("six",)
    assert trimmed.notes == ("f.yml: Azureml_Inference.Server-HTTP==1.4.1 is not installed: replaced",)


def test_digest_ignores_order_and_source_but_not_content() -> None:
    base = PythonRequirements("a.yml", "3.12", ("numpy==2.3.1", "six"))
    digest = requirements_digest(base, host_marker="h1")
    assert digest.startswith("sha256:")
    assert (
        requirements_digest(PythonRequirements("b.yml", "3.12", ("six", "numpy==2.3.1")), host_marker="h1")
        == digest
    )
    others = [
        requirements_digest(base, host_marker="h2"),
        requirements_digest(PythonRequirements("a.yml", "3.11", base.packages), host_marker="h1"),
        requirements_digest(PythonRequirements("a.yml", "3.12", ("numpy==2.3.2", "six")), host_marker="h1"),
        requirements_digest(PythonRequirements("a.yml", "3.12", base.packages, ("--pre",)), host_marker="h1"),
    ]
    assert len({digest, *others}) == 5
