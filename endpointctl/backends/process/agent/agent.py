"""The agent process: owns the gateway and every instance of this data directory's process backend.

It is a reconciler. The state store holds what should run; the agent converges to it on start, every few
seconds, and whenever a client nudges it over the control socket. Instances run in their own sessions and
are recorded on disk, so a restarted agent (even after SIGKILL) adopts them instead of starting duplicates,
and endpoints come back on the ports the store gave them.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import shutil
import signal
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from endpointctl.backends.process import control, procs
from endpointctl.backends.process.agent.controller import DeploymentController
from endpointctl.backends.process.agent.instance import Instance, InstanceRecord
from endpointctl.backends.process.agent.logrotate import rotate_logs
from endpointctl.backends.process.environments import EnvironmentBuilder
from endpointctl.backends.process.layout import BACKEND, Layout
from endpointctl.core.context import BackendContext
from endpointctl.core.errors import NotFound
from endpointctl.core.home import Home
from endpointctl.core.spec import DeploymentSpec, restore
from endpointctl.core.store import DeploymentRecord, EndpointRecord
from endpointctl.core.views import ProvisioningState
from endpointctl.serving.gateway.config import GatewayConfig
from endpointctl.serving.gateway.gateway import Gateway, GatewayBindError

log = logging.getLogger("endpointctl.agent")
RECONCILE_EVERY_S = 2.0
ROTATE_EVERY_S = 10.0


class AlreadyRunning(Exception):
    pass


class Agent:
    def __init__(self, home: Home) -> None:
        context = BackendContext.open(home)
        self.home = home
        self.layout = Layout(home)
        self.store = context.store
        self.registry = context.registry
        self.builder = EnvironmentBuilder(self.layout.environments)
        self.gateway = Gateway()
        self.controllers: dict[tuple[str, str], DeploymentController] = {}
        self.failed_endpoints: dict[str, str] = {}
        self._wake = asyncio.Event()
        self._gateway_dirty = asyncio.Event()
        self._stopping = asyncio.Event()
        self._reconcile_lock = asyncio.Lock()
        self._gateway_lock = asyncio.Lock()
        self._lock_fd: int | None = None

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
                backend=BACKEND,
                endpoint=endpoint,
                deployment=deployment,
                kind=kind,
                message=message,
                data=data or {},
            )

    # --- lifecycle --------------------------------------------------------------------------------
    def acquire_lock(self) -> None:
        self.layout.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.layout.lock, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise AlreadyRunning(f"another agent holds {self.layout.lock}") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._lock_fd = fd

    async def run(self) -> None:
        self.acquire_lock()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stopping.set)
        await self.gateway.start()
        self._adopt_instances()
        server = await control.serve(self.layout.socket, self.handle)
        log.info("agent %d serving %s", os.getpid(), self.layout.socket)
        background = [
            asyncio.create_task(self._reconcile_loop(), name="reconcile"),
            asyncio.create_task(self._gateway_loop(), name="gateway"),
            asyncio.create_task(self._rotate_loop(), name="log rotation"),
        ]
        await self._stopping.wait()
        log.info("agent stopping: instances are stopped, the store keeps the desired state")
        server.close()
        for task in background:
            task.cancel()
        for controller in self.controllers.values():
            await controller.shutdown()
            await controller.stop_instances()
        await self.gateway.stop()
        with contextlib.suppress(FileNotFoundError):
            self.layout.socket.unlink()

    def _adopt_instances(self) -> None:
        """Instances a previous agent left running: adopt the live ones, forget the dead ones' records."""
        directory = self.layout.instances
        if not directory.is_dir():
            return
        with self.store.read() as tx:
            records: dict[tuple[str, str], DeploymentRecord] = {}
            for endpoint in tx.list_endpoints(BACKEND):
                for row in tx.list_deployments(BACKEND, endpoint.name):
                    records[(endpoint.name, row.name)] = row
        for path in sorted(directory.glob("*.json")):
            try:
                record = InstanceRecord.load(path)
            except (OSError, ValueError, TypeError):
                path.unlink(missing_ok=True)
                continue
            deployment = records.get((record.endpoint, record.deployment))
            if deployment is None:
                # Its deployment was deleted while no agent ran: nothing may be left behind.
                procs.terminate(record.pid, record.started, grace_s=5)
                path.unlink(missing_ok=True)
                continue
            spec_doc = (
                deployment.live_spec if record.revision == deployment.live_revision else deployment.spec
            )
            spec = restore(DeploymentSpec, spec_doc or deployment.spec)
            controller = self._controller(record.endpoint, record.deployment)
            instance = Instance(
                record,
                records_dir=directory,
                readiness=spec.readiness_probe,
                liveness=spec.liveness_probe,
                on_change=self.changed,
            )
            if instance.adopt():
                controller.adopt(instance)
                log.info("adopted instance %s (pid %d)", record.id, record.pid)
            else:
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
                endpoints = tx.list_endpoints(BACKEND)
                desired = {
                    (ep.name, d.name): d for ep in endpoints for d in tx.list_deployments(BACKEND, ep.name)
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
        for parent in (self.layout.root / "deployments", self.home.logs / BACKEND):
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
                    endpoints = tx.list_endpoints(BACKEND)
            documents = self._gateway_documents(endpoints)
            try:
                await self.gateway.apply(GatewayConfig.from_dict({"endpoints": documents}))
                failed: dict[str, str] = {}
            except GatewayBindError:
                failed = await self._apply_one_by_one(documents)
            self._record_endpoint_states(endpoints, failed)

    async def _apply_one_by_one(self, documents: dict[str, Any]) -> dict[str, str]:
        """A port someone else took must not keep the other endpoints from serving."""
        good: dict[str, Any] = {}
        failed: dict[str, str] = {}
        for name, document in documents.items():
            try:
                await self.gateway.apply(GatewayConfig.from_dict({"endpoints": {**good, name: document}}))
                good[name] = document
            except GatewayBindError as exc:
                failed[name] = str(exc)
        await self.gateway.apply(GatewayConfig.from_dict({"endpoints": good}))
        return failed

    def _gateway_documents(self, endpoints: list[EndpointRecord]) -> dict[str, Any]:
        documents: dict[str, Any] = {}
        with self.store.read() as tx:
            for endpoint in endpoints:
                keys = tx.get_keys(BACKEND, endpoint.name)
                if keys is None or endpoint.scoring_port is None:
                    continue
                spec = endpoint.spec
                deployments: dict[str, Any] = {}
                for record in tx.list_deployments(BACKEND, endpoint.name):
                    dspec = restore(DeploymentSpec, record.live_spec or record.spec)
                    controller = self.controllers.get((endpoint.name, record.name))
                    deployments[record.name] = {
                        "instances": controller.routable() if controller else [],
                        "request_timeout_ms": dspec.request_settings.request_timeout_ms,
                        "max_concurrent_requests_per_instance": dspec.request_settings.max_concurrent_requests_per_instance,
                        "max_queue_wait_ms": dspec.request_settings.max_queue_wait_ms,
                    }
                traffic = {k: v for k, v in (spec.get("traffic") or {}).items() if k in deployments}
                if sum(traffic.values()) not in (0, 100):
                    traffic = {k: 0 for k in traffic}
                mirror = {k: v for k, v in (spec.get("mirror_traffic") or {}).items() if k in deployments}
                documents[endpoint.name] = {
                    "host": "127.0.0.1",
                    "port": endpoint.scoring_port,
                    "auth_mode": spec.get("auth_mode", "key"),
                    "keys": [keys.primary_key, keys.secondary_key],
                    "token_secret": keys.token_secret,
                    "traffic": traffic,
                    "mirror_traffic": mirror,
                    "deployments": deployments,
                }
        return documents

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
                tx.set_endpoint_state(BACKEND, name, state)
                if reason:
                    tx.add_event(backend=BACKEND, endpoint=name, kind="failed", message=reason)
        self.failed_endpoints = dict(failed)

    async def _rotate_loop(self) -> None:
        while True:
            await asyncio.sleep(ROTATE_EVERY_S)
            await asyncio.to_thread(rotate_logs, self.home.logs / BACKEND)

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
            snapshot = self.gateway.metrics_snapshot()
            if endpoint not in snapshot.get("endpoints", {}):
                raise NotFound(f"endpoint {endpoint} is not served by the gateway")
            return snapshot["endpoints"][endpoint]
        if method == "stop":
            self._stopping.set()
            return {"stopping": True}
        raise NotFound(f"unknown agent method {method!r}")

    def _status(self, endpoint: object) -> dict[str, Any]:
        out: dict[str, Any] = {"pid": os.getpid(), "deployments": {}}
        for (ep, name), controller in self.controllers.items():
            if endpoint is None or endpoint == ep:
                out["deployments"][f"{ep}/{name}"] = controller.status()
        return out


def lock_holder(layout: Layout) -> int | None:
    """The pid of the running agent, or None: the lock file is held for exactly as long as an agent runs."""
    try:
        fd = os.open(layout.lock, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = Path(layout.lock).read_text().strip()
            return int(text) if text.isdigit() else -1
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
