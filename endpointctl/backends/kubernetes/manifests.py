"""Specs to manifests: pure functions, no cluster, no clock, no randomness (keys are passed in).

What a Kubernetes engineer would write by hand, per endpoint: a Secret (keys), a ConfigMap (the gateway's
routing table and the endpoint spec), the gateway as a Deployment of the gateway image with a
LoadBalancer/NodePort Service and a ClusterIP Service for its admin port (metrics, health). Per deployment: a
Deployment (init container `storage-initializer` running the modelcar image, container `inference-server`
running the environment image — images.py builds both; nothing is installed when a pod starts — RollingUpdate
maxSurge 20% maxUnavailable 0), a ClusterIP Service, and an autoscaling/v2 HPA for
`scale_settings: target_utilization`.

What a platform team asks of them (hardening.py holds the shared pieces): every pod runs as a non-root user
with the runtime's seccomp profile, no capabilities, no privilege escalation and a read-only root filesystem
(emptyDir volumes for what it writes), mounts no service-account token, spreads over nodes, and is covered by a
PodDisruptionBudget; the gateway runs `kube_gateway_replicas` pods (2 by default) with CPU and memory requests
and limits; NetworkPolicies let only the endpoint's gateway pods reach its inference servers, and the
gateway's admin port answers only with the endpoint's admin token (a Secret, like the keys).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from endpointctl.backends.common.routing import deployment_config, endpoint_config
from endpointctl.backends.kubernetes import hardening, naming
from endpointctl.backends.kubernetes.images import (
    MODELCAR_ROOT,
    DeploymentImages,
    GatewayImage,
)
from endpointctl.backends.kubernetes.packaging import APP_ROOT, PodSources
from endpointctl.backends.kubernetes.settings import KubeSettings
from endpointctl.core.spec import DeploymentSpec, EndpointSpec, ProbeSettings, spec_to_dict
from endpointctl.core.spec.deployment import ResourceAmounts, TargetUtilizationScaleSettings
from endpointctl.serving.gateway.config import EndpointConfig, GatewayConfig, routing_document
from endpointctl.serving.gateway.config import keys_document as gateway_keys_document

SCORING_PORT = 5001
GATEWAY_PORT = 8080
GATEWAY_ADMIN_PORT = 9090
SERVICE_PORT = 80
PVC_MOUNT = "/mnt/endpointctl"
ROUTING_MOUNT = "/etc/endpointctl/routing"
KEYS_MOUNT = "/etc/endpointctl/keys"
ADMIN_TOKEN_MOUNT = "/etc/endpointctl/admin"
ROUTING_KEY = naming.ROUTING_KEY
ENDPOINT_KEY = naming.ENDPOINT_KEY
KEYS_KEY = "keys.json"
ADMIN_TOKEN_KEY = "token"
# The instance token: a pod IP is reachable from anywhere the NetworkPolicy is not enforced (not every CNI
# enforces them), so the scoring host also requires this token, which only the endpoint's gateway sends.
INSTANCE_TOKEN_MOUNT = "/etc/endpointctl/instance-token"
INSTANCE_TOKEN_KEY = "token"
# The images put their venv first on PATH; the command names its interpreter outright so a base image's
# ENTRYPOINT (Kubernetes' `command` replaces it) never stands between the kubelet and the server.
PYTHON = "python"


@dataclass(frozen=True)
class KeyMaterial:
    primary: str
    secondary: str
    token_secret: str  # hex

    def __repr__(self) -> str:
        return "KeyMaterial(<redacted>)"


def _meta(
    name: str, namespace: str, labels: dict[str, str], annotations: dict[str, str] | None = None
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "labels": dict(labels)}
    if annotations:
        meta["annotations"] = dict(annotations)
    return meta


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _python(*args: str) -> list[str]:
    return [PYTHON, *args]


def _config_map(name: str, namespace: str, labels: dict[str, str], data: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(name, namespace, labels),
        "data": data,
        "immutable": False,
    }


# --- deployments -------------------------------------------------------------------------------------------
def stage_plan(sources: PodSources, pvc_paths: Mapping[str, str]) -> dict[str, Any]:
    """The storage-initializer's work (endpointctl/serving/storage.py): copy the modelcar's folders, then
    fetch the remote sources."""
    copy = [{"source": f"{MODELCAR_ROOT}/{s.key}", "target": s.target} for s in sources.local]
    remote = []
    for kind, source, target in (
        ("model", sources.model_remote, sources.model_target),
        ("code", sources.code_remote, sources.code_target),
    ):
        if source is None or target is None:
            continue
        where = pvc_paths[kind] if source.scheme == "pvc" else source.uri
        remote.append({"scheme": source.scheme, "uri": source.uri, "source": where, "target": target})
    return {"copy": copy, "remote": remote}


def _probe(settings: ProbeSettings, *, liveness: bool) -> dict[str, Any]:
    return {
        "httpGet": {"path": "/", "port": "http"},
        "initialDelaySeconds": settings.initial_delay,
        "periodSeconds": settings.period,
        "timeoutSeconds": settings.timeout,
        # The API server rejects a liveness probe whose successThreshold is not 1.
        "successThreshold": 1 if liveness else settings.success_threshold,
        "failureThreshold": settings.failure_threshold,
    }


def _amounts(amounts: ResourceAmounts | None) -> dict[str, str]:
    if amounts is None:
        return {}
    out = {"cpu": amounts.cpu, "memory": amounts.memory, "nvidia.com/gpu": amounts.gpu}
    return {k: v for k, v in out.items() if v is not None}


def _resources(spec: DeploymentSpec) -> dict[str, Any]:
    if spec.resources is None:
        return {}
    out = {"requests": _amounts(spec.resources.requests), "limits": _amounts(spec.resources.limits)}
    return {k: v for k, v in out.items() if v}


def replicas(spec: DeploymentSpec) -> int:
    scale = spec.scale_settings
    if isinstance(scale, TargetUtilizationScaleSettings):
        return max(1, scale.min_instances)
    return spec.instance_count


def deployment_manifests(
    spec: DeploymentSpec,
    sources: PodSources,
    images: DeploymentImages,
    namespace: str,
    settings: KubeSettings,
) -> list[dict[str, Any]]:
    endpoint, name = spec.endpoint_name, spec.name
    labels = naming.labels(endpoint, naming.INFERENCE, name)
    object_name = naming.deployment_name(endpoint, name)
    spec_json = _json(spec_to_dict(spec))

    pvc_paths: dict[str, str] = {}
    volumes: list[dict[str, Any]] = [{"name": "app", "emptyDir": {}}, hardening.SCRATCH_VOLUME]
    init_mounts: list[dict[str, Any]] = [{"name": "app", "mountPath": APP_ROOT}, hardening.SCRATCH_MOUNT]
    for kind, source in (("model", sources.model_remote), ("code", sources.code_remote)):
        if source is None or source.scheme != "pvc":
            continue
        volumes.append(
            {"name": f"{kind}-source", "persistentVolumeClaim": {"claimName": source.claim, "readOnly": True}}
        )
        mount = f"{PVC_MOUNT}/{kind}"
        init_mounts.append(
            {"name": f"{kind}-source", "mountPath": mount, "subPath": source.sub_path, "readOnly": True}
        )
        pvc_paths[kind] = mount

    init_env = [
        {"name": "ENDPOINTCTL_STAGE_PLAN", "value": _json(stage_plan(sources, pvc_paths))},
        *hardening.SCRATCH_ENV,
    ]
    volumes.append(
        {
            "name": "instance-token",
            "secret": {
                "secretName": naming.instance_token_secret_name(endpoint),
                "defaultMode": hardening.SECRET_FILE_MODE,
            },
        }
    )
    env = {
        **{e["name"]: e["value"] for e in hardening.SCRATCH_ENV},
        "ENDPOINTCTL_INSTANCE_TOKEN_FILE": f"{INSTANCE_TOKEN_MOUNT}/{INSTANCE_TOKEN_KEY}",
        "SERVER_PORT": str(SCORING_PORT),
        **sources.env,
        **spec.environment_variables,
    }
    server: dict[str, Any] = {
        "name": "inference-server",
        "image": images.environment,
        "imagePullPolicy": images.pull_policy,
        "command": _python("-m", "endpointctl.serving.scoring"),
        "env": [{"name": k, "value": v} for k, v in env.items()],
        "ports": [{"name": "http", "containerPort": SCORING_PORT, "protocol": "TCP"}],
        "livenessProbe": _probe(spec.liveness_probe, liveness=True),
        "readinessProbe": _probe(spec.readiness_probe, liveness=False),
        "securityContext": hardening.CONTAINER_SECURITY,
        "volumeMounts": [
            {"name": "app", "mountPath": APP_ROOT},
            hardening.SCRATCH_MOUNT,
            {"name": "instance-token", "mountPath": INSTANCE_TOKEN_MOUNT, "readOnly": True},
        ],
    }
    resources = _resources(spec)
    if resources:
        server["resources"] = resources
    initializer: dict[str, Any] = {
        "name": "storage-initializer",
        "image": images.initializer,
        "imagePullPolicy": images.pull_policy,
        "command": _python("-m", "endpointctl.serving.storage"),
        "env": init_env,
        "securityContext": hardening.CONTAINER_SECURITY,
        "volumeMounts": init_mounts,
    }
    if resources:
        # The initializer copies (and may download) the model: it gets the same budget as the server.
        initializer["resources"] = resources
    template_annotations = {naming.SPEC_ANNOTATION: spec_json}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(object_name, namespace, labels, {naming.SPEC_ANNOTATION: spec_json}),
        "spec": {
            "replicas": replicas(spec),
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": settings.progress_deadline_s,
            "selector": {"matchLabels": labels},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "20%", "maxUnavailable": 0}},
            "template": {
                "metadata": {"labels": labels, "annotations": template_annotations},
                "spec": {
                    "initContainers": [initializer],
                    "containers": [server],
                    "volumes": volumes,
                    "terminationGracePeriodSeconds": 30,
                    **hardening.pod_fields(labels),
                },
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(object_name, namespace, labels),
        "spec": {
            "type": "ClusterIP",
            "selector": labels,
            "ports": [{"name": "http", "port": SCORING_PORT, "targetPort": "http", "protocol": "TCP"}],
        },
    }
    docs = [deployment, service, hardening.disruption_budget(object_name, namespace, labels)]
    scale = spec.scale_settings
    if isinstance(scale, TargetUtilizationScaleSettings):
        docs.append(
            {
                "apiVersion": "autoscaling/v2",
                "kind": "HorizontalPodAutoscaler",
                "metadata": _meta(object_name, namespace, labels),
                "spec": {
                    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": object_name},
                    "minReplicas": max(1, scale.min_instances),
                    "maxReplicas": max(1, scale.max_instances, scale.min_instances),
                    "metrics": [
                        {
                            "type": "Resource",
                            "resource": {
                                "name": "cpu",
                                "target": {
                                    "type": "Utilization",
                                    "averageUtilization": scale.target_utilization_percentage,
                                },
                            },
                        }
                    ],
                },
            }
        )
    return docs


# --- endpoints ---------------------------------------------------------------------------------------------
def routing_config(
    spec: EndpointSpec,
    deployments: Mapping[str, DeploymentSpec],
    namespace: str,
    *,
    traffic: Mapping[str, int] | None = None,
    mirror: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """The gateway's document without credentials (they are in the Secret)."""
    entries = {
        # The Service spreads requests over the pods, so the gateway sees one address carrying all of them:
        # its concurrency limit is the deployment's (per instance × instances).
        name: deployment_config(
            deployments[name],
            [f"{naming.service_host(spec.name, name, namespace)}:{SCORING_PORT}"],
            instances_per_address=replicas_ceiling(deployments[name]),
        )
        for name in sorted(deployments)
    }
    endpoint = endpoint_config(
        spec, entries, host="0.0.0.0", port=GATEWAY_PORT, traffic=traffic, mirror=mirror
    )
    return routing_document(GatewayConfig({spec.name: endpoint}))


