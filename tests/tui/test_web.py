"""`endpointctl web` refuses a non-loopback bind without an explicit flag, and runs the TUI on the same home."""

from __future__ import annotations

import pytest

from endpointctl.core.errors import InvalidInput
from endpointctl.core.home import Home
from endpointctl.tui.web import command_for, is_loopback, serve


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("10.1.2.3", False),
        ("jumpbox", False),
    ],
)
def test_loopback_detection(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_a_public_bind_needs_allow_remote(home: Home) -> None:
    with pytest.raises(InvalidInput, match="no authentication"):
        serve(home, host="0.0.0.0")


def test_each_session_runs_the_tui_on_the_same_home(home: Home) -> None:
    command = command_for(home)
    assert command.startswith(f"ENDPOINTCTL_HOME={home.root} ")
    assert command.endswith("-m endpointctl.tui")
