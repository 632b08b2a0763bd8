"""Where endpoints live: kubeconfig contexts and namespaces resolved to Targets, one API client per Target.

Resolving reads the kubeconfig (files, YAML), which blocks, so each resolution runs once in a thread; the
clients themselves are async. An endpoint is found by its routing ConfigMap in any configured target.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from endpointctl.backends.kubernetes import naming
from endpointctl.backends.kubernetes.kubeconfig import (
    in_cluster_namespace,
    list_contexts,
    named_namespace,
    no_config_reason,
)
from endpointctl.backends.kubernetes.settings import DEFAULT_NAMESPACE, KubeSettings, Target, compute_name
from endpointctl.core.errors import BackendUnavailable, InvalidInput, NotFound
from endpointctl.core.spec import EndpointSpec

if TYPE_CHECKING:
    from endpointctl.backends.kubernetes.client import KubeClient


class Targets:
    """The configured targets (from `configure --defaults`, read anew each time) and their cached clients."""

    def __init__(self, settings: Callable[[], KubeSettings]) -> None:
        self._settings = settings
        self._clients: dict[Target, KubeClient] = {}

    # --- resolution (async entry points; the kubeconfig is read in a thread) ---------------------------------
    async def default(self) -> Target:
        return await asyncio.to_thread(self._default_target)

    async def all(self) -> list[Target]:
        return await asyncio.to_thread(self._targets)

    async def for_spec(self, spec: EndpointSpec) -> Target:
        return await asyncio.to_thread(self._target_for, spec)

    async def plan_namespace(self, spec: EndpointSpec | None) -> str | None:
        """The namespace a plan names, from the settings and kubeconfig only: a dry run contacts no cluster.

        None when nothing names one (no `kube_namespace`, compute mapping, context namespace or in-cluster
        namespace): the plan then says it falls back to "default" rather than doing so silently.
        """
        return await asyncio.to_thread(self._plan_namespace, spec)

    # --- clients ----------------------------------------------------------------------------------------------
    def client(self, target: Target) -> KubeClient:
        # Looked up at call time, so a test can replace the class (dry runs must never build one).
        from endpointctl.backends.kubernetes.client import KubeClient

        client = self._clients.get(target)
        if client is None:
            client = self._clients[target] = KubeClient(target)
        return client

    async def locate(self, endpoint: str) -> tuple[KubeClient, dict[str, Any]]:
        """The client of the target holding `endpoint`, and its routing ConfigMap."""
        for target in await self.all():
            client = self.client(target)
            routing = await client.find("ConfigMap", naming.routing_name(endpoint))
            if (
                routing is not None
                and (routing["metadata"].get("labels") or {}).get(naming.ENDPOINT) == endpoint
            ):
                return client, routing
        raise NotFound(f"endpoint {endpoint} does not exist on the kubernetes backend")

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()

    # --- blocking: these read the kubeconfig ------------------------------------------------------------------
    def _default_target(self) -> Target:
        settings = self._settings()
        if settings.context is None:
            # Name the current context, so it and a compute mapped to the same context are one target.
            settings = replace(settings, context=self._current_context())
        if settings.namespace is not None:
            return Target(settings.context, settings.namespace)
        return Target(settings.context, self._context_namespace(settings.context))

    @staticmethod
    def _current_context() -> str | None:
        if no_config_reason() is not None:
            return None
        try:
            _, current = list_contexts()
        except BackendUnavailable:
            return None
        return str(current["name"]) if current else None

    @classmethod
    def _context_namespace(cls, context: str | None) -> str:
        return cls._named_namespace(context) or DEFAULT_NAMESPACE

    @staticmethod
    def _named_namespace(context: str | None) -> str | None:
        if no_config_reason() is not None:
            return None
        try:
            contexts, current = list_contexts()
        except BackendUnavailable:
            return in_cluster_namespace()  # in-cluster: the pod's own namespace, as kubectl uses there
        chosen = current if context is None else next((c for c in contexts if c.get("name") == context), None)
        return named_namespace(chosen)

    def _target_for(self, spec: EndpointSpec) -> Target:
        name = compute_name(spec.compute)
        settings = self._settings()
        if name is None:
            return self._default_target()
        if settings.computes and name in settings.computes:
            context, namespace = settings.computes[name]
            return Target(context, namespace or settings.namespace or self._context_namespace(context))
        contexts, _ = list_contexts()
        if any(c.get("name") == name for c in contexts):
            return Target(name, settings.namespace or self._context_namespace(name))
        raise InvalidInput(
            f"endpoint {spec.name}: compute azureml:{name} is neither a kubeconfig context nor configured "
            f"(`endpointctl configure --defaults kube_computes={name}=CONTEXT/NAMESPACE`)"
        )

    def _targets(self) -> list[Target]:
        out = [self._default_target()]
        settings = self._settings()
        for context, namespace in (settings.computes or {}).values():
            target = Target(context, namespace or settings.namespace or self._context_namespace(context))
            if target not in out:
                out.append(target)
        return out

    def _plan_namespace(self, spec: EndpointSpec | None) -> str | None:
        settings = self._settings()
        name = None if spec is None else compute_name(spec.compute)
        if name is not None and name in (settings.computes or {}):
            context, namespace = (settings.computes or {})[name]
            return namespace or settings.namespace or self._named_namespace(context)
        if name is not None and no_config_reason() is None:
            # A compute named after a kubeconfig context is that context, as when the endpoint is applied.
            with contextlib.suppress(BackendUnavailable):
                if any(c.get("name") == name for c in list_contexts()[0]):
                    return settings.namespace or self._named_namespace(name)
        return settings.namespace or self._named_namespace(settings.context)