def replicas_ceiling(spec: DeploymentSpec) -> int:
    scale = spec.scale_settings
    if isinstance(scale, TargetUtilizationScaleSettings):
        return max(1, scale.max_instances, scale.min_instances)
    return spec.instance_count


def routing_config_map(spec: EndpointSpec, routing: dict[str, Any], namespace: str) -> dict[str, Any]:
    return _config_map(
        naming.routing_name(spec.name),
        namespace,
        naming.labels(spec.name, naming.GATEWAY),
        {
            ROUTING_KEY: json.dumps(routing, sort_keys=True, indent=2) + "\n",
            ENDPOINT_KEY: _json(spec_to_dict(spec)),
        },
    )


def instance_token(keys: KeyMaterial) -> str:
    """Derived from the endpoint's token secret: stable for its life, nothing new to store, never printed."""
    secret = bytes.fromhex(keys.token_secret)
    return hmac.new(secret, b"endpointctl instance token v1", hashlib.sha256).hexdigest()


def keys_document(endpoint: str, keys: KeyMaterial) -> dict[str, Any]:
    credentials = EndpointConfig(
        keys=(keys.primary, keys.secondary),
        token_secret=bytes.fromhex(keys.token_secret),
        instance_token=instance_token(keys),
    )
    return gateway_keys_document(GatewayConfig({endpoint: credentials}))


