"""The cluster's API over an async HTTP client, with JSON in and out and API errors as ours.

The official `kubernetes` SDK only loads the configuration (kubeconfig.py: context, exec/OIDC auth
providers, certificate data, or in-cluster); the requests go through an `httpx.AsyncClient` built from it, so
nothing blocks the event loop except loading the configuration (once per client, in a thread) and refreshing
a token through the SDK's hook (which may run an exec plugin, so it runs in a thread too). Objects stay plain
dicts, the same shape manifests.py produces, so nothing depends on the SDK's generated models.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, Mapping
from typing import Any
from urllib.parse import quote

import httpx

from endpointctl.backends.kubernetes.kubeconfig import (
    kubeconfig_files,
    list_contexts,
    load_configuration,
    namespace_of,
    no_config_reason,
    ssl_context,
)
from endpointctl.backends.kubernetes.settings import Target
from endpointctl.core.errors import (
    BackendUnavailable,
    Conflict,
    EndpointctlError,
    InvalidInput,
    NotFound,
)

# Where they always were: callers and tests import them from here.
__all__ = [
    "RESOURCES",
    "Forbidden",
    "KubeClient",
    "kubeconfig_files",
    "list_contexts",
    "namespace_of",
    "no_config_reason",
    "translate",
]

REQUEST_TIMEOUT_S = 30.0
STATUS_TIMEOUT_S = 2.0

# kind → (API prefix, plural): every kind the backend reads or writes.
RESOURCES: dict[str, tuple[str, str]] = {
    "ConfigMap": ("/api/v1", "configmaps"),
    "Secret": ("/api/v1", "secrets"),
    "Service": ("/api/v1", "services"),
    "Pod": ("/api/v1", "pods"),
    "Event": ("/api/v1", "events"),
    "Deployment": ("/apis/apps/v1", "deployments"),
    "ReplicaSet": ("/apis/apps/v1", "replicasets"),
    "HorizontalPodAutoscaler": ("/apis/autoscaling/v2", "horizontalpodautoscalers"),
    "PodDisruptionBudget": ("/apis/policy/v1", "poddisruptionbudgets"),
    "NetworkPolicy": ("/apis/networking.k8s.io/v1", "networkpolicies"),
    "ServiceAccount": ("/api/v1", "serviceaccounts"),
    "Role": ("/apis/rbac.authorization.k8s.io/v1", "roles"),
    "RoleBinding": ("/apis/rbac.authorization.k8s.io/v1", "rolebindings"),
}


class Forbidden(EndpointctlError):
    """The cluster refused the request for the current identity (403)."""


class KubeClient:
    """One API client for one context; `namespace` is where this target's objects live.

    Building it is cheap and offline: the configuration is loaded at the first request (a dry run builds
    none, which tests/backends/kubernetes/test_dry_run_cli.py checks by replacing this class).
    """

    def __init__(self, target: Target) -> None:
        self.target = target
        self._configuration: Any = None
        self._http: httpx.AsyncClient | None = None
        self._connecting = asyncio.Lock()

    async def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            async with self._connecting:
                if self._http is None:
                    configuration = await asyncio.to_thread(load_configuration, self.target)
                    self._configuration = configuration
                    self._http = httpx.AsyncClient(
                        base_url=configuration.host,
                        verify=ssl_context(configuration),
                        proxy=configuration.proxy or None,
                        # Like the SDK: no proxy or CA from the environment, only what the kubeconfig says.
                        trust_env=False,
                        timeout=REQUEST_TIMEOUT_S,
                    )
        return self._http

    async def connect(self) -> None:
        """Load the configuration now rather than at the first request (status times the two apart)."""
        await self._client()

    async def aclose(self) -> None:
        http, self._http = self._http, None
        if http is not None:
            await http.aclose()

    async def _headers(self, content_type: str) -> dict[str, str]:
        configuration = self._configuration
        headers = {"Accept": "application/json", "Content-Type": content_type}
        if configuration.refresh_api_key_hook is not None:
            # The hook reloads an expired token, which may run the kubeconfig's exec plugin.
            token = await asyncio.to_thread(
                configuration.get_api_key_with_prefix, "BearerToken", "authorization"
            )
        else:
            token = configuration.get_api_key_with_prefix("BearerToken", "authorization")
        if token:
            headers["Authorization"] = token
        return headers

    def _extensions(self) -> dict[str, Any]:
        name = self._configuration.tls_server_name
        return {"sni_hostname": name} if name else {}

    # --- raw ----------------------------------------------------------------------------------------------
    async def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: Any = None,
        timeout_s: float = REQUEST_TIMEOUT_S,
        content_type: str = "application/json",
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """`headers`: extra ones, for what a service proxy forwards to the pod (never the kubeconfig's own)."""
        # No retries: the façade polls, and retrying here would only stretch an outage into a hang.
        http = await self._client()
        try:
            response = await http.request(
                method,
                path,
                params=query,
                content=None if body is None else json.dumps(body).encode(),
                headers={**(headers or {}), **await self._headers(content_type)},
                timeout=timeout_s,
                extensions=self._extensions(),
            )
        except (httpx.TransportError, OSError) as exc:
            raise BackendUnavailable(f"{self.host}: {str(exc) or type(exc).__name__}") from None
        data = response.content
        if not 200 <= response.status_code <= 299:
            raise translate(response.status_code, data, method, path)
        if not data:
            return {}
        try:
            return json.loads(data)
        except ValueError:
            return data.decode("utf-8", "replace")

    async def stream_lines(self, path: str, query: Mapping[str, str]) -> AsyncGenerator[bytes]:
        """GET a streaming resource (watch, follow=true logs) and yield its lines as they arrive."""
        http = await self._client()
        # A stream stays open for as long as the server sends: only connecting has a deadline.
        timeout = httpx.Timeout(REQUEST_TIMEOUT_S, read=None)
        try:
            async with http.stream(
                "GET",
                path,
                params=query,
                headers=await self._headers("application/json"),
                timeout=timeout,
                extensions=self._extensions(),
            ) as response:
                if not 200 <= response.status_code <= 299:
                    raise translate(response.status_code, await response.aread(), "GET", path)
                pending = b""
                async for chunk in response.aiter_raw():
                    pending += chunk
                    *lines, pending = pending.split(b"\n")
                    for line in lines:
                        yield line
                if pending:
                    yield pending
        except (httpx.TransportError, OSError) as exc:
            raise BackendUnavailable(f"{self.host}: {str(exc) or type(exc).__name__}") from None

    # --- typed-by-kind helpers ----------------------------------------------------------------------------
    def path(self, kind: str, name: str | None = None, *, sub: str | None = None) -> str:
        prefix, plural = RESOURCES[kind]
        out = f"{prefix}/namespaces/{quote(self.target.namespace)}/{plural}"
        if name is not None:
            out += f"/{quote(name)}"
        if sub is not None:
            out += f"/{sub}"
        return out

    async def get(self, kind: str, name: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.request("GET", self.path(kind, name))
        return result

    async def find(self, kind: str, name: str) -> dict[str, Any] | None:
        try:
            return await self.get(kind, name)
        except NotFound:
            return None

    async def list(self, kind: str, selector: str | None = None) -> list[dict[str, Any]]:
        query = {"labelSelector": selector} if selector else None
        result = await self.request("GET", self.path(kind), query=query)
        return list(result.get("items") or [])

    async def create(self, doc: Mapping[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self.request("POST", self.path(str(doc["kind"])), body=dict(doc))
        return result

    async def replace(self, doc: Mapping[str, Any]) -> dict[str, Any]:
        name = str(doc["metadata"]["name"])
        result: dict[str, Any] = await self.request("PUT", self.path(str(doc["kind"]), name), body=dict(doc))
        return result

    async def delete(self, kind: str, name: str) -> bool:
        """Foreground: the API server removes dependents (ReplicaSets, Pods) before the object."""
        try:
            await self.request("DELETE", self.path(kind, name), body={"propagationPolicy": "Foreground"})
        except NotFound:
            return False
        return True

    async def version(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.request("GET", "/version", timeout_s=STATUS_TIMEOUT_S)
        return result

    @property
    def host(self) -> str:
        return str(self._configuration.host) if self._configuration is not None else "?"


def translate(status: int, body: Any, method: str, path: str) -> EndpointctlError:
    """A Kubernetes Status (or any error body) as the façade's error types, with the server's message."""
    message = ""
    reason = ""
    try:
        doc = json.loads(body) if isinstance(body, (bytes, str)) and body else {}
        if isinstance(doc, dict):
            message, reason = str(doc.get("message", "")), str(doc.get("reason", ""))
    except ValueError:
        message = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body or "")
    what = f"{method} {path}: {message or reason or f'HTTP {status}'}"
    if status == 404:
        return NotFound(what)
    if status == 409:
        return Conflict(what)
    if status == 403:
        return Forbidden(f"{what} (check the RBAC permissions of the kubeconfig's user)")
    if status in (400, 422):
        return InvalidInput(f"the cluster rejected {what}")
    if status in (0, 502, 503, 504):
        return BackendUnavailable(what)
    return EndpointctlError(f"{what} (HTTP {status})")
