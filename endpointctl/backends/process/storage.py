"""The storage initializer: stage a deployment's model and code into an instance's app folder.

Layout (reference §4), under the instance's app folder `<app>`:

    <app>/azureml-models/<model-name>/<version>/<model folder or file, by its own name>
    <app>/<code-folder-name>/...

Everything is copied, never hard-linked: a scoring script that writes to its model file must not be able
to change the registry's blob (permissions do not stop root). Where the filesystem offers copy-on-write
clones the copy is a clone, which costs no space or time. Model files are made read-only, as Azure's
model mount is. Each step becomes one line of the `storage-initializer` log; a failure is logged before
`StagingError` is raised, and nothing half-copied is left under the final names.
"""

from __future__ import annotations

import errno
import fcntl
import shutil
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from endpointctl.core.assets.sources import CodeSource, ModelSource
from endpointctl.core.digest import PREFIX, tree_digest
from endpointctl.core.errors import EndpointctlError

MODELS_DIR = "azureml-models"
# Linux FICLONE ioctl: share the source's extents (btrfs, XFS, overlayfs on those) instead of copying.
_FICLONE = 0x40049409


class StagingError(EndpointctlError):
    """The model or code could not be staged; the storage-initializer log says why."""


@dataclass(frozen=True)
class StagedApp:
    root: Path
    model_dir: Path | None
    code_dir: Path | None
    entry_script: Path | None
    env: dict[str, str]


def stage_app(app_dir: Path, *, model: ModelSource | None, code: CodeSource | None, log: Path) -> StagedApp:
    """Copy model and code into `app_dir` and return the environment variables an instance needs."""
    log.parent.mkdir(parents=True, exist_ok=True)
    journal = _Journal(log)
    try:
        app_dir.mkdir(parents=True, exist_ok=True)
        model_dir = _stage_model(app_dir, model, journal) if model is not None else None
        code_dir, entry = _stage_code(app_dir, code, journal) if code is not None else (None, None)
    except StagingError as exc:
        journal.line(f"FAILED: {exc}")
        raise
    except OSError as exc:
        reason = _os_reason(exc)
        journal.line(f"FAILED: {reason}")
        raise StagingError(f"staging into {app_dir} failed: {reason}") from exc
    env: dict[str, str] = {}
    if model_dir is not None:
        env["AZUREML_MODEL_DIR"] = str(model_dir)
    if entry is not None:
        env["AML_APP_ROOT"] = str(entry.parent)
        env["AZUREML_ENTRY_SCRIPT"] = entry.name
    journal.line("storage initialised: " + " ".join(f"{k}={v}" for k, v in sorted(env.items())))
    return StagedApp(app_dir, model_dir, code_dir, entry, env)


def anonymous_model_name(digest: str) -> str:
    """The name an unnamed inline model gets: derived from its content, so identical models share it."""
    return digest.removeprefix(PREFIX)[:32]


def _stage_model(app_dir: Path, model: ModelSource, journal: _Journal) -> Path:
    source = model.path
    if not source.exists():
        raise StagingError(f"model path {source} does not exist")
    name, version = model.name, model.version or "1"
    if name is None:
        # Naming needs the content digest before anything is copied.
        name = anonymous_model_name(tree_digest(source))
        journal.line(f"model at {source} has no name; using its content hash {name}, version {version}")
    _check_component(name, "model name")
    _check_component(version, "model version")
    version_dir = app_dir / MODELS_DIR / name / version
    partial = version_dir.with_name(f".{version}.partial")
    _remove(partial)
    partial.mkdir(parents=True)
    journal.line(f"staging model {name}:{version} from {source}")
    try:
        files, size = _copy_tree(source, partial / source.name, journal, read_only=True)
        staged_digest = tree_digest(partial / source.name)
        if model.digest is not None and staged_digest != model.digest:
            raise StagingError(
                f"model {name}:{version}: digest mismatch: the registry expects {model.digest}, "
                f"the staged copy of {source} is {staged_digest}"
            )
        verdict = (
            "OK (matches the registry)" if model.digest is not None else "(inline model, not registered)"
        )
        journal.line(
            f"model {name}:{version}: {files} files, {_size(size)}, digest {staged_digest} {verdict}"
        )
        _remove(version_dir)
        partial.rename(version_dir)
    finally:
        _remove(partial)
    return version_dir


