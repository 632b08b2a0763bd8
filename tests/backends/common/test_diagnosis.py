"""A failed instance's cause, read from what the real scoring host logs when a score.py fails to start."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from endpointctl.backends.common.diagnosis import failure_cause

CORPUS = Path(__file__).resolve().parents[2] / "serving" / "scoring" / "corpus"


def host_log(case: str, tmp_path: Path) -> str:
    """Start the scoring host on a corpus score.py that cannot start; its whole output."""
    shutil.copy(CORPUS / case / "score.py", tmp_path / "score.py")
    with socket.socket() as probe:  # the host exits before it binds; any free port will do
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "endpointctl.serving.scoring",
            "--host",
            "127.0.0.1",
            "--port",
            port,
            "--entry_script",
            "score.py",
            "--model_dir",
            ".",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.stdout + done.stderr


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("init_raises", "init() raised RuntimeError: model file is missing (score.py:5)"),
        (
            "import_error",
            "importing score.py raised ModuleNotFoundError: No module named 'a_module_that_does_not_exist' "
            "(score.py:3)",
        ),
    ],
)
def test_the_users_exception_and_line_are_found_under_the_hosts_own_error(
    case: str, expected: str, tmp_path: Path
) -> None:
    log = host_log(case, tmp_path)
    assert "Traceback" in log, log
    cause = failure_cause(log)
    assert cause is not None and cause.describe() == expected


def test_no_user_frame_means_no_cause() -> None:
    log = (
        "Traceback (most recent call last):\n"
        '  File "/usr/lib/python3.11/socket.py", line 1, in bind\n'
        "OSError: [Errno 98] Address already in use\n"
    )
    assert failure_cause(log) is None
    assert failure_cause("") is None
