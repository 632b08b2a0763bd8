"""The azure backend as the façade sees it: managed online endpoints in one Azure ML workspace, over ARM.

Every change returns after ARM's first answer (the `--no-wait` point) with an Operation the façade
follows: ARM's long-running operation, polled no faster than its Retry-After. A deployment's operation is
also remembered, so any read of the deployment folds its outcome (and error) into the view, without waiting.

Importing this module must stay cheap: no azure.identity until a credential is really needed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx

from endpointctl.backends.azure import lro, monitor, rollout_tags
from endpointctl.backends.azure.arm import ArmClient, ArmResponse, Tuning
from endpointctl.backends.azure.assets import (
    NEXT_VERSION,
    AssetResolver,
    plan_assets,
    upload_root,
    uploaded_location,
    version_body,
)
from endpointctl.backends.azure.auth import CredentialFactory, TokenSource, default_credential
from endpointctl.backends.azure.bodies import (
    check_managed_deployment,
    deployment_body,
    deployment_spec,
    deployment_view,
    endpoint_body,
    endpoint_view,
    scale_body,
    wire_traffic,
)
from endpointctl.backends.azure.settings import NOT_CONFIGURED, WorkspaceScope, with_api_version
from endpointctl.core.capabilities import Capability
from endpointctl.core.context import BackendContext
from endpointctl.core.errors import (
    BackendUnavailable,
    Conflict,
    EndpointctlError,
    InvalidInput,
    NotFound,
    NotSupported,
    OperationFailed,
)
from endpointctl.core.operations import DeploymentRollout, Done, Operation, OperationState, OperationStatus
from endpointctl.core.ports import KeyType, ScoringTarget, capabilities_of
from endpointctl.core.progressive import machine
from endpointctl.core.progressive.machine import RolloutState, Transition
from endpointctl.core.progressive.plan import ProgressivePlan
from endpointctl.core.spec import DeploymentSpec, EndpointSpec
from endpointctl.core.traffic import TrafficSplit
from endpointctl.core.views import (
    BackendStatus,
    Container,
    Credentials,
    DeploymentMetrics,
    DeploymentView,
    DryRunPlan,
    EndpointView,
    LogLine,
    MetricsSnapshot,
    ProvisioningState,
)

NAME = "azure"
NO_SHADOW_DIFF = (
    "--mirror-first: Azure ML discards the mirrored deployment's answers, so they cannot be compared with the "
    "live ones; roll out in live steps (gated by Azure Monitor's errors and p99) instead"
)
ROLLOUT_PUT_TIMEOUT_S = 300.0
# Monitor's grain is a minute: a fresher read would answer the same.
METRICS_REUSE_S = 5.0
# The counters' origin moves forward after this long, so a query never spans more minutes than Monitor returns.
METRICS_SPAN_S = 12 * 3600.0
LIMITS: Mapping[Capability, str] = {
    Capability.AGENT: "Azure runs the endpoints; there is no local supervisor",
    Capability.EVENTS: "ARM keeps no per-endpoint event history; see the Azure activity log",
    Capability.DISK_CLEANUP: "Azure manages the endpoint's disk; nothing is kept on this machine",
}
# The AAD audience of Azure ML data-plane tokens (aad_token endpoints).
ML_SCOPE = "https://ml.azure.com/.default"
CONTAINER_TYPES = {
    Container.INFERENCE_SERVER: "InferenceServer",
    Container.STORAGE_INITIALIZER: "StorageInitializer",
}
DEFAULT_LOG_TAIL = 5000
LOG_POLL_S = 5.0
_READ_ONLY = ("provisioningState", "scoringUri", "swaggerUri", "keys")
# What the dry run shows for the default datastore, which only ARM (with a credential) can name.
PLAN_DATASTORE = "<default datastore>"
PLAN_CONTAINER_URL = "<default datastore's blob container URL>"


_OP_STATES = {
    lro.OpState.RUNNING: OperationState.RUNNING,
    lro.OpState.SUCCEEDED: OperationState.SUCCEEDED,
    lro.OpState.FAILED: OperationState.FAILED,
    lro.OpState.CANCELED: OperationState.CANCELED,
}


class ArmOperation:
    """One of ARM's long-running operations, polled when its Retry-After says."""

    def __init__(self, arm: ArmClient, op: lro.Operation, description: str) -> None:
        self._arm = arm
        self._op = op
        self.description = description

    async def poll(self) -> OperationStatus:
        result = await lro.poll_when_due(self._arm, self._op)
        return OperationStatus(_OP_STATES[result.state], str(result.state), result.error)


