"""The service façade: the one async API the CLI and the TUI call.

It owns the rules that hold on every backend (traffic sums, mirror limits, deletions blocked by live
traffic, deployment limits) and checks them before any backend is asked to change anything. It also owns
waiting: every backend mutation returns an Operation, which the façade follows the same way for every
backend. A role a backend lacks (logs, events, metrics, agent, dry run) is refused here with the backend's
reason, before anything is called. Invoke goes through one scoring session per endpoint.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from importlib.metadata import entry_points
from typing import TypeVar, cast

from endpointctl.core.capabilities import Capabilities, Capability
from endpointctl.core.context import BackendContext
from endpointctl.core.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    NotSupported,
    OperationFailed,
)
from endpointctl.core.home import Home
from endpointctl.core.operations import Operation, OperationState, OperationStatus, Staged
from endpointctl.core.ports import (
    Backend,
    BackendFactory,
    KeyType,
    SupportsAgent,
    SupportsDiskCleanup,
    SupportsDryRun,
    SupportsEvents,
    SupportsLogs,
    SupportsMetrics,
    SupportsProgressiveRollout,
    capabilities_of,
)
from endpointctl.core.progressive.gates import Gates
from endpointctl.core.progressive.machine import RolloutState
from endpointctl.core.progressive.plan import DEFAULT_STEP_SECONDS, DEFAULT_STEPS, make_plan
from endpointctl.core.scoring import ScoringSession
from endpointctl.core.spec import DeploymentSpec, EndpointSpec
from endpointctl.core.traffic import TrafficError, TrafficSplit
from endpointctl.core.views import (
    BackendStatus,
    CleanupReport,
    Container,
    Credentials,
    DeploymentView,
    DryRunPlan,
    EndpointView,
    EventView,
    InvokeResult,
    LogLine,
    MetricsSnapshot,
)

ENTRY_POINT_GROUP = "endpointctl.backends"
DEFAULT_BACKEND = "process"
MAX_DEPLOYMENTS_PER_ENDPOINT = 20
DEFAULT_WAIT_TIMEOUT_S = 1800.0

StatusCallback = Callable[[str], None]
ProgressCallback = Callable[[DeploymentView], None]
R = TypeVar("R")


def discover_factories() -> dict[str, BackendFactory]:
    """Installed backends, by name, from the `endpointctl.backends` entry-point group."""
    found: dict[str, BackendFactory] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        found[ep.name] = cast(BackendFactory, ep.load())
    return found


class EndpointService:
    def __init__(self, context: BackendContext, factories: Mapping[str, BackendFactory]) -> None:
        self.context = context
        self._factories = dict(factories)
        self._backends: dict[str, Backend] = {}
        self._sessions: dict[tuple[str, str], ScoringSession] = {}

    @classmethod
    def open(
        cls, home: Home | None = None, factories: Mapping[str, BackendFactory] | None = None
    ) -> EndpointService:
        context = BackendContext.open(home or Home.discover())
        return cls(context, discover_factories() if factories is None else factories)

    async def close(self) -> None:
        sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            await session.close()
        backends, self._backends = list(self._backends.values()), {}
        for backend in backends:
            await backend.close()
        self.context.store.close()

    # --- backends -------------------------------------------------------------------------------
    @property
    def backend_names(self) -> list[str]:
        return sorted(self._factories)

    @property
    def default_backend(self) -> str:
        return self.context.defaults.get("backend", DEFAULT_BACKEND)

    def backend(self, name: str | None = None) -> Backend:
        name = name or self.default_backend
        if name not in self._backends:
            factory = self._factories.get(name)
            if factory is None:
                have = ", ".join(self.backend_names) or "none installed"
                raise InvalidInput(f"unknown backend {name!r} (available: {have})")
            self._backends[name] = factory(self.context)
        return self._backends[name]

    async def statuses(self) -> list[BackendStatus]:
        async def one(name: str) -> BackendStatus:
            try:
                return await self.backend(name).status()
            except Exception as exc:  # a broken backend must not hide the others
                backend = self._backends.get(name)
                caps = capabilities_of(backend) if backend else Capabilities(frozenset())
                return BackendStatus(name, False, caps, reason=str(exc))

        return list(await asyncio.gather(*(one(n) for n in self.backend_names)))

    def capabilities(self, backend: str | None = None) -> Capabilities:
        return capabilities_of(self.backend(backend))

    def _require(self, backend: Backend, capability: Capability) -> None:
        reason = capabilities_of(backend).why_not(capability)
        if reason is not None:
            raise NotSupported(f"{backend.name}: {reason}")

    def _role(self, backend: Backend, role: type[R], capability: Capability) -> R:
        """The backend in one of its roles, or NotSupported with the backend's reason."""
        self._require(backend, capability)
        if not isinstance(backend, role):  # a backend's limits() may not grant a role it lacks
            raise NotSupported(f"{backend.name}: {capabilities_of(backend).why_not(capability)}")
        return backend

    # --- operations -------------------------------------------------------------------------------
    async def follow(
        self,
        operation: Operation,
        *,
        timeout_s: float = DEFAULT_WAIT_TIMEOUT_S,
        on_status: Callable[[OperationStatus], None] | None = None,
        poll_s: float = 0.25,
    ) -> OperationStatus:
        """Poll an operation until it ends: Succeeded is returned, Failed/Canceled raise OperationFailed."""
        deadline = time.monotonic() + timeout_s
        while True:
            status = await operation.poll()
            if on_status is not None:
                on_status(status)
            if status.state is OperationState.SUCCEEDED:
                return status
            if status.state.terminal:
                detail = f": {status.error}" if status.error else ""
                raise OperationFailed(f"{operation.description} ended {status.state}{detail}")
            if time.monotonic() > deadline:
                raise OperationFailed(
                    f"{operation.description} is still {status.message or 'running'} after {timeout_s:.0f} s"
                )
            await asyncio.sleep(poll_s)

    async def _settle(self, operation: Operation, wait: bool, progress: StatusCallback | None) -> None:
        if wait:
            await self.follow(
                operation,
                on_status=None if progress is None else lambda s: progress(s.message or str(s.state)),
            )

    # --- endpoints ------------------------------------------------------------------------------
    async def list_endpoints(self, backend: str | None = None) -> list[EndpointView]:
        return await self.backend(backend).list_endpoints()

    async def get_endpoint(self, name: str, *, backend: str | None = None) -> EndpointView:
        return await self.backend(backend).get_endpoint(name)

    async def create_endpoint(
        self,
        spec: EndpointSpec,
        *,
        backend: str | None = None,
        wait: bool = True,
        progress: StatusCallback | None = None,
    ) -> EndpointView:
        target = self.backend(backend)
        if await self._endpoint_exists(target, spec.name):
            raise Conflict(
                f"endpoint {spec.name} already exists on {target.name}; use `online-endpoint update`"
            )
        self._check_split(_split_of(spec), known=())
        await self._settle(await target.apply_endpoint(spec), wait, progress)
        await self._forget_session(target.name, spec.name)
        return await target.get_endpoint(spec.name)

    async def update_endpoint(
        self,
        spec: EndpointSpec,
        *,
        backend: str | None = None,
        wait: bool = True,
        progress: StatusCallback | None = None,
    ) -> EndpointView:
        target = self.backend(backend)
        current = await target.get_endpoint(spec.name)
        names = [d.name for d in await target.list_deployments(spec.name)]
        # Traffic the file does not mention keeps its current value, as in az ml.
        split = TrafficSplit(
            {**current.traffic, **spec.traffic}, dict(spec.mirror_traffic or current.mirror_traffic)
        )
        self._check_split(split, known=names)
        if split.mirror:
            self._require(target, Capability.MIRROR_TRAFFIC)
        merged = spec.model_copy(
            update={"traffic": dict(split.weights), "mirror_traffic": dict(split.mirror)}
        )
        await self._settle(await target.apply_endpoint(merged), wait, progress)
        await self._forget_session(target.name, spec.name)  # auth_mode may have changed
        return await target.get_endpoint(spec.name)

    async def delete_endpoint(
        self,
        name: str,
        *,
        backend: str | None = None,
        wait: bool = True,
        progress: StatusCallback | None = None,
    ) -> None:
        target = self.backend(backend)
        await target.get_endpoint(name)
        operation = await target.delete_endpoint(name)
        await self._forget_session(target.name, name)
        await self._settle(operation, wait, progress)

    async def set_traffic(
        self,
        endpoint: str,
        *,
        traffic: Mapping[str, int] | None = None,
        mirror: Mapping[str, int] | None = None,
        backend: str | None = None,
        wait: bool = True,
        progress: StatusCallback | None = None,
    ) -> EndpointView:
        target = self.backend(backend)
        self._require(target, Capability.TRAFFIC)
        if mirror:
            self._require(target, Capability.MIRROR_TRAFFIC)
        current = await target.get_endpoint(endpoint)
        names = [d.name for d in await target.list_deployments(endpoint)]
        split = _split_of_view(current)
        if traffic is not None:
            split = split.with_weights(traffic)
        if mirror is not None:
            split = split.with_mirror(mirror)
        self._check_split(split, known=names)
        await self._settle(await target.set_traffic(endpoint, split), wait, progress)
        return await target.get_endpoint(endpoint)

    def preview_traffic(
        self,
        current: EndpointView,
        deployments: list[str],
        traffic: Mapping[str, int],
        mirror: Mapping[str, int],
    ) -> TrafficSplit:
        """Check a proposed split without applying it (the TUI shows the errors inline)."""
        split = _split_of_view(current).with_weights(traffic).with_mirror(mirror)
        self._check_split(split, known=deployments)
        return split

    @staticmethod
    def _check_split(split: TrafficSplit, *, known: list[str] | tuple[str, ...]) -> None:
        try:
            split.validate(known)
        except TrafficError as exc:
            raise InvalidInput(str(exc)) from None

    async def _endpoint_exists(self, target: Backend, name: str) -> bool:
        try:
            await target.get_endpoint(name)
        except NotFound:
            return False
        return True

    # --- deployments ----------------------------------------------------------------------------
    async def list_deployments(self, endpoint: str, *, backend: str | None = None) -> list[DeploymentView]:
        return await self.backend(backend).list_deployments(endpoint)

    async def get_deployment(self, endpoint: str, name: str, *, backend: str | None = None) -> DeploymentView:
        return await self.backend(backend).get_deployment(endpoint, name)

    async def apply_deployment(
        self,
        spec: DeploymentSpec,
        *,
        backend: str | None = None,
        all_traffic: bool = False,
        wait: bool = True,
        timeout_s: float = DEFAULT_WAIT_TIMEOUT_S,
        progress: ProgressCallback | None = None,
    ) -> DeploymentView:
        """`online-deployment create|update`: create, or roll out the new spec to, a deployment."""
        target = self.backend(backend)
        self._require(target, Capability.DEPLOYMENTS)
        await target.get_endpoint(spec.endpoint_name)  # NotFound names the endpoint before anything changes
        existing = [d.name for d in await target.list_deployments(spec.endpoint_name)]
        if spec.name not in existing and len(existing) >= MAX_DEPLOYMENTS_PER_ENDPOINT:
            raise InvalidInput(
                f"endpoint {spec.endpoint_name} already has {len(existing)} deployments "
                f"(the limit is {MAX_DEPLOYMENTS_PER_ENDPOINT})"
            )
        if all_traffic and not wait:
            raise InvalidInput(
                "--all-traffic needs the deployment to succeed first; it cannot be combined with --no-wait"
            )
        operation = await target.apply_deployment(spec)
        if not wait:
            if isinstance(operation, Staged):
                await operation.recorded()
            return await target.get_deployment(spec.endpoint_name, spec.name)
        view = await self._follow_deployment(operation, timeout_s, progress)
        if all_traffic:
            current = await target.get_endpoint(spec.endpoint_name)
            split = _split_of_view(current).all_to(spec.name)
            await self.set_traffic(
                spec.endpoint_name, traffic=split.weights, mirror=split.mirror, backend=target.name
            )
        return view

    async def wait_for_deployment(
        self,
        endpoint: str,
        name: str,
        *,
        backend: str | None = None,
        timeout_s: float = DEFAULT_WAIT_TIMEOUT_S,
        progress: ProgressCallback | None = None,
    ) -> DeploymentView:
        """Follow a deployment (a rollout started here or elsewhere) until Succeeded (returned) or
        Failed/Canceled (OperationFailed)."""
        operation = await self.backend(backend).watch_deployment(endpoint, name)
        return await self._follow_deployment(operation, timeout_s, progress)

    async def _follow_deployment(
        self, operation: Operation, timeout_s: float, progress: ProgressCallback | None
    ) -> DeploymentView:
        def seen(status: OperationStatus) -> None:
            if progress is not None and status.deployment is not None:
                progress(status.deployment)

        done = await self.follow(operation, timeout_s=timeout_s, on_status=seen)
        assert done.deployment is not None, f"{operation.description}: a deployment operation without a view"
        return done.deployment

    async def delete_deployment(
        self,
        endpoint: str,
        name: str,
        *,
        backend: str | None = None,
        wait: bool = True,
        progress: StatusCallback | None = None,
    ) -> None:
        target = self.backend(backend)
        current = await target.get_endpoint(endpoint)
        await target.get_deployment(endpoint, name)
        if current.traffic.get(name, 0) > 0:
            raise Conflict(
                f"deployment {name} receives {current.traffic[name]}% of {endpoint}'s traffic; "
                "move its traffic to another deployment first"
            )
        if current.mirror_traffic.get(name, 0) > 0:
            raise Conflict(f"deployment {name} receives mirrored traffic; set its mirror traffic to 0 first")
        await self._settle(await target.delete_deployment(endpoint, name), wait, progress)

    # --- data plane, credentials, observability -------------------------------------------------
    async def invoke(
        self,
        endpoint: str,
        body: bytes,
        *,
        deployment: str | None = None,
        headers: Mapping[str, str] | None = None,
        backend: str | None = None,
    ) -> InvokeResult:
        session = self.scoring_session(endpoint, backend=backend)
        return await session.invoke(body, deployment=deployment, headers=headers)

    def scoring_session(self, endpoint: str, *, backend: str | None = None) -> ScoringSession:
        """The endpoint's scoring session: its URI and credential resolved once, one pooled client. Kept
        until the endpoint's keys or auth change here (another terminal's change is noticed by a 401)."""
        target = self.backend(backend)
        self._require(target, Capability.INVOKE)
        key = (target.name, endpoint)
        session = self._sessions.get(key)
        if session is None:
            session = self._sessions[key] = ScoringSession(lambda: target.scoring_target(endpoint))
        return session

    async def _forget_session(self, backend: str, endpoint: str) -> None:
        """The next invoke resolves the endpoint again; requests in flight finish on the old session."""
        session = self._sessions.pop((backend, endpoint), None)
        if session is not None:
            await session.retire()

    async def get_credentials(self, endpoint: str, *, backend: str | None = None) -> Credentials:
        target = self.backend(backend)
        self._require(target, Capability.KEYS)
        return await target.get_credentials(endpoint)

    async def regenerate_keys(self, endpoint: str, key_type: KeyType, *, backend: str | None = None) -> None:
        target = self.backend(backend)
        self._require(target, Capability.KEYS)
        current = await target.get_endpoint(endpoint)
        if current.spec.auth_mode != "key":
            raise InvalidInput(
                f"endpoint {endpoint} uses auth_mode {current.spec.auth_mode}; it has no keys to regenerate"
            )
        await self._settle(await target.regenerate_keys(endpoint, key_type), True, None)
        await self._forget_session(target.name, endpoint)

    async def get_logs(
        self,
        endpoint: str,
        deployment: str,
        *,
        container: Container = Container.INFERENCE_SERVER,
        lines: int | None = None,
        instance: str | None = None,
        backend: str | None = None,
    ) -> list[LogLine]:
        target = self._role(self.backend(backend), SupportsLogs, Capability.LOGS)
        return await target.get_logs(
            endpoint, deployment, container=container, lines=lines, instance=instance
        )

    def follow_logs(
        self,
        endpoint: str,
        deployment: str,
        *,
        container: Container = Container.INFERENCE_SERVER,
        instance: str | None = None,
        backend: str | None = None,
    ) -> AsyncIterator[LogLine]:
        target = self._role(self.backend(backend), SupportsLogs, Capability.LOG_FOLLOW)
        return target.follow_logs(endpoint, deployment, container=container, instance=instance)

    async def events(
        self, endpoint: str, *, after_id: int = 0, backend: str | None = None
    ) -> list[EventView]:
        target = self._role(self.backend(backend), SupportsEvents, Capability.EVENTS)
        return await target.events(endpoint, after_id=after_id)

    async def start_agent(self, *, backend: str | None = None) -> BackendStatus:
        target = self._role(self.backend(backend), SupportsAgent, Capability.AGENT)
        return await target.start_agent()

    async def stop_agent(self, *, everything: bool = True, backend: str | None = None) -> bool:
        target = self._role(self.backend(backend), SupportsAgent, Capability.AGENT)
        return await target.stop_agent(everything=everything)

    async def collect_garbage(
        self, *, dry_run: bool = False, min_idle_s: float | None = None, backend: str | None = None
    ) -> CleanupReport:
        target = self._role(self.backend(backend), SupportsDiskCleanup, Capability.DISK_CLEANUP)
        return await target.collect_garbage(dry_run=dry_run, min_idle_s=min_idle_s)

    # --- progressive rollouts ---------------------------------------------------------------------
    async def start_progressive(
        self,
        endpoint: str,
        *,
        to: str,
        from_: str | None = None,
        steps: Sequence[int] = DEFAULT_STEPS,
        step_seconds: float = DEFAULT_STEP_SECONDS,
        gates: Gates | None = None,
        mirror_first: int = 0,
        backend: str | None = None,
    ) -> RolloutState:
        """`rollout start`: every rule checked before anything changes; the split now is what a rollback restores."""
        port = self.backend(backend)
        target = self._role(port, SupportsProgressiveRollout, Capability.PROGRESSIVE_ROLLOUT)
        current = await port.get_endpoint(endpoint)
        deployments = {d.name: str(d.provisioning_state) for d in await port.list_deployments(endpoint)}
        plan = make_plan(
            endpoint,
            deployments=deployments,
            current=_split_of_view(current),
            candidate=to,
            baseline=from_,
            steps=steps,
            step_seconds=step_seconds,
            gates=gates,
            mirror_first=mirror_first,
        )
        return await target.start_progressive(plan)

    async def progressive_status(self, endpoint: str, *, backend: str | None = None) -> RolloutState:
        target = self._role(self.backend(backend), SupportsProgressiveRollout, Capability.PROGRESSIVE_ROLLOUT)
        return await target.progressive_status(endpoint)

    async def steer_progressive(
        self, endpoint: str, command: str, *, backend: str | None = None
    ) -> RolloutState:
        target = self._role(self.backend(backend), SupportsProgressiveRollout, Capability.PROGRESSIVE_ROLLOUT)
        return await target.steer_progressive(endpoint, command)

    async def metrics(self, endpoint: str, *, backend: str | None = None) -> MetricsSnapshot:
        target = self._role(self.backend(backend), SupportsMetrics, Capability.METRICS)
        return await target.metrics(endpoint)

    # --- review without applying ----------------------------------------------------------------
    async def plan_endpoint(self, spec: EndpointSpec, *, backend: str | None = None) -> DryRunPlan:
        """`create|update --dry-run`: the rules still hold, but nothing is contacted or changed."""
        target = self._role(self.backend(backend), SupportsDryRun, Capability.DRY_RUN)
        self._check_split(_split_of(spec), known=tuple(spec.traffic) + tuple(spec.mirror_traffic))
        return await target.plan_endpoint(spec)

    async def plan_deployment(self, spec: DeploymentSpec, *, backend: str | None = None) -> DryRunPlan:
        target = self._role(self.backend(backend), SupportsDryRun, Capability.DRY_RUN)
        return await target.plan_deployment(spec)


def _split_of(spec: EndpointSpec) -> TrafficSplit:
    return TrafficSplit(dict(spec.traffic), dict(spec.mirror_traffic))


def _split_of_view(view: EndpointView) -> TrafficSplit:
    return TrafficSplit(dict(view.traffic), dict(view.mirror_traffic))
