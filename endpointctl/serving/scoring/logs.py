"""Line-oriented logs in azmlinfsrv's format, so log scrapers written for it keep working."""

from __future__ import annotations

import builtins
import functools
import logging
import sys
import time
from typing import Any

FORMAT = "%(asctime)s %(levelname).1s [%(process)d] %(name)s - %(message)s"
_original_print = builtins.print


class _UtcFormatter(logging.Formatter):
    def converter(self, timestamp: float | None) -> time.struct_time:
        return time.gmtime(timestamp)


def setup(level: str) -> None:
    """The ``azmlinfsrv`` logger tree to stdout; uvicorn's own messages to stderr."""
    formatter = _UtcFormatter(FORMAT)
    out = logging.StreamHandler(sys.stdout)
    out.setFormatter(formatter)
    server_logger = logging.getLogger("azmlinfsrv")
    server_logger.handlers[:] = [out]
    server_logger.setLevel(
        logging.getLevelName(level) if level in logging.getLevelNamesMapping() else logging.INFO
    )
    server_logger.propagate = False
    err = logging.StreamHandler(sys.stderr)
    err.setFormatter(formatter)
    for name in ("uvicorn", "uvicorn.error"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers[:] = [err]
        uvicorn_logger.setLevel(logging.WARNING)
        uvicorn_logger.propagate = False


def redirect_print() -> None:
    """Like azmlinfsrv, a script's print() to stdout becomes a log line (``azmlinfsrv.print``)."""
    print_logger = logging.getLogger("azmlinfsrv.print")

    @functools.wraps(_original_print)
    def logged_print(
        *objects: Any, sep: str | None = " ", end: str | None = "\n", file: Any = None, flush: bool = False
    ) -> None:
        target = file or sys.stdout
        if target is sys.stdout:
            print_logger.info((sep if sep is not None else " ").join(map(str, objects)))
        else:
            _original_print(*objects, sep=sep, end=end, file=target, flush=flush)

    builtins.print = logged_print