class AzureBackend:
    name = NAME
    features = frozenset(
        {
            Capability.MIRROR_TRAFFIC,
            Capability.ROLLING_UPDATE,
            Capability.TOKENS,
            Capability.REGISTERED_ASSETS,
        }
    )

    def __init__(
        self,
        context: BackendContext,
        *,
        credential_factory: CredentialFactory | None = None,
        tuning: Tuning | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._ctx = context
        # Rollout steps and Monitor's minutes are told by it (tests move it on instead of waiting minutes).
        self._clock = clock
        self._scope = WorkspaceScope.from_defaults(context.defaults)
        self._tuning = tuning or Tuning()
        self._factory = credential_factory or default_credential
        self._transport = transport
        self._tokens: TokenSource | None = None
        self._client: ArmClient | None = None
        self._ops: dict[tuple[str, str], lro.Operation] = {}
        self._location: str | None = self._scope.location if self._scope else None
        self.last_resolver: AssetResolver | None = None
        self._metrics: dict[str, MetricsSnapshot] = {}
        self._metrics_origin: dict[str, float] = {}
        self._rollout_reads: dict[str, tuple[float, RolloutState]] = {}

    # --- plumbing ---------------------------------------------------------------------------------
    def limits(self) -> Mapping[Capability, str]:
        return LIMITS

    def _require_scope(self) -> WorkspaceScope:
        if self._scope is None:
            raise BackendUnavailable(f"azure: {NOT_CONFIGURED}")
        return self._scope

    @property
    def _arm(self) -> ArmClient:
        if self._client is None:
            scope = self._require_scope()
            self._tokens = TokenSource(self._factory)
            self._client = ArmClient(scope, self._tokens, self._tuning, self._transport)
        return self._client

    @property
    def _context(self) -> str:
        return self._scope.short if self._scope else ""

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None
        if self._tokens is not None:
            await self._tokens.close()
            self._tokens = None

    async def status(self) -> BackendStatus:
        if self._scope is None:
            return BackendStatus(NAME, False, capabilities_of(self), reason=NOT_CONFIGURED)
        try:
            # Always a real call, even when the location is configured: status says whether ARM answers us.
            location = await asyncio.wait_for(self._read_workspace(), timeout=20)
        except EndpointctlError as exc:
            return BackendStatus(NAME, False, capabilities_of(self), context=self._context, reason=str(exc))
        except Exception as exc:  # status() never raises: the tree shows the reason instead
            return BackendStatus(
                NAME,
                False,
                capabilities_of(self),
                context=self._context,
                reason=f"{type(exc).__name__}: {exc}",
            )
        return BackendStatus(NAME, True, capabilities_of(self), context=f"{self._context} · {location}")

    async def _read_workspace(self) -> str:
        ws = await self._arm.request("GET", self._require_scope().workspace_url, what="read the workspace")
        location = str(_dict(ws.body).get("location") or "")
        self._location = self._location or location
        return location

    async def _workspace_location(self) -> str:
        """Where new endpoints go: `configure --defaults location=…`, else the workspace's own region."""
        return self._location or await self._read_workspace()

    # --- endpoints --------------------------------------------------------------------------------
    def _endpoint_url(self, name: str) -> str:
        return self._require_scope().endpoint_url(name)

    async def _endpoint_body(self, name: str) -> dict[str, Any]:
        return _dict(
            (await self._arm.request("GET", self._endpoint_url(name), what=f"get endpoint {name}")).body
        )

    async def _deployment_names(self, endpoint: str) -> list[str]:
        items = await self._arm.list_all(
            self._require_scope().url("onlineEndpoints", endpoint, "deployments"),
            what=f"list deployments of {endpoint}",
        )
        return [str(d.get("name")) for d in items]

    async def list_endpoints(self) -> list[EndpointView]:
        items = await self._arm.list_all(self._require_scope().url("onlineEndpoints"), what="list endpoints")
        return [endpoint_view(b, [], context=self._context) for b in items]

    async def get_endpoint(self, name: str) -> EndpointView:
        body = await self._endpoint_body(name)
        return endpoint_view(body, await self._deployment_names(name), context=self._context)

    async def apply_endpoint(self, spec: EndpointSpec) -> Operation:
        url = self._endpoint_url(spec.name)
        current = await self._arm.request(
            "GET", url, what=f"get endpoint {spec.name}", allow=frozenset({404})
        )
        existing = _dict(current.body) if current.status == 200 else {}
        location = str(existing.get("location") or "")
        body = endpoint_body(spec, location or await self._workspace_location())
        running = _running_rollout(existing)
        if running is not None:
            props = _dict(existing.get("properties"))
            if (body["properties"]["traffic"], body["properties"]["mirrorTraffic"]) != (
                _dict(props.get("traffic")),
                _dict(props.get("mirrorTraffic")),
            ):
                raise Conflict(_steered(spec.name))
        # The rollout's state lives in the endpoint's tags: an update from a file keeps it.
        rollout = {k: v for k, v in _dict(existing.get("tags")).items() if rollout_tags.is_rollout_tag(k)}
        if rollout:
            body["tags"] = {**_dict(body.get("tags")), **rollout}
        response = await self._arm.request("PUT", url, json=body, what=f"put endpoint {spec.name}")
        return self._operation(response, f"endpoint {spec.name}")

    async def delete_endpoint(self, name: str) -> Operation:
        response = await self._arm.request("DELETE", self._endpoint_url(name), what=f"delete endpoint {name}")
        return self._operation(response, f"delete endpoint {name}")

    def _operation(self, response: ArmResponse, what: str) -> Operation:
        """ARM's long-running operation for an accepted change, or Done when its first answer finished it."""
        op = lro.Operation.from_response(response, what=what, interval_s=self._tuning.lro_interval_s)
        if op is None:
            return Done(f"azure: {what}")
        return ArmOperation(self._arm, op, f"azure: {what}")

    # --- deployments ------------------------------------------------------------------------------
    def _deployment_url(self, endpoint: str, name: str) -> str:
        return self._require_scope().deployment_url(endpoint, name)

    async def list_deployments(self, endpoint: str) -> list[DeploymentView]:
        items = await self._arm.list_all(
            self._require_scope().url("onlineEndpoints", endpoint, "deployments"),
            what=f"list deployments of {endpoint}",
        )
        return [deployment_view(b, endpoint) for b in items]

    async def get_deployment(self, endpoint: str, name: str) -> DeploymentView:
        return await self._deployment(endpoint, name, paced=False)

    async def watch_deployment(self, endpoint: str, name: str) -> Operation:
        return DeploymentRollout(
            f"deployment {endpoint}/{name}", lambda: self._deployment(endpoint, name, paced=True)
        )

    async def _deployment(self, endpoint: str, name: str, *, paced: bool) -> DeploymentView:
        key = (endpoint, name)
        op = self._ops.get(key)
        result: lro.OpResult | None = None
        if op is not None:
            # Following the rollout honours Retry-After by waiting here; any other read answers at once.
            poll = lro.poll_when_due if paced else lro.poll_if_due
            result = await poll(self._arm, op)
            if result.state.terminal:
                del self._ops[key]
        response = await self._arm.request(
            "GET", self._deployment_url(endpoint, name), what=f"get deployment {endpoint}/{name}"
        )
        body = _dict(response.body)
        if result is None or result.state is lro.OpState.SUCCEEDED:
            return deployment_view(body, endpoint)
        if result.state.terminal:
            state = ProvisioningState(str(result.state))
            return deployment_view(body, endpoint, state=state, reason=result.error)
        view = deployment_view(body, endpoint)
        # ARM may show the old, settled state until the operation touches the resource.
        state = (
            view.provisioning_state if not view.provisioning_state.terminal else ProvisioningState.UPDATING
        )
        return deployment_view(body, endpoint, state=state)

    async def apply_deployment(self, spec: DeploymentSpec) -> Operation:
        check_managed_deployment(spec)
        scope = self._require_scope()
        endpoint = await self._endpoint_body(spec.endpoint_name)
        location = str(endpoint.get("location") or "") or await self._workspace_location()
        resolver = AssetResolver(self._arm, scope, self._tuning)
        self.last_resolver = resolver
        ids = await resolver.resolve(plan_assets(spec, scope))
        body = deployment_body(spec, location, ids)
        url = self._deployment_url(spec.endpoint_name, spec.name)
        what = f"deployment {spec.endpoint_name}/{spec.name}"
        current = await self._arm.request("GET", url, what=f"get {what}", allow=frozenset({404}))
        if current.status == 200 and _only_capacity_differs(_dict(current.body), body, spec.endpoint_name):
            # A scale-only change is a PATCH of the sku: ARM scales without re-deploying the instances.
            response = await self._arm.request(
                "PATCH", url, json=scale_body(spec.instance_count), what=f"scale {what}"
            )
        else:
            response = await self._arm.request("PUT", url, json=body, what=f"put {what}")
        op = lro.Operation.from_response(response, what=what, interval_s=self._tuning.lro_interval_s)
        if op is not None:
            self._ops[(spec.endpoint_name, spec.name)] = op
        return await self.watch_deployment(spec.endpoint_name, spec.name)

    async def delete_deployment(self, endpoint: str, name: str) -> Operation:
        self._ops.pop((endpoint, name), None)
        response = await self._arm.request(
            "DELETE", self._deployment_url(endpoint, name), what=f"delete deployment {endpoint}/{name}"
        )
        return self._operation(response, f"delete deployment {endpoint}/{name}")

    # --- metrics (Azure Monitor) --------------------------------------------------------------------
    async def _monitor(
        self, endpoint: str, start: float, end: float, *, worst: bool = False
    ) -> dict[str, DeploymentMetrics]:
        """Requests by deployment and status, and latencies, between two times (Monitor's whole minutes)."""
        url = self._endpoint_url(endpoint)
        begin, until = (datetime.fromtimestamp(t, UTC) for t in (start, end))
        totals: dict[str, monitor.MinuteTotals] = {}
        counts = await self._arm.request(
            "GET",
            monitor.metrics_url(url, (monitor.COUNTS,), begin, until, "deployment,statusCode"),
            what=f"read request counts of {endpoint} from Azure Monitor",
        )
        monitor.add_counts(_dict(counts.body), totals)
        latencies = await self._arm.request(
            "GET",
            monitor.metrics_url(url, monitor.LATENCIES, begin, until, "deployment"),
            what=f"read request latencies of {endpoint} from Azure Monitor",
        )
        monitor.add_latencies(_dict(latencies.body), totals, worst=worst)
        return monitor.snapshot_of(totals, start)

    async def metrics(self, endpoint: str) -> MetricsSnapshot:
        """Requests since an origin (an hour before the first read) and the last minute's latencies.

        Monitor's data changes once a minute, so an answer younger than METRICS_REUSE_S is reused: the TUI
        polls every few seconds and each read costs two ARM calls."""
        now = self._clock()
        cached = self._metrics.get(endpoint)
        if cached is not None and now - cached.ts < METRICS_REUSE_S:
            return cached
        origin = self._metrics_origin.get(endpoint)
        if origin is None or now - origin > METRICS_SPAN_S:
            # A moved origin restarts the counters; `since` says so, as a restarted router's would.
            origin = self._metrics_origin[endpoint] = (now // 60 - 60) * 60
        # To the end of the current minute: Monitor's points are whole minutes, the current one included.
        deployments = await self._monitor(endpoint, origin, _minute_end(now))
        snapshot = MetricsSnapshot(endpoint, now, deployments)
        self._metrics[endpoint] = snapshot
        return snapshot

    # --- progressive rollouts: driven by whoever reads them, state in the endpoint's tags ----------------
    async def start_progressive(self, plan: ProgressivePlan) -> RolloutState:
        if plan.mirror_first:
            raise InvalidInput(NO_SHADOW_DIFF)
        body = await self._endpoint_body(plan.endpoint)
        current = rollout_tags.decode(_dict(body.get("tags")))
        if current is not None and not current.phase.terminal:
            raise Conflict(
                f"a progressive rollout of {current.plan.candidate} runs on {plan.endpoint} already "
                f"({current.position}); promote or abort it first"
            )
        transition = machine.start(plan, self._clock(), {})
        await self._put_rollout(plan.endpoint, body, transition)
        return transition.state

    async def progressive_status(self, endpoint: str) -> RolloutState:
        """The rollout, judged now: a read moves it on (or back) when the gates say so.

        Reads closer together than METRICS_REUSE_S share one judgement: the TUI reads every tick, and each
        judgement costs three ARM calls against the subscription's read quota."""
        recent = self._rollout_reads.get(endpoint)
        if recent is not None and self._clock() - recent[0] < METRICS_REUSE_S:
            return recent[1]
        self._rollout_reads.pop(endpoint, None)
        body = await self._endpoint_body(endpoint)
        state = rollout_tags.decode(_dict(body.get("tags")))
        if state is None:
            raise NotFound(f"endpoint {endpoint} has had no progressive rollout")
        if state.phase.terminal:
            return state
        now = self._clock()
        # The window starts at the first whole minute of the step: Monitor counts whole minutes, and the minute
        # the step began in still holds requests routed by the previous split.
        start = _minute_end(state.step_started_at - 1e-9)
        window = await self._monitor(endpoint, start, _minute_end(now), worst=True) if start < now else {}
        transition = machine.advance(state, now, window)
        if transition.split is not None or transition.event is not None:
            await self._put_rollout(endpoint, body, transition)
        self._rollout_reads[endpoint] = (now, transition.state)
        return transition.state

    async def steer_progressive(self, endpoint: str, command: str) -> RolloutState:
        body = await self._endpoint_body(endpoint)
        state = rollout_tags.decode(_dict(body.get("tags")))
        if state is None:
            raise NotFound(f"endpoint {endpoint} has had no progressive rollout")
        transition = machine.steer(state, command, self._clock())
        await self._put_rollout(endpoint, body, transition)
        return transition.state

    async def _put_rollout(self, endpoint: str, body: dict[str, Any], transition: Transition) -> None:
        """One PUT carries the split and the state, so another reader never sees one without the other."""
        self._rollout_reads.pop(endpoint, None)
        out = _writable_endpoint(body)
        out["tags"] = {
            **rollout_tags.user_tags(_dict(body.get("tags"))),
            **rollout_tags.encode(transition.state, self._clock()),
        }
        if transition.split is not None:
            out["properties"]["traffic"] = wire_traffic(transition.split.weights)
            out["properties"]["mirrorTraffic"] = wire_traffic(transition.split.mirror)
        what = f"progressive rollout of {endpoint}: {transition.state.position} ({transition.state.phase})"
        response = await self._arm.request("PUT", self._endpoint_url(endpoint), json=out, what=what)
        # Followed to its end: the next transition's PUT must not meet this one still running (409).
        operation = self._operation(response, what)
        deadline = time.monotonic() + ROLLOUT_PUT_TIMEOUT_S
        while (status := await operation.poll()).state is OperationState.RUNNING:
            if time.monotonic() > deadline:
                raise OperationFailed(f"azure: {what}: still running after {ROLLOUT_PUT_TIMEOUT_S:.0f} s")
            await self._tuning.sleep(self._tuning.lro_interval_s)
        if status.state is not OperationState.SUCCEEDED:
            raise OperationFailed(f"azure: {what}: ended {status.state}: {status.error}")

    # --- traffic and credentials ------------------------------------------------------------------
    async def set_traffic(self, endpoint: str, split: TrafficSplit) -> Operation:
        # The 2024-04-01 PATCH body (PartialMinimalTrackedResourceWithIdentity) carries only tags and
        # identity, so traffic goes as a PUT of the endpoint as ARM has it, with the new split.
        current = await self._endpoint_body(endpoint)
        if _running_rollout(current) is not None:
            raise Conflict(_steered(endpoint))
        body = _writable_endpoint(current)
        body["properties"]["traffic"] = wire_traffic(split.weights)
        body["properties"]["mirrorTraffic"] = wire_traffic(split.mirror)
        response = await self._arm.request(
            "PUT", self._endpoint_url(endpoint), json=body, what=f"set traffic of {endpoint}"
        )
        return self._operation(response, f"traffic of {endpoint}")

    async def get_credentials(self, endpoint: str) -> Credentials:
        view = await self.get_endpoint(endpoint)
        url = self._endpoint_url(endpoint)
        if view.spec.auth_mode == "key":
            keys = _dict(
                (await self._arm.request("POST", url + "/listKeys", what=f"list keys of {endpoint}")).body
            )
            return Credentials(
                "key", primary_key=keys.get("primaryKey"), secondary_key=keys.get("secondaryKey")
            )
        if view.spec.auth_mode == "aml_token":
            token = _dict(
                (await self._arm.request("POST", url + "/token", what=f"get a token for {endpoint}")).body
            )
            return Credentials(
                "aml_token",
                access_token=token.get("accessToken"),
                expiry_time_utc=_int_or_none(token.get("expiryTimeUtc")),
                refresh_after_time_utc=_int_or_none(token.get("refreshAfterTimeUtc")),
            )
        assert self._tokens is not None  # created with the client by get_endpoint above
        return Credentials("aad_token", access_token=await self._tokens.token(ML_SCOPE))

    async def regenerate_keys(self, endpoint: str, key_type: KeyType) -> Operation:
        response = await self._arm.request(
            "POST",
            self._endpoint_url(endpoint) + "/regenerateKeys",
            json={"keyType": key_type.capitalize()},
            what=f"regenerate the {key_type} key of {endpoint}",
        )
        return self._operation(response, f"regenerate the {key_type} key of {endpoint}")

    # --- data plane and observability -------------------------------------------------------------
    async def scoring_target(self, endpoint: str) -> ScoringTarget:
        view = await self.get_endpoint(endpoint)
        if not view.scoring_uri:
            raise InvalidInput(
                f"azure: endpoint {endpoint} has no scoring_uri yet ({view.provisioning_state})"
            )
        return ScoringTarget(view.scoring_uri, await self.get_credentials(endpoint), self._transport)

    async def _logs(self, endpoint: str, deployment: str, container: Container, tail: int) -> list[str]:
        response = await self._arm.request(
            "POST",
            self._deployment_url(endpoint, deployment) + "/getLogs",
            json={"containerType": CONTAINER_TYPES[container], "tail": tail},
            what=f"get logs of {endpoint}/{deployment}",
        )
        content = _dict(response.body).get("content")
        return str(content).splitlines() if content else []

    async def get_logs(
        self,
        endpoint: str,
        deployment: str,
        *,
        container: Container,
        lines: int | None,
        instance: str | None = None,
    ) -> list[LogLine]:
        if instance is not None:
            raise NotSupported(
                "azure: getLogs returns one instance's logs chosen by Azure; --instance is not available"
            )
        if lines == 0:
            return []
        texts = await self._logs(endpoint, deployment, container, lines or DEFAULT_LOG_TAIL)
        return [LogLine(t, container=container) for t in texts]

    async def follow_logs(
        self, endpoint: str, deployment: str, *, container: Container, instance: str | None = None
    ) -> AsyncIterator[LogLine]:
        """ARM has no log stream: poll getLogs and print what is new since the last snapshot."""
        if instance is not None:
            raise NotSupported(
                "azure: getLogs returns one instance's logs chosen by Azure; --instance is not available"
            )
        previous = await self._logs(endpoint, deployment, container, DEFAULT_LOG_TAIL)
        while True:
            await self._tuning.sleep(min(LOG_POLL_S, self._tuning.max_sleep_s))
            current = await self._logs(endpoint, deployment, container, DEFAULT_LOG_TAIL)
            for text in _new_lines(previous, current):
                yield LogLine(text, container=container)
            previous = current

    # --- dry run: no credential, no network, no upload ----------------------------------------------
    def _plan_location(self, what: str) -> str:
        return self._location or f"<the {what}'s location, read from ARM when applied>"

    async def plan_endpoint(self, spec: EndpointSpec) -> DryRunPlan:
        scope = self._require_scope()
        doc = {
            "method": "PUT",
            "url": with_api_version(scope.endpoint_url(spec.name)),
            "body": endpoint_body(spec, self._plan_location("workspace")),
        }
        return DryRunPlan(NAME, (doc,), output="json")

    async def plan_deployment(self, spec: DeploymentSpec) -> DryRunPlan:
        check_managed_deployment(spec)
        scope = self._require_scope()
        plan = plan_assets(spec, scope)
        docs: list[dict[str, Any]] = []
        for asset in plan.local:
            location = None
            if asset.source is not None:
                # Where the files would be uploaded: the default datastore is known only to ARM, and
                # asking would need a credential, so it appears as a placeholder.
                root = upload_root(asset)
                location = uploaded_location(
                    asset, scope, PLAN_DATASTORE, f"{PLAN_CONTAINER_URL}/{quote(root)}", root
                )
            docs.append(
                {
                    "method": "PUT",
                    "url": with_api_version(
                        scope.asset_url(asset.kind, asset.name, asset.version or NEXT_VERSION)
                    ),
                    "body": version_body(asset, location),
                }
            )
        docs.append(
            {
                "method": "PUT",
                "url": with_api_version(scope.deployment_url(spec.endpoint_name, spec.name)),
                "body": deployment_body(spec, self._plan_location("endpoint"), plan.ids(scope)),
            }
        )
        return DryRunPlan(NAME, tuple(docs), output="json")


def _dict(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {}


def _int_or_none(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _writable_endpoint(body: dict[str, Any]) -> dict[str, Any]:
    """The endpoint as ARM returned it, minus what a PUT may not carry (ids, read-only properties)."""
    out: dict[str, Any] = {k: body[k] for k in ("location", "tags", "kind", "sku") if body.get(k) is not None}
    props = {k: v for k, v in _dict(body.get("properties")).items() if k not in _READ_ONLY and v is not None}
    out["properties"] = props
    identity = _dict(body.get("identity"))
    if identity.get("type"):
        out["identity"] = {"type": identity["type"]}
        if identity.get("userAssignedIdentities"):
            out["identity"]["userAssignedIdentities"] = {k: {} for k in identity["userAssignedIdentities"]}
    return out


def _only_capacity_differs(current: dict[str, Any], new: dict[str, Any], endpoint: str) -> bool:
    named = {**new, "name": current.get("name")}
    try:
        before = deployment_spec(current, endpoint)
        after = deployment_spec(named, endpoint)
    except ValueError:
        return False
    if before.instance_count == after.instance_count:
        return False
    return before.model_copy(update={"instance_count": after.instance_count}) == after


def _new_lines(previous: list[str], current: list[str]) -> list[str]:
    """Lines of `current` after the longest overlap of previous's end with current's start."""
    for k in range(min(len(previous), len(current)), 0, -1):
        if previous[-k:] == current[:k]:
            return current[k:]
    return current if previous != current else []


def _minute_end(moment: float) -> float:
    """The end of the minute `moment` falls in (Monitor's points are whole minutes)."""
    return (moment // 60 + 1) * 60


def _running_rollout(body: Mapping[str, Any]) -> RolloutState | None:
    state = rollout_tags.decode(_dict(body.get("tags"))) if body else None
    return state if state is not None and not state.phase.terminal else None


def _steered(endpoint: str) -> str:
    return (
        f"a progressive rollout steers the traffic of {endpoint}; promote or abort it first "
        f"(`endpointctl rollout promote|abort -e {endpoint} --backend azure`)"
    )
