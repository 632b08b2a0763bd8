"""Settings from azmlinfsrv's command-line flags and environment variables.

The precedence follows azmlinfsrv: a flag wins over the environment, except ``--port`` which
always wins over ``SERVER_PORT`` only when given (azmlinfsrv resets ``SERVER_PORT`` to 5001 when the
flag is absent, which we deliberately do not do: the process backend passes ``SERVER_PORT``).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from endpointctl.serving.scoring import EMULATED_SERVER_VERSION, HOST_VERSION

DEFAULT_PORT = 5001
DEFAULT_HOST = "0.0.0.0"
DEFAULT_APP_ROOT = "/var/azureml-app"
DEFAULT_SCORING_TIMEOUT_MS = 3_600_000
DEFAULT_WORKER_TIMEOUT_S = 300


class ConfigError(ValueError):
    """A flag or environment variable has an unusable value."""


@dataclass(frozen=True, slots=True)
class Settings:
    host: str
    port: int
    app_root: Path
    entry_script: str | None
    model_dir: str | None
    worker_count: int
    worker_timeout_s: int
    scoring_timeout_ms: int
    max_concurrent: int
    log_level: str
    server_version: str | None
    service_name: str
    service_version: str
    service_path_prefix: str
    source_dir: str | None
    cors_origins: str | None
    # A Unix socket path to listen on instead of host:port (endpointctl's gateways reach instances this way,
    # so nothing but whoever may open the socket file can call the model), and who should own it.
    uds: str | None = None
    uds_owner: tuple[int, int] | None = None
    # When set, every request but the health check (GET / for probes) must carry it in INSTANCE_TOKEN_HEADER:
    # where the network cannot keep others away from the instance (a pod IP), only its gateway knows it.
    instance_token: str | None = field(default=None, repr=False)

    @property
    def listen_address(self) -> str:
        return f"unix:{self.uds}" if self.uds else f"{self.host}:{self.port}"

    def script_path(self) -> Path:
        """The entry script: absolute, or relative to the app root; ``main.py`` when unset."""
        if self.entry_script is None:
            return self.app_root / "main.py"
        return self.app_root / self.entry_script.replace("/", os.sep)


def _port(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"Specified port '{value}' is invalid. Use a port in [1, 65535].")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"'{value}' is invalid: it must be greater than zero.")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m endpointctl.serving.scoring",
        description="Scoring host compatible with azmlinfsrv (azureml-inference-server-http 1.5).",
    )
    parser.add_argument("--entry_script", help="Path to the scoring script (absolute or relative).")
    parser.add_argument("--model_dir", help="Model directory; exported as AZUREML_MODEL_DIR.")
    parser.add_argument("--port", type=_port, help="Serving port (default 5001, env SERVER_PORT).")
    parser.add_argument(
        "--worker_count", type=_positive, help="Worker processes (default 1, env WORKER_COUNT)."
    )
    # Accepted for command-line compatibility with azmlinfsrv; see docs/compatibility.md.
    parser.add_argument("--health_port", type=_port, help=argparse.SUPPRESS)
    parser.add_argument("--appinsights_instrumentation_key", help=argparse.SUPPRESS)
    parser.add_argument(
        "--access_control_allow_origins", help="Accepted for compatibility; CORS is not applied."
    )
    parser.add_argument("--config_file", help="Accepted for compatibility; ignored.")
    parser.add_argument("--rest", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--host", help="Interface to bind (default 0.0.0.0, like azmlinfsrv).")
    parser.add_argument(
        "--uds",
        help="Listen on this Unix socket (mode 0600) instead of --host/--port (env ENDPOINTCTL_UDS).",
    )
    parser.add_argument(
        "--max-concurrent",
        dest="max_concurrent",
        type=_positive,
        help="Concurrent run() calls per worker (default 1, env ENDPOINTCTL_MAX_CONCURRENT).",
    )
    return parser


def _env_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None


def load(argv: Sequence[str] | None, environ: dict[str, str] | os._Environ[str]) -> Settings:
    """Parse flags and environment; exports AZUREML_MODEL_DIR / AZUREML_ENTRY_SCRIPT like azmlinfsrv."""
    args = build_parser().parse_args(argv)
    if args.entry_script is not None:
        environ["AZUREML_ENTRY_SCRIPT"] = str(Path(args.entry_script).resolve())
        # azmlinfsrv defaults the app root to the working directory when started from its CLI.
        environ.setdefault("AML_APP_ROOT", str(Path.cwd()))
    if args.model_dir is not None:
        environ["AZUREML_MODEL_DIR"] = args.model_dir

    port = args.port if args.port is not None else _env_int(environ, "SERVER_PORT", DEFAULT_PORT)
    workers = args.worker_count if args.worker_count is not None else _env_int(environ, "WORKER_COUNT", 1)
    concurrent = (
        args.max_concurrent
        if args.max_concurrent is not None
        else _env_int(environ, "ENDPOINTCTL_MAX_CONCURRENT", 1)
    )
    if workers <= 0 or concurrent <= 0:
        raise ConfigError("WORKER_COUNT and ENDPOINTCTL_MAX_CONCURRENT must be greater than zero")

    version_enabled = environ.get("SERVER_VERSION_LOG_RESPONSE_ENABLED", "true").lower() == "true"
    server_version = None
    if version_enabled:
        server_version = environ.get(
            "HTTP_X_MS_SERVER_VERSION", f"azmlinfsrv/{EMULATED_SERVER_VERSION}+endpointctl.{HOST_VERSION}"
        )

    return Settings(
        host=args.host or environ.get("ENDPOINTCTL_HOST") or DEFAULT_HOST,
        port=port,
        app_root=Path(environ.get("AML_APP_ROOT", DEFAULT_APP_ROOT)),
        entry_script=environ.get("AZUREML_ENTRY_SCRIPT") or None,
        model_dir=environ.get("AZUREML_MODEL_DIR") or None,
        worker_count=workers,
        worker_timeout_s=_env_int(environ, "WORKER_TIMEOUT", DEFAULT_WORKER_TIMEOUT_S),
        scoring_timeout_ms=_env_int(environ, "SCORING_TIMEOUT_MS", DEFAULT_SCORING_TIMEOUT_MS),
        max_concurrent=concurrent,
        log_level=environ.get("AZUREML_LOG_LEVEL", "INFO").upper(),
        server_version=server_version,
        service_name=environ.get("SERVICE_NAME", "ML service"),
        service_version=environ.get("SERVICE_VERSION", "1.0"),
        service_path_prefix=environ.get("SERVICE_PATH_PREFIX", ""),
        source_dir=environ.get("AZUREML_SOURCE_DIRECTORY") or None,
        cors_origins=args.access_control_allow_origins or environ.get("AML_CORS_ORIGINS") or None,
        uds=args.uds or environ.get("ENDPOINTCTL_UDS") or None,
        uds_owner=_owner(environ.get("ENDPOINTCTL_UDS_OWNER", "")),
        instance_token=_instance_token(environ.get("ENDPOINTCTL_INSTANCE_TOKEN_FILE", "")),
    )


INSTANCE_TOKEN_HEADER = "x-endpointctl-instance-token"
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def _instance_token(path: str) -> str | None:
    """The token from its file (a mounted Secret): read once, never logged; an unusable file stops the host."""
    if not path:
        return None
    try:
        with open(path, encoding="ascii") as file:
            token = file.read(1025).strip()
    except (OSError, UnicodeDecodeError) as ex:
        raise ConfigError(f"ENDPOINTCTL_INSTANCE_TOKEN_FILE: cannot read {path}: {ex}") from None
    if not 16 <= len(token) <= 1024 or not set(token) <= _TOKEN_CHARS:
        raise ConfigError(
            f"ENDPOINTCTL_INSTANCE_TOKEN_FILE: {path} must hold 16 to 1024 characters of A-Z a-z 0-9 - _"
        )
    return token


def _owner(text: str) -> tuple[int, int] | None:
    """``uid:gid`` for the socket file: a container's root user hands it to the host user whose gateway
    connects (the socket is 0600, so only its owner can)."""
    if not text.strip():
        return None
    uid, sep, gid = text.strip().partition(":")
    if not (sep and uid.isdigit() and gid.isdigit()):
        raise ConfigError(f"ENDPOINTCTL_UDS_OWNER must be 'uid:gid', got {text!r}")
    return int(uid), int(gid)
