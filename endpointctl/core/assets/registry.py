"""Registered models and environments (`endpointctl model|environment create|list|show|archive`).

A version is immutable: its files are copied into the content-addressed blob store, and registering
the same name and version with other content is an error that names both digests. Registering identical
content again returns the existing version, so scripts can re-run `create` safely.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from endpointctl.core.assets.blobs import BlobStore
from endpointctl.core.digest import bytes_digest
from endpointctl.core.errors import Conflict, InvalidInput, NotFound
from endpointctl.core.spec import AssetRef, EnvironmentSpec, ModelSpec, spec_to_dict
from endpointctl.core.store import AssetRecord, AssetSpec, Store

MODEL = "model"
ENVIRONMENT = "environment"


@dataclass(frozen=True)
class RegisteredAsset:
    kind: str
    name: str
    version: str
    digest: str
    # As registered: paths point into the blob store, name and version are the registered ones.
    spec: AssetSpec
    blob_path: Path | None
    archived: bool
    created_at: float

    @property
    def reference(self) -> str:
        return f"azureml:{self.name}:{self.version}"

    @property
    def environment(self) -> EnvironmentSpec:
        """The spec of a registered environment (InvalidInput if this asset is a model)."""
        if not isinstance(self.spec, EnvironmentSpec):
            raise InvalidInput(f"{self.reference} is a {self.kind}, not an environment")
        return self.spec

    def to_show(self) -> dict[str, Any]:
        out = {k: v for k, v in spec_to_dict(self.spec).items() if k != "$schema"}
        out.update(
            {
                "name": self.name,
                "version": self.version,
                "id": self.reference,
                "digest": self.digest,
                "archived": self.archived,
                "creation_context": {"created_at": _iso(self.created_at)},
            }
        )
        return out


class AssetRegistry:
    def __init__(self, store: Store, blobs: BlobStore) -> None:
        self._store = store
        self._blobs = blobs

    # --- registration ---------------------------------------------------------------------------
    def register_model(
        self, spec: ModelSpec, *, name: str | None = None, version: str | None = None
    ) -> RegisteredAsset:
        name = name or spec.name
        if not name:
            raise InvalidInput("model: a name is required (-n/--name or `name:` in the file)")
        if spec.path is None:
            raise InvalidInput(f"model {name}: `path` is required to register a local model")
        digest, stored = self._blobs.put_tree(Path(spec.path))
        return self._register(
            MODEL,
            name,
            version or spec.version,
            digest,
            spec.model_copy(update={"path": str(stored)}),
            stored,
        )

    def register_environment(
        self, spec: EnvironmentSpec, *, name: str | None = None, version: str | None = None
    ) -> RegisteredAsset:
        name = name or spec.name
        if not name:
            raise InvalidInput("environment: a name is required (-n/--name or `name:` in the file)")
        inference = spec.inference_config
        parts: dict[str, Any] = {
            "image": spec.image,
            "inference_config": None if inference is None else spec_to_dict(inference),
        }
        stored: Path | None = None
        update: dict[str, Any] = {}
        if spec.conda_file is not None:
            conda_digest, conda_stored = self._blobs.put_tree(Path(spec.conda_file))
            update["conda_file"] = str(conda_stored)
            parts["conda_file"] = conda_digest
            stored = conda_stored.parent
        if spec.build is not None and spec.build.path:
            build_digest, build_stored = self._blobs.put_tree(Path(spec.build.path))
            update["build"] = spec.build.model_copy(update={"path": str(build_stored)})
            parts["build"] = build_digest
        digest = bytes_digest(json.dumps(parts, sort_keys=True).encode())
        return self._register(
            ENVIRONMENT, name, version or spec.version, digest, spec.model_copy(update=update), stored
        )

    def _register(
        self, kind: str, name: str, version: str | None, digest: str, spec: AssetSpec, blob: Path | None
    ) -> RegisteredAsset:
        with self._store.transaction() as tx:
            if version is None:
                version = _next_version(
                    [r.version for r in tx.list_assets(kind, name, include_archived=True)]
                )
            version = str(version)
            existing = tx.get_asset(kind, name, version)
            if existing is not None:
                if existing.digest != digest:
                    raise Conflict(
                        f"{kind} {name}:{version} is already registered with content {existing.digest}; "
                        f"this content is {digest}. A version is immutable: register it as a new version."
                    )
                return _asset(existing)
            record = AssetRecord(
                kind,
                name,
                version,
                digest,
                spec.model_copy(update={"name": name, "version": version}),
                str(blob) if blob else None,
                False,
                time.time(),
            )
            tx.put_asset(record)
        return _asset(record)

    # --- lookup ---------------------------------------------------------------------------------
    def get(self, kind: str, name: str, version: str | None = None) -> RegisteredAsset:
        """A version by number, or the latest non-archived one when version is None."""
        with self._store.read() as tx:
            if version is not None:
                record = tx.get_asset(kind, name, str(version))
                if record is None:
                    known = [r.version for r in tx.list_assets(kind, name, include_archived=True)]
                    hint = f" (registered versions: {', '.join(known)})" if known else ""
                    raise NotFound(f"{kind} {name}:{version} is not registered{hint}")
                return _asset(record)
            candidates = tx.list_assets(kind, name)
        if not candidates:
            raise NotFound(f"{kind} {name} has no registered, non-archived version")
        return _asset(max(candidates, key=lambda r: _version_key(r.version, r.created_at)))

    def resolve(self, kind: str, ref: AssetRef) -> RegisteredAsset:
        if ref.registry is not None:
            raise NotFound(f"{ref}: registry assets are only available on the azure backend")
        if ref.label is not None and ref.label != "latest":
            raise NotFound(f"{ref}: only the `latest` label is known locally")
        return self.get(kind, ref.name, ref.version)

    def list(
        self, kind: str, name: str | None = None, *, include_archived: bool = False
    ) -> list[RegisteredAsset]:
        with self._store.read() as tx:
            return [_asset(r) for r in tx.list_assets(kind, name, include_archived=include_archived)]

    def set_archived(self, kind: str, name: str, version: str | None, archived: bool) -> int:
        with self._store.transaction() as tx:
            changed = tx.set_asset_archived(kind, name, version, archived)
            if changed == 0:
                what = f"{name}:{version}" if version else name
                raise NotFound(f"{kind} {what} is not registered")
            return changed


def _asset(r: AssetRecord) -> RegisteredAsset:
    return RegisteredAsset(
        r.kind,
        r.name,
        r.version,
        r.digest,
        r.spec,
        Path(r.blob_path) if r.blob_path else None,
        r.archived,
        r.created_at,
    )


def _version_key(version: str, created_at: float) -> tuple[int, int, float]:
    # Numeric versions order numerically and above non-numeric ones, which fall back to registration time.
    return (1, int(version), created_at) if version.isdigit() else (0, 0, created_at)


def _next_version(existing: list[str]) -> str:
    numeric = [int(v) for v in existing if v.isdigit()]
    return str(max(numeric, default=0) + 1)


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))
