"""The endpoint gateway: auth, traffic split, mirroring, balancing and Azure's router answers in front of models.

Public API: :class:`Gateway` (embedded in an asyncio loop), :class:`GatewayConfig` (its JSON desired state) and
``python -m endpointctl.serving.gateway`` (standalone, driven through the admin API in :mod:`.admin`).
"""

from endpointctl.serving.gateway.config import ConfigError, DeploymentConfig, EndpointConfig, GatewayConfig
from endpointctl.serving.gateway.gateway import Gateway, GatewayBindError

__all__ = [
    "ConfigError",
    "DeploymentConfig",
    "EndpointConfig",
    "Gateway",
    "GatewayBindError",
    "GatewayConfig",
]
