"""The official `kubernetes` client, imported at first use, with JSON in and out and API errors as ours.

Every call here blocks; the backend runs them in threads (asyncio.to_thread). The configuration comes from
kubeconfig.py. Objects stay plain dicts, the same shape manifests.py produces, so nothing depends on the
SDK's generated models. `kubernetes` is imported inside functions only: every CLI call loads every backend's
entry point, and the SDK takes a second to import.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote

from endpointctl.backends.kubernetes.kubeconfig import (
    kubeconfig_files,
    list_contexts,
    load_configuration,
    namespace_of,
    no_config_reason,
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
}


class Forbidden(EndpointctlError):
    """The cluster refused the request for the current identity (403)."""


class KubeClient:
    """One API client for one context; `namespace` is where this target's objects live."""

    def __init__(self, target: Target) -> None:
        from kubernetes import client

        self.target = target
        configuration = load_configuration(target)
        # The façade polls; the client's own retries would only stretch an outage into a hang.
        configuration.retries = 0
        self._api = client.ApiClient(configuration)

    def close(self) -> None:
        self._api.close()  # type: ignore[no-untyped-call]

    # --- raw ----------------------------------------------------------------------------------------------
    def _send(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: Any = None,
        timeout: float = REQUEST_TIMEOUT_S,
        content_type: str = "application/json",
    ) -> Any:
        from kubernetes.client.exceptions import ApiException

        headers = {"Accept": "application/json", "Content-Type": content_type}
        request = self._api.param_serialize(
            method,
            path,
            query_params=list((query or {}).items()),
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        try:
            return self._api.call_api(*request, _request_timeout=timeout)
        except ApiException as exc:
            raise translate(exc.status or 0, exc.body, method, path) from None
        except OSError as exc:
            raise BackendUnavailable(f"{self._api.configuration.host}: {exc}") from None
        except Exception as exc:  # urllib3's MaxRetryError and timeouts are not OSErrors
            if type(exc).__module__.startswith("urllib3"):
                raise BackendUnavailable(f"{self._api.configuration.host}: {exc}") from None
            raise

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._send(method, path, **kwargs)
        data = response.read()
        if not 200 <= response.status <= 299:
            raise translate(response.status, data, method, path)
        if not data:
            return {}
        try:
            return json.loads(data)
        except ValueError:
            return data.decode("utf-8", "replace")

    def stream_lines(
        self, path: str, query: Mapping[str, str], *, timeout: float | None = None
    ) -> Iterator[bytes]:
        """GET a streaming resource (watch, follow=true logs) and yield its lines as they arrive."""
        response = self._send("GET", path, query=query, timeout=timeout or 0)
        raw = response.response
        if not 200 <= response.status <= 299:
            raise translate(response.status, raw.read(), "GET", path)
        pending = b""
        try:
            for chunk in raw.stream(amt=None, decode_content=False):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                yield from lines
            if pending:
                yield pending
        finally:
            raw.release_conn()

    # --- typed-by-kind helpers ----------------------------------------------------------------------------
    def path(self, kind: str, name: str | None = None, *, sub: str | None = None) -> str:
        prefix, plural = RESOURCES[kind]
        out = f"{prefix}/namespaces/{quote(self.target.namespace)}/{plural}"
        if name is not None:
            out += f"/{quote(name)}"
        if sub is not None:
            out += f"/{sub}"
        return out

    def get(self, kind: str, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", self.path(kind, name))
        return result

    def find(self, kind: str, name: str) -> dict[str, Any] | None:
        try:
            return self.get(kind, name)
        except NotFound:
            return None

    def list(self, kind: str, selector: str | None = None) -> list[dict[str, Any]]:
        query = {"labelSelector": selector} if selector else None
        result = self.request("GET", self.path(kind), query=query)
        return list(result.get("items") or [])

    def create(self, doc: Mapping[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self.request("POST", self.path(str(doc["kind"])), body=dict(doc))
        return result

    def replace(self, doc: Mapping[str, Any]) -> dict[str, Any]:
        name = str(doc["metadata"]["name"])
        result: dict[str, Any] = self.request("PUT", self.path(str(doc["kind"]), name), body=dict(doc))
        return result

    def delete(self, kind: str, name: str) -> bool:
        """Foreground: the API server removes dependents (ReplicaSets, Pods) before the object."""
        try:
            self.request("DELETE", self.path(kind, name), body={"propagationPolicy": "Foreground"})
        except NotFound:
            return False
        return True

    def version(self) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", "/version", timeout=STATUS_TIMEOUT_S)
        return result

    @property
    def host(self) -> str:
        return str(self._api.configuration.host)


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
