"""One endpoint's rollout, driven from inside the cluster, one tick a second.

Each tick: read the state ConfigMap; read every gateway replica's counters and add them up; let the rollout
machine judge the step (core.progressive.machine: the same rules the local agent applies); store the state
(compare-and-swap: an operator's pause or abort written meanwhile wins, and the tick is retried); record the
machine's event as a Kubernetes Event; then make the gateways run the split the state calls for — the routing
ConfigMap first (the durable record), then a push to every replica (the kubelet would take a minute), and only
when all replicas confirm is the state marked as routed. A status that says RolledBack means the old split
serves, not merely that it was written.

It is level-triggered: whatever failed in one tick (an unreachable replica, a conflicting write) is retried
in the next from what the cluster holds, and a restarted controller carries on from the same ConfigMap.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from endpointctl.backends.kubernetes import rollout_state, split
from endpointctl.backends.kubernetes.client import KubeClient
from endpointctl.backends.kubernetes.controller.gateways import Gateways, Replica
from endpointctl.backends.kubernetes.rollout_state import StoredRollout, routing_key
from endpointctl.core.errors import Conflict
from endpointctl.core.progressive import machine
from endpointctl.core.progressive.counters import ReplicaTotals

log = logging.getLogger("endpointctl.controller")

TICK_S = 1.0
# The state is stored at every transition, and otherwise this often, so `rollout status` shows gate values
# at most this old without a write to the API server every tick.
SAVE_EVERY_S = 2.0


class RolloutController:
    def __init__(
        self,
        client: KubeClient,
        endpoint: str,
        gateways: Gateways,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client, self._endpoint, self._gateways, self._clock = client, endpoint, gateways, clock
        self._saved_at = 0.0
        self._unrouted: list[str] = []

    async def tick(self) -> StoredRollout:
        stored = await rollout_state.load(self._client, self._endpoint)
        state = stored.state
        if state is None or (state.phase.terminal and stored.routed_now):
            return stored  # nothing runs: idle
        now = self._clock()
        replicas = await self._gateways.replicas()
        readings = await self._gateways.readings(replicas)
        counters = stored.counters or ReplicaTotals(since=now)
        totals = counters.observe(readings, first=stored.counters is None)
        counters.forget({r.uid for r in replicas})
        transition = machine.Transition(state)
        if not state.phase.terminal:
            transition = machine.advance(state, now, totals)
        changed = transition.event is not None or transition.state.phase is not state.phase
        if (
            changed
            or not stored.routed_now
            or now - self._saved_at >= SAVE_EVERY_S
            or stored.counters is None
        ):
            try:
                stored = await rollout_state.save(
                    self._client, self._endpoint, replace(stored, state=transition.state, counters=counters)
                )
            except Conflict:
                log.info(
                    "%s: the rollout changed under this tick (an operator steered it); again", self._endpoint
                )
                return await rollout_state.load(self._client, self._endpoint)
            self._saved_at = now
        if transition.event is not None:
            await self._record(*transition.event)
        assert stored.state is not None
        return await self._route(stored, replicas)

    async def _route(self, stored: StoredRollout, replicas: list[Replica]) -> StoredRollout:
        """Make every replica run the state's split; mark the state routed once all confirm."""
        assert stored.state is not None
        if stored.routed_now and stored.state.phase.terminal:
            return stored
        state = stored.state
        tolerance = state.plan.gates.diff_tolerance if state.mirroring and not state.phase.terminal else None
        document = await split.route(self._client, self._endpoint, state.split, tolerance)
        missing = await self._gateways.converge(replicas, document)
        if missing != self._unrouted and missing:
            log.warning(
                "%s: gateway replicas not yet on the rollout's split: %s", self._endpoint, ", ".join(missing)
            )
        self._unrouted = missing
        if missing or not replicas or stored.routed_now:
            return stored
        try:
            routed = await rollout_state.save(
                self._client, self._endpoint, replace(stored, routed=routing_key(stored.state))
            )
        except Conflict:
            return stored  # steered meanwhile: the next tick routes the new state
        log.info("%s: %s routed to %d gateway replicas", self._endpoint, stored.state.position, len(replicas))
        return routed

    async def _record(self, kind: str, message: str, data: dict[str, Any]) -> None:
        log.info("%s: %s", self._endpoint, message)
        await rollout_state.record_event(self._client, self._endpoint, kind, message)
