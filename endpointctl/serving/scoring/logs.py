"""Line-oriented logs in azmlinfsrv's format, so log scrapers written for it keep working."""

from __future__ import annotations

import builtins
import functools
import logging
import os
import sys
import time
from typing import Any

FORMAT = "%(asctime)s %(levelname).1s [%(process)d] %(name)s - %(message)s"
_original_print = builtins.print
# The handler setup() gives the azmlinfsrv logger; AccessLog writes through it directly while it is the only one.
_stdout_handler: logging.StreamHandler[Any] | None = None


class _UtcFormatter(logging.Formatter):
    def converter(self, timestamp: float | None) -> time.struct_time:
        return time.gmtime(timestamp)


def setup(level: str) -> None:
    """The ``azmlinfsrv`` logger tree to stdout; uvicorn's own messages to stderr."""
    formatter = _UtcFormatter(FORMAT)
    global _stdout_handler
    out = logging.StreamHandler(sys.stdout)
    out.setFormatter(formatter)
    _stdout_handler = out
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


class AccessLog:
    """The per-request line (``POST /score 200 0.797ms 14``) at a fraction of ``logger.info``'s cost.

    While the ``azmlinfsrv`` logger is as setup() left it (one stdout handler, no filters), the line is formatted
    here, byte for byte as FORMAT would, with the date part computed once a second, and written to the handler's
    stream under its lock; ``logger.info`` (LogRecord, caller lookup, formatter) cost ~25 µs a request on a small
    VM. Anything else (another handler, a filter, a level above INFO) takes the ordinary logging path.
    """

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger
        self._pid = os.getpid()  # the worker's, after the fork
        self._second = -1
        self._date = ""

    def _direct_handler(self) -> logging.StreamHandler[Any] | None:
        logger, handler = self._logger, _stdout_handler
        if (
            handler is None
            or logger.handlers != [handler]
            or logger.filters
            or handler.filters
            or type(handler.formatter) is not _UtcFormatter
            or handler.level > logging.INFO
            or not logger.isEnabledFor(logging.INFO)
        ):
            return None
        return handler

    def info(self, message: str) -> None:
        handler = self._direct_handler()
        if handler is None:
            self._logger.info(message)
            return
        now = time.time()
        second = int(now)
        if second != self._second:
            self._date = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(second))
            self._second = second
        line = (
            f"{self._date},{int((now - second) * 1000):03d} I [{self._pid}] {self._logger.name} - {message}\n"
        )
        with handler.lock or _NO_LOCK:
            handler.stream.write(line)
            handler.stream.flush()


class _NoLock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


_NO_LOCK = _NoLock()
