"""Running the synchronous run() under the scoring timeout: on the event-loop thread while it is fast, else in a pool.

Handing each run() to a pool thread and back costs more than the rest of the host together (two GIL hand-offs,
a futex wake and an eventfd wake-up per request: ~130 µs of CPU per request on a 2-vCPU VM, measured with
``python -m bench.scoring``). So with one run() at a time per worker (the default) a run() that has proven
fast is called directly on the loop thread, bounded by ``setitimer``/SIGALRM as azmlinfsrv bounds it (which
also interrupts a blocking C call). A run() that is slow goes to the pool, so the health route and other
connections keep being answered while it runs: the worker starts in the pool, moves inline after
``INLINE_AFTER_FAST_CALLS`` consecutive calls under ``INLINE_BUDGET_MS``, and moves back to the pool after an
inline call over that budget, returning only after a streak four times as long. ``--max-concurrent N > 1``
always uses the pool.

The pool is purpose-built rather than ``loop.run_in_executor`` + ``asyncio.wait_for``: each request then
costs one queue put, one ``call_soon_threadsafe`` and one timer.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import queue
import signal
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

# A run() this fast blocks the loop less than a context switch to the pool costs the whole machine; after a
# run() slower than this, calls go back to the pool (the health route must keep answering) and need a streak
# four times longer than the last to come back: a stall (a busy machine, a GC pause) costs a little speed for
# a while, a script that is slow now and then blocks the loop a logarithmic number of times.
INLINE_BUDGET_MS = 20.0
INLINE_AFTER_FAST_CALLS = 50
INLINE_STREAK_GROWTH = 4
INLINE_STREAK_MAX = 1_000_000


class ScoringTimeout(Exception):
    def __init__(self, timeout_ms: int) -> None:
        super().__init__(f"Scoring timeout after {timeout_ms} ms")
        self.timeout_ms = timeout_ms


class RunFailed(Exception):
    """run() raised; the original exception is the cause."""


class RunInterrupted(TimeoutError):
    """Raised inside an inline run() by SIGALRM when the scoring timeout passes (azmlinfsrv raises there too)."""


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

    def __init__(self, concurrency: int, timeout_ms: int, *, inline: bool | None = None) -> None:
        """``inline`` None: allowed when ``concurrency`` is 1 and this is the main thread (signals need it)."""
        self._timeout_ms = timeout_ms
        self._timeout_s = timeout_ms / 1000
        self._deadline = 0.0
        self._alarm_at = 0.0
        if inline is None:
            inline = concurrency == 1 and threading.current_thread() is threading.main_thread()
        if inline and (concurrency != 1 or threading.current_thread() is not threading.main_thread()):
            raise ValueError("run() can run on the loop thread only one at a time, from the main thread")
        self._inline_allowed = inline
        self._fast_calls = 0
        self._streak_needed = INLINE_AFTER_FAST_CALLS
        self._inline = False
        self._in_run = False
        self._alarmed = False
        self._previous_alarm_handler: Any = None
        self._previous_alarm: tuple[float, float] = (0.0, 0.0)
        if inline:
            # Whoever had SIGALRM before (a test runner's own timeout) gets it back at shutdown.
            self._previous_alarm = signal.getitimer(signal.ITIMER_REAL)
            self._previous_alarm_handler = signal.signal(signal.SIGALRM, self._on_alarm)
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

    @property
    def inline(self) -> bool:
        """Whether the next run() is called on the loop thread."""
        return self._inline

    async def invoke(self, func: Callable[[], Any]) -> tuple[Any, float]:
        """(result, run() milliseconds). Raises ScoringTimeout or RunFailed."""
        if self._inline and not self._slots.locked():
            # Nothing else can start while this runs: it holds the loop thread until it returns.
            return self._call_inline(func)
        await self._slots.acquire()
        if self._inline:
            self._slots.release()
            return self._call_inline(func)
        loop = asyncio.get_running_loop()
        job = _Job(func, loop, loop.create_future())
        self._jobs.put(job)
        timer = loop.call_later(self._timeout_ms / 1000, self._expire, job)
        started = time.perf_counter()
        try:
            outcome = await job.future
        except BaseException:
            self._note(
                (time.perf_counter() - started) * 1000
            )  # a timeout or a slow failure breaks the streak
            raise
        finally:
            timer.cancel()
        self._note(outcome[1])
        return outcome

    def _note(self, elapsed_ms: float) -> None:
        if not self._inline_allowed:
            return
        if elapsed_ms > INLINE_BUDGET_MS:
            self._fast_calls = 0
            if self._inline:
                self._inline = False
                self._streak_needed = min(self._streak_needed * INLINE_STREAK_GROWTH, INLINE_STREAK_MAX)
            return
        self._fast_calls += 1
        if self._fast_calls >= self._streak_needed:
            self._inline = True

    def _on_alarm(self, signum: int, frame: Any) -> None:
        # Runs on the main thread between two bytecodes of run(), or when a blocking C call returns EINTR.
        self._alarm_at = 0.0
        if not self._in_run:
            return  # armed for an earlier run(); nothing to stop now
        remaining = self._deadline - time.perf_counter()
        if remaining > 0.0:
            # Armed for an earlier run(): re-arm for this one's own deadline.
            signal.setitimer(signal.ITIMER_REAL, remaining)
            self._alarm_at = self._deadline
            return
        self._alarmed = True
        raise RunInterrupted(f"Scoring timeout after {self._timeout_ms} ms")

    def _call_inline(self, func: Callable[[], Any]) -> tuple[Any, float]:
        self._alarmed = False
        started = time.perf_counter()
        self._deadline = started + self._timeout_s
        if not self._alarm_at:
            # The timer is armed once and re-armed only when it fires: deadlines only move later, so an
            # alarm set for an earlier run() is never late for this one, and a request costs no system call.
            signal.setitimer(signal.ITIMER_REAL, self._timeout_s)
            self._alarm_at = self._deadline
        # run() is synchronous code that may use asyncio itself (asyncio.run() of a client): as in azmlinfsrv's
        # worker or in a pool thread, it must not find our loop running in its thread.
        running = asyncio.events._get_running_loop()
        asyncio.events._set_running_loop(None)
        try:
            self._in_run = True
            try:
                result = func()
            finally:
                # First: an alarm from here on no longer raises.
                self._in_run = False
                asyncio.events._set_running_loop(running)
        except BaseException as ex:  # run() may raise anything, SystemExit included
            self._in_run = False
            # A slow call that failed or timed out sends later calls to the pool like any slow call.
            self._note((time.perf_counter() - started) * 1000)
            if self._alarmed:
                raise ScoringTimeout(self._timeout_ms) from None
            failure = RunFailed(str(ex))
            failure.__cause__ = ex
            raise failure from ex
        elapsed_ms = (time.perf_counter() - started) * 1000
        if self._alarmed:
            self._note(elapsed_ms)
            # run() swallowed the interrupt and returned late: a timeout all the same, as in the pool.
            raise ScoringTimeout(self._timeout_ms)
        self._note(elapsed_ms)
        return result, elapsed_ms

    def shutdown(self) -> None:
        for _ in self._threads:
            self._jobs.put(None)
        if self._previous_alarm_handler is not None:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self._previous_alarm_handler)
            self._previous_alarm_handler = None
            if self._previous_alarm[0] > 0:
                signal.setitimer(signal.ITIMER_REAL, *self._previous_alarm)
