"""Turn an Azure ML `conda.yaml` into plain PyPI requirements for a virtual environment.

Azure builds a conda environment from the file; we build a venv instead, so each conda dependency is
translated to its PyPI spelling. The decisions, in one place:

- `python` is not a package here: its version is returned separately and picks the interpreter.
- `pip` is dropped: the builder installs with uv, and a pinned pip changes nothing a scoring script sees.
- `setuptools` and `wheel` are kept: they exist on PyPI and old libraries still import `pkg_resources`
  at run time, which a venv made by uv would otherwise lack.
- Packages that exist only as conda binaries (CUDA, MKL, the C runtime) cannot be honoured in a venv;
  rather than silently building something different, they are an error naming the package and the file.
- Entries of the `pip:` section are passed through untouched, except requirement-file options that
  would pull in content the cache key cannot see (`-r`, `-c`, `-e`), which are rejected.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from endpointctl.core.errors import InvalidInput

# conda-forge / defaults name → PyPI name, for packages whose names differ between the two worlds.
CONDA_TO_PYPI: dict[str, str] = {
    "pytorch": "torch",
    "pytorch-cpu": "torch",
    "pytorch-gpu": "torch",
    "py-xgboost": "xgboost",
    "py-xgboost-cpu": "xgboost",
    "py-lightgbm": "lightgbm",
    "py-opencv": "opencv-python",
    "opencv": "opencv-python",
    "matplotlib-base": "matplotlib",
    "msgpack-python": "msgpack",
    "pytables": "tables",
    "python-graphviz": "graphviz",
    "ruamel_yaml": "ruamel.yaml",
    "tensorflow-base": "tensorflow",
    "pyyaml": "PyYAML",
    "python-dateutil": "python-dateutil",
}

# Binary-only conda packages with no PyPI counterpart: a venv cannot provide them.
CONDA_ONLY: frozenset[str] = frozenset(
    {
        "cudatoolkit",
        "cudnn",
        "nccl",
        "mkl",
        "mkl-include",
        "intel-openmp",
        "libgcc-ng",
        "libstdcxx-ng",
        "libgomp",
        "_libgcc_mutex",
        "_openmp_mutex",
        "blas",
        "libblas",
        "libcblas",
        "liblapack",
        "openblas",
    }
)

# Conda packages that describe the environment itself rather than something to install into it.
DROPPED: frozenset[str] = frozenset({"python", "pip"})

_ALLOWED_PIP_OPTIONS = ("--index-url", "--extra-index-url", "--find-links", "-i ", "-f ", "--pre")
_PYTHON_MINOR = re.compile(r"^(?:==?)?\s*(\d+)\.(\d+)(?:\.\d+)?(?:\.\*|\*)?$")
_CONDA_SPEC = re.compile(r"^(?P<name>[A-Za-z0-9_.\-]+)\s*(?P<rest>.*)$")


@dataclass(frozen=True)
class PythonRequirements:
    """What a venv must contain. `python` is the wanted minor version ("3.12") or None for "any"."""

    source: str
    python: str | None
    packages: tuple[str, ...]
    pip_options: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def without(self, names: frozenset[str], reason: str) -> PythonRequirements:
        """A copy minus the packages whose normalised name is in `names`, with a note for each."""
        kept: list[str] = []
        notes = list(self.notes)
        for requirement in self.packages:
            if requirement_name(requirement) in names:
                notes.append(f"{self.source}: {requirement} is not installed: {reason}")
            else:
                kept.append(requirement)
        return PythonRequirements(self.source, self.python, tuple(kept), self.pip_options, tuple(notes))


def normalise(name: str) -> str:
    """PEP 503 normalisation: case and `-_.` runs do not distinguish packages."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    """The normalised project name of a PEP 508 requirement string."""
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._\-]*)", requirement)
    return normalise(match.group(1)) if match else ""


def parse_conda_file(path: Path) -> PythonRequirements:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read the conda file: {exc.strerror or exc}") from exc
    return parse_conda(text, source=str(path))


def parse_conda(text: str, *, source: str) -> PythonRequirements:
    """Parse conda environment YAML; `source` names the file in every error and note."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{source}: not valid YAML: {exc}") from exc
    if not isinstance(document, dict):
        raise InvalidInput(f"{source}: a conda file is a mapping with a `dependencies` list")
    dependencies = document.get("dependencies") or []
    if not isinstance(dependencies, list):
        raise InvalidInput(f"{source}: `dependencies` must be a list")

    python: str | None = None
    packages: list[str] = []
    pip_options: list[str] = []
    notes: list[str] = []
    for entry in dependencies:
        if isinstance(entry, dict):
            _pip_section(entry, source, packages, pip_options)
            continue
        if not isinstance(entry, str | int | float):
            raise InvalidInput(f"{source}: dependency {entry!r} is neither a package spec nor a `pip:` list")
        name, specifier = _split_conda(str(entry), source)
        key = normalise(name)
        if key == "python":
            python = _python_version(specifier, source, notes)
        elif key in DROPPED:
            notes.append(f"{source}: {entry} is not needed in a virtual environment; ignored")
        elif key in CONDA_ONLY:
            raise InvalidInput(
                f"{source}: conda package {name!r} has no PyPI counterpart and cannot be installed in a "
                "virtual environment; remove it (PyPI wheels bundle their own native libraries)"
            )
        else:
            packages.append(CONDA_TO_PYPI.get(key, name) + specifier)
    return PythonRequirements(source, python, tuple(packages), tuple(pip_options), tuple(notes))


