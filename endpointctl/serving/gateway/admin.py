"""The admin HTTP API of a standalone gateway (Docker and Kubernetes backends drive the gateway through it).

Routes:

* ``PUT /v1/config`` — body: the JSON config of :mod:`config`; 200 with ``{"endpoints": {name: {"port",
  "scoring_uri"}}}``, 400 for an invalid document, 409 when a listener cannot be bound (nothing changed then);
  403 when the gateway follows mounted files (``--config-file``);
* ``GET /v1/config`` — the running config, keys and secrets redacted, ports as bound;
* ``GET /v1/metrics`` — the JSON metrics snapshot; ``GET /metrics`` — the same in Prometheus text format;
* ``GET /healthz`` — 200 ``{"status": "ok"}`` once the gateway runs;
* ``POST /v1/reload`` — when the gateway follows files: re-read them now (not at the next interval) and answer
  ``{"running": fingerprint, "error": message or null, "routing": sha256 hex}``; ``GET /v1/status`` answers
  the same without reading. ``running`` fingerprints the routing and keys documents the gateway runs,
  ``routing`` is the sha256 of the routing document's bytes alone (the file's, or the pushed one's). The local
  agent writes the files and confirms with ``running`` that the gateway runs what it wrote;
* ``PUT /v1/routing`` — when the gateway follows files: body, the routing document exactly as the routing file
  (the ConfigMap's ``routing.json``) will hold it, without keys (they still come from the keys file). It runs at
  once, ahead of the file, until the file changes (see :mod:`.files`): the kubelet syncs a ConfigMap volume
  only every 60-90 s, while a rollout controller must restore traffic within a second. A controller compares
  ``routing`` with the sha256 of the ConfigMap's ``routing.json`` to know whether to push. 200 with the
  ``/v1/status`` answer; 400 for an invalid document, 409 when a listener cannot be bound (nothing changed
  then); 503 when the keys file cannot be read.
  ``/v1/reload``, ``/v1/status`` and ``/v1/routing`` answer 404 when the gateway does not follow files.

With an admin token (``--admin-token-file``), every route but ``/healthz`` needs ``Authorization: Bearer
<token>``: the admin port is on loopback, where any local user could otherwise reroute traffic. The same token
in ``X-Endpointctl-Admin-Token: <token>`` is accepted too: the Kubernetes API server's service proxy, which
reaches a gateway pod's admin port, consumes the ``Authorization`` header (its own credentials) and never
forwards it.

It listens on its own port, never on an endpoint's, so scoring clients cannot reach it; bind it to loopback
(the default) unless a container runtime publishes it deliberately.
"""

from __future__ import annotations

import hmac

from endpointctl.serving.gateway.config import ConfigError, GatewayConfig
from endpointctl.serving.gateway.files import FileWatcher, SourceUnreadable
from endpointctl.serving.gateway.gateway import Gateway, GatewayBindError
from endpointctl.serving.gateway.wire import HttpListener, Request, Response, error_response, json_response

MAX_CONFIG_BYTES = 4 * 1024 * 1024
PROMETHEUS_CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"
TOKEN_HEADER = b"x-endpointctl-admin-token"


class AdminApi:
    def __init__(
        self,
        gateway: Gateway,
        *,
        read_only: str | None = None,
        watcher: FileWatcher | None = None,
        token: str | None = None,
    ) -> None:
        """`read_only`: why configuration changes are refused (the gateway follows files instead)."""
        self._gateway = gateway
        self._read_only = read_only
        self._watcher = watcher
        self._token = None if token is None else token.encode()
        self._listener = HttpListener(self.handle, MAX_CONFIG_BYTES, "admin")
        self.port = 0

    async def start(self, host: str, port: int) -> int:
        self.port = await self._listener.start(host, port)
        return self.port

    async def close(self) -> None:
        await self._listener.close(5.0)

    async def handle(self, request: Request) -> Response:
        path = request.target.split(b"?", 1)[0]
        method = request.method
        if self._token is not None and path != b"/healthz" and not self._authorized(request):
            return error_response(401, "This admin API needs its token.")
        if path in (b"/v1/reload", b"/v1/status", b"/v1/routing"):
            if self._watcher is None:
                return error_response(404, "This gateway does not follow files.")
            if path == b"/v1/reload":
                if method != b"POST":
                    return _method_not_allowed(b"POST")
                await self._watcher.check()
            elif path == b"/v1/routing":
                if method != b"PUT":
                    return _method_not_allowed(b"PUT")
                refused = await self._push_routing(self._watcher, request.body)
                if refused is not None:
                    return refused
            elif method != b"GET":
                return _method_not_allowed(b"GET")
            return json_response(200, _status(self._watcher))
        if path == b"/v1/config":
            if method == b"PUT":
                if self._read_only is not None:
                    return error_response(403, self._read_only)
                return await self._put_config(request.body)
            if method == b"GET":
                return json_response(200, self._gateway.config.to_dict(redact=True))
            return _method_not_allowed(b"GET, PUT")
        if path in (b"/v1/metrics", b"/metrics", b"/healthz"):
            if method != b"GET":
                return _method_not_allowed(b"GET")
            if path == b"/v1/metrics":
                return json_response(200, self._gateway.metrics_snapshot())
            if path == b"/metrics":
                text = self._gateway.prometheus_text().encode("utf-8")
                return Response(200, [(b"content-type", PROMETHEUS_CONTENT_TYPE)], text)
            return json_response(200, {"status": "ok"})
        return error_response(404, f"No admin route {path.decode('latin-1')!r}.")

    def _authorized(self, request: Request) -> bool:
        assert self._token is not None
        bearer = request.header(b"authorization") or b""
        dedicated = request.header(TOKEN_HEADER) or b""
        # Both compared, always: the time taken says nothing about which header (or how much of it) matched.
        by_bearer = hmac.compare_digest(bearer, b"Bearer " + self._token)
        by_header = hmac.compare_digest(dedicated, self._token)
        return by_bearer or by_header

    @staticmethod
    async def _push_routing(watcher: FileWatcher, body: bytes) -> Response | None:
        """None once the pushed routing runs, else the refusal (nothing changed then)."""
        try:
            await watcher.push(body)
        except SourceUnreadable as exc:
            return error_response(503, str(exc))
        except ConfigError as exc:
            return error_response(400, str(exc))
        except GatewayBindError as exc:
            return error_response(409, exc.strerror or str(exc))
        return None

    async def _put_config(self, body: bytes) -> Response:
        try:
            config = GatewayConfig.from_json(body)
        except ConfigError as exc:
            return error_response(400, str(exc))
        try:
            effective = await self._gateway.apply(config)
        except GatewayBindError as exc:
            return error_response(409, exc.strerror or str(exc))
        return json_response(
            200,
            {
                "endpoints": {
                    name: {"port": ep.port, "scoring_uri": self._gateway.scoring_uri(name)}
                    for name, ep in effective.endpoints.items()
                }
            },
        )


def _status(watcher: FileWatcher) -> dict[str, str | None]:
    return {"running": watcher.running, "error": watcher.last_error, "routing": watcher.routing}


def _method_not_allowed(allow: bytes) -> Response:
    return error_response(405, "Method not allowed.", [(b"allow", allow)])
