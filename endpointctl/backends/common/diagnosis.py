"""Why an instance failed, from its log: the user's exception, where in score.py, and in which phase.

A failed rollout used to say "the scoring host exited with code 3". The log says more: the traceback of the
user's `init()` (or of importing score.py, or of `run()`), chained under the scoring host's own error. This finds
the traceback that passes through user code and names its exception and the innermost user frame:
`init() raised RuntimeError: the model file is corrupt (score.py:2)`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePath

TRACEBACK = "Traceback (most recent call last):"
FRAME = re.compile(r'^\s*File "(?P<path>[^"]+)", line (?P<line>\d+), in (?P<func>\S+)')
EXCEPTION = re.compile(r"^(?P<type>[A-Za-z_][\w.]*)(?::\s?(?P<message>.*))?$")
# Frames of the scoring host and the interpreter are not the user's.
NOT_USER = ("/endpointctl/", "/site-packages/", "/dist-packages/", "<frozen ", "/lib/python3")
PHASES = {"init": "init()", "run": "run()", "<module>": "importing"}
MAX_MESSAGE = 300


@dataclass(frozen=True)
class Cause:
    exception: str
    message: str
    path: str | None = None
    line: int | None = None
    phase: str = ""

    def describe(self) -> str:
        where = f" ({PurePath(self.path).name}:{self.line})" if self.path and self.line else ""
        what = f"{self.exception}: {self.message}" if self.message else self.exception
        if self.phase == "importing" and self.path:
            return f"importing {PurePath(self.path).name} raised {what}{where}"
        if self.phase:
            return f"{self.phase} raised {what}{where}"
        return f"{what}{where}"


@dataclass
class _Block:
    frames: list[tuple[str, int, str]]
    exception: str = ""
    message: str = ""


def _blocks(lines: list[str]) -> list[_Block]:
    blocks: list[_Block] = []
    current: _Block | None = None
    for raw in lines:
        line = raw.rstrip()
        if line.endswith(TRACEBACK):
            current = _Block([])
            blocks.append(current)
            continue
        if current is None or current.exception:
            continue
        frame = FRAME.match(line)
        if frame:
            current.frames.append((frame["path"], int(frame["line"]), frame["func"]))
            continue
        if line.startswith((" ", "\t")) or not line:
            continue  # source lines and carets under a frame
        match = EXCEPTION.match(line)
        if match and current.frames:
            current.exception, current.message = match["type"], (match["message"] or "").strip()
    return [b for b in blocks if b.exception]


def _is_user(path: str) -> bool:
    return not any(marker in path.replace("\\", "/") for marker in NOT_USER)


def failure_cause(log_tail: str) -> Cause | None:
    """The last traceback in `log_tail` that runs through user code, or None when there is none."""
    for block in reversed(_blocks(log_tail.splitlines())):
        user = [f for f in block.frames if _is_user(f[0])]
        if not user:
            continue
        path, line, _ = user[-1]
        # The phase is the outermost user frame's function: init / run, or <module> while importing score.py.
        phase = PHASES.get(user[0][2], "")
        message = (
            block.message if len(block.message) <= MAX_MESSAGE else block.message[: MAX_MESSAGE - 1] + "…"
        )
        return Cause(block.exception.rsplit(".", 1)[-1], message, path, line, phase)
    return None
