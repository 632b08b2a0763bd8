from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from endpointctl.cli import main
from endpointctl.core.home import HOME_ENV, Home

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "assets" / "samples" / "endpoints" / "online"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Home]:
    """A fresh data directory for one test, also visible to subprocesses through the environment."""
    root = tmp_path / "home"
    monkeypatch.setenv(HOME_ENV, str(root))
    yield Home(root).ensure()


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
    """Runs `endpointctl ARGS…` in-process, with the installed backends."""

    def run(*args: str) -> Result:
        code = main(list(args))
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    yield run
