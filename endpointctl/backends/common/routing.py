"""Specs to the gateway's routing: the one mapping for every backend that runs the endpoint gateway.

The document itself is ``endpointctl.serving.gateway.config``'s (its types, its serialisers, its parser); here is
only the control plane's side of it: which spec field becomes which setting, and how the traffic the store holds
is cleaned up before the gateway sees it. What differs between backends (where instances are, which port the
gateway listens on, how many pods one address stands for) comes in as arguments.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from endpointctl.core.spec import DeploymentSpec, EndpointSpec
from endpointctl.serving.gateway.config import (
    DEFAULT_SHADOW_TOLERANCE,
    DeploymentConfig,
    EndpointConfig,
    parse_address,
)


def deployment_config(
    spec: DeploymentSpec, instances: Iterable[str], *, instances_per_address: int = 1
) -> DeploymentConfig:
    """``instances`` are ``host:port`` texts; ``instances_per_address`` > 1 when one address (a Service)
    spreads requests over several instances, so the concurrency limit stays the deployment's."""
    settings = spec.request_settings
    where = f"deployments.{spec.name}.instances"
    return DeploymentConfig(
        instances=tuple(parse_address(address, where) for address in instances),
        request_timeout_ms=settings.request_timeout_ms,
        max_concurrent_requests_per_instance=settings.max_concurrent_requests_per_instance
        * instances_per_address,
        max_queue_wait_ms=settings.max_queue_wait_ms,
    )


def endpoint_config(
    spec: EndpointSpec,
    deployments: Mapping[str, DeploymentConfig],
    *,
    host: str,
    port: int,
    traffic: Mapping[str, int] | None = None,
    mirror: Mapping[str, int] | None = None,
    keys: Sequence[str] = (),
    token_secret: str = "",
    shadow_tolerance: float = DEFAULT_SHADOW_TOLERANCE,
) -> EndpointConfig:
    """The endpoint's routing; ``traffic``/``mirror`` replace the spec's, ``token_secret`` is hex (as stored).

    Without keys (Kubernetes keeps them in a Secret of their own) the result is only fit for
    :func:`~endpointctl.serving.gateway.config.routing_document`.
    """
    return EndpointConfig(
        host=host,
        port=port,
        auth_mode=spec.auth_mode,
        keys=tuple(keys),
        token_secret=bytes.fromhex(token_secret),
        traffic=routed_traffic(spec.traffic if traffic is None else traffic, deployments),
        mirror_traffic=routed_mirror(spec.mirror_traffic if mirror is None else mirror, deployments),
        deployments=dict(deployments),
        shadow_tolerance=shadow_tolerance,
    )


def routed_traffic(weights: Mapping[str, int], deployments: Iterable[str]) -> dict[str, int]:
    """Every deployment's weight, 0 when it has none; weights of deployments that are gone are dropped.

    A split that then no longer sums to 100 (a deployment deleted while it had traffic) becomes all zeros: the
    gateway refuses such a document as a whole, which would stop every endpoint's routing from changing; this
    way only that endpoint answers "no traffic" until its traffic is set again.
    """
    split = {name: weights.get(name, 0) for name in deployments}
    if sum(split.values()) not in (0, 100):
        return dict.fromkeys(split, 0)
    return split


def routed_mirror(mirror: Mapping[str, int], deployments: Iterable[str]) -> dict[str, int]:
    """The mirror, unless its deployment is gone; a mirror of 0 percent is no mirror and is left out."""
    existing = set(deployments)
    return {name: percent for name, percent in mirror.items() if percent and name in existing}