def _stage_code(app_dir: Path, code: CodeSource, journal: _Journal) -> tuple[Path, Path]:
    source = code.path
    if not source.is_dir():
        raise StagingError(f"code folder {source} does not exist or is not a folder")
    if source.name == MODELS_DIR:
        raise StagingError(f"code folder {source} cannot be named {MODELS_DIR!r}: models are staged there")
    script = PurePosixPath(code.scoring_script)
    if script.is_absolute() or ".." in script.parts or not script.parts:
        raise StagingError(f"scoring_script {code.scoring_script!r} must be a path inside the code folder")
    target = app_dir / source.name
    partial = app_dir / f".{source.name}.partial"
    _remove(partial)
    journal.line(f"staging code from {source}")
    try:
        files, size = _copy_tree(source, partial, journal, read_only=False)
        if not (partial / script).is_file():
            raise StagingError(f"scoring_script {code.scoring_script} not found in code folder {source}")
        journal.line(f"code {source.name}: {files} files, {_size(size)}, digest {tree_digest(partial)}")
        _remove(target)
        partial.rename(target)
    finally:
        _remove(partial)
    return target, target / script


def _copy_tree(source: Path, target: Path, journal: _Journal, *, read_only: bool) -> tuple[int, int]:
    """Copy a file or folder, following symlinks that stay inside the source; returns (files, bytes)."""
    boundary = source.resolve()
    files = size = 0
    for src, dst in _walk(source, target, boundary):
        if src.is_dir():
            dst.mkdir(parents=True, exist_ok=True)
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        how = _clone_or_copy(src, dst)
        if read_only:
            dst.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        length = dst.stat().st_size
        files, size = files + 1, size + length
        journal.line(f"  {how} {src} -> {dst} ({_size(length)})")
    return files, size


def _walk(
    source: Path, target: Path, boundary: Path, parents: frozenset[Path] = frozenset()
) -> Iterator[tuple[Path, Path]]:
    """(source, target) pairs, parents first; `parents` are the resolved folders above, to catch loops."""
    real = source.resolve()
    if not real.exists():
        raise StagingError(f"{source} is a broken symlink or was removed")
    if not real.is_relative_to(boundary):
        raise StagingError(f"{source} is a symlink to {real}, outside {boundary}; refusing to follow it")
    if real in parents:
        raise StagingError(f"{source} is a symlink to one of its own parent folders (a loop)")
    yield source, target
    if real.is_dir():
        for child in sorted(source.iterdir(), key=lambda p: p.name):
            yield from _walk(child, target / child.name, boundary, parents | {real})


def _clone_or_copy(src: Path, dst: Path) -> str:
    with src.open("rb") as fin, dst.open("wb") as fout:
        try:
            fcntl.ioctl(fout.fileno(), _FICLONE, fin.fileno())
            how = "cloned"
        except OSError:
            shutil.copyfileobj(fin, fout, 1 << 20)
            how = "copied"
    if dst.stat().st_size != src.stat().st_size:
        raise StagingError(f"{src} changed size while it was being copied")
    return how


def _check_component(value: str, what: str) -> None:
    if not value or value in {".", ".."} or "/" in value or "\\" in value or "\0" in value:
        raise StagingError(f"{what} {value!r} cannot be used as a folder name")


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


def _os_reason(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return f"no space left on device while writing {exc.filename or 'the app folder'}"
    if exc.errno == errno.ENOENT:
        return f"file not found: {exc.filename}"
    return f"{exc.strerror or exc} ({exc.filename})" if exc.filename else str(exc)


def _size(length: int) -> str:
    value = float(length)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


class _Journal:
    """One timestamped line per action, flushed at once so a crash still leaves the trail."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def line(self, message: str) -> None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        with self.path.open("a", encoding="utf-8") as out:
            out.write(f"{stamp} storage-initializer {message}\n")
