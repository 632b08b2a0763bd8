"""One instance (a process or a container): started or adopted, probed, restarted with backoff, stopped."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from endpointctl.backends.local.records import InstanceRecord
from endpointctl.backends.local.runtime import Runtime
from endpointctl.core.errors import EndpointctlError
from endpointctl.core.spec import ProbeSettings
from endpointctl.core.tls import client_ssl_context
from endpointctl.core.views import InstanceState, InstanceView

# Readiness is polled this often until the first success: a local instance has nothing to wait for, so it
# enters rotation as soon as it answers; `initial_delay` only delays when failures start to count.
FAST_PROBE_S = 0.05
# Delay before restarting an instance that died, by how many times in a row it died without serving
# STABLE_S first: one that served a while is restarted at once (a one-off kill must not cost a second of
# capacity), a crash loop backs off as Kubernetes' does (which also resets after a stable run).
BACKOFF_S = (0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0)
STABLE_S = 60.0
STOP_GRACE_S = 10.0


class Instance:
    """Supervises one instance. `on_change` fires whenever routability changes (the gateway re-reads it)."""

    def __init__(
        self,
        record: InstanceRecord,
        *,
        runtime: Runtime,
        records_dir: Path,
        readiness: ProbeSettings,
        liveness: ProbeSettings,
        on_change: Callable[[], None],
    ) -> None:
        self.record = record
        self._runtime = runtime
        self._records_dir = records_dir
        self._readiness = readiness
        self._liveness = liveness
        self._on_change = on_change
        self.state = InstanceState.PENDING
        self.reason = ""
        self.ever_ready = False
        self.exit_code: int | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._crash_streak = 0
        # Out of rotation ahead of a stop, so the router has moved away before SIGTERM arrives.
        self.draining = False
        # Ready but waiting for its rollout batch's turn (pipelined rollouts start the next batch early).
        self.held = False
        self._ready_event = asyncio.Event()
        self._failed_event = asyncio.Event()

    # --- identity ----------------------------------------------------------------------------------
    @property
    def id(self) -> str:
        return self.record.id

    @property
    def address(self) -> str:
        """As the gateway's routing takes it: ``unix:/path`` (or ``127.0.0.1:port`` for an older instance)."""
        if self.record.socket:
            return f"unix:{self.record.socket}"
        return f"127.0.0.1:{self.record.port}"

    @property
    def routable(self) -> bool:
        return self.state is InstanceState.READY and not (self._stopping or self.draining or self.held)

    def view(self) -> InstanceView:
        return InstanceView(
            self.id,
            self.state,
            self.record.revision,
            self.record.restarts,
            self.record.started_at,
            self.address,
            self.reason,
        )

    # --- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> None:
        self.state = InstanceState.STARTING
        self._task = asyncio.create_task(self._first_start(), name=f"instance {self.id}")

    async def _first_start(self) -> None:
        try:
            await self._spawn()
        except EndpointctlError as exc:
            self.reason = str(exc)
            self.state = InstanceState.FAILED
            self._failed_event.set()
            self._on_change()
            return
        await self._supervise()

    async def adopt(self, *, serving: bool = False) -> bool:
        """Take over an instance a previous agent started; False if it is gone (then the caller starts one).

        `serving`: the gateway, which outlived that agent, routes to it now; it stays in rotation while its
        readiness is checked again, so adopting it never takes capacity away from a serving endpoint."""
        if not (self.record.socket or self.record.port) or not await self._runtime.adoptable(self.record):
            return False
        self.state = InstanceState.READY if serving else InstanceState.STARTING
        self.ever_ready = True  # it served before the agent restarted: failures now mean restart, not fail
        self._task = asyncio.create_task(self._supervise(), name=f"instance {self.id}")
        return True

    async def _spawn(self) -> None:
        self.exit_code = None
        self.state = InstanceState.STARTING
        # A start runs to its end even when stop() cancels this task meanwhile: a container created by a
        # thread the cancellation did not reach would otherwise run on with nobody to terminate it.
        spawning = asyncio.ensure_future(self._runtime.spawn(self.record))
        try:
            await asyncio.shield(spawning)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await spawning
            self.record.save(self._records_dir)
            raise
        self.record.started_at = time.time()
        self.record.save(self._records_dir)

    async def _alive(self) -> bool:
        code = await self._runtime.exit_code(self.record)
        if code is None:
            return True
        self.exit_code = code
        return False

    async def wait_ready(self) -> bool:
        """True once ready; False as soon as the first start fails (exit or probe deadline)."""
        ready = asyncio.create_task(self._ready_event.wait())
        failed = asyncio.create_task(self._failed_event.wait())
        done, pending = await asyncio.wait({ready, failed}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        return ready in done and self._ready_event.is_set()

    async def stop(self) -> None:
        self._stopping = True
        self.state = InstanceState.TERMINATING
        self._on_change()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._runtime.terminate(self.record, grace_s=STOP_GRACE_S)
        self.record.forget(self._records_dir)

    def _is_stopping(self) -> bool:
        # A method, not the attribute: the flag flips while this task awaits, which type narrowing can't see.
        return self._stopping

    # --- supervision -------------------------------------------------------------------------------
    def _probe_client(self) -> httpx.AsyncClient:
        if self.record.socket:
            # The socket path is fixed for the instance's life (restarts included), so one transport serves.
            return httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(uds=self.record.socket))
        return httpx.AsyncClient(verify=client_ssl_context())

    async def _supervise(self) -> None:
        async with self._probe_client() as client:
            while not self._stopping:
                became_ready = await self._until_ready(client)
                if became_ready:
                    serving_since = time.monotonic()
                    await self._while_serving(client)
                    if time.monotonic() - serving_since >= STABLE_S:
                        self._crash_streak = 0
                if self._is_stopping():
                    return
                if not self.ever_ready:
                    # A first start that never became ready fails the rollout; no restart loop here.
                    self.state = InstanceState.FAILED
                    self._failed_event.set()
                    self._on_change()
                    return
                await self._restart_after_backoff()

    async def _until_ready(self, client: httpx.AsyncClient) -> bool:
        probe = self._readiness
        started = time.monotonic()
        deadline = started + probe.initial_delay + probe.period * probe.failure_threshold
        successes = 0
        while time.monotonic() < deadline:
            if not await self._alive():
                self.reason = f"the scoring host exited with code {self.exit_code} before it was ready"
                return False
            if await _probe(client, self.address, probe.timeout):
                successes += 1
                if successes >= probe.success_threshold:
                    self._mark_ready()
                    return True
            else:
                successes = 0
            await asyncio.sleep(FAST_PROBE_S if not successes else min(probe.period, 1.0))
        self.reason = (
            f"not ready within {probe.initial_delay + probe.period * probe.failure_threshold} s "
            "(readiness_probe initial_delay + period × failure_threshold)"
        )
        return False

    def _mark_ready(self) -> None:
        self.state = InstanceState.READY
        self.reason = ""
        self.ever_ready = True
        self._ready_event.set()
        self._on_change()

    async def _while_serving(self, client: httpx.AsyncClient) -> None:
        readiness, liveness = self._readiness, self._liveness
        ready_failures = live_failures = 0
        next_ready = next_live = time.monotonic()
        next_live += liveness.period
        while not self._stopping:
            if not await self._alive():
                self.reason = f"the scoring host exited with code {self.exit_code}"
                self._set_state(InstanceState.RESTARTING)
                return
            now = time.monotonic()
            if now >= next_ready:
                next_ready = now + readiness.period
                if await _probe(client, self.address, readiness.timeout):
                    ready_failures = 0
                    if self.state is not InstanceState.READY:
                        self._mark_ready()
                else:
                    ready_failures += 1
                    if ready_failures >= readiness.failure_threshold and self.state is InstanceState.READY:
                        self.reason = f"readiness probe failed {ready_failures} times"
                        self._set_state(InstanceState.UNHEALTHY)
            if now >= next_live:
                next_live = now + liveness.period
                if await _probe(client, self.address, liveness.timeout):
                    live_failures = 0
                else:
                    live_failures += 1
                    if live_failures >= liveness.failure_threshold:
                        self.reason = f"liveness probe failed {live_failures} times; restarting"
                        self._set_state(InstanceState.RESTARTING)
                        await self._runtime.terminate(self.record, grace_s=2)
                        return
            # Exits are noticed within `poll_s` so the router stops sending to a dead instance at once.
            await asyncio.sleep(self._runtime.poll_s)

    async def _restart_after_backoff(self) -> None:
        delay = BACKOFF_S[min(self._crash_streak, len(BACKOFF_S) - 1)]
        self._crash_streak += 1
        self._set_state(InstanceState.RESTARTING)
        await asyncio.sleep(delay)
        if self._is_stopping():
            return
        self.record.restarts += 1
        try:
            await self._spawn()
        except EndpointctlError as exc:
            # The next pass of the supervision loop sees it not running and backs off again.
            self.reason = f"restart failed: {exc}"
        self._on_change()

    def _set_state(self, state: InstanceState) -> None:
        if state is not self.state:
            self.state = state
            self._on_change()


async def _probe(client: httpx.AsyncClient, address: str, timeout_s: float) -> bool:
    # Over a socket the client's transport already knows where to go; the URL only names the path.
    url = "http://instance/" if address.startswith("unix:") else f"http://{address}/"
    try:
        response = await client.get(url, timeout=timeout_s)
    except httpx.HTTPError:
        return False
    return response.status_code == 200
