"""Rows of the state store as values: endpoint and deployment specs as the pydantic models they are."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from endpointctl.core.spec import DeploymentSpec, EndpointSpec, EnvironmentSpec, ModelSpec

# What `model create` / `environment create` registered, with paths into the blob store.
AssetSpec = ModelSpec | EnvironmentSpec


@dataclass(frozen=True)
class AssetRecord:
    kind: str  # "model" | "environment"
    name: str
    version: str
    digest: str
    spec: AssetSpec
    blob_path: str | None
    archived: bool
    created_at: float


@dataclass(frozen=True)
class EndpointRecord:
    backend: str
    name: str
    spec: EndpointSpec
    provisioning_state: str
    scoring_port: int | None
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class DeploymentRecord:
    backend: str
    endpoint: str
    name: str
    spec: DeploymentSpec
    provisioning_state: str
    revision: int
    created_at: float
    updated_at: float
    live_revision: int | None = None
    live_spec: DeploymentSpec | None = None
    reason: str = ""


@dataclass(frozen=True)
class KeyRecord:
    backend: str
    endpoint: str
    primary_key: str
    secondary_key: str
    token_secret: str
    updated_at: float

    def __repr__(self) -> str:
        # Keys must never reach a log line through a stray repr().
        return f"KeyRecord(backend={self.backend!r}, endpoint={self.endpoint!r}, keys=<redacted>)"


@dataclass(frozen=True)
class EventRecord:
    id: int
    ts: float
    backend: str
    endpoint: str
    deployment: str | None
    kind: str
    message: str
    data: dict[str, Any] = field(default_factory=dict)
