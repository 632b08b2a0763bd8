"""Virtual environments for process-backend instances, built with uv and shared by digest.

An environment is the user's requirements plus the scoring host's few runtime libraries, and a copy of
`endpointctl.serving.scoring` dropped into site-packages so `python -m endpointctl.serving.scoring`
works without installing the control plane. It lives at `<cache_root>/<key>` where the key digests the
requirements, the interpreter's minor version and the scoring host (its requirements and its code), so
editing the host rebuilds environments and identical deployments share one.

A build happens in `<cache_root>/.building-<key>` under an exclusive lock on `<key>.lock` and is renamed
into place only once complete, so a reader never sees a half-made environment and two concurrent
builds of one key run once. The build log is the caller's and is kept whatever happens.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import endpointctl
import endpointctl.serving
from endpointctl.backends.common.environments.conda import PythonRequirements, requirements_digest
from endpointctl.backends.common.environments.pip_settings import pip_settings
from endpointctl.backends.common.environments.scoring_host import (
    HOST_REQUIREMENTS,
    REPLACED_BY_HOST,
    REPLACED_REASON,
    copy_host,
    host_marker,
)
from endpointctl.backends.local.disk import touch
from endpointctl.backends.local.layout import ENV_CACHE_VARIABLE
from endpointctl.backends.process.env_gc import LAST_USED
from endpointctl.core.errors import OperationFailed
from endpointctl.core.filelock import exclusive

# Lines of what a build is doing, for callers that show it while they wait; called from the build thread.
Progress = Callable[[str], None]

_MARKER = "endpointctl-env.json"
_REQUIREMENTS_FILE = "endpointctl-requirements.txt"
# uv settings a user may have made themselves; when any is present, uv's own configuration wins.
_UV_INDEX_ENV = (
    "UV_INDEX_URL",
    "UV_DEFAULT_INDEX",
    "UV_INDEX",
    "UV_EXTRA_INDEX_URL",
    "UV_FIND_LINKS",
    "UV_NO_INDEX",
)


def _usable_cache(root: Path) -> None:
    """The environment cache exists and is writable, or a message that names it (and ENDPOINTCTL_ENV_CACHE)."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        # A unique name: concurrent builds in one process probe the same folder at once.
        with tempfile.NamedTemporaryFile(dir=root, prefix=".probe-"):
            pass
    except OSError as exc:
        raise EnvironmentBuildError(
            f"the environment cache {root} is not a writable folder ({exc.strerror or exc}); "
            f"set {ENV_CACHE_VARIABLE} to one, or unset it to use the data directory's envs/"
        ) from exc


class EnvironmentBuildError(OperationFailed):
    """uv could not create or populate the environment; the message points at the build log."""


@dataclass(frozen=True)
class BuiltEnvironment:
    root: Path
    python: Path
    key: str
    python_version: str
    warnings: tuple[str, ...]
    notes: tuple[str, ...]
    reused: bool


@dataclass(frozen=True)
class _Interpreter:
    executable: str
    version: str  # "3.11"
    warning: str | None


class EnvironmentBuilder:
    def __init__(self, cache_root: Path) -> None:
        self.cache_root = cache_root

    async def ensure(
        self, requirements: PythonRequirements, *, log: Path, progress: Progress | None = None
    ) -> BuiltEnvironment:
        """The environment for `requirements`, built on first use; later calls only check it exists."""
        return await asyncio.to_thread(self.ensure_sync, requirements, log=log, progress=progress)

    def ensure_sync(
        self, requirements: PythonRequirements, *, log: Path, progress: Progress | None = None
    ) -> BuiltEnvironment:
        wanted = requirements.without(REPLACED_BY_HOST, REPLACED_REASON)
        interpreter = _choose_interpreter(wanted.python)
        host_dir = Path(endpointctl.serving.__file__).parent
        marker = host_marker(host_dir)
        key = _cache_key(requirements_digest(wanted, host_marker=marker), interpreter.version)
        warnings = (interpreter.warning,) if interpreter.warning else ()
        root = self.cache_root / key

        def result(reused: bool) -> BuiltEnvironment:
            return BuiltEnvironment(
                root, _venv_python(root), key, interpreter.version, warnings, wanted.notes, reused
            )

        log.parent.mkdir(parents=True, exist_ok=True)
        _usable_cache(self.cache_root)
        # Under the environment's lock even to reuse it: `endpointctl gc` removes under the same lock, so an
        # environment found complete here is marked used before a collection can look at it again.
        with exclusive(self.cache_root / f"{key}.lock"):
            if _is_complete(root):
                touch(root / LAST_USED)
                _log_line(log, f"environment {key} is ready at {root}; nothing to build")
                return result(True)
            if root.exists():
                # A complete marker is the only proof of a good build; anything else is debris.
                shutil.rmtree(root)
            _build(self.cache_root / f".building-{key}", root, wanted, interpreter, host_dir, log, progress)
            touch(root / LAST_USED)
        return result(False)


