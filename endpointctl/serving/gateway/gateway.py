"""The gateway: one asyncio process serving many endpoints, each on its own listening port.

Embedding (the process backend's agent, inside its own loop)::

    gateway = Gateway()
    await gateway.start()
    effective = await gateway.apply(GatewayConfig.from_dict(doc))   # raises GatewayBindError, config untouched
    effective.endpoints["my-endpoint"].port                         # the bound port, also when 0 was asked
    gateway.metrics_snapshot()
    await gateway.stop()

``apply`` is atomic: every new listener is bound first (a bind failure closes them again and leaves the running
configuration as it was); then every endpoint switches to its new state in one synchronous step; only then are
listeners of removed or moved endpoints drained in the background, so in-flight requests complete.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from typing import Any

from endpointctl.serving.gateway.config import EndpointConfig, GatewayConfig
from endpointctl.serving.gateway.endpoint import EndpointRuntime
from endpointctl.serving.gateway.metrics import MetricsRegistry
from endpointctl.serving.gateway.wire import ConnectionBudget, HttpListener
from endpointctl.serving.limits import WireLimits

DEFAULT_DRAIN_TIMEOUT_S = 30.0


class GatewayBindError(OSError):
    """A listener could not be bound; the message names the endpoint and the address."""


class GatewayNotStarted(RuntimeError):
    pass


class _Served:
    __slots__ = ("host", "listener", "port", "runtime")

    def __init__(self, runtime: EndpointRuntime, listener: HttpListener, host: str, port: int) -> None:
        self.runtime = runtime
        self.listener = listener
        self.host = host
        self.port = port


class Gateway:
    def __init__(
        self, *, drain_timeout_s: float = DEFAULT_DRAIN_TIMEOUT_S, limits: WireLimits | None = None
    ) -> None:
        self.metrics = MetricsRegistry()
        self.limits = limits if limits is not None else WireLimits()
        # One budget for every endpoint listener: the cap is per process, whatever the number of endpoints.
        self.budget = ConnectionBudget(self.limits.effective_max_connections())
        self._drain_timeout_s = drain_timeout_s
        self._config = GatewayConfig()
        self._served: dict[str, _Served] = {}
        self._retiring: set[asyncio.Task[None]] = set()
        self._lock: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def config(self) -> GatewayConfig:
        """The running configuration, with every endpoint's port as actually bound."""
        return self._config

    def ports(self) -> dict[str, int]:
        return {name: served.port for name, served in self._served.items()}

    def scoring_uri(self, endpoint: str) -> str:
        served = self._served[endpoint]
        host = f"[{served.host}]" if ":" in served.host else served.host
        return f"http://{host}:{served.port}/score"

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._lock = asyncio.Lock()

    async def apply(self, config: GatewayConfig) -> GatewayConfig:
        """Make ``config`` the running configuration; returns it with the bound ports filled in."""
        if self._loop is None or self._lock is None:
            raise GatewayNotStarted("call Gateway.start() before apply()")
        async with self._lock:
            return await self._apply(config, self._loop)

    async def _apply(self, config: GatewayConfig, loop: asyncio.AbstractEventLoop) -> GatewayConfig:
        fresh: dict[str, tuple[HttpListener, int]] = {}
        created: dict[str, EndpointRuntime] = {}
        resolved: dict[str, EndpointConfig] = {}
        try:
            for name, ep in config.endpoints.items():
                served = self._served.get(name)
                port = ep.port
                if port == 0 and served is not None and served.host == ep.host:
                    port = served.port  # "pick a free port once, then keep it": the scoring_uri stays stable
                if served is not None and (served.host, served.port) == (ep.host, port):
                    resolved[name] = dataclasses.replace(ep, port=port)
                    continue
                if served is not None:
                    runtime = served.runtime
                else:
                    runtime = created[name] = EndpointRuntime(name, ep, self.metrics, loop)
                listener = HttpListener(
                    runtime.handle,
                    ep.max_request_body_bytes,
                    f"endpoint {name}",
                    limits=self.limits,
                    budget=self.budget,
                    admit=runtime.admit,
                )
                try:
                    bound = await listener.start(ep.host, port)
                except OSError as exc:
                    address = f"[{ep.host}]:{port}" if ":" in ep.host else f"{ep.host}:{port}"
                    raise GatewayBindError(
                        exc.errno, f"endpoint {name!r}: cannot listen on {address}: {exc.strerror or exc}"
                    ) from exc
                fresh[name] = (listener, bound)
                resolved[name] = dataclasses.replace(ep, port=bound)
        except BaseException:
            for listener, _ in fresh.values():
                await listener.close(0)
            for runtime in created.values():
                runtime.close()
            raise

        # From here to the end of the method nothing awaits: every endpoint switches in the same loop iteration.
        for name, ep in resolved.items():
            served = self._served.get(name)
            if served is None:
                listener, bound = fresh[name]
                self._served[name] = _Served(created[name], listener, ep.host, bound)
                continue
            served.runtime.update(ep)
            if name in fresh:
                self._retire(served.listener, None)
                served.listener, served.port = fresh[name]
                served.host = ep.host
            else:
                served.listener.max_body_bytes = ep.max_request_body_bytes
        for name in [n for n in self._served if n not in resolved]:
            gone = self._served.pop(name)
            self._retire(gone.listener, gone.runtime)
        self._config = GatewayConfig(endpoints=resolved)
        self.metrics.retain({name: set(ep.deployments) for name, ep in resolved.items()})
        for name, ep in resolved.items():
            for dep in ep.deployments:
                self.metrics.get(
                    name, dep
                )  # every deployment shows up in metrics, also before its first request
        return self._config

    def _retire(self, listener: HttpListener, runtime: EndpointRuntime | None) -> None:
        """Drain a listener no longer in the configuration, then release its endpoint's upstream connections."""

        async def retire() -> None:
            await listener.close(self._drain_timeout_s)
            if runtime is not None:
                runtime.close()
            # Requests that finished while draining re-created series for what was removed; drop them again.
            self.metrics.retain({name: set(ep.deployments) for name, ep in self._config.endpoints.items()})

        task = asyncio.get_running_loop().create_task(retire())
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    def metrics_snapshot(self) -> dict[str, Any]:
        snapshot = self.metrics.snapshot()
        for name, served in self._served.items():
            entry = snapshot["endpoints"].setdefault(name, {"deployments": {}})
            entry["port"] = served.port
            entry["scoring_uri"] = self.scoring_uri(name)
        return snapshot

    def prometheus_text(self) -> str:
        return self.metrics.prometheus()

    async def stop(self) -> None:
        """Stop accepting, let in-flight requests finish (bounded by the drain timeout), close everything."""
        served, self._served = self._served, {}
        self._config = GatewayConfig()
        for item in served.values():
            self._retire(item.listener, item.runtime)
        if self._retiring:
            with contextlib.suppress(Exception):
                await asyncio.gather(*self._retiring, return_exceptions=True)
