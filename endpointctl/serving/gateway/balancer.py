"""Spreads one deployment's requests over its instances: least outstanding requests, bounded concurrency, queue.

Azure's semantics: each instance takes at most ``max_concurrent_requests_per_instance`` requests at once; the rest
wait in a FIFO queue for at most ``max_queue_wait_ms``; when more than ``2 x max_concurrent x instance_count``
requests are pending (served + queued) a new one is refused straight away. Both refusals are 429.

The instance set can change at any time: instances that stay keep their counters and pooled connections, removed
ones finish what they are serving (their slot is released to them) and are closed once idle.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Collection

from endpointctl.serving.gateway.config import Address, DeploymentConfig
from endpointctl.serving.gateway.upstream import ConnectionPool

# After a refused connection (or one closed without an answer) an instance is skipped for this long, unless no other instance is left to try.
DOWN_FOR_S = 1.0


class Throttled(Exception):
    """The request must be answered 429; the message says why."""


class NoInstance(Exception):
    """The deployment has no instance left to try (none configured, or every one refused the connection)."""


class Instance:
    __slots__ = ("address", "down_until", "host_header", "outstanding", "pool", "removed")

    def __init__(self, address: Address, loop: asyncio.AbstractEventLoop) -> None:
        self.address = address
        # A socket path is no host name; the scoring host only echoes Host back (e.g. in swagger.json).
        self.host_header = b"localhost" if address.path else str(address).encode("ascii")
        self.pool = ConnectionPool(address, loop)
        self.outstanding = 0
        self.down_until = 0.0
        self.removed = False


class _Waiter:
    __slots__ = ("exclude", "future", "timer")

    def __init__(self, future: asyncio.Future[Instance], exclude: Collection[Instance]) -> None:
        self.future = future
        self.exclude = exclude
        self.timer: asyncio.TimerHandle | None = None


class Balancer:
    def __init__(self, loop: asyncio.AbstractEventLoop, settings: DeploymentConfig) -> None:
        self._loop = loop
        self.settings = settings
        self.instances: list[Instance] = []
        self._waiters: deque[_Waiter] = deque()
        self.pending = 0
        self._rotation = 0
        self.update(settings)

    # configuration

    def update(self, settings: DeploymentConfig) -> None:
        """Adopt new settings and instance set; runs without awaiting, so requests see old or new, never a mix."""
        self.settings = settings
        current = {inst.address: inst for inst in self.instances}
        kept = [current.pop(a) if a in current else Instance(a, self._loop) for a in settings.instances]
        self.instances = kept
        for gone in current.values():
            gone.removed = True
            if gone.outstanding == 0:
                gone.pool.close()
        self._dispatch()

    def close(self) -> None:
        self.update(DeploymentConfig(instances=(), request_timeout_ms=self.settings.request_timeout_ms))

    # admission

    @property
    def pending_limit(self) -> int:
        return 2 * self.settings.max_concurrent_requests_per_instance * len(self.instances)

    def enter(self) -> None:
        """Count a request as pending, or refuse it when the deployment is saturated."""
        if not self.instances:
            raise NoInstance("This deployment has no instances.")
        if self.pending >= self.pending_limit and self._pick(()) is None:
            raise Throttled("Too many requests are pending for this deployment.")
        self.pending += 1

    def leave(self) -> None:
        self.pending -= 1

    async def acquire(self, exclude: Collection[Instance] = ()) -> Instance:
        """An instance slot for the request; wait for one in FIFO order for at most ``max_queue_wait_ms``."""
        inst = self._pick(exclude) if not self._waiters else None
        if inst is not None:
            inst.outstanding += 1
            return inst
        if not any(i not in exclude for i in self.instances):
            raise NoInstance("No instance of this deployment is available.")
        wait_s = self.settings.max_queue_wait_ms / 1000
        if wait_s <= 0:
            raise Throttled("All instances are busy and queueing is disabled.")
        waiter = _Waiter(self._loop.create_future(), exclude)
        waiter.timer = self._loop.call_later(wait_s, self._expire, waiter)
        self._waiters.append(waiter)
        try:
            return await waiter.future
        except asyncio.CancelledError:
            if waiter.future.done() and not waiter.future.cancelled() and waiter.future.exception() is None:
                self.release(waiter.future.result())
            raise
        finally:
            waiter.timer.cancel()

    def release(self, inst: Instance) -> None:
        inst.outstanding -= 1
        if inst.removed:
            if inst.outstanding == 0:
                inst.pool.close()
            return
        self._dispatch()

    def mark_down(self, inst: Instance) -> None:
        inst.down_until = self._loop.time() + DOWN_FOR_S

    # internals

    def _pick(self, exclude: Collection[Instance]) -> Instance | None:
        limit = self.settings.max_concurrent_requests_per_instance
        now = -1.0
        best: Instance | None = None
        fallback: Instance | None = None
        instances = self.instances
        count = len(instances)
        # Start at a rotating offset so instances with equal load take turns instead of the first always winning.
        self._rotation += 1
        for k in range(count):
            inst = instances[(self._rotation + k) % count]
            if inst.outstanding >= limit or inst in exclude:
                continue
            if inst.down_until:
                if now < 0:
                    now = self._loop.time()
                if inst.down_until > now:
                    if fallback is None or inst.outstanding < fallback.outstanding:
                        fallback = inst
                    continue
                inst.down_until = 0.0
            if best is None or inst.outstanding < best.outstanding:
                best = inst
        if best is not None:
            return best
        if fallback is not None and all(i in exclude or i.down_until > self._loop.time() for i in instances):
            return fallback
        return None

    def _dispatch(self) -> None:
        waiters = self._waiters
        if not waiters:
            return
        remaining: deque[_Waiter] = deque()
        while waiters:
            waiter = waiters.popleft()
            if waiter.future.done():
                continue
            inst = self._pick(waiter.exclude)
            if inst is None:
                remaining.append(waiter)
                continue
            inst.outstanding += 1
            waiter.future.set_result(inst)
        self._waiters = remaining

    def _expire(self, waiter: _Waiter) -> None:
        if not waiter.future.done():
            waiter.future.set_exception(
                Throttled(
                    f"The request waited longer than max_queue_wait_ms ({self.settings.max_queue_wait_ms} ms)."
                )
            )
        with contextlib.suppress(ValueError):
            self._waiters.remove(waiter)

    @property
    def queued(self) -> int:
        return len(self._waiters)
