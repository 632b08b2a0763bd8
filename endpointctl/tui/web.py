"""`endpointctl web`: the same TUI served to a browser through textual-serve, for people who cannot SSH.

textual-serve has no authentication, so it binds to loopback unless the caller explicitly allows a remote bind;
reach it from elsewhere through an SSH tunnel (`ssh -L 8000:127.0.0.1:8000 jumpbox`).
"""

from __future__ import annotations

import ipaddress
import shlex
import sys

from endpointctl.core.errors import InvalidInput
from endpointctl.core.home import Home

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def command_for(home: Home | None) -> str:
    """The command each browser session runs: this interpreter, the TUI module, the same data directory."""
    env = f"ENDPOINTCTL_HOME={shlex.quote(str(home.root))} " if home is not None else ""
    return f"{env}{shlex.quote(sys.executable)} -m endpointctl.tui"


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
    from textual_serve.server import Server

    Server(command_for(home), host=host, port=port, title="endpointctl").serve()
