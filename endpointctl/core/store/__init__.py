"""The persistent state store (SQLite, WAL)."""

from endpointctl.core.store.db import Store, StoreError, Tx
from endpointctl.core.store.records import (
    AssetRecord,
    AssetSpec,
    DeploymentRecord,
    EndpointRecord,
    EventRecord,
    KeyRecord,
)

__all__ = [
    "AssetRecord",
    "AssetSpec",
    "DeploymentRecord",
    "EndpointRecord",
    "EventRecord",
    "KeyRecord",
    "Store",
    "StoreError",
    "Tx",
]
