"""The Kubernetes backend as the façade sees it. The cluster is the only state: specs live in annotations and
the routing ConfigMap, keys in a Secret, so any machine with the kubeconfig sees the same endpoints.

Blocking client calls run in threads (asyncio.to_thread). Reads never change the cluster. No agent of ours runs
in the cluster, so the rollout's Operation — what the façade follows after create/update — is the reconcile
step: when it sees the rollout fail it rolls back to the previous revision and records a `RolledBack` Event on
the Deployment, which then keeps the failure in an annotation until the next apply. A failed rollout nobody
follows (`--no-wait`) shows Failed with the previous revision's pods still serving, and says how to roll back.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import json
import secrets
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from endpointctl.backends.common.gateway_metrics import metrics_snapshot
from endpointctl.backends.kubernetes import manifests, naming, packaging
from endpointctl.backends.kubernetes.apply import apply, delete_labelled
from endpointctl.backends.kubernetes.settings import DEFAULT_NAMESPACE, KubeSettings, Target, compute_name
from endpointctl.backends.kubernetes.status import deployment_status, gateway_ready, scoring_address
from endpointctl.core import keys
from endpointctl.core.capabilities import Capability
from endpointctl.core.context import BackendContext
from endpointctl.core.errors import (
    BackendUnavailable,
    Conflict,
    EndpointctlError,
    InvalidInput,
    NotFound,
)
from endpointctl.core.operations import DeploymentRollout, Done, Operation
from endpointctl.core.ports import KeyType, ScoringTarget, capabilities_of
from endpointctl.core.spec import DeploymentSpec, EndpointSpec, restore
from endpointctl.core.store import KeyRecord
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
    ProvisioningState,
)

if TYPE_CHECKING:
    from endpointctl.backends.kubernetes.client import KubeClient

BACKEND = "kubernetes"
STATUS_TIMEOUT_S = 2.0
T = TypeVar("T")


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
        self._clients: dict[Target, KubeClient] = {}
        self._lock = threading.Lock()
        # Key generation is injectable so golden files and tests are reproducible.
        self.new_key: Callable[[], str] = keys.new_key
        self.new_secret: Callable[[], str] = lambda: secrets.token_hex(32)

    @property
    def settings(self) -> KubeSettings:
        return KubeSettings.from_defaults(self._ctx.defaults)

    def limits(self) -> Mapping[Capability, str]:
        return {Capability.AGENT: "the cluster runs the endpoints; there is no local supervisor to start"}

    async def close(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()

    # --- targets ----------------------------------------------------------------------------------------------
    def _default_target(self) -> Target:
        settings = self.settings
        if settings.context is None:
            # Name the current context, so it and a compute mapped to the same context are one target.
            settings = replace(settings, context=self._current_context())
        if settings.namespace is not None:
            return Target(settings.context, settings.namespace)
        return Target(settings.context, self._context_namespace(settings.context))

    def _current_context(self) -> str | None:
        from endpointctl.backends.kubernetes.client import list_contexts, no_config_reason

        if no_config_reason() is not None:
            return None
        try:
            _, current = list_contexts()
        except BackendUnavailable:
            return None
        return str(current["name"]) if current else None

    def _context_namespace(self, context: str | None) -> str:
        from endpointctl.backends.kubernetes.client import list_contexts, namespace_of, no_config_reason

        if no_config_reason() is not None:
            return DEFAULT_NAMESPACE
        try:
            contexts, current = list_contexts()
        except BackendUnavailable:
            return DEFAULT_NAMESPACE  # in-cluster: the namespace comes from the defaults or is "default"
        chosen = current if context is None else next((c for c in contexts if c.get("name") == context), None)
        return namespace_of(chosen)

    def _target_for(self, spec: EndpointSpec) -> Target:
        name = compute_name(spec.compute)
        settings = self.settings
        if name is None:
            return self._default_target()
        if settings.computes and name in settings.computes:
            context, namespace = settings.computes[name]
            return Target(context, namespace or settings.namespace or self._context_namespace(context))
        from endpointctl.backends.kubernetes.client import list_contexts

        contexts, _ = list_contexts()
        if any(c.get("name") == name for c in contexts):
            return Target(name, settings.namespace or self._context_namespace(name))
        raise InvalidInput(
            f"endpoint {spec.name}: compute azureml:{name} is neither a kubeconfig context nor configured "
            f"(`endpointctl configure --defaults kube_computes={name}=CONTEXT/NAMESPACE`)"
        )

    def _targets(self) -> list[Target]:
        out = [self._default_target()]
        settings = self.settings
        for context, namespace in (settings.computes or {}).values():
            target = Target(context, namespace or settings.namespace or self._context_namespace(context))
            if target not in out:
                out.append(target)
        return out

    def _client(self, target: Target) -> KubeClient:
        from endpointctl.backends.kubernetes.client import KubeClient

        with self._lock:
            client = self._clients.get(target)
            if client is None:
                client = self._clients[target] = KubeClient(target)
            return client

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(fn, *args)

    async def status(self) -> BackendStatus:
        from endpointctl.backends.kubernetes.client import no_config_reason

        reason = no_config_reason()
        if reason is not None:
            return BackendStatus(self.name, False, capabilities_of(self), reason=reason)
        try:
            target = await asyncio.wait_for(self._run(self._default_target), STATUS_TIMEOUT_S)
            client = await asyncio.wait_for(self._run(self._client, target), STATUS_TIMEOUT_S)
            version = await asyncio.wait_for(self._run(client.version), STATUS_TIMEOUT_S + 0.5)
        except TimeoutError:
            return BackendStatus(
                self.name, False, capabilities_of(self), reason="the API server did not answer within 2 s"
            )
        except Exception as exc:  # status must never raise: any failure is the reason shown
            return BackendStatus(
                self.name, False, capabilities_of(self), reason=str(exc) or type(exc).__name__
            )
        context = f"{target.label} · {client.host} · {version.get('gitVersion', '?')}"
        return BackendStatus(self.name, True, capabilities_of(self), context=context)

    # --- endpoints --------------------------------------------------------------------------------------------
    def _locate(self, endpoint: str) -> tuple[KubeClient, dict[str, Any]]:
        for target in self._targets():
            client = self._client(target)
            routing = client.find("ConfigMap", naming.routing_name(endpoint))
            if (
                routing is not None
                and (routing["metadata"].get("labels") or {}).get(naming.ENDPOINT) == endpoint
            ):
                return client, routing
        raise NotFound(f"endpoint {endpoint} does not exist on the kubernetes backend")

    @staticmethod
    def _routing(routing_cm: Mapping[str, Any]) -> tuple[EndpointSpec, dict[str, Any]]:
        data = routing_cm.get("data") or {}
        spec = restore(EndpointSpec, json.loads(data[manifests.ENDPOINT_KEY]))
        doc = json.loads(data[manifests.ROUTING_KEY])
        return spec, doc["endpoints"][spec.name]

    def _node_address(self, client: KubeClient) -> str | None:
        try:
            nodes = client.request("GET", "/api/v1/nodes").get("items") or []
        except EndpointctlError:
            return None  # listing nodes needs a cluster role; without it a NodePort has no address to show
        for node in nodes:
            addresses = {
                a.get("type"): a.get("address") for a in (node.get("status") or {}).get("addresses") or []
            }
            address = addresses.get("ExternalIP") or addresses.get("InternalIP")
            if address:
                return str(address)
        return None

    def _endpoint_view(self, client: KubeClient, routing_cm: Mapping[str, Any]) -> EndpointView:
        spec, entry = self._routing(routing_cm)
        gateway = client.find("Deployment", naming.gateway_name(spec.name))
        service = client.find("Service", naming.gateway_name(spec.name))
        if gateway is not None and (gateway["metadata"].get("deletionTimestamp")):
            state = ProvisioningState.DELETING
        elif gateway_ready(gateway):
            state = ProvisioningState.SUCCEEDED
        else:
            state = ProvisioningState.CREATING
        node = self._node_address(client) if service and service["spec"].get("type") == "NodePort" else None
        address = scoring_address(service, node)
        return EndpointView(
            self.name,
            spec.model_copy(
                update={
                    "traffic": dict(entry.get("traffic", {})),
                    "mirror_traffic": dict(entry.get("mirror_traffic", {})),
                }
            ),
            state,
            scoring_uri=f"http://{address}/score" if address else None,
            openapi_uri=f"http://{address}/swagger.json" if address else None,
            location=client.target.label,
            context=client.target.label,
        )

    def _list_endpoints(self) -> list[EndpointView]:
        views: list[EndpointView] = []
        for target in self._targets():
            client = self._client(target)
            selector = naming.selector({naming.MANAGED_BY: naming.MANAGER, naming.COMPONENT: naming.GATEWAY})
            for cm in client.list("ConfigMap", selector):
                if manifests.ROUTING_KEY in (cm.get("data") or {}):
                    views.append(self._endpoint_view(client, cm))
        return sorted(views, key=lambda v: v.name)

    async def list_endpoints(self) -> list[EndpointView]:
        return await self._run(self._list_endpoints)

    def _get_endpoint(self, name: str) -> EndpointView:
        return self._endpoint_view(*self._locate(name))

    async def get_endpoint(self, name: str) -> EndpointView:
        return await self._run(self._get_endpoint, name)

    def _key_material(self, client: KubeClient, endpoint: str) -> manifests.KeyMaterial | None:
        secret = client.find("Secret", naming.keys_secret_name(endpoint))
        if secret is None:
            return None
        doc = json.loads(base64.b64decode(secret["data"][manifests.KEYS_KEY]))
        entry = doc["endpoints"][endpoint]
        return manifests.KeyMaterial(entry["keys"][0], entry["keys"][1], entry["token_secret"])

    def _fresh_keys(self) -> manifests.KeyMaterial:
        return manifests.KeyMaterial(self.new_key(), self.new_key(), self.new_secret())

    def _deployment_specs(self, client: KubeClient, endpoint: str) -> dict[str, DeploymentSpec]:
        selector = naming.inference(endpoint)
        out: dict[str, DeploymentSpec] = {}
        for item in client.list("Deployment", selector):
            annotations = item["metadata"].get("annotations") or {}
            spec = restore(DeploymentSpec, json.loads(annotations[naming.SPEC_ANNOTATION]))
            out[spec.name] = spec
        return out

    def _endpoint_docs(
        self,
        spec: EndpointSpec,
        namespace: str,
        key_material: manifests.KeyMaterial | None,
        deployments: Mapping[str, DeploymentSpec],
    ) -> list[dict[str, Any]]:
        archive, digest = packaging.gateway_host_archive()
        return manifests.endpoint_manifests(
            spec,
            namespace,
            self.settings,
            keys=key_material,
            deployments=deployments,
            host_archive=archive,
            host_digest=digest,
        )

    def _apply_endpoint(self, spec: EndpointSpec) -> None:
        target = self._target_for(spec)
        client = self._client(target)
        key_material = self._key_material(client, spec.name) or self._fresh_keys()
        deployments = self._deployment_specs(client, spec.name)
        docs = self._endpoint_docs(spec, target.namespace, key_material, deployments)
        for doc in docs:
            apply(client, doc)
        current_host = {d["metadata"]["name"] for d in docs if d["kind"] == "ConfigMap"}
        for cm in client.list("ConfigMap", naming.selector(naming.labels(spec.name, naming.GATEWAY))):
            name = cm["metadata"]["name"]
            if name.startswith(naming.gateway_host_name(spec.name, "")) and name not in current_host:
                client.delete("ConfigMap", name)

    async def apply_endpoint(self, spec: EndpointSpec) -> Operation:
        # The objects are applied; the endpoint's own state says when its gateway is ready.
        await self._run(self._apply_endpoint, spec)
        return Done(f"endpoint {spec.name}")

    def _delete_endpoint(self, name: str) -> None:
        client, _ = self._locate(name)
        delete_labelled(client, naming.ours(name))

    async def delete_endpoint(self, name: str) -> Operation:
        await self._run(self._delete_endpoint, name)
        return Done(f"delete endpoint {name}")

    def _write_routing(
        self,
        client: KubeClient,
        spec: EndpointSpec,
        deployments: Mapping[str, DeploymentSpec],
        traffic: Mapping[str, int],
        mirror: Mapping[str, int],
    ) -> None:
        spec = spec.model_copy(
            update={
                "traffic": {k: v for k, v in traffic.items() if k in deployments},
                "mirror_traffic": {k: v for k, v in mirror.items() if k in deployments and v},
            }
        )
        routing = manifests.routing_config(spec, deployments, client.target.namespace)
        apply(client, manifests.routing_config_map(spec, routing, client.target.namespace))

    # --- deployments ------------------------------------------------------------------------------------------
    def _deployment_view(
        self, client: KubeClient, deployment: dict[str, Any], *, reconcile: bool = False
    ) -> DeploymentView:
        """The deployment as the cluster has it. Only a caller following the rollout (`reconcile`) acts on a
        failure it sees, by rolling back; any other read leaves the cluster as it is."""
        labels = deployment["metadata"]["labels"]
        selector = naming.inference(labels[naming.ENDPOINT], labels[naming.DEPLOYMENT])
        replicasets = client.list("ReplicaSet", selector)
        pods = client.list("Pod", selector)
        result = deployment_status(deployment, replicasets, pods)
        unsettled = result.state is ProvisioningState.FAILED and naming.FAILURE_ANNOTATION not in (
            deployment["metadata"].get("annotations") or {}
        )
        if unsettled and reconcile:
            deployment, reason = self._roll_back(client, deployment, replicasets, result.reason)
            result = deployment_status(deployment, replicasets, pods)
            result = type(result)(
                ProvisioningState.FAILED, result.revision, result.instances, result.rollout, reason
            )
        elif unsettled:
            result = type(result)(
                result.state,
                result.revision,
                result.instances,
                result.rollout,
                f"{result.reason}; not rolled back yet: the previous revision's pods keep serving. Following "
                "the rollout rolls it back (`online-deployment update` without --no-wait, or the TUI's editor)",
            )
        annotations = deployment["metadata"].get("annotations") or {}
        spec = restore(DeploymentSpec, json.loads(annotations[naming.SPEC_ANNOTATION]))
        return DeploymentView(
            self.name, spec, result.state, result.revision, result.instances, result.rollout, result.reason
        )

    def _roll_back(
        self, client: KubeClient, deployment: dict[str, Any], replicasets: list[dict[str, Any]], reason: str
    ) -> tuple[dict[str, Any], str]:
        from endpointctl.backends.kubernetes.status import HASH_LABEL, revision_of

        revision = revision_of(deployment)
        previous = [rs for rs in replicasets if 0 < revision_of(rs) < revision]
        body = copy.deepcopy(deployment)
        annotations = body["metadata"].setdefault("annotations", {})
        if previous:
            # What `kubectl rollout undo` does: the previous ReplicaSet's template becomes the Deployment's.
            template = copy.deepcopy(max(previous, key=revision_of)["spec"]["template"])
            template["metadata"].get("labels", {}).pop(HASH_LABEL, None)
            body["spec"]["template"] = template
            old_spec = (template["metadata"].get("annotations") or {}).get(naming.SPEC_ANNOTATION)
            if old_spec:
                annotations[naming.SPEC_ANNOTATION] = old_spec
            annotations[naming.ROLLED_BACK_ANNOTATION] = str(revision)
            reason = f"{reason}; rolled back to revision {revision_of(max(previous, key=revision_of))}"
        annotations[naming.FAILURE_ANNOTATION] = reason
        body.pop("status", None)
        try:
            replaced = client.replace(body)
        except Conflict:
            return deployment, reason  # someone else changed it; the next poll decides again
        self._record_event(client, replaced, "RolledBack" if previous else "RolloutFailed", reason)
        return replaced, reason

    def _record_event(
        self, client: KubeClient, deployment: Mapping[str, Any], reason: str, message: str
    ) -> None:
        """A Kubernetes Event on the Deployment: `events`, `kubectl describe` and the TUI show what we did."""
        meta = deployment["metadata"]
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "name": f"{meta['name']}.{secrets.token_hex(8)}",
                "namespace": client.target.namespace,
            },
            "involvedObject": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": meta["name"],
                "namespace": client.target.namespace,
                **({"uid": meta["uid"]} if meta.get("uid") else {}),
            },
            "reason": reason,
            "message": message[:1024],
            "type": "Warning",
            "source": {"component": naming.MANAGER},
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        # The rollback happened; an identity that may not create events only loses its record.
        with contextlib.suppress(EndpointctlError):
            client.create(event)

    def _get_deployment(self, endpoint: str, name: str, reconcile: bool = False) -> DeploymentView:
        client, _ = self._locate(endpoint)
        deployment = client.find("Deployment", naming.deployment_name(endpoint, name))
        if deployment is None or (deployment["metadata"].get("labels") or {}).get(naming.DEPLOYMENT) != name:
            raise NotFound(f"deployment {endpoint}/{name} does not exist on the kubernetes backend")
        return self._deployment_view(client, deployment, reconcile=reconcile)

    async def get_deployment(self, endpoint: str, name: str) -> DeploymentView:
        return await self._run(self._get_deployment, endpoint, name)

    def _list_deployments(self, endpoint: str) -> list[DeploymentView]:
        client, _ = self._locate(endpoint)
        selector = naming.inference(endpoint)
        return sorted(
            (self._deployment_view(client, d) for d in client.list("Deployment", selector)),
            key=lambda v: v.name,
        )

    async def list_deployments(self, endpoint: str) -> list[DeploymentView]:
        return await self._run(self._list_deployments, endpoint)

    def _apply_deployment(self, spec: DeploymentSpec) -> None:
        # Packaging fails (size, scheme, environment) before anything is sent.
        package = packaging.build_package(spec, self._ctx.registry)
        client, routing_cm = self._locate(spec.endpoint_name)
        docs = manifests.deployment_manifests(spec, package, client.target.namespace, self.settings)
        autoscaled = any(d["kind"] == "HorizontalPodAutoscaler" for d in docs)
        for doc in docs:
            apply(client, doc, keep_replicas=autoscaled)
        hpa_name = naming.deployment_name(spec.endpoint_name, spec.name)
        if not autoscaled:
            client.delete("HorizontalPodAutoscaler", hpa_name) if client.find(
                "HorizontalPodAutoscaler", hpa_name
            ) else None
        endpoint_spec, entry = self._routing(routing_cm)
        deployments = {**self._deployment_specs(client, spec.endpoint_name), spec.name: spec}
        self._write_routing(
            client, endpoint_spec, deployments, entry.get("traffic", {}), entry.get("mirror_traffic", {})
        )
        self._collect_packages(client, spec.endpoint_name, spec.name, keep=docs[0]["metadata"]["name"])

    def _collect_packages(self, client: KubeClient, endpoint: str, name: str, *, keep: str) -> None:
        """Delete package ConfigMaps no ReplicaSet can roll back to any more."""
        wanted = {keep}
        selector = naming.inference(endpoint, name)
        for rs in client.list("ReplicaSet", selector):
            for volume in rs["spec"]["template"]["spec"].get("volumes") or []:
                if "configMap" in volume:
                    wanted.add(volume["configMap"]["name"])
        for cm in client.list("ConfigMap", naming.selector(naming.labels(endpoint, naming.PACKAGE, name))):
            if cm["metadata"]["name"] not in wanted:
                client.delete("ConfigMap", cm["metadata"]["name"])

    async def watch_deployment(self, endpoint: str, name: str) -> Operation:
        # Following the rollout is the reconcile step: a failure it sees is rolled back (and recorded).
        return DeploymentRollout(
            f"deployment {endpoint}/{name}",
            lambda: self._run(self._get_deployment, endpoint, name, True),
        )

    async def apply_deployment(self, spec: DeploymentSpec) -> Operation:
        await self._run(self._apply_deployment, spec)
        return await self.watch_deployment(spec.endpoint_name, spec.name)

    def _delete_deployment(self, endpoint: str, name: str) -> None:
        client, routing_cm = self._locate(endpoint)
        delete_labelled(client, naming.ours(endpoint, name))
        endpoint_spec, entry = self._routing(routing_cm)
        deployments = self._deployment_specs(client, endpoint)
        deployments.pop(name, None)
        self._write_routing(
            client, endpoint_spec, deployments, entry.get("traffic", {}), entry.get("mirror_traffic", {})
        )

    async def delete_deployment(self, endpoint: str, name: str) -> Operation:
        await self._run(self._delete_deployment, endpoint, name)
        return Done(f"delete deployment {endpoint}/{name}")

    # --- traffic and credentials ------------------------------------------------------------------------------
    def _set_traffic(self, endpoint: str, split: TrafficSplit) -> None:
        client, routing_cm = self._locate(endpoint)
        endpoint_spec, _ = self._routing(routing_cm)
        deployments = self._deployment_specs(client, endpoint)
        self._write_routing(client, endpoint_spec, deployments, split.weights, split.mirror)

    async def set_traffic(self, endpoint: str, split: TrafficSplit) -> Operation:
        # The gateway reloads its routing ConfigMap when the kubelet refreshes the mount.
        await self._run(self._set_traffic, endpoint, split)
        return Done(f"traffic of {endpoint}")

    def _credentials(self, endpoint: str) -> Credentials:
        client, routing_cm = self._locate(endpoint)
        spec, _ = self._routing(routing_cm)
        material = self._key_material(client, endpoint)
        if material is None:
            raise NotFound(f"endpoint {endpoint} has no keys Secret ({naming.keys_secret_name(endpoint)})")
        record = KeyRecord(
            BACKEND, endpoint, material.primary, material.secondary, material.token_secret, time.time()
        )
        return keys.credentials_for(record, spec.auth_mode)

    async def get_credentials(self, endpoint: str) -> Credentials:
        return await self._run(self._credentials, endpoint)

    def _regenerate(self, endpoint: str, key_type: KeyType) -> None:
        client, _ = self._locate(endpoint)
        material = self._key_material(client, endpoint)
        if material is None:
            raise NotFound(f"endpoint {endpoint} has no keys Secret")
        if key_type == "primary":
            material = manifests.KeyMaterial(self.new_key(), material.secondary, material.token_secret)
        else:
            material = manifests.KeyMaterial(material.primary, self.new_key(), material.token_secret)
        # The gateway re-reads the mounted Secret; the other key never stops working.
        apply(client, manifests.keys_secret(endpoint, material, client.target.namespace))

    async def regenerate_keys(self, endpoint: str, key_type: KeyType) -> Operation:
        await self._run(self._regenerate, endpoint, key_type)
        return Done(f"regenerate the {key_type} key of {endpoint}")

    # --- data plane and observability -------------------------------------------------------------------------
    async def scoring_target(self, endpoint: str) -> ScoringTarget:
        view = await self.get_endpoint(endpoint)
        if view.scoring_uri is None:
            raise InvalidInput(
                f"endpoint {endpoint} has no scoring_uri yet (LoadBalancer pending? try kube_service_type=NodePort)"
            )
        return ScoringTarget(view.scoring_uri, await self.get_credentials(endpoint))

    def _pods(
        self, endpoint: str, deployment: str, instance: str | None
    ) -> tuple[KubeClient, list[dict[str, Any]]]:
        self._get_deployment(endpoint, deployment)
        client, _ = self._locate(endpoint)
        selector = naming.inference(endpoint, deployment)
        pods = sorted(client.list("Pod", selector), key=lambda p: p["metadata"]["name"])
        if instance is not None:
            pods = [p for p in pods if p["metadata"]["name"] == instance]
            if not pods:
                raise NotFound(f"deployment {endpoint}/{deployment} has no instance {instance}")
        return client, pods

    def _read_logs(
        self, endpoint: str, deployment: str, container: Container, lines: int | None, instance: str | None
    ) -> list[LogLine]:
        client, pods = self._pods(endpoint, deployment, instance)
        out: list[LogLine] = []
        for pod in pods:
            name = pod["metadata"]["name"]
            query = {"container": str(container)}
            if lines is not None:
                query["tailLines"] = str(lines)
            try:
                text = client.request("GET", client.path("Pod", name, sub="log"), query=query)
            except (InvalidInput, NotFound) as exc:
                out.append(LogLine(f"({exc})", name, container))  # e.g. the container has not started yet
                continue
            out += [LogLine(line, name, container) for line in str(text).splitlines()]
        return out

    async def get_logs(
        self,
        endpoint: str,
        deployment: str,
        *,
        container: Container,
        lines: int | None,
        instance: str | None = None,
    ) -> list[LogLine]:
        return await self._run(self._read_logs, endpoint, deployment, Container(container), lines, instance)

    async def follow_logs(
        self, endpoint: str, deployment: str, *, container: Container, instance: str | None = None
    ) -> AsyncIterator[LogLine]:
        from endpointctl.backends.kubernetes.logs import LogFollower

        client, pods = await self._run(self._pods, endpoint, deployment, instance)
        follower = LogFollower(client, Container(container), asyncio.get_running_loop())
        selector = naming.ours(endpoint, deployment)
        follower.start([p["metadata"]["name"] for p in pods], watch_selector=None if instance else selector)
        try:
            while True:
                yield await follower.queue.get()
        finally:
            follower.stop()

    def _events(self, endpoint: str, after_id: int) -> list[EventView]:
        client, _ = self._locate(endpoint)
        specs = self._deployment_specs(client, endpoint)
        prefixes = {naming.deployment_name(endpoint, d): d for d in specs}
        prefixes[naming.gateway_name(endpoint)] = ""
        out: list[EventView] = []
        for event in client.list("Event"):
            involved = str((event.get("involvedObject") or {}).get("name", ""))
            owner = next(
                (d for p, d in prefixes.items() if involved == p or involved.startswith(p + "-")), None
            )
            if owner is None:
                continue
            try:
                event_id = int(event["metadata"].get("resourceVersion", "0"))
            except ValueError:
                continue
            if event_id <= after_id:
                continue
            out.append(
                EventView(
                    event_id,
                    _timestamp(event),
                    str(event.get("reason", "")),
                    f"{involved}: {event.get('message', '')}",
                    owner or None,
                )
            )
        return sorted(out, key=lambda e: e.id)

    async def events(self, endpoint: str, *, after_id: int = 0) -> list[EventView]:
        return await self._run(self._events, endpoint, after_id)

    async def metrics(self, endpoint: str) -> MetricsSnapshot:
        return await self._run(self._metrics, endpoint)

    def _metrics(self, endpoint: str) -> MetricsSnapshot:
        client, _ = self._locate(endpoint)
        # The gateway's admin port is a ClusterIP Service; the API server's service proxy reaches it from
        # outside the cluster with the kubeconfig's own credentials (RBAC: get services/proxy).
        path = client.path("Service", naming.gateway_admin_name(endpoint)) + ":admin/proxy/v1/metrics"
        try:
            raw = client.request("GET", path, timeout=STATUS_TIMEOUT_S)
        except EndpointctlError as exc:
            raise BackendUnavailable(
                f"metrics of {endpoint}: the gateway's admin Service answered: {exc}"
            ) from None
        served = (raw.get("endpoints") or {}).get(endpoint) if isinstance(raw, dict) else None
        if served is None:
            raise NotFound(f"endpoint {endpoint} is not served by its gateway yet")
        return metrics_snapshot(endpoint, served)

    # --- review without applying ------------------------------------------------------------------------------
    def _plan_namespace(self, spec: EndpointSpec | None) -> str:
        settings = self.settings
        if spec is not None and compute_name(spec.compute) in (settings.computes or {}):
            context, namespace = (settings.computes or {})[compute_name(spec.compute) or ""]
            return namespace or settings.namespace or self._context_namespace(context)
        return settings.namespace or self._context_namespace(settings.context)

    async def plan_endpoint(self, spec: EndpointSpec) -> DryRunPlan:
        namespace = await self._run(self._plan_namespace, spec)
        # No keys Secret: printing fresh keys would put real credentials on stdout (and in whatever file or
        # repository the stream is saved to) and make the output differ on every run. Keys are generated
        # when the endpoint is applied; the gateway pod waits for its Secret until then.
        docs = self._endpoint_docs(spec, namespace, None, {})
        return DryRunPlan(self.name, tuple(docs))

    async def plan_deployment(self, spec: DeploymentSpec) -> DryRunPlan:
        package = await self._run(packaging.build_package, spec, self._ctx.registry)
        namespace = await self._run(self._plan_namespace, None)
        return DryRunPlan(
            self.name, tuple(manifests.deployment_manifests(spec, package, namespace, self.settings))
        )


def _timestamp(event: Mapping[str, Any]) -> float:
    text = (
        event.get("lastTimestamp")
        or event.get("eventTime")
        or (event.get("metadata") or {}).get("creationTimestamp")
    )
    if not text:
        return 0.0
    with contextlib.suppress(ValueError):
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()
    return 0.0
