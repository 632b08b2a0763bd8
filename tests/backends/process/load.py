"""Drive `loadgen.py` from a test and read its report per phase."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LOADGEN = Path(__file__).with_name("loadgen.py")


@dataclass
class Phase:
    name: str
    start: float
    end: float = 0.0


@dataclass
class Load:
    url: str
    key: str
    body: Path
    workdir: Path
    phases: list[Phase] = field(default_factory=list)
    _process: subprocess.Popen[bytes] | None = None
    report: dict[str, Any] = field(default_factory=dict)

    def __enter__(self) -> Load:
        self._stop = self.workdir / "stop"
        self._out = self.workdir / "load.json"
        self._process = subprocess.Popen(
            [
                sys.executable,
                str(LOADGEN),
                self.url,
                self.key,
                str(self.body),
                str(self._stop),
                str(self._out),
            ]
        )
        time.sleep(1.0)  # let it reach a steady rate before the first phase
        return self

    def phase(self, name: str) -> Phase:
        now = time.time()
        if self.phases and not self.phases[-1].end:
            self.phases[-1].end = now
        self.phases.append(Phase(name, now))
        return self.phases[-1]

    def __exit__(self, *exc: object) -> None:
        if self.phases and not self.phases[-1].end:
            self.phases[-1].end = time.time()
        time.sleep(0.5)
        self._stop.touch()
        assert self._process is not None
        self._process.wait(timeout=60)
        self.report = json.loads(self._out.read_text())

    def results(self, phase: str) -> list[tuple[float, int, str]]:
        window = next(p for p in self.phases if p.name == phase)
        return [tuple(r) for r in self.report["results"] if window.start <= r[0] <= window.end]

    def failures(self, phase: str) -> list[tuple[float, int, str]]:
        return [r for r in self.results(phase) if r[1] != 200]

    def served_by(self, phase: str) -> Counter[str]:
        return Counter(r[2] for r in self.results(phase) if r[1] == 200)

    def rate(self) -> float:
        return float(len(self.report["results"]) / (self.report["ended"] - self.report["started"]))
