"""Differential conformance: every corpus request must get the same answer from azmlinfsrv and from us.

Needs the ``oracle_venv`` fixture (built once, cached). The remaining differences are documented in
docs/compatibility.md and asserted explicitly in ``differential.compare`` (server version suffix,
transport headers), so a behaviour change in either server fails.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.serving.scoring.cases import CASES, Case
from tests.serving.scoring.differential import Pair, compare, start_pair
from tests.serving.scoring.servers import fetch

pytestmark = pytest.mark.slow

LOOKAHEAD = 4


def variants(case: Case) -> dict[str, dict[str, str]]:
    """Our host's configurations for a case, each compared with azmlinfsrv.

    Scripts using AMLRequest/AMLResponse run twice on our side: with azmlinfsrv's own (Flask)
    classes, which our host aliases when that package is installed, and with our Flask-free shims.
    """
    if case.name.startswith("rawhttp_"):
        return {"real": {}, "shim": {"ENDPOINTCTL_AML_COMPAT": "shim"}}
    return {"auto": {}}


class Fleet:
    """Starts server pairs a few cases ahead, so their start-up overlaps with earlier comparisons."""

    def __init__(self, venv: Path, logs: Path) -> None:
        self._venv = venv
        self._logs = logs
        self._pairs: dict[int, Pair] = {}

    def get(self, index: int) -> Pair:
        for ahead in range(index, min(index + LOOKAHEAD + 1, len(CASES))):
            if ahead not in self._pairs:
                case = CASES[ahead]
                logs = self._logs / str(ahead)
                logs.mkdir(exist_ok=True)
                self._pairs[ahead] = start_pair(case, self._venv, logs, variants(case))
        return self._pairs[index]

    def release(self, index: int) -> None:
        pair = self._pairs.pop(index, None)
        if pair is not None:
            pair.stop()

    def close(self) -> None:
        for index in list(self._pairs):
            self.release(index)


@pytest.fixture(scope="module")
def fleet(oracle_venv: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    running = Fleet(oracle_venv, tmp_path_factory.mktemp("differential"))
    yield running
    running.close()


@pytest.mark.parametrize("index", range(len(CASES)), ids=[case.name for case in CASES])
def test_same_answers(fleet: Fleet, index: int) -> None:
    pair = fleet.get(index)
    case = pair.case
    try:
        if case.exit_code is not None:
            _check_refusal(pair, case.exit_code)
            return
        assert pair.theirs.wait_ready(), f"azmlinfsrv did not start:\n{pair.theirs.output()}"
        for variant, ours in pair.ours.items():
            assert ours.wait_ready(), f"our host ({variant}) did not start:\n{ours.output()}"
        problems: list[str] = []
        for req in case.requests:
            theirs = fetch(pair.theirs.port, req.method, req.path, req.body, req.headers)
            for variant, ours in pair.ours.items():
                reply = fetch(ours.port, req.method, req.path, req.body, req.headers)
                problems.extend(f"[{variant}] {problem}" for problem in compare(req, theirs, reply))
        assert not problems, "\n".join(problems)
    finally:
        fleet.release(index)


def _check_refusal(pair: Pair, expected: int) -> None:
    assert pair.theirs.wait_exit() == expected, pair.theirs.output()
    for ours in pair.ours.values():
        assert ours.wait_exit() == expected, ours.output()
        assert "Traceback" in ours.output(), ours.output()
