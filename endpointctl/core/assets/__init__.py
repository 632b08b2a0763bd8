"""The local asset registry: registered models and environments."""

from endpointctl.core.assets.blobs import BlobStore
from endpointctl.core.assets.registry import ENVIRONMENT, MODEL, AssetRegistry, RegisteredAsset

__all__ = ["ENVIRONMENT", "MODEL", "AssetRegistry", "BlobStore", "RegisteredAsset"]
