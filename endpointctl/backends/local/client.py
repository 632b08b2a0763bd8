"""A local backend as the façade sees it: writes desired state to the store, nudges the agent, reads back.

Nothing here runs a model: the backend's agent (started on demand) does. Each mutating call commits one store
transaction, then asks the agent to reconcile; the agent applies routing changes (traffic, keys, endpoints)
before it answers, and runs rollouts in the background, which the façade follows through `get_deployment`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from typing import Any

from endpointctl.backends.common.gateway_metrics import metrics_snapshot
from endpointctl.backends.local import control
from endpointctl.backends.local.gateway_process import gateway_state
from endpointctl.backends.local.launcher import ensure_agent, stop_agent
from endpointctl.backends.local.layout import Layout
from endpointctl.backends.local.lock import lock_holder
from endpointctl.backends.local.logs import follow_logs, read_logs
from endpointctl.backends.local.ports import free_port, is_free
from endpointctl.backends.local.sources import check_resolvable
from endpointctl.backends.local.status import DeploymentStatus
from endpointctl.core import keys
from endpointctl.core.capabilities import Capability
from endpointctl.core.context import BackendContext
from endpointctl.core.errors import Conflict, InvalidInput, NotFound
from endpointctl.core.operations import DeploymentRollout, Done, Operation
from endpointctl.core.ports import KeyType, ScoringTarget, capabilities_of
from endpointctl.core.progressive import machine
from endpointctl.core.progressive.machine import RolloutState
from endpointctl.core.progressive.plan import ProgressivePlan
from endpointctl.core.spec import DeploymentSpec, EndpointSpec
from endpointctl.core.store import DeploymentRecord, EndpointRecord
from endpointctl.core.traffic import TrafficSplit
from endpointctl.core.views import (
    BackendStatus,
    CleanupReport,
    Container,
    Credentials,
    DeploymentView,
    DiskItem,
    EndpointView,
    EventView,
    LogLine,
    MetricsSnapshot,
    ProvisioningState,
)


class LocalBackend:
    """The client half shared by the local backends; subclasses name themselves and their layout."""

    name: str
    features = frozenset(
        {
            Capability.MIRROR_TRAFFIC,
            Capability.ROLLING_UPDATE,
            Capability.TOKENS,
            Capability.REGISTERED_ASSETS,
        }
    )

    def __init__(self, context: BackendContext, layout: Layout) -> None:
        self._ctx = context
        self._store = context.store
        self._layout = layout

    def limits(self) -> Mapping[Capability, str]:
        return {
            Capability.DRY_RUN: f"the {self.name} backend applies changes directly; there is no server-side dry run"
        }

    async def status(self) -> BackendStatus:
        pid = lock_holder(self._layout)
        context = f"agent pid {pid}" if pid else "agent starts on first use"
        return BackendStatus(
            self.name,
            True,
            capabilities_of(self),
            context=f"{context} · {gateway_state(self._layout)} · {self._ctx.home.root}",
        )

    async def close(self) -> None:
        return None

    async def start_agent(self) -> BackendStatus:
        await ensure_agent(self._layout)
        return await self.status()

    async def stop_agent(self, *, everything: bool = True) -> bool:
        return await stop_agent(self._layout, everything=everything)

    # --- progressive rollouts: driven by the agent, so they go on when the CLI exits ---------------------
    async def start_progressive(self, plan: ProgressivePlan) -> RolloutState:
        return machine.from_json(await self._agent("progressive_start", plan=machine.plan_to_json(plan)))

    async def progressive_status(self, endpoint: str) -> RolloutState:
        return machine.from_json(await self._agent("progressive_status", endpoint=endpoint))

    async def steer_progressive(self, endpoint: str, command: str) -> RolloutState:
        return machine.from_json(await self._agent("progressive_steer", endpoint=endpoint, command=command))

    async def collect_garbage(
        self, *, dry_run: bool = False, min_idle_s: float | None = None
    ) -> CleanupReport:
        params: dict[str, Any] = {"dry_run": dry_run}
        if min_idle_s is not None:
            params["min_idle_s"] = min_idle_s
        # Walking environments and removing them takes a while on a big cache; nothing else waits on it.
        raw = await self._agent("collect_garbage", timeout_s=600, **params)
        return CleanupReport(
            self.name,
            tuple(DiskItem(**item) for item in raw["freed"]),
            tuple(DiskItem(**item) for item in raw["kept"]),
            dry_run,
        )

    async def _agent(self, method: str, timeout_s: float = 120, **params: Any) -> Any:
        """One round trip when the agent runs (a ping first would double every read: the TUI's tick makes one
        call per endpoint); when nothing listens, the request was never sent: start the agent, send it then."""
        try:
            return await control.call(self._layout.socket, method, params, timeout_s=timeout_s)
        except control.AgentNotRunning:
            await ensure_agent(self._layout)
        return await control.call(self._layout.socket, method, params, timeout_s=timeout_s)

    # --- endpoints --------------------------------------------------------------------------------
    def _endpoint_view(self, record: EndpointRecord, deployments: list[str]) -> EndpointView:
        spec = record.spec
        # Every deployment appears in the split, as in az ml's `show`: 0 for those without traffic.
        served = spec.model_copy(update={"traffic": {**dict.fromkeys(deployments, 0), **spec.traffic}})
        port = record.scoring_port
        return EndpointView(
            self.name,
            served,
            ProvisioningState(record.provisioning_state),
            scoring_uri=f"http://127.0.0.1:{port}/score" if port else None,
            openapi_uri=f"http://127.0.0.1:{port}/swagger.json" if port else None,
            location="local",
        )

    def _endpoint_record(self, name: str) -> tuple[EndpointRecord, list[str]]:
        with self._store.read() as tx:
            record = tx.get_endpoint(self.name, name)
            if record is None:
                raise NotFound(f"endpoint {name} does not exist on the {self.name} backend")
            return record, [d.name for d in tx.list_deployments(self.name, name)]

    async def list_endpoints(self) -> list[EndpointView]:
        with self._store.read() as tx:
            pairs = [
                (r, [d.name for d in tx.list_deployments(self.name, r.name)])
                for r in tx.list_endpoints(self.name)
            ]
        if pairs:
            await self._revive()
        return [self._endpoint_view(r, d) for r, d in pairs]

    async def get_endpoint(self, name: str) -> EndpointView:
        found = self._endpoint_record(name)
        await self._revive()
        return self._endpoint_view(*found)

    async def _revive(self) -> None:
        """Endpoint reads come from the store, but the 'Succeeded' and the scoring URI they report hold only
        while an agent keeps the gateway and the instances up: with no agent (killed, say), start one, as
        every deployment read does. A lock check, not a round trip, when the agent runs."""
        if lock_holder(self._layout) is None:
            await ensure_agent(self._layout)

    async def apply_endpoint(self, spec: EndpointSpec) -> Operation:
        now = time.time()
        with self._store.transaction() as tx:
            existing = tx.get_endpoint(self.name, spec.name)
            if existing is None:
                port = _pick_port(tx.used_ports())
                tx.put_endpoint(
                    EndpointRecord(
                        self.name,
                        spec.name,
                        spec,
                        str(ProvisioningState.CREATING),
                        port,
                        now,
                        now,
                    )
                )
                tx.put_keys(keys.new_keys(self.name, spec.name))
                message = f"endpoint created; scoring_uri http://127.0.0.1:{port}/score"
            else:
                moved = (dict(spec.traffic), dict(spec.mirror_traffic)) != (
                    dict(existing.spec.traffic),
                    dict(existing.spec.mirror_traffic),
                )
                if moved:
                    _refuse_during_progressive(tx.get_progressive(self.name, spec.name), spec.name)
                tx.put_endpoint(
                    replace(
                        existing,
                        spec=spec,
                        provisioning_state=str(ProvisioningState.UPDATING),
                        updated_at=now,
                    )
                )
                message = "endpoint updated"
            tx.add_event(backend=self.name, endpoint=spec.name, kind="endpoint", message=message)
        # The agent routes the endpoint before it answers: nothing is left to follow.
        await self._agent("reconcile")
        return Done(f"endpoint {spec.name}")

    async def delete_endpoint(self, name: str) -> Operation:
        with self._store.transaction() as tx:
            if not tx.delete_endpoint(self.name, name):
                raise NotFound(f"endpoint {name} does not exist on the {self.name} backend")
        await self._agent("reconcile")
        return Done(f"delete endpoint {name}")

    # --- deployments ------------------------------------------------------------------------------
    async def _statuses(self, endpoint: str) -> dict[str, DeploymentStatus]:
        status = await self._agent("status", endpoint=endpoint)
        return {key: DeploymentStatus.from_wire(doc) for key, doc in status.get("deployments", {}).items()}

    def _deployment_view(self, record: DeploymentRecord, status: DeploymentStatus | None) -> DeploymentView:
        status = status or DeploymentStatus()
        return DeploymentView(
            self.name,
            record.spec,
            ProvisioningState(record.provisioning_state),
            revision=record.revision,
            instances=status.instances,
            rollout=status.rollout,
            reason=record.reason,
            serving_revision=record.live_revision,
            serving_spec=record.live_spec,
        )

    async def list_deployments(self, endpoint: str) -> list[DeploymentView]:
        self._endpoint_record(endpoint)
        statuses = await self._statuses(endpoint)
        with self._store.read() as tx:
            records = tx.list_deployments(self.name, endpoint)
        return [self._deployment_view(r, statuses.get(f"{endpoint}/{r.name}")) for r in records]

    async def get_deployment(self, endpoint: str, name: str) -> DeploymentView:
        with self._store.read() as tx:
            record = tx.get_deployment(self.name, endpoint, name)
        if record is None:
            raise NotFound(f"deployment {endpoint}/{name} does not exist on the {self.name} backend")
        statuses = await self._statuses(endpoint)
        return self._deployment_view(record, statuses.get(f"{endpoint}/{name}"))

    async def watch_deployment(self, endpoint: str, name: str) -> Operation:
        return DeploymentRollout(f"deployment {endpoint}/{name}", lambda: self.get_deployment(endpoint, name))

    async def apply_deployment(self, spec: DeploymentSpec) -> Operation:
        # Registered assets and the conda file are checked before anything is written.
        check_resolvable(spec, self._ctx.registry)
        now = time.time()
        with self._store.transaction() as tx:
            endpoint = tx.get_endpoint(self.name, spec.endpoint_name)
            if endpoint is None:
                raise NotFound(f"endpoint {spec.endpoint_name} does not exist on the {self.name} backend")
            old = tx.get_deployment(self.name, spec.endpoint_name, spec.name)
            revision = old.revision + 1 if old else 1
            live = old.live_revision if old else None
            state = ProvisioningState.CREATING if live is None else ProvisioningState.UPDATING
            tx.put_deployment(
                DeploymentRecord(
                    self.name,
                    spec.endpoint_name,
                    spec.name,
                    spec,
                    str(state),
                    revision,
                    old.created_at if old else now,
                    now,
                    live_revision=live,
                    live_spec=old.live_spec if old else None,
                    reason="",
                )
            )
            if old is None:
                # A new deployment joins the split at 0% (or the share the endpoint already names for it).
                traffic = {**endpoint.spec.traffic, spec.name: endpoint.spec.traffic.get(spec.name, 0)}
                joined = endpoint.spec.model_copy(update={"traffic": traffic})
                tx.put_endpoint(replace(endpoint, spec=joined, updated_at=now))
            tx.add_event(
                backend=self.name,
                endpoint=spec.endpoint_name,
                deployment=spec.name,
                kind="accepted",
                message=f"revision {revision} accepted ({'create' if old is None else 'update'})",
                data={"revision": revision},
            )
        # The agent rolls out in the background; the operation follows the deployment's state.
        await self._agent("reconcile")
        return await self.watch_deployment(spec.endpoint_name, spec.name)

    async def delete_deployment(self, endpoint: str, name: str) -> Operation:
        with self._store.transaction() as tx:
            record = tx.get_endpoint(self.name, endpoint)
            if record is None or not tx.delete_deployment(self.name, endpoint, name):
                raise NotFound(f"deployment {endpoint}/{name} does not exist on the {self.name} backend")
            left = record.spec.model_copy(
                update={
                    "traffic": {k: v for k, v in record.spec.traffic.items() if k != name},
                    "mirror_traffic": {k: v for k, v in record.spec.mirror_traffic.items() if k != name},
                }
            )
            tx.put_endpoint(replace(record, spec=left, updated_at=time.time()))
            tx.add_event(
                backend=self.name,
                endpoint=endpoint,
                deployment=name,
                kind="deleted",
                message="deployment deleted",
            )
        await self._agent("reconcile")
        return Done(f"delete deployment {endpoint}/{name}")

    # --- traffic and credentials ------------------------------------------------------------------
    async def set_traffic(self, endpoint: str, split: TrafficSplit) -> Operation:
        with self._store.transaction() as tx:
            record = tx.get_endpoint(self.name, endpoint)
            if record is None:
                raise NotFound(f"endpoint {endpoint} does not exist on the {self.name} backend")
            _refuse_during_progressive(tx.get_progressive(self.name, endpoint), endpoint)
            spec = record.spec.model_copy(
                update={"traffic": dict(split.weights), "mirror_traffic": dict(split.mirror)}
            )
            tx.put_endpoint(replace(record, spec=spec, updated_at=time.time()))
            shown = " ".join(f"{k}={v}" for k, v in split.weights.items()) or "none"
            mirror = " ".join(f"{k}={v}" for k, v in split.mirror.items())
            tx.add_event(
                backend=self.name,
                endpoint=endpoint,
                kind="traffic",
                message=f"traffic {shown}" + (f"; mirror {mirror}" if mirror else ""),
            )
        # The gateway routes the new split when the agent answers.
        await self._agent("reconcile")
        return Done(f"traffic of {endpoint}")

    async def get_credentials(self, endpoint: str) -> Credentials:
        record, _ = self._endpoint_record(endpoint)
        await self._revive()
        with self._store.read() as tx:
            key_record = tx.get_keys(self.name, endpoint)
        if key_record is None:
            raise NotFound(f"endpoint {endpoint} has no keys")
        return keys.credentials_for(key_record, record.spec.auth_mode)

    async def regenerate_keys(self, endpoint: str, key_type: KeyType) -> Operation:
        with self._store.transaction() as tx:
            record = tx.get_keys(self.name, endpoint)
            if record is None:
                raise NotFound(f"endpoint {endpoint} does not exist on the {self.name} backend")
            tx.put_keys(keys.rotate(record, key_type))
            tx.add_event(
                backend=self.name, endpoint=endpoint, kind="keys", message=f"{key_type} key regenerated"
            )
        # The gateway has the new key when this returns; the other key never stopped working.
        await self._agent("reconcile")
        return Done(f"regenerate the {key_type} key of {endpoint}")

    # --- data plane and observability -------------------------------------------------------------
    async def scoring_target(self, endpoint: str) -> ScoringTarget:
        view = await self.get_endpoint(endpoint)
        if view.scoring_uri is None:
            raise InvalidInput(f"endpoint {endpoint} has no scoring_uri yet")
        await ensure_agent(self._layout)  # the gateway runs in the agent
        return ScoringTarget(view.scoring_uri, await self.get_credentials(endpoint))

    async def get_logs(
        self,
        endpoint: str,
        deployment: str,
        *,
        container: Container,
        lines: int | None,
        instance: str | None = None,
    ) -> list[LogLine]:
        await self.get_deployment(endpoint, deployment)
        # Logs can be large and the TUI's workers share its event loop: read them in a thread.
        return await asyncio.to_thread(
            read_logs, self._layout, endpoint, deployment, container=container, lines=lines, instance=instance
        )

    async def follow_logs(
        self, endpoint: str, deployment: str, *, container: Container, instance: str | None = None
    ) -> AsyncIterator[LogLine]:
        # The log files of a deployment that does not exist would never appear: say so instead of waiting.
        with self._store.read() as tx:
            if tx.get_deployment(self.name, endpoint, deployment) is None:
                raise NotFound(
                    f"deployment {endpoint}/{deployment} does not exist on the {self.name} backend"
                )
        async for line in follow_logs(
            self._layout, endpoint, deployment, container=container, instance=instance
        ):
            yield line

    async def events(self, endpoint: str, *, after_id: int = 0) -> list[EventView]:
        with self._store.read() as tx:
            if tx.get_endpoint(self.name, endpoint) is None:
                raise NotFound(f"endpoint {endpoint} does not exist on the {self.name} backend")
            records = tx.events(self.name, endpoint, after_id=after_id)
        return [EventView(e.id, e.ts, e.kind, e.message, e.deployment, e.data) for e in records]

    async def metrics(self, endpoint: str) -> MetricsSnapshot:
        self._endpoint_record(endpoint)
        return metrics_snapshot(endpoint, await self._agent("metrics", endpoint=endpoint))


def _pick_port(used: set[int]) -> int:
    for _ in range(50):
        port = free_port()
        if port not in used and is_free(port):
            return port
    raise InvalidInput("no free loopback port for the endpoint")


def _refuse_during_progressive(stored: Mapping[str, Any] | None, endpoint: str) -> None:
    """A traffic change while a progressive rollout runs: the driver would overwrite it at the next step, and a
    rollback would restore the split from before the rollout."""
    if stored is not None and not machine.from_json(stored).phase.terminal:
        raise Conflict(
            f"a progressive rollout steers the traffic of {endpoint}; promote or abort it first "
            f"(`endpointctl rollout promote|abort -e {endpoint}`)"
        )
