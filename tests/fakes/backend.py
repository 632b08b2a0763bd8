"""A test double of the Backend protocol for façade and CLI tests.

It keeps desired state in the real state store (so separate CLI invocations see each other's changes)
and records every call, so tests can assert that the façade rejected bad input *before* calling it.
Deployments become Succeeded after a configurable number of polls, or Failed when the spec carries the
tag `fake: fail`.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from typing import ClassVar

import httpx

from endpointctl.core import keys
from endpointctl.core.capabilities import Capability
from endpointctl.core.context import BackendContext
from endpointctl.core.errors import NotFound
from endpointctl.core.operations import DeploymentRollout, Done, Operation
from endpointctl.core.ports import FEATURES, KeyType, ScoringTarget, capabilities_of
from endpointctl.core.spec import DeploymentSpec, EndpointSpec
from endpointctl.core.store import DeploymentRecord, EndpointRecord
from endpointctl.core.traffic import TrafficSplit
from endpointctl.core.views import (
    BackendStatus,
    Container,
    Credentials,
    DeploymentMetrics,
    DeploymentView,
    DryRunPlan,
    EndpointView,
    EventView,
    InstanceState,
    InstanceView,
    LogLine,
    MetricsSnapshot,
    ProvisioningState,
)

NAME = "fake"
MUTATIONS = {
    "apply_endpoint",
    "delete_endpoint",
    "apply_deployment",
    "delete_deployment",
    "set_traffic",
    "regenerate_keys",
}


class FakeBackend:
    name = NAME
    polls_until_ready = 2
    calls: ClassVar[list[tuple[str, tuple[object, ...]]]] = []
    supported: frozenset[Capability] = frozenset(Capability) - {Capability.AGENT}

    def __init__(self, context: BackendContext) -> None:
        self._ctx = context
        self._polls: dict[tuple[str, str], int] = {}

    @classmethod
    def reset(cls) -> None:
        cls.calls = []
        cls.supported = frozenset(Capability) - {Capability.AGENT}

    def _record(self, method: str, *args: object) -> None:
        type(self).calls.append((method, args))

    @classmethod
    def mutations(cls) -> list[str]:
        return [m for m, _ in cls.calls if m in MUTATIONS]

    @property
    def features(self) -> frozenset[Capability]:
        return self.supported & FEATURES

    def limits(self) -> Mapping[Capability, str]:
        """The fake implements every role but the agent; a test switches capabilities off through `supported`."""
        reasons = {
            c: f"this backend does not support {c.value.replace('_', ' ')}"
            for c in frozenset(Capability) - self.supported
        }
        if Capability.MIRROR_TRAFFIC in reasons:
            reasons[Capability.MIRROR_TRAFFIC] = "the fake cannot mirror"
        return reasons

    async def status(self) -> BackendStatus:
        return BackendStatus(NAME, True, capabilities_of(self), context="in-memory")

    async def close(self) -> None:
        return None

    # --- endpoints ---
    def _endpoint_view(self, rec: EndpointRecord) -> EndpointView:
        spec = rec.spec
        return EndpointView(
            NAME,
            spec,
            ProvisioningState(rec.provisioning_state),
            scoring_uri=f"http://127.0.0.1:{rec.scoring_port}/score",
        )

    async def list_endpoints(self) -> list[EndpointView]:
        with self._ctx.store.read() as tx:
            return [self._endpoint_view(r) for r in tx.list_endpoints(NAME)]

    async def get_endpoint(self, name: str) -> EndpointView:
        with self._ctx.store.read() as tx:
            rec = tx.get_endpoint(NAME, name)
        if rec is None:
            raise NotFound(f"endpoint {name} does not exist on {NAME}")
        return self._endpoint_view(rec)

    async def apply_endpoint(self, spec: EndpointSpec) -> Operation:
        self._record("apply_endpoint", spec)
        self._put_endpoint(spec)
        return Done(f"endpoint {spec.name}")

    def _put_endpoint(self, spec: EndpointSpec) -> None:
        now = time.time()
        with self._ctx.store.transaction() as tx:
            old = tx.get_endpoint(NAME, spec.name)
            port = old.scoring_port if old else 20000 + len(tx.list_endpoints(NAME))
            tx.put_endpoint(EndpointRecord(NAME, spec.name, spec, "Succeeded", port, now, now))
            if old is None:
                tx.put_keys(keys.new_keys(NAME, spec.name))

    async def delete_endpoint(self, name: str) -> Operation:
        self._record("delete_endpoint", name)
        with self._ctx.store.transaction() as tx:
            tx.delete_endpoint(NAME, name)
        return Done(f"delete endpoint {name}")

    # --- deployments ---
    def _deployment_view(self, rec: DeploymentRecord) -> DeploymentView:
        spec = rec.spec
        key = (rec.endpoint, rec.name)
        polls = self._polls.get(key, 0)
        self._polls[key] = polls + 1
        state = ProvisioningState(rec.provisioning_state)
        reason = ""
        if state is ProvisioningState.CREATING and polls >= self.polls_until_ready:
            failing = spec.tags.get("fake") == "fail"
            state = ProvisioningState.FAILED if failing else ProvisioningState.SUCCEEDED
            reason = "init() raised: the fake was told to fail" if failing else ""
            with self._ctx.store.transaction() as tx:
                tx.set_deployment_state(NAME, rec.endpoint, rec.name, str(state))
                tx.add_event(
                    backend=NAME,
                    endpoint=rec.endpoint,
                    deployment=rec.name,
                    kind=f"Deployment{state}",
                    message=reason or f"revision {rec.revision} is live",
                )
        ready = state is ProvisioningState.SUCCEEDED
        instances = tuple(
            InstanceView(
                f"{rec.name}-{i}",
                InstanceState.READY if ready else InstanceState.STARTING,
                rec.revision,
                started_at=rec.created_at,
            )
            for i in range(spec.instance_count)
        )
        return DeploymentView(NAME, spec, state, revision=rec.revision, instances=instances, reason=reason)

    async def list_deployments(self, endpoint: str) -> list[DeploymentView]:
        await self.get_endpoint(endpoint)
        with self._ctx.store.read() as tx:
            records = tx.list_deployments(NAME, endpoint)
        return [self._deployment_view(r) for r in records]

    async def get_deployment(self, endpoint: str, name: str) -> DeploymentView:
        with self._ctx.store.read() as tx:
            rec = tx.get_deployment(NAME, endpoint, name)
        if rec is None:
            raise NotFound(f"deployment {endpoint}/{name} does not exist on {NAME}")
        return self._deployment_view(rec)

    async def watch_deployment(self, endpoint: str, name: str) -> Operation:
        return DeploymentRollout(f"deployment {endpoint}/{name}", lambda: self.get_deployment(endpoint, name))

    async def apply_deployment(self, spec: DeploymentSpec) -> Operation:
        self._record("apply_deployment", spec)
        now = time.time()
        with self._ctx.store.transaction() as tx:
            old = tx.get_deployment(NAME, spec.endpoint_name, spec.name)
            revision = old.revision + 1 if old else 1
            endpoint = tx.get_endpoint(NAME, spec.endpoint_name)
            if old is None and endpoint is not None:
                # A new deployment joins the endpoint's traffic map at 0%, as Azure shows it.
                current = endpoint.spec
                traffic = {**current.traffic, spec.name: current.traffic.get(spec.name, 0)}
                updated = current.model_copy(update={"traffic": traffic})
                tx.put_endpoint(replace(endpoint, spec=updated, updated_at=now))
            tx.put_deployment(
                DeploymentRecord(
                    NAME,
                    spec.endpoint_name,
                    spec.name,
                    spec,
                    "Creating",
                    revision,
                    now,
                    now,
                )
            )
            tx.add_event(
                backend=NAME,
                endpoint=spec.endpoint_name,
                deployment=spec.name,
                kind="RolloutStarted",
                message=f"revision {revision}: replacing {spec.instance_count} instance(s)",
            )
        self._polls[(spec.endpoint_name, spec.name)] = 0
        return await self.watch_deployment(spec.endpoint_name, spec.name)

    async def delete_deployment(self, endpoint: str, name: str) -> Operation:
        self._record("delete_deployment", endpoint, name)
        with self._ctx.store.transaction() as tx:
            tx.delete_deployment(NAME, endpoint, name)
        return Done(f"delete deployment {endpoint}/{name}")

    async def set_traffic(self, endpoint: str, split: TrafficSplit) -> Operation:
        self._record("set_traffic", endpoint, split)
        current = await self.get_endpoint(endpoint)
        spec = current.spec.model_copy(
            update={"traffic": dict(split.weights), "mirror_traffic": dict(split.mirror)}
        )
        self._put_endpoint(spec)
        return Done(f"traffic of {endpoint}")

    async def get_credentials(self, endpoint: str) -> Credentials:
        current = await self.get_endpoint(endpoint)
        with self._ctx.store.read() as tx:
            record = tx.get_keys(NAME, endpoint)
        assert record is not None
        return keys.credentials_for(record, current.spec.auth_mode)

    async def regenerate_keys(self, endpoint: str, key_type: KeyType) -> Operation:
        self._record("regenerate_keys", endpoint, key_type)
        with self._ctx.store.transaction() as tx:
            record = tx.get_keys(NAME, endpoint)
            assert record is not None
            tx.put_keys(keys.rotate(record, key_type))
        return Done(f"regenerate the {key_type} key of {endpoint}")

    async def scoring_target(self, endpoint: str) -> ScoringTarget:
        current = await self.get_endpoint(endpoint)
        assert current.scoring_uri is not None
        return ScoringTarget(
            current.scoring_uri,
            await self.get_credentials(endpoint),
            httpx.MockTransport(lambda request: self._score(endpoint, request)),
        )

    async def _score(self, endpoint: str, request: httpx.Request) -> httpx.Response:
        """An in-memory gateway: echoes the body, served by the pinned deployment or the largest share."""
        deployment = request.headers.get("azureml-model-deployment")
        body = await request.aread()
        self._record("invoke", endpoint, body, deployment)
        current = await self.get_endpoint(endpoint)
        served = deployment or max(current.traffic, key=lambda k: current.traffic[k], default=None)
        if served is None:
            return httpx.Response(404, json={"message": "no deployment has traffic"})
        payload = json.dumps({"echo": json.loads(body), "served_by": served}).encode()
        return httpx.Response(200, headers={"azureml-model-deployment": served}, content=payload)

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
        all_lines = [
            LogLine(f"{container.value} line {i}", instance="0", container=container) for i in range(10)
        ]
        return all_lines[-lines:] if lines else all_lines

    async def follow_logs(
        self, endpoint: str, deployment: str, *, container: Container, instance: str | None = None
    ) -> AsyncIterator[LogLine]:
        for i in range(3):
            yield LogLine(f"followed {i}", instance="0", container=container)

    async def events(self, endpoint: str, *, after_id: int = 0) -> list[EventView]:
        with self._ctx.store.read() as tx:
            return [
                EventView(e.id, e.ts, e.kind, e.message, e.deployment)
                for e in tx.events(NAME, endpoint, after_id=after_id)
            ]

    async def metrics(self, endpoint: str) -> MetricsSnapshot:
        """Counters derived from the recorded invokes, so they are deterministic for snapshots."""
        current = await self.get_endpoint(endpoint)
        served: dict[str, int] = {}
        for verb, args in self.calls:
            if verb == "invoke" and args[0] == endpoint:
                target = args[2] or max(current.traffic, key=lambda k: current.traffic[k], default=None)
                if isinstance(target, str):
                    served[target] = served.get(target, 0) + 1
        deployments = {
            name: DeploymentMetrics(
                name, count, {"2xx": count}, 0, 1.0 if count else None, 2.0 if count else None
            )
            for name, count in served.items()
        }
        return MetricsSnapshot(endpoint, time.time(), deployments)

    async def plan_endpoint(self, spec: EndpointSpec) -> DryRunPlan:
        return DryRunPlan(NAME, ({"endpoint": spec.name},))

    async def plan_deployment(self, spec: DeploymentSpec) -> DryRunPlan:
        return DryRunPlan(NAME, ({"deployment": f"{spec.endpoint_name}/{spec.name}"},))
