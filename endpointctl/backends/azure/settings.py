"""Which workspace the backend talks to, and the ARM URLs and resource ids inside it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote

# One pinned api-version (reference §7): every field we send exists in it.
API_VERSION = "2024-04-01"
PUBLIC_ARM = "https://management.azure.com"
# The token audience is the ARM endpoint itself; sovereign clouds have their own.
NOT_CONFIGURED = (
    "not configured: endpointctl configure --defaults subscription=… group=… workspace=… "
    "(optionally location=… arm_endpoint=…)"
)
PROVIDER = "Microsoft.MachineLearningServices"


@dataclass(frozen=True)
class WorkspaceScope:
    subscription: str
    group: str
    workspace: str
    location: str | None = None
    arm_endpoint: str = PUBLIC_ARM

    @classmethod
    def from_defaults(cls, defaults: Mapping[str, str]) -> WorkspaceScope | None:
        """None when subscription, group or workspace is missing (the backend is then unavailable)."""
        sub, group, ws = (defaults.get(k, "").strip() for k in ("subscription", "group", "workspace"))
        if not (sub and group and ws):
            return None
        arm = (defaults.get("arm_endpoint") or PUBLIC_ARM).strip().rstrip("/")
        return cls(sub, group, ws, (defaults.get("location") or "").strip() or None, arm)

    @property
    def token_scope(self) -> str:
        return f"{self.arm_endpoint}/.default"

    @property
    def workspace_id(self) -> str:
        return (
            f"/subscriptions/{self.subscription}/resourceGroups/{self.group}"
            f"/providers/{PROVIDER}/workspaces/{self.workspace}"
        )

    @property
    def workspace_url(self) -> str:
        return self.arm_endpoint + _quote(self.workspace_id)

    def url(self, *parts: str) -> str:
        """A URL below the workspace; parts are path segments (quoted here), not query strings."""
        return self.workspace_url + "".join("/" + quote(p, safe="") for p in parts)

    def endpoint_url(self, name: str) -> str:
        return self.url("onlineEndpoints", name)

    def deployment_url(self, endpoint: str, name: str) -> str:
        return self.url("onlineEndpoints", endpoint, "deployments", name)

    def asset_id(self, kind: str, name: str, version: str) -> str:
        """kind: codes, models or environments."""
        return f"{self.workspace_id}/{kind}/{name}/versions/{version}"

    def asset_url(self, kind: str, name: str, version: str | None = None) -> str:
        return self.url(kind, name, "versions", version) if version else self.url(kind, name, "versions")

    @property
    def short(self) -> str:
        """For the tree: the workspace first, the subscription shortened (ids are long GUIDs)."""
        sub = self.subscription if len(self.subscription) <= 8 else self.subscription[:8] + "…"
        return f"{sub}/{self.group}/{self.workspace}"


def _quote(path: str) -> str:
    return quote(path, safe="/")


def with_api_version(url: str) -> str:
    """ARM needs api-version on every call; nextLink and polling URLs already carry their own."""
    if "api-version=" in url:
        return url
    return url + ("&" if "?" in url else "?") + f"api-version={API_VERSION}"
