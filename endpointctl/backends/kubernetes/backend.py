"""The Kubernetes backend as the façade sees it: the port (core.ports) wired to the modules that do the work.

The cluster is the only state: specs live in annotations and the routing ConfigMap, keys in a Secret, so any
machine with the kubeconfig sees the same endpoints. Everything is async; only reading the kubeconfig and
packaging (files, CPU) run in threads. Reads never change the cluster. The one program of ours that runs in
the cluster is an endpoint's progressive-rollout controller (progressive, controller/); a plain rollout has
none, so the rollout's Operation — what the façade follows after create/update — is the reconcile step
(rollout.py): when it sees the rollout fail it rolls back to the previous revision and records a `RolledBack`
Event. A failed rollout nobody follows (`--no-wait`) shows Failed with the previous revision's pods still
serving, and says how to roll back.

Modules: targets (contexts, namespaces, clients), views (endpoint and deployment reads), rollout (rollback),
writes (apply, delete, traffic), credentials (keys), logs, monitoring (events, metrics), progressive
(progressive rollouts; rollout_state, split, controller_manifests and the controller/ package).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable, Mapping

from endpointctl.backends.engine.client import connect, engine_env
from endpointctl.backends.kubernetes import (
    credentials,
    images,
    logs,
    manifests,
    monitoring,
    naming,
    packaging,
    staged,
    views,
    writes,
)
from endpointctl.backends.kubernetes.kubeconfig import no_config_reason
from endpointctl.backends.kubernetes.progressive import KubeProgressive
from endpointctl.backends.kubernetes.settings import DEFAULT_NAMESPACE, KubeSettings
from endpointctl.backends.kubernetes.targets import Targets
from endpointctl.backends.kubernetes.views import BACKEND
from endpointctl.core import keys
from endpointctl.core.capabilities import Capability
from endpointctl.core.context import BackendContext
from endpointctl.core.errors import BackendUnavailable, Conflict, InvalidInput
from endpointctl.core.operations import DeploymentRollout, Done, Operation
from endpointctl.core.ports import KeyType, ScoringTarget, capabilities_of
from endpointctl.core.progressive.machine import RolloutState
from endpointctl.core.progressive.plan import ProgressivePlan
from endpointctl.core.spec import DeploymentSpec, EndpointSpec
from endpointctl.core.traffic import TrafficSplit
from endpointctl.core.views import (
    BackendStatus,
    Container,
    Credentials,
    DeploymentView,
    DryRunPlan,
    EndpointView,
    EventView,
    LogLine,
    MetricsSnapshot,
)

__all__ = ["BACKEND", "KubernetesBackend"]

STATUS_TIMEOUT_S = 2.0


class KubernetesBackend:
    name = BACKEND
    # Registered models and environments are resolved in the local registry and travel in the package like
    # local folders do.
    features = frozenset(
        {
            Capability.MIRROR_TRAFFIC,
            Capability.ROLLING_UPDATE,
            Capability.TOKENS,
            Capability.REGISTERED_ASSETS,
        }
    )

    def __init__(self, context: BackendContext) -> None:
        self._ctx = context
        self._targets = Targets(lambda: self.settings)
        # Key generation is injectable so golden files and tests are reproducible.
        self.new_key: Callable[[], str] = keys.new_key
        self.new_secret: Callable[[], str] = lambda: secrets.token_hex(32)
        self.progressive = KubeProgressive(self._targets, lambda: self.settings, self._images)

    @property
    def settings(self) -> KubeSettings:
        return KubeSettings.from_defaults(self._ctx.defaults)

    def _images(self) -> images.ImageSupply:
        home = self._ctx.home
        return images.ImageSupply(
            engine_env(self._ctx.defaults),
            home.runtime / BACKEND / "images",
            home.logs / BACKEND,
            self.settings.registry,
        )

    def limits(self) -> Mapping[Capability, str]:
        return {
            Capability.AGENT: "the cluster runs the endpoints; there is no local supervisor to start",
            Capability.DISK_CLEANUP: "the kubelet collects unused images on the nodes; nothing is kept on this machine",
        }

    async def close(self) -> None:
        await self._targets.aclose()

    async def status(self) -> BackendStatus:
        reason = no_config_reason()
        if reason is not None:
            return BackendStatus(self.name, False, capabilities_of(self), reason=reason)
        try:
            target = await asyncio.wait_for(self._targets.default(), STATUS_TIMEOUT_S)
            client = self._targets.client(target)
            await asyncio.wait_for(client.connect(), STATUS_TIMEOUT_S)
            version = await asyncio.wait_for(client.version(), STATUS_TIMEOUT_S + 0.5)
        except TimeoutError:
            return BackendStatus(
                self.name, False, capabilities_of(self), reason="the API server did not answer within 2 s"
            )
        except Exception as exc:  # status must never raise: any failure is the reason shown
            return BackendStatus(
                self.name, False, capabilities_of(self), reason=str(exc) or type(exc).__name__
            )
        context = f"{target.label} · {client.host} · {version.get('gitVersion', '?')}"
        # Reads need only the cluster; applies also build images: say now, not at the first apply, when the
        # engine that builds them is missing.
        engine = await self._engine_note()
        if engine:
            context = f"{context} · {engine}"
        return BackendStatus(self.name, True, capabilities_of(self), context=context)

    async def _engine_note(self) -> str:
        try:
            client = await asyncio.wait_for(
                asyncio.to_thread(connect, engine_env(self._ctx.defaults), timeout=int(STATUS_TIMEOUT_S)),
                STATUS_TIMEOUT_S + 0.5,
            )
        except (BackendUnavailable, TimeoutError) as exc:
            return f"no Docker engine to build images ({exc}); applies will fail"
        client.close()
        return ""

    # --- endpoints --------------------------------------------------------------------------------------------
    async def list_endpoints(self) -> list[EndpointView]:
        return await views.list_endpoints(self._targets)

    async def get_endpoint(self, name: str) -> EndpointView:
        return await views.get_endpoint(self._targets, name)

    async def apply_endpoint(self, spec: EndpointSpec) -> Operation:
        # The objects are applied; the endpoint's own state says when its gateway is ready.
        await writes.apply_endpoint(
            self._targets, spec, self.settings, self._fresh_keys, self.new_secret, self._images()
        )
        return Done(f"endpoint {spec.name}")

    async def delete_endpoint(self, name: str) -> Operation:
        await writes.delete_endpoint(self._targets, name)
        return Done(f"delete endpoint {name}")

    def _fresh_keys(self) -> manifests.KeyMaterial:
        return manifests.KeyMaterial(self.new_key(), self.new_key(), self.new_secret())

    # --- deployments ------------------------------------------------------------------------------------------
    async def get_deployment(self, endpoint: str, name: str) -> DeploymentView:
        return await views.get_deployment(self._targets, endpoint, name)

    async def list_deployments(self, endpoint: str) -> list[DeploymentView]:
        return await views.list_deployments(self._targets, endpoint)

    async def watch_deployment(self, endpoint: str, name: str) -> Operation:
        # Following the rollout is the reconcile step: a failure it sees is rolled back (and recorded).
        return DeploymentRollout(
            f"deployment {endpoint}/{name}",
            lambda: views.get_deployment(self._targets, endpoint, name, reconcile=True),
        )

    async def apply_deployment(self, spec: DeploymentSpec) -> Operation:
        # Checked now (bad input raises before anything is built); built and applied as the Operation's first
        # stage, so whoever follows it sees the build (staged.py).
        settings, images = self.settings, self._images()
        sources, client, routing_cm = await writes.prepare_deployment(self._targets, spec, self._ctx.registry)
        creating = (
            await client.find("Deployment", naming.deployment_name(spec.endpoint_name, spec.name)) is None
        )

        async def prepare(progress: staged.Progress) -> None:
            await writes.apply_deployment(client, routing_cm, spec, sources, settings, images, progress)

        return staged.BuildThenRollout(
            f"deployment {spec.endpoint_name}/{spec.name}",
            spec,
            backend=self.name,
            creating=creating,
            prepare=prepare,
            rollout=lambda: self.watch_deployment(spec.endpoint_name, spec.name),
        )

    async def delete_deployment(self, endpoint: str, name: str) -> Operation:
        await writes.delete_deployment(self._targets, endpoint, name)
        return Done(f"delete deployment {endpoint}/{name}")

    # --- traffic and credentials ------------------------------------------------------------------------------
    async def set_traffic(self, endpoint: str, split: TrafficSplit) -> Operation:
        # The gateway reloads its routing ConfigMap when the kubelet refreshes the mount.
        running = await self.progressive.running(endpoint)
        if running is not None:
            raise Conflict(
                f"a progressive rollout of {running.plan.candidate} steers the traffic of {endpoint} "
                f"({running.phase}, {running.position}); promote or abort it first "
                f"(`endpointctl rollout abort -e {endpoint}`)"
            )
        await writes.set_traffic(self._targets, endpoint, split)
        return Done(f"traffic of {endpoint}")

    async def get_credentials(self, endpoint: str) -> Credentials:
        return await credentials.credentials(self._targets, endpoint)

    async def regenerate_keys(self, endpoint: str, key_type: KeyType) -> Operation:
        await credentials.regenerate(self._targets, endpoint, key_type, self.new_key)
        return Done(f"regenerate the {key_type} key of {endpoint}")

    # --- progressive rollouts: driven by the controller in the cluster, state in a ConfigMap ------------------
    async def start_progressive(self, plan: ProgressivePlan) -> RolloutState:
        return await self.progressive.start(plan)

    async def progressive_status(self, endpoint: str) -> RolloutState:
        return await self.progressive.status(endpoint)

    async def steer_progressive(self, endpoint: str, command: str) -> RolloutState:
        return await self.progressive.steer(endpoint, command)

    # --- data plane and observability -------------------------------------------------------------------------
    async def scoring_target(self, endpoint: str) -> ScoringTarget:
        view = await self.get_endpoint(endpoint)
        if view.scoring_uri is None:
            raise InvalidInput(
                f"endpoint {endpoint} has no scoring_uri yet (LoadBalancer pending? try kube_service_type=NodePort)"
            )
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
        return await logs.read_logs(
            self._targets, endpoint, deployment, Container(container), lines, instance
        )

    def follow_logs(
        self, endpoint: str, deployment: str, *, container: Container, instance: str | None = None
    ) -> AsyncIterator[LogLine]:
        return logs.follow_logs(self._targets, endpoint, deployment, Container(container), instance)

    async def events(self, endpoint: str, *, after_id: int = 0) -> list[EventView]:
        return await monitoring.events(self._targets, endpoint, after_id)

    async def metrics(self, endpoint: str) -> MetricsSnapshot:
        return await monitoring.metrics(self._targets, endpoint)

    # --- review without applying ------------------------------------------------------------------------------
    async def _plan_namespace(self, spec: EndpointSpec | None) -> tuple[str, tuple[str, ...]]:
        namespace = await self._targets.plan_namespace(spec)
        if namespace is not None:
            return namespace, ()
        return DEFAULT_NAMESPACE, (
            f'namespace "{DEFAULT_NAMESPACE}": nothing names one (no kube_namespace, compute mapping or '
            "kubeconfig context namespace); choose it with "
            "`endpointctl configure --defaults kube_namespace=NAME`",
        )

    async def plan_endpoint(self, spec: EndpointSpec) -> DryRunPlan:
        namespace, notes = await self._plan_namespace(spec)
        # No keys Secret: printing fresh keys would put real credentials on stdout (and in whatever file or
        # repository the stream is saved to) and make the output differ on every run. Keys are generated
        # when the endpoint is applied; the gateway pod waits for its Secret until then.
        settings = self.settings
        # The images are named, not built: the notes say what an apply would build and push.
        gateway = await asyncio.to_thread(
            self._images().gateway, settings.gateway_image, endpoint=spec.name, build=False
        )
        docs = writes.endpoint_docs(spec, namespace, settings, None, {}, gateway)
        return DryRunPlan(self.name, tuple(docs), notes=(*notes, *gateway.notes))

    async def plan_deployment(self, spec: DeploymentSpec) -> DryRunPlan:
        sources = await asyncio.to_thread(packaging.pod_sources, spec, self._ctx.registry)
        namespace, notes = await self._plan_namespace(None)
        pod_images = await asyncio.to_thread(
            self._images().deployment,
            sources,
            endpoint=spec.endpoint_name,
            deployment=spec.name,
            build=False,
        )
        return DryRunPlan(
            self.name,
            tuple(manifests.deployment_manifests(spec, sources, pod_images, namespace, self.settings)),
            notes=(*notes, *pod_images.notes),
        )
