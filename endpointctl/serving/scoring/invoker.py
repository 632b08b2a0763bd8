"""Running the synchronous run() off the event loop, in a bounded pool, under the scoring timeout.

A purpose-built pool rather than ``loop.run_in_executor`` + ``asyncio.wait_for``: each request then
costs one queue put, one ``call_soon_threadsafe`` and one timer, which matters at thousands of
requests per second on a small machine.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import queue
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger("azmlinfsrv")

# The loop thread parses requests while a pool thread runs run(); with CPython's default 5 ms GIL
# switch interval a busy loop starves the pool thread (the "convoy effect") and p99 explodes.
SWITCH_INTERVAL_S = 0.0005


class ScoringTimeout(Exception):
    def __init__(self, timeout_ms: int) -> None:
        super().__init__(f"Scoring timeout after {timeout_ms} ms")
        self.timeout_ms = timeout_ms


class RunFailed(Exception):
    """run() raised; the original exception is the cause."""


@dataclass(slots=True)
class _Job:
    func: Callable[[], Any]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[tuple[Any, float]]
    thread_id: int | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


def _interrupt(thread_id: int) -> None:
    # azmlinfsrv interrupts run() with SIGALRM; a pool thread cannot receive signals, so we raise
    # TimeoutError in it asynchronously. It lands at the next bytecode boundary (not inside a C call).
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), ctypes.py_object(TimeoutError))


class Invoker:
    """At most ``concurrency`` run() calls at once; each bounded by ``timeout_ms`` of run() time."""

    def __init__(self, concurrency: int, timeout_ms: int) -> None:
        self._timeout_ms = timeout_ms
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        # A slot is held until the thread really returns, so a timed-out run() that keeps running
        # still counts against the bound: scripts written for one request at a time stay safe.
        self._slots = asyncio.Semaphore(concurrency)
        self._threads = [
            threading.Thread(target=self._work, name=f"run-{index}", daemon=True)
            for index in range(concurrency)
        ]
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        for thread in self._threads:
            thread.start()

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            outcome: tuple[Any, float] | BaseException
            try:
                with job.lock:
                    job.thread_id = threading.get_ident()
                started = time.perf_counter()
                try:
                    result = job.func()
                finally:
                    # Under the lock so a timeout never interrupts this thread once run() is over.
                    with job.lock:
                        job.thread_id = None
                outcome = (result, (time.perf_counter() - started) * 1000)
            except BaseException as ex:  # run() may raise anything, SystemExit included
                outcome = ex
            job.loop.call_soon_threadsafe(self._deliver, job, outcome)

    def _deliver(self, job: _Job, outcome: tuple[Any, float] | BaseException) -> None:
        self._slots.release()
        if job.future.done():
            return  # timed out already; the late outcome is dropped
        if isinstance(outcome, BaseException):
            failure = RunFailed(str(outcome))
            failure.__cause__ = outcome
            job.future.set_exception(failure)
        else:
            job.future.set_result(outcome)

    def _expire(self, job: _Job) -> None:
        if job.future.done():
            return
        job.future.set_exception(ScoringTimeout(self._timeout_ms))
        with job.lock:
            if job.thread_id is not None:
                _interrupt(job.thread_id)

    async def invoke(self, func: Callable[[], Any]) -> tuple[Any, float]:
        """(result, run() milliseconds). Raises ScoringTimeout or RunFailed."""
        await self._slots.acquire()
        loop = asyncio.get_running_loop()
        job = _Job(func, loop, loop.create_future())
        self._jobs.put(job)
        timer = loop.call_later(self._timeout_ms / 1000, self._expire, job)
        try:
            return await job.future
        finally:
            timer.cancel()

    def shutdown(self) -> None:
        for _ in self._threads:
            self._jobs.put(None)
