"""What every backend is handed when it is constructed: the shared state of this data directory."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from endpointctl.core.assets import AssetRegistry, BlobStore
from endpointctl.core.home import Home
from endpointctl.core.store import Store


@dataclass(frozen=True)
class BackendContext:
    home: Home
    store: Store
    registry: AssetRegistry
    # `configure --defaults` values (workspace, group, subscription, kube context/namespace, …).
    defaults: Mapping[str, str]

    @classmethod
    def open(cls, home: Home) -> BackendContext:
        home.ensure()
        store = Store(home.database)
        with store.read() as tx:
            defaults = tx.defaults()
        return cls(home, store, AssetRegistry(store, BlobStore(home.blobs)), defaults)
