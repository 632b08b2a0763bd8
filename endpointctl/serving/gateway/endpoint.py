"""One endpoint's request path: authenticate, choose a deployment, forward to an instance, answer like Azure.

The answers the gateway gives itself (the managed-endpoint codes, on every backend):

* 401 missing, wrong or expired credential (one message whatever was wrong);
* 404 no deployment has positive traffic, or the pinned deployment does not exist;
* 408 the model did not answer within ``request_timeout_ms``;
* 424 the model answered non-200. The model's status line goes into ``ms-azureml-model-error-statuscode`` and
  ``ms-azureml-model-error-reason``; its body and headers are passed through unchanged, so a client still reads
  the scoring script's own error message (the scoring server's ``{"message": ...}`` or whatever run() returned);
* 429 the deployment is saturated (queue wait exceeded, or more than 2 x max_concurrent x instances pending);
* 502 an instance broke the exchange (malformed HTTP), or closed the connection before a complete response and no
  other instance could take the request. An instance that closes the connection under a request died (SIGKILL,
  the OOM killer): it is skipped for a moment, like one that refused the connection, and the request is sent once
  more to another instance of the deployment within what is left of its timeout — the caller has received nothing
  (responses are read whole), and a scoring request is a read;
* 503 the deployment has no instance, or none accepted a connection.

Every answer carries the gateway's ``x-request-id``; once a deployment is chosen, ``azureml-model-deployment``
names it. A configuration change swaps :attr:`EndpointRuntime.state` in one assignment: a request reads it once
and finishes with the state it started with, so it never sees half of an update.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from endpointctl.serving.gateway.auth import Authenticator
from endpointctl.serving.gateway.balancer import Balancer, Instance, NoInstance, Throttled
from endpointctl.serving.gateway.config import EndpointConfig
from endpointctl.serving.gateway.headers import (
    DEPLOYMENT_HEADER,
    REQUEST_ID_HEADER,
    Headers,
    caller_response_headers,
    model_error_headers,
    new_request_id,
    upstream_request_headers,
)
from endpointctl.serving.gateway.metrics import MetricsRegistry
from endpointctl.serving.gateway.routing import MirrorSelector, WeightedRoundRobin
from endpointctl.serving.gateway.upstream import ConnectFailed, UpstreamError, encode_head, exchange
from endpointctl.serving.gateway.wire import Request, Response, error_response

log = logging.getLogger("endpointctl.gateway")


class EndpointState:
    """An immutable view of one configuration; balancers are shared with the next state so counters persist."""

    __slots__ = ("auth", "balancers", "by_lower", "config", "mirror", "router")

    def __init__(
        self,
        name: str,
        config: EndpointConfig,
        balancers: Mapping[str, Balancer],
        previous: EndpointState | None,
    ) -> None:
        self.config = config
        self.auth = Authenticator(config.auth_mode, name, config.keys, config.token_secret)
        self.balancers = balancers
        # Azure matches deployment names case-insensitively (the SDK lower-cases traffic keys).
        self.by_lower = {dep.lower(): dep for dep in config.deployments}
        live = {dep: pct for dep, pct in config.traffic.items() if pct > 0}
        # Keeping the round-robin position when the weights did not change keeps the split exact across applies
        # that only touch keys or instances.
        self.router: WeightedRoundRobin
        self.mirror: MirrorSelector
        if previous is not None and previous.router.weights == live:
            self.router = previous.router
        else:
            self.router = WeightedRoundRobin(live)
        mirror = {dep: pct for dep, pct in config.mirror_traffic.items() if pct > 0}
        if previous is not None and previous.config.mirror_traffic == config.mirror_traffic:
            self.mirror = previous.mirror
        else:
            self.mirror = MirrorSelector(mirror)


class EndpointRuntime:
    def __init__(
        self, name: str, config: EndpointConfig, metrics: MetricsRegistry, loop: asyncio.AbstractEventLoop
    ) -> None:
        self.name = name
        self._loop = loop
        self._metrics = metrics
        self._balancers: dict[str, Balancer] = {}
        self._mirrors: set[asyncio.Task[None]] = set()
        self._instance_token = b""
        self.state = self._build(config, None)

    # configuration

    def update(self, config: EndpointConfig) -> None:
        """Adopt ``config``; synchronous, so no request runs between the balancer updates and the state swap."""
        self.state = self._build(config, self.state)

    def _build(self, config: EndpointConfig, previous: EndpointState | None) -> EndpointState:
        balancers: dict[str, Balancer] = {}
        for dep, settings in config.deployments.items():
            balancer = self._balancers.pop(dep, None)
            if balancer is None:
                balancer = Balancer(self._loop, settings)
            else:
                balancer.update(settings)
            balancers[dep] = balancer
        for gone in self._balancers.values():
            gone.close()
        self._balancers = balancers
        self._instance_token = config.instance_token.encode("ascii")
        return EndpointState(self.name, config, balancers, previous)

    def close(self) -> None:
        for balancer in self._balancers.values():
            balancer.close()
        self._balancers = {}
        for task in list(self._mirrors):
            task.cancel()

    # serving

    def admit(self, headers: Headers) -> Response | None:
        """Run by the listener when a request's headers are complete: a request without a valid credential is
        refused before any of its body is read, so an anonymous client cannot make the gateway buffer bodies."""
        authorization = None
        for key, value in headers:
            if key == b"authorization":
                authorization = value
                break
        denied = self.state.auth.check(authorization)
        if denied is None:
            return None
        started = self._loop.time()
        return self._refuse(started, error_response(401, denied, [(REQUEST_ID_HEADER, new_request_id())]))

    async def handle(self, request: Request) -> Response:
        started = self._loop.time()
        state = self.state
        request_id = new_request_id()
        if not request.admitted:
            denied = state.auth.check(request.header(b"authorization"))
            if denied is not None:
                return self._refuse(started, error_response(401, denied, [(REQUEST_ID_HEADER, request_id)]))
        pinned = request.header(DEPLOYMENT_HEADER)
        if pinned is not None:
            wanted = pinned.strip().decode("latin-1")
            chosen = state.by_lower.get(wanted.lower())
            if chosen is None:
                message = f"Deployment {wanted!r} does not exist in endpoint {self.name!r}."
                return self._refuse(started, error_response(404, message, [(REQUEST_ID_HEADER, request_id)]))
        else:
            chosen = state.router.next()
            if chosen is None:
                message = (
                    f"No deployment of endpoint {self.name!r} has traffic; set traffic or pin a deployment."
                )
                return self._refuse(started, error_response(404, message, [(REQUEST_ID_HEADER, request_id)]))
            mirror_to = state.mirror.next()
            if mirror_to is not None:
                live: asyncio.Future[Response | None] = self._loop.create_future()
                self._spawn_mirror(state.balancers[mirror_to], mirror_to, request, live, request_id)
                return await self._answer(state, chosen, request, request_id, started, live)
        return await self._answer(state, chosen, request, request_id, started, None)

    async def _answer(
        self,
        state: EndpointState,
        chosen: str,
        request: Request,
        request_id: bytes,
        started: float,
        live: asyncio.Future[Response | None] | None,
    ) -> Response:
        series = self._metrics.get(self.name, chosen)
        series.in_flight += 1
        response: Response | None = None
        try:
            response = await self._forward(state.balancers[chosen], chosen, request, request_id)
        finally:
            series.in_flight -= 1
            if live is not None and not live.done():
                live.set_result(response)  # the mirror compares its answer with this one (None: none came)
        series.observe(response.status, self._loop.time() - started)
        return response

    def _refuse(self, started: float, response: Response) -> Response:
        self._metrics.get(self.name, "").observe(response.status, self._loop.time() - started)
        return response

    async def _forward(
        self, balancer: Balancer, deployment: str, request: Request, request_id: bytes
    ) -> Response:
        tags: Headers = [(REQUEST_ID_HEADER, request_id), (DEPLOYMENT_HEADER, deployment.encode("ascii"))]
        try:
            balancer.enter()
        except Throttled as exc:
            return error_response(429, str(exc), tags)
        except NoInstance as exc:
            return error_response(503, str(exc), tags)
        try:
            headers = upstream_request_headers(request.headers, request_id, self._instance_token)
            timeout_s = balancer.settings.request_timeout_ms / 1000
            deadline = self._loop.time() + timeout_s
            refused: list[Instance] = []
            died: UpstreamError | None = None  # the instance that died under this request, if one did
            while True:
                try:
                    inst = await balancer.acquire(refused)
                except Throttled as exc:
                    return error_response(429, str(exc), tags)
                except NoInstance as exc:
                    if died is not None:
                        return error_response(502, f"Bad response from the model: {died}", tags)
                    reason = "no instance accepted a connection" if refused else str(exc)
                    return error_response(503, f"Deployment {deployment!r} is unavailable: {reason}", tags)
                try:
                    head = encode_head(
                        request.method, request.target, inst.host_header, headers, len(request.body)
                    )
                    remaining = max(deadline - self._loop.time(), 0.001)
                    upstream = await exchange(inst.pool, head, request.body, remaining)
                except ConnectFailed as exc:
                    # Nothing was sent, so trying another instance cannot run the model twice.
                    log.warning("%s/%s: %s", self.name, deployment, exc)
                    balancer.mark_down(inst)
                    refused.append(inst)
                    continue
                except TimeoutError:
                    message = f"The model did not answer within request_timeout_ms ({balancer.settings.request_timeout_ms} ms)."
                    return error_response(408, message, tags)
                except UpstreamError as exc:
                    if exc.closed:
                        # The connection closed before a complete response: the instance died under the
                        # request (or something accepts on a dead instance's port, as Docker's userland proxy
                        # does). Nothing reached the caller yet (responses are read whole), so the next
                        # requests go elsewhere until the control plane catches up and this one is sent once
                        # more to another instance (see the module's docstring).
                        balancer.mark_down(inst)
                        if died is None:
                            log.warning(
                                "%s/%s: %s; sending the request to another instance",
                                self.name,
                                deployment,
                                exc,
                            )
                            died = exc
                            refused.append(inst)
                            continue
                    return error_response(502, f"Bad response from the model: {exc}", tags)
                finally:
                    balancer.release(inst)
                break
        finally:
            balancer.leave()
        headers_out = caller_response_headers(upstream.headers, request_id, deployment)
        if upstream.status == 200:
            return Response(200, headers_out, upstream.body, upstream.reason)
        headers_out += model_error_headers(upstream.status, upstream.reason)
        return Response(424, headers_out, upstream.body)

    # mirror traffic

    def _spawn_mirror(
        self,
        balancer: Balancer,
        deployment: str,
        request: Request,
        live: asyncio.Future[Response | None],
        live_id: bytes,
    ) -> None:
        task = self._loop.create_task(self._mirror(balancer, deployment, request, live, live_id))
        # The loop keeps only weak references to tasks; this set keeps mirrors alive until they finish.
        self._mirrors.add(task)
        task.add_done_callback(self._mirrors.discard)

    async def _mirror(
        self,
        balancer: Balancer,
        deployment: str,
        request: Request,
        live: asyncio.Future[Response | None],
        live_id: bytes,
    ) -> None:
        response = await self._forward(balancer, deployment, request, new_request_id())
        # Mirrored answers never reach the caller: their outcome is counted, and compared with the live answer.
        series = self._metrics.get(self.name, deployment)
        series.observe_mirror(response.status == 200)
        answered = await live
        if answered is not None:
            series.shadow.observe(
                live_id,
                (answered.status, answered.body),
                (response.status, response.body),
                self.state.config.shadow_tolerance,
            )
