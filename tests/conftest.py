from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from endpointctl.cli import main
from endpointctl.core.home import HOME_ENV, Home

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "assets" / "samples" / "endpoints" / "online"


def _agents_under(root: Path) -> dict[int, str]:
    """Local-backend agents (pid → command line) whose data directory is below `root`."""
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        words = [a.decode(errors="replace") for a in argv]
        if "--home" in words and any(
            w.startswith("endpointctl.backends.") and w.endswith(".agent") for w in words
        ):
            home = words[words.index("--home") + 1] if words.index("--home") + 1 < len(words) else ""
            if home.startswith(str(root)):
                found[int(entry.name)] = " ".join(words)
    return found


@pytest.fixture(scope="session", autouse=True)
def no_agent_outlives_the_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Every test that starts an agent stops it: one left running keeps restarting its instances (and, on
    Docker, containers other tests purge), so a leak is a bug, reported here and cleaned up."""
    root = tmp_path_factory.getbasetemp()
    yield
    left = _agents_under(root)
    for pid in left:
        os.kill(pid, signal.SIGTERM)
    assert not left, f"agents outlived their tests: {left}"


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
