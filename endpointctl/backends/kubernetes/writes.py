"""Changes to the cluster: endpoints, deployments and traffic applied as objects, and their cleanup.

The routing ConfigMap is rewritten whenever the set of deployments or the split changes; the gateway reloads
it when the kubelet refreshes the mount. Reading the sources and building and pushing images (images.py) block
on files and the Docker engine, so they run in a thread, before any object is sent; everything else is async
requests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from endpointctl.backends.engine.builder import Progress
from endpointctl.backends.kubernetes import manifests, naming, packaging
from endpointctl.backends.kubernetes.apply import apply, delete_labelled
from endpointctl.backends.kubernetes.client import KubeClient
from endpointctl.backends.kubernetes.credentials import admin_token, key_material
from endpointctl.backends.kubernetes.images import GatewayImage, ImageSupply
from endpointctl.backends.kubernetes.settings import KubeSettings
from endpointctl.backends.kubernetes.targets import Targets
from endpointctl.backends.kubernetes.views import deployment_specs, routing_of
from endpointctl.core.assets import AssetRegistry
from endpointctl.core.spec import DeploymentSpec, EndpointSpec
from endpointctl.core.traffic import TrafficSplit


def endpoint_docs(
    spec: EndpointSpec,
    namespace: str,
    settings: KubeSettings,
    keys: manifests.KeyMaterial | None,
    deployments: Mapping[str, DeploymentSpec],
    gateway_image: GatewayImage,
    admin_token: str | None = None,
) -> list[dict[str, Any]]:
    return manifests.endpoint_manifests(
        spec,
        namespace,
        settings,
        keys=keys,
        admin_token=admin_token,
        deployments=deployments,
        gateway_image=gateway_image,
    )


async def apply_endpoint(
    targets: Targets,
    spec: EndpointSpec,
    settings: KubeSettings,
    fresh_keys: Callable[[], manifests.KeyMaterial],
    fresh_admin_token: Callable[[], str],
    images: ImageSupply,
    progress: Progress | None = None,
) -> None:
    target = await targets.for_spec(spec)
    gateway_image = await asyncio.to_thread(
        images.gateway, settings.gateway_image, endpoint=spec.name, build=True, progress=progress
    )
    client = targets.client(target)
    keys = await key_material(client, spec.name) or fresh_keys()
    # Generated once per endpoint, like the keys; an endpoint created before admin tokens existed gets one now.
    token = await admin_token(client, spec.name) or fresh_admin_token()
    deployments = await deployment_specs(client, spec.name)
    docs = endpoint_docs(spec, target.namespace, settings, keys, deployments, gateway_image, token)
    for doc in docs:
        await apply(client, doc)
    # Gateways of earlier versions installed their code from a ConfigMap; the image carries it now.
    for cm in await client.list("ConfigMap", naming.selector(naming.labels(spec.name, naming.GATEWAY))):
        name = cm["metadata"]["name"]
        if name.startswith(naming.gateway_host_name(spec.name, "")):
            await client.delete("ConfigMap", name)


async def delete_endpoint(targets: Targets, name: str) -> None:
    client, _ = await targets.locate(name)
    await delete_labelled(client, naming.ours(name))


async def write_routing(
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
    await apply(client, manifests.routing_config_map(spec, routing, client.target.namespace))


async def prepare_deployment(
    targets: Targets, spec: DeploymentSpec, registry: AssetRegistry
) -> tuple[packaging.PodSources, KubeClient, dict[str, Any]]:
    """Everything checked before anything is built: the sources (scheme, environment, paths) and the endpoint.
    Returns the sources, the endpoint's client and its routing ConfigMap."""
    sources = await asyncio.to_thread(packaging.pod_sources, spec, registry)
    client, routing_cm = await targets.locate(spec.endpoint_name)
    return sources, client, routing_cm


async def apply_deployment(
    client: KubeClient,
    routing_cm: dict[str, Any],
    spec: DeploymentSpec,
    sources: packaging.PodSources,
    settings: KubeSettings,
    images: ImageSupply,
    progress: Progress | None = None,
) -> None:
    """Build and push the images (before anything is sent), then apply the objects and the routing."""
    pod_images = await asyncio.to_thread(
        images.deployment,
        sources,
        endpoint=spec.endpoint_name,
        deployment=spec.name,
        build=True,
        progress=progress,
    )
    await _ensure_instance_token(client, spec.endpoint_name)
    docs = manifests.deployment_manifests(spec, sources, pod_images, client.target.namespace, settings)
    autoscaled = any(d["kind"] == "HorizontalPodAutoscaler" for d in docs)
    for doc in docs:
        await apply(client, doc, keep_replicas=autoscaled)
    hpa_name = naming.deployment_name(spec.endpoint_name, spec.name)
    if not autoscaled and await client.find("HorizontalPodAutoscaler", hpa_name):
        await client.delete("HorizontalPodAutoscaler", hpa_name)
    endpoint_spec, entry = routing_of(routing_cm)
    deployments = {**await deployment_specs(client, spec.endpoint_name), spec.name: spec}
    await write_routing(
        client, endpoint_spec, deployments, entry.get("traffic", {}), entry.get("mirror_traffic", {})
    )
    await _collect_packages(client, spec.endpoint_name, spec.name)


async def _ensure_instance_token(client: KubeClient, endpoint: str) -> None:
    """An endpoint created before instance tokens has neither the Secret its pods mount nor the token in the
    gateway's keys: both are written before a deployment that needs them."""
    if await client.find("Secret", naming.instance_token_secret_name(endpoint)) is not None:
        return
    keys = await key_material(client, endpoint)
    if keys is None:
        return  # no keys Secret either: the endpoint's own apply writes all three
    namespace = client.target.namespace
    await apply(client, manifests.keys_secret(endpoint, keys, namespace))
    await apply(client, manifests.instance_token_secret(endpoint, keys, namespace))


async def _collect_packages(client: KubeClient, endpoint: str, name: str) -> None:
    """Delete the package ConfigMaps of earlier versions (model and code travel in images now) once no
    ReplicaSet can roll back to them any more."""
    wanted: set[str] = set()
    for rs in await client.list("ReplicaSet", naming.inference(endpoint, name)):
        for volume in rs["spec"]["template"]["spec"].get("volumes") or []:
            if "configMap" in volume:
                wanted.add(volume["configMap"]["name"])
    for cm in await client.list("ConfigMap", naming.selector(naming.labels(endpoint, naming.PACKAGE, name))):
        if cm["metadata"]["name"] not in wanted:
            await client.delete("ConfigMap", cm["metadata"]["name"])


async def delete_deployment(targets: Targets, endpoint: str, name: str) -> None:
    client, routing_cm = await targets.locate(endpoint)
    await delete_labelled(client, naming.ours(endpoint, name))
    endpoint_spec, entry = routing_of(routing_cm)
    deployments = await deployment_specs(client, endpoint)
    deployments.pop(name, None)
    await write_routing(
        client, endpoint_spec, deployments, entry.get("traffic", {}), entry.get("mirror_traffic", {})
    )


async def set_traffic(targets: Targets, endpoint: str, split: TrafficSplit) -> None:
    client, routing_cm = await targets.locate(endpoint)
    endpoint_spec, _ = routing_of(routing_cm)
    deployments = await deployment_specs(client, endpoint)
    await write_routing(client, endpoint_spec, deployments, split.weights, split.mirror)
