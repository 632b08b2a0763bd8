"""Where an endpoint lives (kube context and namespace) and how its objects are shaped, from `configure --defaults`.

Keys (all optional): `kube_context`, `kube_namespace` (the defaults), `kube_computes`
(`inferencecompute=CONTEXT/NAMESPACE,other=CONTEXT` — what an endpoint's `compute: azureml:NAME` means; a
compute that is not listed falls back to a kubeconfig context of the same name), `kube_gateway_image`,
`kube_service_type` (`LoadBalancer` or `NodePort`), `kube_registry` (`HOST[:PORT]/PREFIX` the built images are
pushed to and pulled from by digest; without it they stay in the local engine for clusters that share it),
`kube_gateway_replicas` (how many gateway pods serve each endpoint;
2 by default so a node drain or a gateway rollout never leaves the endpoint without one).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from endpointctl.backends.engine.registry import parse_registry
from endpointctl.core.errors import InvalidInput

DEFAULT_GATEWAY_IMAGE = "python:3.11-slim"
DEFAULT_NAMESPACE = "default"
SERVICE_TYPES = ("LoadBalancer", "NodePort")
PROGRESS_DEADLINE_S = 600
DEFAULT_GATEWAY_REPLICAS = 2
MAX_GATEWAY_REPLICAS = 50


@dataclass(frozen=True)
class Target:
    """One cluster and namespace; `context` is None for the kubeconfig's current context or in-cluster."""

    context: str | None
    namespace: str

    @property
    def label(self) -> str:
        return f"{self.context or 'current-context'}/{self.namespace}"


@dataclass(frozen=True)
class KubeSettings:
    context: str | None = None
    namespace: str | None = None
    computes: Mapping[str, tuple[str, str | None]] | None = None
    gateway_image: str = DEFAULT_GATEWAY_IMAGE
    service_type: str = "LoadBalancer"
    registry: str | None = None
    progress_deadline_s: int = PROGRESS_DEADLINE_S
    gateway_replicas: int = DEFAULT_GATEWAY_REPLICAS

    @classmethod
    def from_defaults(cls, defaults: Mapping[str, str]) -> KubeSettings:
        service_type = defaults.get("kube_service_type") or "LoadBalancer"
        if service_type not in SERVICE_TYPES:
            raise InvalidInput(
                f"kube_service_type={service_type!r}: choose {' or '.join(SERVICE_TYPES)} "
                "(`endpointctl configure --defaults kube_service_type=…`)"
            )
        return cls(
            context=defaults.get("kube_context") or None,
            namespace=defaults.get("kube_namespace") or None,
            computes=parse_computes(defaults.get("kube_computes", "")),
            gateway_image=defaults.get("kube_gateway_image") or DEFAULT_GATEWAY_IMAGE,
            service_type=service_type,
            registry=parse_registry(defaults["kube_registry"]) if defaults.get("kube_registry") else None,
            gateway_replicas=parse_gateway_replicas(defaults.get("kube_gateway_replicas") or ""),
        )


def parse_gateway_replicas(text: str) -> int:
    if not text.strip():
        return DEFAULT_GATEWAY_REPLICAS
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_GATEWAY_REPLICAS:
        raise InvalidInput(
            f"kube_gateway_replicas={text!r}: a whole number from 1 to {MAX_GATEWAY_REPLICAS} "
            "(`endpointctl configure --defaults kube_gateway_replicas=…`)"
        )
    return value


def parse_computes(text: str) -> dict[str, tuple[str, str | None]]:
    """`a=ctx/ns,b=ctx` → {"a": ("ctx", "ns"), "b": ("ctx", None)}."""
    out: dict[str, tuple[str, str | None]] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, where = item.partition("=")
        context, _, namespace = where.partition("/")
        if not sep or not name or not context:
            raise InvalidInput(f"kube_computes: {item!r} is not COMPUTE=CONTEXT[/NAMESPACE]")
        out[name.strip()] = (context.strip(), namespace.strip() or None)
    return out


def compute_name(compute: str | None) -> str | None:
    if compute is None:
        return None
    return compute.removeprefix("azureml:")