def _build(
    staging: Path,
    root: Path,
    requirements: PythonRequirements,
    interpreter: _Interpreter,
    host_dir: Path,
    log: Path,
    progress: Progress | None = None,
) -> None:
    def step(message: str) -> None:
        if progress is not None:
            progress(f"environment: {message}")

    shutil.rmtree(staging, ignore_errors=True)
    step(f"building {root.name} with Python {interpreter.version} (uv venv)")
    started = time.monotonic()
    for warning in (interpreter.warning, *requirements.notes):
        if warning:
            _log_line(log, warning)
    _log_line(
        log, f"building environment {root.name} with Python {interpreter.version} from {requirements.source}"
    )
    uv, uv_env = _uv_command(), _uv_environment()
    done = False
    try:
        # --relocatable: the venv is renamed from its staging folder, so nothing may embed that path.
        venv = [
            *uv,
            "venv",
            str(staging),
            "--python",
            interpreter.executable,
            "--relocatable",
            "--no-project",
        ]
        _run(venv, uv_env, log)
        requirements_file = staging / _REQUIREMENTS_FILE
        lines = [*requirements.pip_options, *requirements.packages, *HOST_REQUIREMENTS]
        requirements_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
        _log_line(log, "requirements: " + ", ".join(lines))
        step(f"installing {len(lines)} requirement(s): {', '.join(lines)}")
        # Bytecode is compiled once here, not by every instance's first start in a shared venv.
        install = [*uv, "pip", "install", "--compile-bytecode", "--python", str(_venv_python(staging))]
        install += ["-r", str(requirements_file)]
        _run([*install, *_index_arguments(uv_env)], uv_env, log)
        site_packages = _site_packages(staging)
        copy_host(site_packages / "endpointctl", host_dir)
        _log_line(log, f"scoring host copied into {site_packages / 'endpointctl'}")
        marker = {"python": interpreter.version, "requirements": lines, "built_at": time.time()}
        (staging / _MARKER).write_text(json.dumps(marker, indent=2), encoding="utf-8")
        staging.rename(root)
        done = True
    except EnvironmentBuildError as exc:
        _log_line(log, f"build failed: {exc}")
        raise
    except OSError as exc:
        _log_line(log, f"build failed: {exc}")
        raise EnvironmentBuildError(f"building the environment failed ({exc}); see {log}") from exc
    finally:
        if not done:
            shutil.rmtree(staging, ignore_errors=True)
    _log_line(log, f"environment {root.name} ready at {root} in {time.monotonic() - started:.1f}s")
    step(f"{root.name} built in {time.monotonic() - started:.1f}s")


def _run(command: list[str], env: Mapping[str, str], log: Path) -> None:
    _log_line(log, "$ " + " ".join(command))
    with log.open("a", encoding="utf-8") as out:
        completed = subprocess.run(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            check=False,
        )
    if completed.returncode != 0:
        raise EnvironmentBuildError(
            f"`{' '.join(command[:3])} …` exited with status {completed.returncode}; the build log {log} has uv's output"
        )


