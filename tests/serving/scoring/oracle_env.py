"""The reference environment: azureml-inference-server-http 1.5 (azmlinfsrv) plus our host's runtime.

Shared by the differential tests and ``python -m bench.scoring``. The virtual environment is built
once with uv and cached under ``~/.cache/endpointctl-tests`` keyed by a hash of the requirement
list, so later runs only check a marker file. Building needs PyPI (through the configured index);
when it cannot be built the caller fails loudly rather than skipping.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
REQUIREMENTS = (
    "azureml-inference-server-http==1.5.*",
    "inference-schema[numpy-support]",
    "numpy",
    "scikit-learn==1.7.0",
    "joblib",
    # Our host runs in the same environment so both servers see the same numpy/inference-schema.
    # (Its werkzeug>=3.1,<4 comes with azmlinfsrv's Flask 3.1, so both servers share that too.)
    "uvicorn>=0.34,<1",
    "httptools>=0.6.4,<1",
    "uvloop>=0.21,<1",
)
_MARKER = ".endpointctl-complete"


class OracleEnvError(RuntimeError):
    """The reference environment could not be built (no network, no uv, a broken index)."""


def cache_root() -> Path:
    override = os.environ.get("ENDPOINTCTL_TEST_CACHE")
    return Path(override) if override else Path.home() / ".cache" / "endpointctl-tests"


def _key() -> str:
    text = "\n".join((f"python{sys.version_info.major}.{sys.version_info.minor}", *REQUIREMENTS))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _uv() -> str:
    local = Path(sys.executable).parent / "uv"
    found = str(local) if local.exists() else shutil.which("uv")
    if not found:
        raise OracleEnvError("uv is not installed (expected next to the interpreter or on PATH)")
    return found


def _run(command: list[str]) -> None:
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise OracleEnvError(
            f"{' '.join(command)} failed ({completed.returncode}):\n{completed.stderr[-4000:]}"
        )


def ensure() -> Path:
    """The venv folder (built if missing). Safe against concurrent callers through a lock file."""
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    venv = root / f"azmlinfsrv-venv-{_key()}"
    with (root / f"{venv.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (venv / _MARKER).exists():
            return venv
        shutil.rmtree(venv, ignore_errors=True)
        uv = _uv()
        try:
            _run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)])
            _run([uv, "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"), *REQUIREMENTS])
        except OracleEnvError:
            shutil.rmtree(venv, ignore_errors=True)
            raise
        (venv / _MARKER).write_text("\n".join(REQUIREMENTS) + "\n")
    return venv


def python(venv: Path) -> Path:
    return venv / "bin" / "python"


def environment(base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for processes in the venv: our package importable from the repository checkout."""
    env = dict(os.environ if base is None else base)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(REPO), env.get("PYTHONPATH", ""))))
    env["PYTHONUNBUFFERED"] = "1"
    return env
