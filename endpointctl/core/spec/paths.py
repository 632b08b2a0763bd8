"""Local paths in specs: resolved against the YAML file's folder and checked before anything uses them.

A deployment's `model.path` and `code_configuration.code` may instead name a source the cluster fetches
(`pvc://CLAIM/PATH`, `https://…`) when the deployment is `type: kubernetes`: those pass through unresolved for
the kubernetes backend's storage initializer. Any other `scheme://` value is an error here, so it never reaches
a backend.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from endpointctl.core.spec.refs import is_reference
from endpointctl.core.spec.source import FieldPath

Expect = Literal["file", "dir", "any"]
REMOTE_SCHEMES = ("pvc", "https")
_SCHEME = re.compile(r"^(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*)://")


@dataclass(frozen=True)
class PathField:
    path: FieldPath
    expect: Expect
    remote: bool = False  # may be a pvc:// or https:// source on a kubernetes deployment


MODEL_PATHS = (PathField(("path",), "any"),)
ENVIRONMENT_PATHS = (PathField(("conda_file",), "file"), PathField(("build", "path"), "dir"))
DEPLOYMENT_PATHS = (
    PathField(("model", "path"), "any", remote=True),
    PathField(("code_configuration", "code"), "dir", remote=True),
    PathField(("environment", "conda_file"), "file"),
    PathField(("environment", "build", "path"), "dir"),
)


def resolve_paths(
    data: dict[str, Any], fields: tuple[PathField, ...], base_dir: Path
) -> list[tuple[FieldPath, str]]:
    """Rewrite each present path field to an absolute path in place; return the problems found."""
    problems: list[tuple[FieldPath, str]] = []
    for spec_field in fields:
        parent = _parent(data, spec_field.path)
        if parent is None:
            continue
        key = str(spec_field.path[-1])
        value = parent.get(key)
        if not isinstance(value, str) or is_reference(value):
            continue
        if not value.strip():
            problems.append((spec_field.path, "must not be empty"))
            continue
        if "\x00" in value:  # the OS refuses such a path (ValueError), which must not escape as a crash
            problems.append((spec_field.path, "must not contain a NUL character"))
            continue
        scheme = remote_scheme(value)
        if scheme is not None:
            problem = _remote_problem(data, spec_field, scheme)
            if problem is not None:
                problems.append((spec_field.path, problem))
            continue
        absolute = Path(os.path.normpath(base_dir / Path(value).expanduser()))
        problem = check_path(absolute, spec_field.expect)
        if problem is not None:
            problems.append((spec_field.path, problem))
            continue
        parent[key] = str(absolute)
    problems += _scoring_script(data)
    return problems


def remote_scheme(value: str) -> str | None:
    """`pvc` for `pvc://claim/path`, `s3` for `s3://…`; None for a local path."""
    match = _SCHEME.match(value)
    return match["scheme"].lower() if match else None


def _remote_problem(data: dict[str, Any], spec_field: PathField, scheme: str) -> str | None:
    if not spec_field.remote:
        return f"{scheme}:// is not a local path; give a file or folder (relative to the YAML file)"
    if scheme not in REMOTE_SCHEMES:
        return (
            f"{scheme}:// sources are not supported: give a local path, or pvc://CLAIM/PATH or https://… "
            "on a `type: kubernetes` deployment"
        )
    kind = data.get("type", "managed")
    if not isinstance(kind, str) or kind.lower() != "kubernetes":
        return (
            f"{scheme}:// sources are fetched inside a cluster: they need `type: kubernetes` and the "
            "kubernetes backend; other deployments take a local path"
        )
    return None


def check_path(path: Path, expect: Expect) -> str | None:
    try:
        mode = path.stat().st_mode
        path.resolve(strict=True)
    except FileNotFoundError:
        return f"{path}: no such file or directory"
    except PermissionError:
        return f"{path}: permission denied"
    except RuntimeError:
        return f"{path}: symlink loop"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return f"{path}: symlink loop"
        return f"{path}: {exc.strerror or exc}"
    if expect == "file" and not stat.S_ISREG(mode):
        return (
            f"{path}: is a directory; expected a file"
            if stat.S_ISDIR(mode)
            else f"{path}: not a regular file"
        )
    if expect == "dir" and not stat.S_ISDIR(mode):
        return f"{path}: is a file; expected a directory"
    return None


def _scoring_script(data: dict[str, Any]) -> list[tuple[FieldPath, str]]:
    config = data.get("code_configuration")
    if not isinstance(config, dict):
        return []
    code, script = config.get("code"), config.get("scoring_script")
    if (
        not isinstance(code, str)
        or not isinstance(script, str)
        or is_reference(code)
        or not Path(code).is_absolute()
    ):
        return []
    where: FieldPath = ("code_configuration", "scoring_script")
    if Path(script).is_absolute() or ".." in Path(script).parts:
        return [(where, "must be a path inside code_configuration.code")]
    target = Path(code) / script
    problem = check_path(target, "file")
    if problem is not None:
        return [(where, problem)]
    if not target.resolve().is_relative_to(Path(code).resolve()):
        return [(where, f"{target}: resolves outside code_configuration.code (symlink)")]
    return []


def _parent(data: dict[str, Any], path: FieldPath) -> dict[str, Any] | None:
    node: Any = data
    for part in path[:-1]:
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node if isinstance(node, dict) else None
