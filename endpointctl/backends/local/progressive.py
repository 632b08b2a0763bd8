"""The local agent's driver of progressive rollouts (core.progressive.machine): it reads the gateway's counters,
applies the splits the machine calls for, records events, and keeps the state in the store after every change,
so a rollout survives the CLI and the TUI exiting and an agent killed with SIGKILL resumes it at the same step.

A split is applied the way `set_traffic` applies one (the endpoint's spec in the store, an event), then the
agent's gateway is refreshed and the driver waits until it runs the new routing: "traffic back within one tick"
means routed, not merely written.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace

from endpointctl.core.errors import Conflict, NotFound
from endpointctl.core.progressive import machine
from endpointctl.core.progressive.machine import RolloutState, Transition
from endpointctl.core.progressive.plan import ProgressivePlan
from endpointctl.core.spec import EndpointSpec
from endpointctl.core.store import Store
from endpointctl.core.traffic import TrafficSplit
from endpointctl.core.views import DeploymentMetrics
from endpointctl.serving.gateway.config import DEFAULT_SHADOW_TOLERANCE

log = logging.getLogger("endpointctl.agent.progressive")

# How often a running rollout is judged: a failed gate rolls back within one tick.
TICK_S = 1.0

Metrics = Callable[[str], Awaitable[Mapping[str, DeploymentMetrics]]]
Refresh = Callable[[], Awaitable[None]]


class ProgressiveDriver:
    def __init__(self, backend: str, store: Store, metrics: Metrics, refresh_gateway: Refresh) -> None:
        self._backend = backend
        self._store = store
        self._metrics = metrics
        self._refresh_gateway = refresh_gateway
        self._states: dict[str, RolloutState] = {}
        self._routing: dict[str, RolloutState] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    # --- lifecycle ------------------------------------------------------------------------------------
    def resume_all(self) -> None:
        """After an agent (re)start: every rollout the store says is running goes on where it was."""
        with self._store.read() as tx:
            stored = tx.list_progressive(self._backend)
        for endpoint, data in stored.items():
            state = machine.from_json(data)
            self._states[endpoint] = state
            if not state.phase.terminal:
                log.info("resuming the progressive rollout of %s at step %d", endpoint, state.step + 1)
                self._run(endpoint)

    async def stop(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        for task in self._tasks.values():
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # --- the control API --------------------------------------------------------------------------------
    async def start(self, plan: ProgressivePlan) -> RolloutState:
        async with self._lock(plan.endpoint):
            current = self._current(plan.endpoint)
            if current is not None and not current.phase.terminal:
                raise Conflict(
                    f"a progressive rollout of {current.plan.candidate} runs on {plan.endpoint} "
                    f"({current.phase}, step {current.step + 1}); abort or promote it first"
                )
            state = await self._apply(
                plan.endpoint, machine.start(plan, time.time(), await self._metrics(plan.endpoint))
            )
        self._run(plan.endpoint)
        return state

    async def status(self, endpoint: str) -> RolloutState:
        state = self._current(endpoint)
        if state is None:
            raise NotFound(
                f"endpoint {endpoint} has had no progressive rollout on the {self._backend} backend"
            )
        if not state.phase.terminal:
            # Fresh gate values for whoever asks (the tick may be up to a second old).
            metrics = await self._metrics(endpoint)
            judged = machine.advance(replace(state, phase=machine.Phase.PAUSED), time.time(), metrics)
            return replace(state, verdict=judged.state.verdict)
        return state

    def shadow_tolerance(self, endpoint: str) -> float:
        """What the gateway compares mirrored answers with: the running rollout's --diff-tolerance."""
        state = self._routing.get(endpoint) or self._states.get(endpoint)
        if state is None or state.phase.terminal or not state.mirroring:
            return DEFAULT_SHADOW_TOLERANCE
        return state.plan.gates.diff_tolerance

    async def steer(self, endpoint: str, command: str) -> RolloutState:
        async with self._lock(endpoint):
            state = self._current(endpoint)
            if state is None:
                raise NotFound(f"endpoint {endpoint} has no progressive rollout to {command}")
            return await self._apply(endpoint, machine.steer(state, command, time.time()))

    # --- the loop -----------------------------------------------------------------------------------------
    def _run(self, endpoint: str) -> None:
        task = self._tasks.get(endpoint)
        if task is None or task.done():
            self._tasks[endpoint] = asyncio.create_task(self._loop(endpoint), name=f"progressive {endpoint}")

    async def _loop(self, endpoint: str) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            try:
                async with self._lock(endpoint):
                    state = self._current(endpoint)
                    if state is None or state.phase.terminal:
                        return
                    metrics = await self._metrics(endpoint)
                    await self._apply(endpoint, machine.advance(state, time.time(), metrics))
            except NotFound:
                return  # the endpoint was deleted under the rollout
            except Exception:  # one bad tick must not end the rollout; the next one tries again
                log.exception("progressive rollout of %s: tick failed", endpoint)

    async def _apply(self, endpoint: str, transition: Transition) -> RolloutState:
        """Persist the state and event first, then route: a crash between the two leaves a state whose split a
        restarted driver applies again (applying a split twice is harmless)."""
        state = transition.state
        with self._store.transaction() as tx:
            if transition.split is not None:
                record = tx.get_endpoint(self._backend, endpoint)
                if record is None:
                    raise NotFound(f"endpoint {endpoint} does not exist on the {self._backend} backend")
                tx.put_endpoint(
                    replace(record, spec=_with_split(record.spec, transition.split), updated_at=time.time())
                )
            if transition.event is not None:
                kind, message, data = transition.event
                tx.add_event(
                    backend=self._backend,
                    endpoint=endpoint,
                    deployment=state.plan.candidate,
                    kind=kind,
                    message=message,
                    data=data,
                )
            tx.put_progressive(self._backend, endpoint, machine.to_json(state))
        if transition.split is not None:
            self._routing[endpoint] = state  # what the routing being built follows (its diff tolerance)
            await self._refresh_gateway()
        # Shown only once routed: a status that says "RolledBack" means the old split is serving.
        self._states[endpoint] = state
        if transition.event is not None:
            log.info("%s: %s", endpoint, transition.event[1])
        return state

    def _current(self, endpoint: str) -> RolloutState | None:
        state = self._states.get(endpoint)
        if state is None:
            with self._store.read() as tx:
                data = tx.get_progressive(self._backend, endpoint)
            if data is not None:
                state = self._states[endpoint] = machine.from_json(data)
        return state

    def _lock(self, endpoint: str) -> asyncio.Lock:
        return self._locks.setdefault(endpoint, asyncio.Lock())


def _with_split(spec: EndpointSpec, split: TrafficSplit) -> EndpointSpec:
    return spec.model_copy(update={"traffic": dict(split.weights), "mirror_traffic": dict(split.mirror)})