@functools.cache
def _choose_interpreter(wanted: str | None) -> _Interpreter:
    """Memoised per process: `uv python find` probes every interpreter on PATH (pyenv shims spawn a
    process each), far too slow for the cached path, and installed Pythons rarely change under a
    running supervisor."""
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    if wanted is None or wanted == running:
        return _Interpreter(sys.executable, running, None)
    env = {**_uv_environment(), "UV_PYTHON_DOWNLOADS": "never"}
    found = subprocess.run(
        [*_uv_command(), "python", "find", "--no-project", wanted],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    path = found.stdout.strip()
    if found.returncode == 0 and path:
        return _Interpreter(path, wanted, None)
    return _Interpreter(
        sys.executable,
        running,
        f"Python {wanted} is requested but not installed on this machine; "
        f"using Python {platform.python_version()} instead (the packages must support it)",
    )


def _uv_command() -> list[str]:
    beside = Path(sys.executable).parent / "uv"
    if beside.is_file() and os.access(beside, os.X_OK):
        return [str(beside)]
    found = shutil.which("uv")
    return [found] if found else [sys.executable, "-m", "uv"]


def _uv_environment() -> dict[str, str]:
    env = dict(os.environ)
    # uv must never fetch an interpreter behind the user's back, and a caller's venv must not leak in.
    env["UV_PYTHON_DOWNLOADS"] = "never"
    env.pop("VIRTUAL_ENV", None)
    env.pop("CONDA_PREFIX", None)
    return env


def _index_arguments(env: Mapping[str, str]) -> list[str]:
    """pip's index configuration as uv flags, so environments resolve from the same places pip does.

    uv reads only its own settings; on machines configured for pip (a mirror, local wheel folders, a
    constraints file that caps what is on disk) we translate them. If uv has been configured
    explicitly, that configuration is the user's choice and nothing is added.
    """
    if any(env.get(name) for name in _UV_INDEX_ENV) or _uv_config_exists(env):
        return []
    settings = pip_settings(env)
    args: list[str] = []
    if settings.get("no-index", "").lower() in {"1", "true", "yes", "on"}:
        args.append("--no-index")
    if url := settings.get("index-url"):
        args += ["--index-url", url]
    for url in settings.get("extra-index-url", "").split():
        args += ["--extra-index-url", url]
    for link in settings.get("find-links", "").split():
        args += ["--find-links", link]
    for constraint in settings.get("constraint", "").split():
        if Path(constraint).is_file():
            args += ["--constraint", constraint]
    if len(args) > 0:
        # pip picks the best version across all indexes; uv's default stops at the first index that
        # knows the package, which would pin everything to whatever a local mirror happens to hold.
        args += ["--index-strategy", "unsafe-best-match"]
    return args


def _uv_config_exists(env: Mapping[str, str]) -> bool:
    if env.get("UV_CONFIG_FILE"):
        return True
    config_home = Path(env.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    system_dirs = [Path(d) for d in env.get("XDG_CONFIG_DIRS", "/etc/xdg").split(":") if d]
    candidates = [
        config_home / "uv" / "uv.toml",
        *(d / "uv" / "uv.toml" for d in system_dirs),
        Path("/etc/uv/uv.toml"),
    ]
    return any(path.is_file() for path in candidates)


def _cache_key(requirements_key: str, python_version: str) -> str:
    text = f"{requirements_key}\0{platform.python_implementation()}-{python_version}\0{platform.machine()}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _venv_python(root: Path) -> Path:
    return root / "bin" / "python"


def _site_packages(root: Path) -> Path:
    found = sorted((root / "lib").glob("python*/site-packages"))
    if len(found) != 1:
        raise EnvironmentBuildError(f"{root}: expected one site-packages folder, found {len(found)}")
    return found[0]


def _is_complete(root: Path) -> bool:
    # The interpreter link dangles if the base Python was removed; such a venv must be rebuilt.
    return (root / _MARKER).is_file() and _venv_python(root).resolve().is_file()


def _log_line(log: Path, message: str) -> None:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    with log.open("a", encoding="utf-8") as out:
        out.write(f"{stamp} {message}\n")
