"""The agent's control API: one JSON object per line over a unix socket that only the user can open (0600).

Requests are `{"method": ..., "params": {...}}`; replies are `{"ok": true, "result": ...}` or
`{"ok": false, "error": ..., "kind": ...}`, where `kind` names an `endpointctl.core.errors` class.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from endpointctl.core import errors

Handler = Callable[[str, Mapping[str, Any]], Awaitable[Any]]
_LIMIT = 16 * 1024 * 1024


class AgentUnreachable(errors.BackendUnavailable):
    """No agent answers on the socket."""


class AgentNotRunning(AgentUnreachable):
    """Nothing listens on the socket: the request was never sent, so it can be sent again once one runs."""


async def serve(path: Path, handler: Handler) -> asyncio.AbstractServer:
    await asyncio.to_thread(path.parent.mkdir, mode=0o700, parents=True, exist_ok=True)
    # A stale socket of a killed agent; the agent's lock proves nobody else uses it.
    await asyncio.to_thread(path.unlink, missing_ok=True)
    old = os.umask(0o177)
    try:
        server = await asyncio.start_unix_server(
            lambda r, w: _session(r, w, handler), path=str(path), limit=_LIMIT
        )
    finally:
        os.umask(old)
    await asyncio.to_thread(path.chmod, 0o600)
    return server


async def _session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, handler: Handler) -> None:
    try:
        while line := await reader.readline():
            try:
                request = json.loads(line)
                result = await handler(str(request["method"]), request.get("params") or {})
                reply: dict[str, Any] = {"ok": True, "result": result}
            except errors.EndpointctlError as exc:
                reply = {"ok": False, "error": str(exc), "kind": type(exc).__name__}
            except Exception as exc:  # the agent must survive any single bad request
                reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}", "kind": "EndpointctlError"}
            writer.write(json.dumps(reply).encode() + b"\n")
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def call(
    path: Path, method: str, params: Mapping[str, Any] | None = None, *, timeout_s: float = 30
) -> Any:
    """One request on a fresh connection; errors come back as the same exception classes."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(str(path), limit=_LIMIT), 5)
    except (FileNotFoundError, ConnectionError, TimeoutError) as exc:
        raise AgentNotRunning(f"the agent is not running ({path})") from exc
    try:
        writer.write(json.dumps({"method": method, "params": dict(params or {})}).encode() + b"\n")
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), timeout_s)
    except ConnectionError as exc:  # the agent died mid-call (e.g. SIGKILL): same as not running
        raise AgentUnreachable(f"the agent went away during {method!r}") from exc
    finally:
        writer.close()
    if not line:
        raise AgentUnreachable("the agent closed the connection")
    reply = json.loads(line)
    if reply.get("ok"):
        return reply.get("result")
    kind = getattr(errors, str(reply.get("kind")), errors.EndpointctlError)
    if not (isinstance(kind, type) and issubclass(kind, errors.EndpointctlError)):
        kind = errors.EndpointctlError
    raise kind(str(reply.get("error")))