def requirements_digest(requirements: PythonRequirements, *, host_marker: str) -> str:
    """A stable cache key: the same packages, options, python and host give the same digest.

    Package order does not change what a resolver installs, so it does not change the key either.
    """
    payload = {
        "python": requirements.python,
        "packages": sorted(requirements.packages),
        "pip_options": list(requirements.pip_options),
        "host": host_marker,
    }
    return "sha256:" + hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _pip_section(entry: dict[Any, Any], source: str, packages: list[str], options: list[str]) -> None:
    if set(entry) != {"pip"} or not isinstance(entry["pip"], list):
        raise InvalidInput(f"{source}: only a `pip:` list may appear as a mapping in `dependencies`")
    for line in entry["pip"]:
        text = str(line).strip()
        if not text:
            continue
        if text.startswith("-"):
            if not text.startswith(_ALLOWED_PIP_OPTIONS):
                raise InvalidInput(
                    f"{source}: pip option {text!r} is not supported; list the packages themselves "
                    "(index options --index-url, --extra-index-url and --find-links are allowed)"
                )
            options.append(text)
        else:
            packages.append(text)


def _split_conda(spec: str, source: str) -> tuple[str, str]:
    """`conda-forge::numpy=2.3.1=py312h…` → ("numpy", "==2.3.1"); build strings are dropped."""
    text = spec.strip().split("::", 1)[-1]
    match = _CONDA_SPEC.match(text)
    if match is None:
        raise InvalidInput(f"{source}: cannot read conda dependency {spec!r}")
    name, rest = match.group("name"), match.group("rest").replace(" ", "")
    if "|" in rest:
        raise InvalidInput(f"{source}: {spec!r}: alternative versions (`|`) have no PyPI equivalent")
    if not rest:
        return name, ""
    if rest.startswith("=") and not rest.startswith("=="):
        # conda `name=ver[=build]`: the build string is conda-only.
        version = rest[1:].split("=", 1)[0]
        return name, f"=={version}"
    if rest.startswith("=="):
        return name, "==" + rest[2:].split("=", 1)[0]
    if rest[0] in "<>!~":
        return name, rest
    # conda's space-separated form: `numpy 2.3.*`
    return name, f"=={rest}"


def _python_version(specifier: str, source: str, notes: list[str]) -> str | None:
    if not specifier:
        return None
    match = _PYTHON_MINOR.match(specifier)
    if match is None:
        notes.append(f"{source}: python{specifier} does not pin a minor version; any interpreter is used")
        return None
    return f"{match.group(1)}.{match.group(2)}"
