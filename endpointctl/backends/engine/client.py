"""Connecting to the Docker engine, and turning "no engine" into a clear, non-fatal BackendUnavailable.

Every SDK call blocks on a socket; the async API (`connect_async`, the runtime) runs them in threads.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping

import docker
import docker.errors
from docker import DockerClient

from endpointctl.core.errors import BackendUnavailable

DEFAULT_HOST = "unix:///var/run/docker.sock"
# Image builds and container stops can keep one API call open for a long time.
DEFAULT_TIMEOUT_S = 300


def engine_address(env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    return env.get("DOCKER_HOST") or DEFAULT_HOST


def engine_env(defaults: Mapping[str, str]) -> dict[str, str]:
    """The environment the SDK reads: `configure --defaults docker_host=…` wins over DOCKER_HOST."""
    env = dict(os.environ)
    if defaults.get("docker_host"):
        env["DOCKER_HOST"] = defaults["docker_host"]
    return env


def connect(env: Mapping[str, str] | None = None, *, timeout: int | None = DEFAULT_TIMEOUT_S) -> DockerClient:
    """A client for the engine at DOCKER_HOST (or the default socket) that has answered a ping."""
    env = os.environ if env is None else env
    address = engine_address(env)
    try:
        # from_env reads DOCKER_TLS_VERIFY/DOCKER_CERT_PATH as the docker CLI does; "auto" picks the API
        # version the engine speaks (Debian's docker.io 20.10 is API 1.41).
        client = docker.from_env(environment=dict(env), timeout=timeout, version="auto")
        client.ping()
    except docker.errors.DockerException as exc:
        raise BackendUnavailable(f"docker: no engine at {address}: {_reason(exc)}") from exc
    except OSError as exc:
        raise BackendUnavailable(f"docker: no engine at {address}: {exc.strerror or exc}") from exc
    return client


async def connect_async(env: Mapping[str, str] | None = None) -> DockerClient:
    return await asyncio.to_thread(connect, env)


def _reason(exc: Exception) -> str:
    """The innermost cause, which names the real problem (socket missing, permission denied, refused)."""
    cause: BaseException = exc
    while cause.__cause__ is not None or cause.__context__ is not None:
        nxt = cause.__cause__ or cause.__context__
        assert nxt is not None
        cause = nxt
    text = str(cause) or type(cause).__name__
    if isinstance(cause, OSError) and cause.strerror:
        text = cause.strerror
    return text
