"""Endpoints and deployments as the cluster has them: views built from the routing ConfigMap, the gateway's
Deployment and Service, and each deployment's Deployment, ReplicaSets and Pods.

Reads never change the cluster: only a caller following a rollout passes `reconcile=True`, which hands a
failure it sees to rollout.roll_back.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from endpointctl.backends.kubernetes import manifests, naming, rollout
from endpointctl.backends.kubernetes.client import KubeClient
from endpointctl.backends.kubernetes.status import deployment_status, gateway_ready, scoring_address
from endpointctl.backends.kubernetes.targets import Targets
from endpointctl.core.errors import EndpointctlError, NotFound
from endpointctl.core.spec import DeploymentSpec, EndpointSpec, restore
from endpointctl.core.views import DeploymentView, EndpointView, ProvisioningState

BACKEND = "kubernetes"


def routing_of(routing_cm: Mapping[str, Any]) -> tuple[EndpointSpec, dict[str, Any]]:
    """The endpoint's spec and its routing entry (traffic, mirror traffic) from its routing ConfigMap."""
    data = routing_cm.get("data") or {}
    spec = restore(EndpointSpec, json.loads(data[manifests.ENDPOINT_KEY]))
    doc = json.loads(data[manifests.ROUTING_KEY])
    return spec, doc["endpoints"][spec.name]


async def deployment_specs(client: KubeClient, endpoint: str) -> dict[str, DeploymentSpec]:
    """The applied spec of each of the endpoint's deployments, from their Deployments' annotations."""
    out: dict[str, DeploymentSpec] = {}
    for item in await client.list("Deployment", naming.inference(endpoint)):
        annotations = item["metadata"].get("annotations") or {}
        spec = restore(DeploymentSpec, json.loads(annotations[naming.SPEC_ANNOTATION]))
        out[spec.name] = spec
    return out


# --- endpoints --------------------------------------------------------------------------------------------------
async def _node_address(client: KubeClient) -> str | None:
    try:
        nodes = (await client.request("GET", "/api/v1/nodes")).get("items") or []
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


async def endpoint_view(client: KubeClient, routing_cm: Mapping[str, Any]) -> EndpointView:
    spec, entry = routing_of(routing_cm)
    gateway = await client.find("Deployment", naming.gateway_name(spec.name))
    service = await client.find("Service", naming.gateway_name(spec.name))
    if gateway is not None and (gateway["metadata"].get("deletionTimestamp")):
        state = ProvisioningState.DELETING
    elif gateway_ready(gateway):
        state = ProvisioningState.SUCCEEDED
    else:
        state = ProvisioningState.CREATING
    node_port = service is not None and service["spec"].get("type") == "NodePort"
    node = await _node_address(client) if node_port else None
    address = scoring_address(service, node)
    return EndpointView(
        BACKEND,
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


async def list_endpoints(targets: Targets) -> list[EndpointView]:
    views: list[EndpointView] = []
    selector = naming.selector({naming.MANAGED_BY: naming.MANAGER, naming.COMPONENT: naming.GATEWAY})
    for target in await targets.all():
        client = targets.client(target)
        for cm in await client.list("ConfigMap", selector):
            if manifests.ROUTING_KEY in (cm.get("data") or {}):
                views.append(await endpoint_view(client, cm))
    return sorted(views, key=lambda v: v.name)


async def get_endpoint(targets: Targets, name: str) -> EndpointView:
    return await endpoint_view(*await targets.locate(name))


# --- deployments ------------------------------------------------------------------------------------------------
async def deployment_view(
    client: KubeClient, deployment: dict[str, Any], *, reconcile: bool = False
) -> DeploymentView:
    """The deployment as the cluster has it. Only a caller following the rollout (`reconcile`) acts on a
    failure it sees, by rolling back; any other read leaves the cluster as it is."""
    labels = deployment["metadata"]["labels"]
    selector = naming.inference(labels[naming.ENDPOINT], labels[naming.DEPLOYMENT])
    replicasets = await client.list("ReplicaSet", selector)
    pods = await client.list("Pod", selector)
    result = deployment_status(deployment, replicasets, pods)
    unsettled = result.state is ProvisioningState.FAILED and naming.FAILURE_ANNOTATION not in (
        deployment["metadata"].get("annotations") or {}
    )
    if unsettled and reconcile:
        deployment, reason = await rollout.roll_back(client, deployment, replicasets, result.reason)
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
        BACKEND, spec, result.state, result.revision, result.instances, result.rollout, result.reason
    )


async def get_deployment(
    targets: Targets, endpoint: str, name: str, *, reconcile: bool = False
) -> DeploymentView:
    client, _ = await targets.locate(endpoint)
    deployment = await client.find("Deployment", naming.deployment_name(endpoint, name))
    if deployment is None or (deployment["metadata"].get("labels") or {}).get(naming.DEPLOYMENT) != name:
        raise NotFound(f"deployment {endpoint}/{name} does not exist on the kubernetes backend")
    return await deployment_view(client, deployment, reconcile=reconcile)


async def list_deployments(targets: Targets, endpoint: str) -> list[DeploymentView]:
    client, _ = await targets.locate(endpoint)
    deployments = await client.list("Deployment", naming.inference(endpoint))
    return sorted([await deployment_view(client, d) for d in deployments], key=lambda v: v.name)
