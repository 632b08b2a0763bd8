"""A deployment's model, code and environment as ARM ids: references pass through, local folders are
uploaded to the workspace's default blob datastore and registered as asset versions.

A version is reused when one with the same content digest is already registered (the digest is kept in
the version's `properties`), so re-running a deployment neither re-uploads nor re-registers anything.
Local assets without a name get a content-derived name and version 1, as the SDK's anonymous assets do.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from endpointctl.backends.azure.arm import ArmClient, Tuning
from endpointctl.backends.azure.blob import BlobContainer, BlobUploader
from endpointctl.backends.azure.bodies import AssetIds
from endpointctl.backends.azure.settings import WorkspaceScope
from endpointctl.core.digest import PREFIX, bytes_digest, tree_digest
from endpointctl.core.errors import BackendUnavailable, Conflict, InvalidInput, NotFound
from endpointctl.core.spec import AssetRef, DeploymentSpec, InlineEnvironment, InlineModel
from endpointctl.core.spec.refs import parse_reference

DIGEST_PROPERTY = "endpointctl.contentDigest"
NEXT_VERSION = "next"  # shown by the dry run for a named asset without a version: ARM picks it on upload
UPLOAD_ROOT = "LocalUpload"


@dataclass(frozen=True)
class LocalAsset:
    kind: str  # codes | models | environments
    name: str
    version: str | None  # None: the next free version (or the one that already has this content)
    digest: str
    anonymous: bool
    source: Path | None = None  # uploaded before registering (code folder, model path, build context)
    fields: dict[str, Any] = field(default_factory=dict)  # the version's other ARM properties

    def id_in(self, scope: WorkspaceScope) -> str:
        return scope.asset_id(self.kind, self.name, self.version or NEXT_VERSION)


@dataclass(frozen=True)
class AssetPlan:
    model: str | LocalAsset | None
    code: str | LocalAsset | None
    environment: str | LocalAsset | None

    def ids(self, scope: WorkspaceScope) -> AssetIds:
        def one(value: str | LocalAsset | None) -> str | None:
            return value.id_in(scope) if isinstance(value, LocalAsset) else value

        return AssetIds(one(self.model), one(self.code), one(self.environment))

    @property
    def local(self) -> list[LocalAsset]:
        return [a for a in (self.model, self.code, self.environment) if isinstance(a, LocalAsset)]


def _anonymous_name(digest: str) -> str:
    return digest.removeprefix(PREFIX)[:32]


def ref_id(ref: AssetRef, kind: str, scope: WorkspaceScope) -> str:
    if ref.registry is not None:
        return str(ref)
    if ref.version is not None:
        return scope.asset_id(kind, ref.name, ref.version)
    # A label (`@latest`) is resolved against the workspace in `resolve`; the plan shows it as written.
    return f"{scope.workspace_id}/{kind}/{ref.name}/labels/{ref.label}"


def plan_assets(spec: DeploymentSpec, scope: WorkspaceScope) -> AssetPlan:
    """What each asset becomes, from local files only (digests), without contacting anything."""
    model: str | LocalAsset | None = None
    if isinstance(spec.model, AssetRef):
        model = ref_id(spec.model, "models", scope)
    elif isinstance(spec.model, InlineModel):
        model = _model(spec.model)
    code: str | LocalAsset | None = None
    if spec.code_configuration is not None:
        code = _code(spec.code_configuration.code, scope)
    environment: str | LocalAsset | None = None
    if isinstance(spec.environment, AssetRef):
        environment = ref_id(spec.environment, "environments", scope)
    elif isinstance(spec.environment, InlineEnvironment):
        environment = _environment(spec.environment)
    return AssetPlan(model, code, environment)


def _model(m: InlineModel) -> LocalAsset:
    path = Path(m.path)
    digest = tree_digest(path)
    fields: dict[str, Any] = {"modelType": m.type}
    if m.description:
        fields["description"] = m.description
    if m.name:
        return LocalAsset("models", m.name, m.version, digest, False, path, fields)
    return LocalAsset("models", _anonymous_name(digest), "1", digest, True, path, fields)


def _code(code: str, scope: WorkspaceScope) -> str | LocalAsset:
    if code.startswith("azureml:"):
        rest = code.removeprefix("azureml:")
        if rest.startswith("/subscriptions/"):
            return rest
        try:
            ref = AssetRef.model_validate(parse_reference(code))
        except ValueError as exc:
            raise InvalidInput(f"code_configuration.code: {exc}") from None
        return ref_id(ref, "codes", scope)
    path = Path(code)
    digest = tree_digest(path)
    return LocalAsset("codes", _anonymous_name(digest), "1", digest, True, path)


def _environment(env: InlineEnvironment) -> LocalAsset:
    fields: dict[str, Any] = {"osType": env.os_type.capitalize()}
    parts: dict[str, Any] = {"os": env.os_type}
    source: Path | None = None
    if env.image is not None:
        fields["image"] = env.image
        parts["image"] = env.image
    if env.conda_file is not None:
        text = Path(env.conda_file).read_text(encoding="utf-8")
        fields["condaFile"] = text
        parts["conda"] = bytes_digest(text.encode())
    if env.build is not None:
        source = Path(env.build.path)
        parts["build"] = tree_digest(source)
        parts["dockerfile"] = env.build.dockerfile_path
        fields["build"] = {"dockerfilePath": env.build.dockerfile_path}
    if env.inference_config is not None:
        ic = env.inference_config
        fields["inferenceConfig"] = {
            "livenessRoute": {"port": ic.liveness_route.port, "path": ic.liveness_route.path},
            "readinessRoute": {"port": ic.readiness_route.port, "path": ic.readiness_route.path},
            "scoringRoute": {"port": ic.scoring_route.port, "path": ic.scoring_route.path},
        }
        parts["inference"] = fields["inferenceConfig"]
    if env.description:
        fields["description"] = env.description
    digest = bytes_digest(json.dumps(parts, sort_keys=True).encode())
    if env.name:
        return LocalAsset("environments", env.name, env.version, digest, False, source, fields)
    return LocalAsset("environments", _anonymous_name(digest), "1", digest, True, source, fields)


def upload_prefix(asset: LocalAsset) -> str:
    """The datastore folder a local asset goes to: one per content digest, so uploads are idempotent."""
    return f"{UPLOAD_ROOT}/{asset.digest.removeprefix(PREFIX)[:32]}"


def upload_root(asset: LocalAsset) -> str:
    """The blob path of the uploaded file or folder (BlobUploader.upload_tree's answer)."""
    assert asset.source is not None
    return f"{upload_prefix(asset)}/{asset.source.name}"


def uploaded_location(
    asset: LocalAsset, scope: WorkspaceScope, datastore: str, blob_url: str, root: str
) -> dict[str, Any]:
    """The version properties that point at the uploaded files (codeUri, modelUri or build.contextUri)."""
    if asset.kind == "codes":
        return {"codeUri": blob_url}
    if asset.kind == "models":
        return {
            "modelUri": f"azureml://subscriptions/{scope.subscription}/resourcegroups/{scope.group}"
            f"/workspaces/{scope.workspace}/datastores/{datastore}/paths/{root}"
        }
    return {"build": {**asset.fields.get("build", {}), "contextUri": blob_url}}


def version_body(asset: LocalAsset, location: dict[str, Any] | None = None) -> dict[str, Any]:
    """The PUT body that registers a local asset's version (location: where its files were uploaded)."""
    properties: dict[str, Any] = {
        **asset.fields,
        "isAnonymous": asset.anonymous,
        "properties": {DIGEST_PROPERTY: asset.digest},
        **(location or {}),
    }
    return {"properties": properties}


class AssetResolver:
    """Turns a plan into ARM ids that exist: registers what is missing, uploading files first."""

    def __init__(self, client: ArmClient, scope: WorkspaceScope, tuning: Tuning) -> None:
        self._arm = client
        self._scope = scope
        self._tuning = tuning
        self._datastore: tuple[str, BlobContainer] | None = None
        self.uploaded: list[str] = []  # blob paths this resolver wrote (tests and progress)

    async def resolve(self, plan: AssetPlan) -> AssetIds:
        async def one(value: str | LocalAsset | None, kind: str) -> str | None:
            if isinstance(value, LocalAsset):
                return await self._ensure(value)
            if value is not None and "/labels/" in value:
                return await self._latest(kind, value)
            return value

        return AssetIds(
            await one(plan.model, "models"),
            await one(plan.code, "codes"),
            await one(plan.environment, "environments"),
        )

    async def _latest(self, kind: str, label_id: str) -> str:
        name = label_id.split(f"/{kind}/")[1].split("/")[0]
        versions = await self._arm.list_all(self._scope.asset_url(kind, name), what=f"list {kind} {name}")
        live = [v for v in versions if not _dict(v.get("properties")).get("isArchived")]
        if not live:
            raise NotFound(f"azure: {kind[:-1]} {name} has no registered, non-archived version")
        best = max(live, key=lambda v: _version_key(str(v.get("name", ""))))
        return self._scope.asset_id(kind, name, str(best.get("name")))

    async def _ensure(self, asset: LocalAsset) -> str:
        what = f"{asset.kind[:-1]} {asset.name}"
        version = asset.version
        if version is not None:
            found = await self._arm.request(
                "GET",
                self._scope.asset_url(asset.kind, asset.name, version),
                what=what,
                allow=frozenset({404}),
            )
            if found.status != 404:
                have = _dict(_dict(_dict(found.body).get("properties")).get("properties")).get(
                    DIGEST_PROPERTY
                )
                if have == asset.digest:
                    return self._scope.asset_id(asset.kind, asset.name, version)
                raise Conflict(
                    f"azure: {what}:{version} is already registered with other content "
                    f"({have or 'not registered by endpointctl'}; this is {asset.digest}). "
                    "A version is immutable: give a new version."
                )
        else:
            versions = await self._arm.list_all(self._scope.asset_url(asset.kind, asset.name), what=what)
            for v in versions:
                props = _dict(_dict(v.get("properties")).get("properties"))
                if props.get(DIGEST_PROPERTY) == asset.digest:
                    return self._scope.asset_id(asset.kind, asset.name, str(v.get("name")))
            numeric = [int(str(v.get("name"))) for v in versions if str(v.get("name", "")).isdigit()]
            version = str(max(numeric, default=0) + 1)
        body = await self._body(asset)
        await self._arm.request(
            "PUT", self._scope.asset_url(asset.kind, asset.name, version), json=body, what=f"register {what}"
        )
        return self._scope.asset_id(asset.kind, asset.name, version)

    async def _body(self, asset: LocalAsset) -> dict[str, Any]:
        if asset.source is None:
            return version_body(asset)
        datastore, container = await self._default_datastore()
        uploader = BlobUploader(self._arm.http, container, self._tuning)
        root = await uploader.upload_tree(asset.source, upload_prefix(asset))
        self.uploaded.extend(uploader.uploaded)
        return version_body(
            asset, uploaded_location(asset, self._scope, datastore, container.url(root), root)
        )

    async def _default_datastore(self) -> tuple[str, BlobContainer]:
        if self._datastore is not None:
            return self._datastore
        stores = await self._arm.list_all(
            self._scope.url("datastores") + "?isDefault=true", what="find the default datastore"
        )
        blob = [s for s in stores if _dict(s.get("properties")).get("datastoreType") == "AzureBlob"]
        if not blob:
            raise BackendUnavailable(
                f"azure: workspace {self._scope.workspace} has no default blob datastore to upload local assets to"
            )
        name = str(blob[0].get("name"))
        props = _dict(blob[0].get("properties"))
        secrets = await self._arm.request(
            "POST",
            self._scope.url("datastores", name, "listSecrets"),
            what=f"get upload credentials of {name}",
        )
        data = _dict(secrets.body)
        kind = data.get("secretsType")
        if kind not in ("AccountKey", "Sas"):
            raise BackendUnavailable(
                f"azure: datastore {name} uses {kind or 'identity-based'} access; endpointctl uploads with an "
                "account key or a SAS token"
            )
        container = BlobContainer.of(
            str(props.get("accountName")),
            str(props.get("containerName")),
            endpoint=str(props.get("endpoint") or "core.windows.net"),
            protocol=str(props.get("protocol") or "https"),
            account_key=data.get("key") if kind == "AccountKey" else None,
            sas_token=data.get("sasToken") if kind == "Sas" else None,
        )
        self._datastore = (name, container)
        return self._datastore


def _dict(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {}


def _version_key(version: str) -> tuple[int, int, str]:
    return (1, int(version), "") if version.isdigit() else (0, 0, version)
