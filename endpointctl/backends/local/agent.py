"""The agent process: owns the gateway and every instance of one local backend in one data directory.

It is a reconciler. The state store holds what should run; the agent converges to it on start, every few
seconds, and whenever a client nudges it over the control socket. Instances run in their own sessions and
are recorded on disk, so a restarted agent (even after SIGKILL) adopts them instead of starting duplicates,
and endpoints come back on the ports the store gave them. The runtime (processes or containers) is
the only thing that differs between the local backends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import time
from collections.abc import Callable, Mapping
from typing import Any

from endpointctl.backends.common.gateway_metrics import metrics_snapshot
from endpointctl.backends.common.routing import deployment_config, endpoint_config
from endpointctl.backends.local import control, lock
from endpointctl.backends.local.collector import AUTO_COLLECT_EVERY_S, collect, disk_cap_bytes
from endpointctl.backends.local.controller import DeploymentController
from endpointctl.backends.local.disk import DEFAULT_MIN_IDLE_S
from endpointctl.backends.local.gateway_process import GatewayProcess
from endpointctl.backends.local.instance import Instance
from endpointctl.backends.local.layout import SPAWNED_AT_VARIABLE, Layout
from endpointctl.backends.local.logrotate import rotate_logs
from endpointctl.backends.local.progressive import ProgressiveDriver
from endpointctl.backends.local.records import InstanceRecord
from endpointctl.backends.local.runtime import Runtime
from endpointctl.core.context import BackendContext
from endpointctl.core.errors import NotFound
from endpointctl.core.progressive import machine
from endpointctl.core.store import DeploymentRecord, EndpointRecord
from endpointctl.core.views import DeploymentMetrics, ProvisioningState
from endpointctl.serving.gateway.config import DeploymentConfig, EndpointConfig

log = logging.getLogger("endpointctl.agent")
RECONCILE_EVERY_S = 2.0
ROTATE_EVERY_S = 10.0
# How often the gateway process is checked for having died (it is back within about this long).
GATEWAY_CHECK_S = 0.25


RuntimeFactory = Callable[[Layout, BackendContext], Runtime]


class Agent:
    def __init__(self, layout: Layout, runtime: RuntimeFactory) -> None:
        context = BackendContext.open(layout.home)
        self.home = layout.home
        self.layout = layout
        self.backend = layout.backend
        self.store = context.store
        self.registry = context.registry
        self.runtime = runtime(layout, context)
        # Its own process: it serves on when this agent dies (see gateway_process).
        self.gateway = GatewayProcess(layout)
        self.controllers: dict[tuple[str, str], DeploymentController] = {}
        self.failed_endpoints: dict[str, str] = {}
        self._wake = asyncio.Event()
        self._gateway_dirty = asyncio.Event()
        self._stopping = asyncio.Event()
        self._reconcile_lock = asyncio.Lock()
        self._gateway_lock = asyncio.Lock()
        self._lock_fd: int | None = None
        # SIGTERM/SIGINT stop everything (a supervisor or Ctrl+C means "down"); `agent stop` chooses.
        self._stop_everything = True
        self.progressive = ProgressiveDriver(
            self.backend, self.store, self.deployment_metrics, self.refresh_gateway
        )

    # --- Services for controllers ---------------------------------------------------------------
    def changed(self) -> None:
        """Routability changed: the gateway must catch up (debounced in its own task)."""
        self._gateway_dirty.set()

    def wake(self) -> None:
        """A controller finished a step: a newer revision may be waiting for the next reconcile."""
        self._wake.set()

    def event(
        self, endpoint: str, deployment: str, kind: str, message: str, data: dict[str, Any] | None = None
    ) -> None:
        log.info("%s/%s %s: %s", endpoint, deployment, kind, message)
        with self.store.transaction() as tx:
            tx.add_event(
                backend=self.backend,
                endpoint=endpoint,
                deployment=deployment,
                kind=kind,
                message=message,
                data=data or {},
            )

    # --- lifecycle --------------------------------------------------------------------------------
    def acquire_lock(self) -> None:
        self._lock_fd = lock.acquire(self.layout)

    async def run(self) -> None:
        self.acquire_lock()
        if self._stopped_since_spawned():
            log.info("agent %d: a stop was requested after it was started; exiting", os.getpid())
            return
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stopping.set)
        await self.gateway.ensure()
        await self._adopt_instances()
        self.progressive.resume_all()
        server = await control.serve(self.layout.socket, self.handle)
        log.info("agent %d serving %s", os.getpid(), self.layout.socket)
        background = [
            asyncio.create_task(self._reconcile_loop(), name="reconcile"),
            asyncio.create_task(self._gateway_loop(), name="gateway"),
            asyncio.create_task(self._supervise_gateway(), name="gateway supervision"),
            asyncio.create_task(self._rotate_loop(), name="log rotation"),
        ]
        await self._stopping.wait()
        server.close()
        for task in background:
            task.cancel()
        await self.progressive.stop()
        for controller in self.controllers.values():
            await controller.shutdown()
        if self._stop_everything:
            log.info("agent stopping with its instances and gateway; the store keeps the desired state")
            for controller in self.controllers.values():
                await controller.stop_instances()
            await self.gateway.stop()
        else:
            log.info("agent stopping; its instances and the gateway keep serving, the next agent adopts them")
        await self.gateway.close()
        await self.runtime.close()
        with contextlib.suppress(FileNotFoundError):
            self.layout.socket.unlink()
        self.layout.stopped_marker.write_text(f"{time.time()!r}\n", encoding="utf-8")

    def _stopped_since_spawned(self) -> bool:
        """True for a spare agent (see launcher.ensure_agent) that got the lock only after the agent it
        stood in for had stopped on request: it would otherwise run on, unasked, restarting instances."""
        spawned_at = os.environ.get(SPAWNED_AT_VARIABLE)
        if not spawned_at:
            return False  # started by hand (`python -m …`): it was asked for
        try:
            stopped_at = float(self.layout.stopped_marker.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        return stopped_at >= float(spawned_at)

    async def _adopt_instances(self) -> None:
        """Instances a previous agent left running: adopt the live ones, forget the dead ones' records."""
        directory = self.layout.instances
        if not directory.is_dir():
            return
        with self.store.read() as tx:
            records: dict[tuple[str, str], DeploymentRecord] = {}
            for endpoint in tx.list_endpoints(self.backend):
                for row in tx.list_deployments(self.backend, endpoint.name):
                    records[(endpoint.name, row.name)] = row
        routed = await asyncio.to_thread(self.gateway.routed_addresses)
        for path in sorted(directory.glob("*.json")):
            try:
                record = InstanceRecord.load(path)
            except (OSError, ValueError, TypeError):
                path.unlink(missing_ok=True)
                continue
            deployment = records.get((record.endpoint, record.deployment))
            if deployment is None:
                # Its deployment was deleted while no agent ran: nothing may be left behind.
                await self.runtime.terminate(record, grace_s=5)
                await self.runtime.remove_deployment(record.endpoint, record.deployment)
                path.unlink(missing_ok=True)
                continue
            live = deployment.live_spec if record.revision == deployment.live_revision else None
            spec = live or deployment.spec
            controller = self._controller(record.endpoint, record.deployment)
            instance = Instance(
                record,
                runtime=self.runtime,
                records_dir=directory,
                readiness=spec.readiness_probe,
                liveness=spec.liveness_probe,
                on_change=self.changed,
            )
            if await instance.adopt(serving=instance.address in routed):
                controller.adopt(instance)
                log.info("adopted instance %s (%s)", record.id, record.runtime)
            else:
                await self.runtime.terminate(record, grace_s=1)
                path.unlink(missing_ok=True)

    def _controller(self, endpoint: str, name: str) -> DeploymentController:
        key = (endpoint, name)
        if key not in self.controllers:
            self.controllers[key] = DeploymentController(self, endpoint, name)
        return self.controllers[key]

    # --- reconciling ------------------------------------------------------------------------------
    async def _reconcile_loop(self) -> None:
        while True:
            try:
                await self.reconcile()
            except Exception:
                log.exception("reconcile failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), RECONCILE_EVERY_S)
            self._wake.clear()

    async def reconcile(self) -> None:
        async with self._reconcile_lock:
            with self.store.read() as tx:
                endpoints = tx.list_endpoints(self.backend)
                desired = {
                    (ep.name, d.name): d
                    for ep in endpoints
                    for d in tx.list_deployments(self.backend, ep.name)
                }
            gone = [key for key in self.controllers if key not in desired]
            if gone:
                await asyncio.gather(*(self.controllers[key].remove() for key in gone))
                for key in gone:
                    del self.controllers[key]
            for key, record in desired.items():
                self._controller(*key).kick(record)
            await self.refresh_gateway(endpoints)
            if gone:
                await asyncio.to_thread(self._sweep, {ep.name for ep in endpoints})

    def _sweep(self, endpoints: set[str]) -> None:
        """Folders of endpoints that no longer exist: a delete leaves nothing behind."""
        for parent in (self.layout.root / "deployments", self.layout.logs):
            if not parent.is_dir():
                continue
            for folder in parent.iterdir():
                if folder.is_dir() and folder.name not in endpoints:
                    shutil.rmtree(folder, ignore_errors=True)

    async def _gateway_loop(self) -> None:
        while True:
            await self._gateway_dirty.wait()
            self._gateway_dirty.clear()
            try:
                await self.refresh_gateway()
            except Exception:
                log.exception("gateway refresh failed")

    async def refresh_gateway(self, endpoints: list[EndpointRecord] | None = None) -> None:
        """Apply the routing the store and the instances call for; returns once the gateway runs it."""
        async with self._gateway_lock:
            if endpoints is None:
                with self.store.read() as tx:
                    endpoints = tx.list_endpoints(self.backend)
            routing = self._routing(endpoints)
            error = await self.gateway.apply(routing)
            failed = {} if error is None else await self._apply_one_by_one(routing)
            self._record_endpoint_states(endpoints, failed)

    async def _apply_one_by_one(self, routing: Mapping[str, EndpointConfig]) -> dict[str, str]:
        """A port someone else took must not keep the other endpoints from serving."""
        good: dict[str, EndpointConfig] = {}
        failed: dict[str, str] = {}
        for name, endpoint in routing.items():
            error = await self.gateway.apply({**good, name: endpoint})
            if error is None:
                good[name] = endpoint
            else:
                failed[name] = error
        await self.gateway.apply(good)
        return failed

    async def _supervise_gateway(self) -> None:
        """A gateway that died comes back from its files within a moment (same ports, same routing)."""
        while True:
            await asyncio.sleep(GATEWAY_CHECK_S)
            record = self.gateway.record
            if record is not None and record.alive():
                continue
            try:
                await self.gateway.ensure()
            except Exception:
                log.exception("the gateway could not be started again; retrying")

    def _routing(self, endpoints: list[EndpointRecord]) -> dict[str, EndpointConfig]:
        """Each endpoint that has keys and a port, routed to its deployments' routable instances."""
        routing: dict[str, EndpointConfig] = {}
        with self.store.read() as tx:
            for endpoint in endpoints:
                keys = tx.get_keys(self.backend, endpoint.name)
                if keys is None or endpoint.scoring_port is None:
                    continue
                deployments: dict[str, DeploymentConfig] = {}
                for record in tx.list_deployments(self.backend, endpoint.name):
                    controller = self.controllers.get((endpoint.name, record.name))
                    deployments[record.name] = deployment_config(
                        record.live_spec or record.spec,
                        controller.routable() if controller else [],
                    )
                routing[endpoint.name] = endpoint_config(
                    endpoint.spec,
                    deployments,
                    host="127.0.0.1",
                    port=endpoint.scoring_port,
                    keys=(keys.primary_key, keys.secondary_key),
                    token_secret=keys.token_secret,
                    shadow_tolerance=self.progressive.shadow_tolerance(endpoint.name),
                )
        return routing

    def _record_endpoint_states(self, endpoints: list[EndpointRecord], failed: Mapping[str, str]) -> None:
        changes: list[tuple[str, str, str]] = []
        for endpoint in endpoints:
            want = ProvisioningState.FAILED if endpoint.name in failed else ProvisioningState.SUCCEEDED
            if endpoint.provisioning_state != want:
                changes.append((endpoint.name, str(want), failed.get(endpoint.name, "")))
        if not changes:
            return
        with self.store.transaction() as tx:
            for name, state, reason in changes:
                tx.set_endpoint_state(self.backend, name, state)
                if reason:
                    tx.add_event(backend=self.backend, endpoint=name, kind="failed", message=reason)
        self.failed_endpoints = dict(failed)

    async def _rotate_loop(self) -> None:
        last_collected = time.monotonic()
        while True:
            await asyncio.sleep(ROTATE_EVERY_S)
            await asyncio.to_thread(rotate_logs, self.layout.logs)
            if time.monotonic() - last_collected >= AUTO_COLLECT_EVERY_S:
                last_collected = time.monotonic()
                await self._collect_over_cap()

    async def _collect_over_cap(self) -> None:
        with self.store.read() as tx:
            cap = disk_cap_bytes(tx.defaults())
        if cap is None:
            return
        try:
            report = await self.collect_garbage(max_bytes=cap)
        except Exception:  # a failed collection must not stop log rotation
            log.exception("collecting unused environments failed")
            return
        for item in report["freed"]:
            log.info(
                "disk cap %d bytes: removed %s %s (%d bytes)",
                cap,
                item["kind"],
                item["name"],
                item["size_bytes"],
            )

    async def deployment_metrics(self, endpoint: str) -> Mapping[str, DeploymentMetrics]:
        """The gateway's counters for the endpoint's deployments (empty before its first request)."""
        raw = (await self.gateway.metrics_snapshot()).get("endpoints", {}).get(endpoint)
        return {} if raw is None else metrics_snapshot(endpoint, raw).deployments

    async def collect_garbage(
        self, *, dry_run: bool = False, min_idle_s: float = DEFAULT_MIN_IDLE_S, max_bytes: int | None = None
    ) -> dict[str, Any]:
        with self.store.read() as tx:
            deployments = {
                (e.name, d.name)
                for e in tx.list_endpoints(self.backend)
                for d in tx.list_deployments(self.backend, e.name)
            }
        return await collect(
            self.layout,
            self.runtime,
            self.controllers.values(),
            deployments,
            dry_run=dry_run,
            min_idle_s=min_idle_s,
            max_bytes=max_bytes,
        )

    # --- control API ------------------------------------------------------------------------------
    async def handle(self, method: str, params: Mapping[str, Any]) -> Any:
        if method == "ping":
            return {"pid": os.getpid(), "time": time.time()}
        if method == "reconcile":
            await self.reconcile()
            return {"failed_endpoints": self.failed_endpoints}
        if method == "status":
            return self._status(params.get("endpoint"))
        if method == "metrics":
            endpoint = str(params["endpoint"])
            snapshot = await self.gateway.metrics_snapshot()
            if endpoint not in snapshot.get("endpoints", {}):
                raise NotFound(f"endpoint {endpoint} is not served by the gateway")
            return snapshot["endpoints"][endpoint]
        if method == "progressive_start":
            return machine.to_json(await self.progressive.start(machine.plan_from_json(params["plan"])))
        if method == "progressive_status":
            return machine.to_json(await self.progressive.status(str(params["endpoint"])))
        if method == "progressive_steer":
            state = await self.progressive.steer(str(params["endpoint"]), str(params["command"]))
            return machine.to_json(state)
        if method == "collect_garbage":
            return await self.collect_garbage(
                dry_run=bool(params.get("dry_run", False)),
                min_idle_s=float(params.get("min_idle_s", DEFAULT_MIN_IDLE_S)),
            )
        if method == "stop":
            self._stop_everything = bool(params.get("everything", True))
            self._stopping.set()
            return {"stopping": True, "everything": self._stop_everything}
        raise NotFound(f"unknown agent method {method!r}")

    def _status(self, endpoint: object) -> dict[str, Any]:
        out: dict[str, Any] = {"pid": os.getpid(), "deployments": {}}
        for (ep, name), controller in self.controllers.items():
            if endpoint is None or endpoint == ep:
                out["deployments"][f"{ep}/{name}"] = controller.status().to_wire()
        return out
