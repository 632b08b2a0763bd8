"""`endpointctl web`: the same TUI served to a browser through textual-serve, for people who cannot SSH.

textual-serve has no authentication, so it binds to loopback unless the caller explicitly allows a remote bind;
reach it from elsewhere through an SSH tunnel (`ssh -L 8000:127.0.0.1:8000 jumpbox`).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import shlex
import shutil
import sys
from typing import TYPE_CHECKING

from endpointctl.core.errors import EndpointctlError, InvalidInput
from endpointctl.core.home import Home

if TYPE_CHECKING:
    from textual_serve.server import Server

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
QUIT_TIMEOUT_S = 5.0


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def command_for(home: Home | None) -> str:
    """The command each browser session runs: this interpreter, the TUI module, the same data directory.

    Each TUI runs in a session of its own (`setsid`; same pid: `exec`, and no fork as the shell leads no group), so
    Ctrl+C in the terminal that runs `endpointctl web` reaches the server only; the server then tells every TUI to
    quit. In the server's process group the TUIs got the SIGINT too and died mid-shutdown with a traceback.
    """
    env = f"ENDPOINTCTL_HOME={shlex.quote(str(home.root))} " if home is not None else ""
    setsid = "setsid " if shutil.which("setsid") else ""
    return f"exec env {env}{setsid}{shlex.quote(sys.executable)} -m endpointctl.tui"


def serve(
    home: Home | None = None,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    allow_remote: bool = False,
) -> None:
    if not is_loopback(host) and not allow_remote:
        raise InvalidInput(
            f"refusing to serve on {host}: the web TUI has no authentication; bind to 127.0.0.1 and use an SSH "
            "tunnel, or pass --allow-remote if you really mean it"
        )
    # serve() runs its own event loop and installs SIGINT/SIGTERM handlers: call it on the main thread, outside
    # any running loop (from a thread it raised "set_wakeup_fd only works in main thread"). Ctrl+C returns.
    try:
        _server(command_for(home), host=host, port=port).serve()
    except OSError as exc:
        if exc.errno in (errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES):
            raise EndpointctlError(f"cannot serve on {host}:{port}: {exc.strerror}") from exc
        raise


def _server(command: str, *, host: str, port: int) -> Server:
    """textual-serve's server, stopping its sessions when it stops.

    textual-serve leaves open websockets to aiohttp's shutdown, which waits 60 s for their handlers before it
    cancels them: Ctrl+C with a browser attached hung for a minute. Here shutdown closes each browser's websocket
    (the page says "Session ended"), tells its TUI to quit and waits for the process (killed after 5 s).
    """
    from aiohttp import WSCloseCode, web
    from textual_serve.app_service import AppService
    from textual_serve.server import Server

    class _Server(Server):
        def __init__(self) -> None:
            super().__init__(command, host=host, port=port, title="endpointctl")
            self._sessions: set[tuple[web.WebSocketResponse, AppService]] = set()

        async def _process_messages(self, websocket: web.WebSocketResponse, app_service: AppService) -> None:
            session = (websocket, app_service)
            self._sessions.add(session)
            try:
                await super()._process_messages(websocket, app_service)
            finally:
                self._sessions.discard(session)

        async def on_shutdown(self, app: web.Application) -> None:
            await asyncio.gather(*(self._end(*session) for session in list(self._sessions)))

        async def _end(self, websocket: web.WebSocketResponse, app_service: AppService) -> None:
            process = app_service._process  # textual-serve keeps it private; the only handle on the TUI
            try:
                async with asyncio.timeout(QUIT_TIMEOUT_S):
                    await websocket.close(code=WSCloseCode.GOING_AWAY, message=b"endpointctl web stopped")
                    await app_service.stop()  # the TUI's "quit", then its output to the end
                    if process is not None:
                        await process.wait()
            except TimeoutError:
                if process is not None and process.returncode is None:
                    with contextlib.suppress(ProcessLookupError):
                        process.kill()
                    await process.wait()

    return _Server()
