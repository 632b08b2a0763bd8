from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from endpointctl.core.home import HOME_ENV, Home

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "assets" / "samples" / "endpoints" / "online"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Home]:
    """A fresh data directory for one test, also visible to subprocesses through the environment."""
    root = tmp_path / "home"
    monkeypatch.setenv(HOME_ENV, str(root))
    yield Home(root).ensure()