def _secret(name: str, endpoint: str, namespace: str, key: str, value: bytes) -> dict[str, Any]:
    """An Opaque Secret of the endpoint's (deleted with it) holding one file."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _meta(name, namespace, naming.labels(endpoint, naming.GATEWAY)),
        "type": "Opaque",
        "data": {key: base64.b64encode(value).decode()},
    }


def instance_token_secret(endpoint: str, keys: KeyMaterial, namespace: str) -> dict[str, Any]:
    token = instance_token(keys).encode()
    return _secret(
        naming.instance_token_secret_name(endpoint), endpoint, namespace, INSTANCE_TOKEN_KEY, token
    )


def keys_secret(endpoint: str, keys: KeyMaterial, namespace: str) -> dict[str, Any]:
    payload = json.dumps(keys_document(endpoint, keys), sort_keys=True).encode()
    return _secret(naming.keys_secret_name(endpoint), endpoint, namespace, KEYS_KEY, payload)


def admin_token_secret(endpoint: str, token: str, namespace: str) -> dict[str, Any]:
    return _secret(
        naming.admin_token_secret_name(endpoint), endpoint, namespace, ADMIN_TOKEN_KEY, token.encode()
    )


def gateway_manifests(
    spec: EndpointSpec, namespace: str, settings: KubeSettings, image: GatewayImage
) -> list[dict[str, Any]]:
    endpoint = spec.name
    labels = naming.labels(endpoint, naming.GATEWAY)
    name = naming.gateway_name(endpoint)
    # The admin port listens on the pod's address (the API server's service proxy reaches it there), so it
    # answers only with the endpoint's admin token; /healthz stays open for the kubelet's probes.
    args = (
        "-m",
        "endpointctl.serving.gateway",
        *("--admin-host", "0.0.0.0", "--admin-port", str(GATEWAY_ADMIN_PORT)),
        *("--config-file", f"{ROUTING_MOUNT}/{ROUTING_KEY}", "--keys-file", f"{KEYS_MOUNT}/{KEYS_KEY}"),
        *("--admin-token-file", f"{ADMIN_TOKEN_MOUNT}/{ADMIN_TOKEN_KEY}"),
    )
    health = {"httpGet": {"path": "/healthz", "port": "admin"}, "periodSeconds": 5, "timeoutSeconds": 2}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(name, namespace, labels),
        "spec": {
            "replicas": settings.gateway_replicas,
            "revisionHistoryLimit": 3,
            "progressDeadlineSeconds": settings.progress_deadline_s,
            "selector": {"matchLabels": labels},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {
                # Only the image is here: routing and key changes reach the pod through its volumes.
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": "gateway",
                            "image": image.reference,
                            "imagePullPolicy": image.pull_policy,
                            "command": _python(*args),
                            "env": list(hardening.SCRATCH_ENV),
                            "resources": hardening.GATEWAY_RESOURCES,
                            "securityContext": hardening.CONTAINER_SECURITY,
                            "ports": [
                                {"name": "http", "containerPort": GATEWAY_PORT, "protocol": "TCP"},
                                {"name": "admin", "containerPort": GATEWAY_ADMIN_PORT, "protocol": "TCP"},
                            ],
                            "readinessProbe": health,
                            "livenessProbe": {**health, "failureThreshold": 6},
                            "volumeMounts": [
                                {"name": "routing", "mountPath": ROUTING_MOUNT, "readOnly": True},
                                {"name": "keys", "mountPath": KEYS_MOUNT, "readOnly": True},
                                {"name": "admin-token", "mountPath": ADMIN_TOKEN_MOUNT, "readOnly": True},
                                hardening.SCRATCH_MOUNT,
                            ],
                        }
                    ],
                    "volumes": [
                        {"name": "routing", "configMap": {"name": naming.routing_name(endpoint)}},
                        {
                            "name": "keys",
                            "secret": {
                                "secretName": naming.keys_secret_name(endpoint),
                                "defaultMode": hardening.SECRET_FILE_MODE,
                            },
                        },
                        {
                            "name": "admin-token",
                            "secret": {
                                "secretName": naming.admin_token_secret_name(endpoint),
                                "defaultMode": hardening.SECRET_FILE_MODE,
                            },
                        },
                        hardening.SCRATCH_VOLUME,
                    ],
                    **hardening.pod_fields(labels),
                },
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(name, namespace, labels),
        "spec": {
            "type": settings.service_type,
            "selector": labels,
            "ports": [{"name": "http", "port": SERVICE_PORT, "targetPort": "http", "protocol": "TCP"}],
        },
    }
    admin = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(naming.gateway_admin_name(endpoint), namespace, labels),
        "spec": {
            "type": "ClusterIP",
            "selector": labels,
            "ports": [
                {"name": "admin", "port": GATEWAY_ADMIN_PORT, "targetPort": "admin", "protocol": "TCP"}
            ],
        },
    }
    return [
        deployment,
        service,
        admin,
        hardening.disruption_budget(name, namespace, labels),
        *hardening.network_policies(endpoint, namespace, SCORING_PORT, GATEWAY_PORT, GATEWAY_ADMIN_PORT),
    ]


def endpoint_manifests(
    spec: EndpointSpec,
    namespace: str,
    settings: KubeSettings,
    *,
    keys: KeyMaterial | None,
    admin_token: str | None = None,
    deployments: Mapping[str, DeploymentSpec],
    gateway_image: GatewayImage,
) -> list[dict[str, Any]]:
    """Secret and routing first, so the gateway's volumes exist when its pod is scheduled.

    `keys=None` (a dry run) leaves the Secret out: keys are generated when the endpoint is applied and are
    never printed (the admin token likewise: `admin_token=None` leaves its Secret out). The gateway's pod then waits for the Secret (the kubelet retries the mount), which
    `endpointctl online-endpoint create|update` creates when it is missing.
    """
    routing = routing_config(spec, deployments, namespace)
    secret = (
        []
        if keys is None
        else [keys_secret(spec.name, keys, namespace), instance_token_secret(spec.name, keys, namespace)]
    )
    if admin_token is not None:
        secret.append(admin_token_secret(spec.name, admin_token, namespace))
    return [
        *secret,
        routing_config_map(spec, routing, namespace),
        *gateway_manifests(spec, namespace, settings, gateway_image),
    ]
