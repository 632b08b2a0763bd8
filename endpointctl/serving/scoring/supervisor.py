"""Binding the port once and pre-forking ``--worker_count`` workers that share it."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import stat
import sys
import time
from pathlib import Path
from types import FrameType

from endpointctl.serving.scoring.config import Settings
from endpointctl.serving.scoring.worker import EXIT_INIT_FAILED, serve

logger = logging.getLogger("azmlinfsrv")


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound before any worker loads the script (requests queue in the backlog)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def bind_unix(path: str, owner: tuple[int, int] | None = None) -> socket.socket:
    """A Unix socket only its owner may connect to (connecting needs write permission on the file).

    The file is created under umask 0177, so it is never open to others, not even between bind and chmod."""
    with contextlib.suppress(FileNotFoundError):
        # A previous run of this instance left its socket; anything else at that path is not ours to remove.
        if stat.S_ISSOCK(os.lstat(path).st_mode):
            Path(path).unlink()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        sock.bind(path)
    except OSError:
        sock.close()
        raise
    finally:
        os.umask(old)
    if owner is not None and os.geteuid() == 0:
        # Root in a container hands the socket to the host user; anyone else already owns what it binds.
        os.chown(path, *owner)
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _spawn(settings: Settings, sock: socket.socket) -> int:
    pid = os.fork()
    if pid == 0:
        # The child must never return into the parent's code path.
        code = 1
        try:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            code = serve(settings, sock)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    return pid


def _exit_code(status: int) -> int:
    return os.waitstatus_to_exitcode(status)


def supervise(settings: Settings, sock: socket.socket) -> int:
    """Keep ``worker_count`` workers alive; a worker that fails to initialise stops the whole server."""
    workers: set[int] = set()
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)
    result = 0
    try:
        workers.update(_spawn(settings, sock) for _ in range(settings.worker_count))
        logger.info(f"Started {len(workers)} workers on {settings.listen_address}")
        result = _watch(settings, sock, workers)
    except _Stop:
        logger.info("Shutting down")
    _terminate(workers)
    return result


class _Stop(Exception):
    pass


def _raise_stop(signum: int, _frame: FrameType | None) -> None:
    # Raising (rather than setting a flag) interrupts os.waitpid, which PEP 475 would otherwise retry.
    raise _Stop


def _watch(settings: Settings, sock: socket.socket, workers: set[int]) -> int:
    while workers:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            break
        workers.discard(pid)
        code = _exit_code(status)
        if code == EXIT_INIT_FAILED:
            logger.error(f"Worker {pid} failed to initialise; shutting down")
            return EXIT_INIT_FAILED
        logger.warning(f"Worker {pid} exited with {code}; starting a replacement")
        time.sleep(0.1)
        workers.add(_spawn(settings, sock))
    return 0


def _terminate(workers: set[int]) -> None:
    for pid in workers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while workers and time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            time.sleep(0.05)
            continue
        workers.discard(pid)
    for pid in workers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
