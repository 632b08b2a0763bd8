from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

import endpointctl.cli
import endpointctl.core.service
from endpointctl.cli import main
from endpointctl.core.home import Home
from tests.fakes.backend import FakeBackend


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> object:
        return json.loads(self.out)


Run = Callable[..., Result]


@pytest.fixture
def cli(home: Home, capsys: pytest.CaptureFixture[str]) -> Iterator[Run]:
    """Runs `endpointctl ARGS…` in-process with no backend installed."""

    def run(*args: str) -> Result:
        code = main(list(args))
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    yield run


@pytest.fixture
def fake_cli(cli: Run, monkeypatch: pytest.MonkeyPatch) -> Run:
    """The same, with the fake backend installed as the only backend and made the default."""
    FakeBackend.reset()
    monkeypatch.setattr(endpointctl.core.service, "discover_factories", lambda: {"fake": FakeBackend})
    monkeypatch.setattr(endpointctl.cli, "discover_factories", lambda: {"fake": FakeBackend})
    assert cli("configure", "--defaults", "backend=fake").code == 0
    return cli
