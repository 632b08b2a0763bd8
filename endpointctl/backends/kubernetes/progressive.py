"""Progressive rollouts on Kubernetes, from the operator's side: start, status and steering all go through the
rollout's state ConfigMap (`rollout_state`); the controller in the cluster (`controller/`) drives the rollout,
so it goes on when this terminal closes, and anyone with the kubeconfig sees and steers it.

`start` builds and applies the controller (its image, ServiceAccount, Role, RoleBinding, Deployment), writes
the first state, and returns once the controller has routed the first step; if the controller's pod cannot
run (its image cannot be pulled, it crash-loops), it says so at once with the kubelet's reason. A steer is a compare-and-swap on
the state; the controller routes it within a tick. If the controller does not confirm a steer that changes
the split (it is down), the split is written to the routing ConfigMap from here too, so an abort restores
the original traffic even then (the gateways read it when the kubelet refreshes their mount).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import replace

from endpointctl.backends.engine.builder import Progress
from endpointctl.backends.kubernetes import naming, rollout_state, split
from endpointctl.backends.kubernetes.apply import apply
from endpointctl.backends.kubernetes.client import KubeClient
from endpointctl.backends.kubernetes.controller_manifests import controller_manifests
from endpointctl.backends.kubernetes.images import ImageSupply
from endpointctl.backends.kubernetes.rollout_state import StoredRollout
from endpointctl.backends.kubernetes.settings import KubeSettings
from endpointctl.backends.kubernetes.status import pod_problem
from endpointctl.backends.kubernetes.targets import Targets
from endpointctl.core.errors import BackendUnavailable, Conflict, NotFound, OperationFailed
from endpointctl.core.progressive import machine
from endpointctl.core.progressive.machine import RolloutState
from endpointctl.core.progressive.plan import ProgressivePlan

log = logging.getLogger("endpointctl.kubernetes.progressive")

# How long `start` waits for the controller to route the first step: its pod may have to pull its image.
START_CONFIRM_S = 180.0
# How long a steer waits for the controller before writing the split itself.
STEER_CONFIRM_S = 10.0
POLL_S = 0.25
CONTROLLER_CHECK_S = 1.0
MAX_ATTEMPTS = 5


class KubeProgressive:
    def __init__(
        self,
        targets: Targets,
        settings: Callable[[], KubeSettings],
        images: Callable[[], ImageSupply],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._targets, self._settings, self._images, self._clock = targets, settings, images, clock
        self.start_confirm_s = START_CONFIRM_S
        self.steer_confirm_s = STEER_CONFIRM_S

    async def start(self, plan: ProgressivePlan, progress: Progress | None = None) -> RolloutState:
        client, _ = await self._targets.locate(plan.endpoint)
        stored = await rollout_state.load(client, plan.endpoint)
        _refuse_if_running(stored, plan.endpoint)
        image = await asyncio.to_thread(
            self._images().controller,
            self._settings().gateway_image,
            endpoint=plan.endpoint,
            build=True,
            progress=progress,
        )
        for doc in controller_manifests(plan.endpoint, client.target.namespace, image):
            await apply(client, doc)
        transition = machine.start(plan, self._clock(), {})
        # The controller begins the counters at its first reading: the gates judge what came after the start.
        fresh = StoredRollout(transition.state, None, "", stored.resource_version)
        try:
            stored = await rollout_state.save(client, plan.endpoint, fresh)
        except Conflict:
            _refuse_if_running(await rollout_state.load(client, plan.endpoint), plan.endpoint)
            raise
        if transition.event is not None:
            kind, message, _ = transition.event
            await rollout_state.record_event(client, plan.endpoint, kind, message)
        confirmed = await self._confirmed(client, plan.endpoint, self.start_confirm_s, watch_controller=True)
        if confirmed is None:
            raise BackendUnavailable(
                f"the rollout controller of {plan.endpoint} has not taken the rollout within "
                f"{self.start_confirm_s:.0f} s; it starts the rollout when it runs (see `kubectl -n "
                f"{client.target.namespace} get pods -l {naming.controller(plan.endpoint)}`), "
                f"or `endpointctl rollout abort -e {plan.endpoint}` cancels it"
            )
        return confirmed

    async def status(self, endpoint: str) -> RolloutState:
        client, _ = await self._targets.locate(endpoint)
        stored = await rollout_state.load(client, endpoint)
        if stored.state is None:
            raise NotFound(f"endpoint {endpoint} has had no progressive rollout on the kubernetes backend")
        return stored.state

    async def running(self, endpoint: str) -> RolloutState | None:
        """The rollout that steers the endpoint's traffic now, if any."""
        client, _ = await self._targets.locate(endpoint)
        state = (await rollout_state.load(client, endpoint)).state
        return state if state is not None and not state.phase.terminal else None

    async def steer(self, endpoint: str, command: str) -> RolloutState:
        client, _ = await self._targets.locate(endpoint)
        for _ in range(MAX_ATTEMPTS):
            stored = await rollout_state.load(client, endpoint)
            if stored.state is None:
                raise NotFound(f"endpoint {endpoint} has no progressive rollout to {command}")
            transition = machine.steer(stored.state, command, self._clock())
            try:
                stored = await rollout_state.save(client, endpoint, replace(stored, state=transition.state))
            except Conflict:
                continue  # the controller's tick wrote in between: steer what it wrote
            break
        else:
            raise Conflict(f"the rollout of {endpoint} kept changing; try again")
        if transition.event is not None:
            kind, message, _ = transition.event
            await rollout_state.record_event(client, endpoint, kind, message)
        if transition.split is None:
            return transition.state
        confirmed = await self._confirmed(client, endpoint, self.steer_confirm_s)
        if confirmed is not None:
            return confirmed
        log.warning(
            "%s: the rollout controller did not route the %s within %.0f s; writing the split to the routing "
            "ConfigMap from here (the gateways read it when the kubelet refreshes their mount)",
            endpoint,
            command,
            self.steer_confirm_s,
        )
        await split.route(client, endpoint, transition.split)
        return transition.state

    async def _confirmed(
        self, client: KubeClient, endpoint: str, timeout_s: float, *, watch_controller: bool = False
    ) -> RolloutState | None:
        """The state once the controller has routed it; None after `timeout_s`. `watch_controller`: fail at
        once, with the kubelet's reason, when the controller's pod cannot run (a missing image, a crash loop):
        waiting would not help."""
        deadline = time.monotonic() + timeout_s
        checked = 0.0
        while True:
            stored = await rollout_state.load(client, endpoint)
            if stored.state is not None and stored.routed_now:
                return stored.state
            now = time.monotonic()
            if now >= deadline:
                return None
            if watch_controller and now - checked >= CONTROLLER_CHECK_S:
                checked = now
                for pod in await client.list("Pod", naming.controller(endpoint)):
                    problem = pod_problem(pod)
                    if problem is not None:
                        raise OperationFailed(
                            f"the rollout controller of {endpoint} cannot run: {problem}. The rollout is "
                            f"recorded and starts when the controller runs; `endpointctl rollout abort -e "
                            f"{endpoint}` cancels it"
                        )
            await asyncio.sleep(POLL_S)


def _refuse_if_running(stored: StoredRollout, endpoint: str) -> None:
    state = stored.state
    if state is not None and not state.phase.terminal:
        raise Conflict(
            f"a progressive rollout of {state.plan.candidate} runs on {endpoint} "
            f"({state.phase}, {state.position}); abort or promote it first"
        )
