from __future__ import annotations

import pytest

import endpointctl.cli.commands
import endpointctl.core.service
from tests.conftest import Result, Run, cli
from tests.fakes.backend import FakeBackend

__all__ = ["Result", "Run", "cli"]


@pytest.fixture
def fake_cli(cli: Run, monkeypatch: pytest.MonkeyPatch) -> Run:
    """The same, with the fake backend installed as the only backend and made the default."""
    FakeBackend.reset()
    monkeypatch.setattr(endpointctl.core.service, "discover_factories", lambda: {"fake": FakeBackend})
    monkeypatch.setattr(endpointctl.cli.commands, "discover_factories", lambda: {"fake": FakeBackend})
    assert cli("configure", "--defaults", "backend=fake").code == 0
    return cli
