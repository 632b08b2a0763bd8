"""The ASGI application: azmlinfsrv's routes, status codes, bodies and headers."""

from __future__ import annotations

import hmac
import logging
import time
import traceback
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from endpointctl.serving.scoring import headers, inputs, logs, responses
from endpointctl.serving.scoring.config import INSTANCE_TOKEN_HEADER
from endpointctl.serving.scoring.invoker import Invoker, RunFailed, ScoringTimeout
from endpointctl.serving.scoring.messages import Request, Response
from endpointctl.serving.scoring.script import UserScript
from endpointctl.serving.scoring.swagger import SwaggerDocuments, SwaggerError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

logger = logging.getLogger("azmlinfsrv")

# Flask adds HEAD to GET routes and answers OPTIONS itself unless a route opts out (/score does).
_HEALTH_METHODS = ("GET", "HEAD", "OPTIONS")
_SCORE_METHODS = ("GET", "HEAD", "POST", "OPTIONS")
_HOP_BY_HOP = frozenset({"content-length", "transfer-encoding", "connection"})
_TOKEN_HEADER = INSTANCE_TOKEN_HEADER.encode("ascii")
NOT_THE_GATEWAY = "This instance answers only its endpoint's gateway."


@dataclass(frozen=True, slots=True)
class Scoring:
    """Everything a worker needs to answer requests, built once after init() succeeded."""

    script: UserScript
    swagger: SwaggerDocuments
    invoker: Invoker
    raw_request: Callable[[Request], Any]
    server_version: str | None


def _allow(methods: tuple[str, ...]) -> str:
    return ", ".join(sorted(methods))


def _method_not_allowed() -> Response:
    # azmlinfsrv's JSON error handler builds a fresh response, so werkzeug's Allow header is lost.
    return responses.error_response(405, responses.METHOD_NOT_ALLOWED)


def _automatic_options(methods: tuple[str, ...]) -> Response:
    return Response(200, [("Content-Type", responses.HTML), ("Allow", _allow(methods))], b"")


class ScoringApp:
    def __init__(self, scoring: Scoring, instance_token: str | None = None) -> None:
        self._scoring = scoring
        self._token = None if instance_token is None else instance_token.encode("ascii")
        self._access = logs.AccessLog(logger)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if self._token is not None and not self._admitted(scope):
            # Decided on the headers alone: the body of a caller without the token is never read.
            await _send_response(send, responses.error_response(401, NOT_THE_GATEWAY))
            return
        started = time.perf_counter()
        request = await _read_request(scope, receive)
        if request is None:
            return  # the client left (or was cut off: a stalled body) before its body was complete
        response, logged = await self._dispatch(request)
        await _send_response(send, response)
        if logged:
            path = request.path
            if request.query_string:
                path = f"{path}?{request.query}"
            duration = (time.perf_counter() - started) * 1000
            self._access.info(
                f"{request.method} {path} {response.status} {duration:0.3f}ms {len(response.body)}"
            )

    def _admitted(self, scope: Scope) -> bool:
        if scope["path"] == "/" and scope["method"] in _HEALTH_METHODS:
            return True  # probes (kubelet's httpGet) carry no secret, and the health check runs no user code
        assert self._token is not None
        given = [value for name, value in scope["headers"] if name == _TOKEN_HEADER]
        return len(given) == 1 and hmac.compare_digest(given[0], self._token)

    async def _dispatch(self, request: Request) -> tuple[Response, bool]:
        """The response, and whether it gets an access-log line (azmlinfsrv logs /score and /swagger.json)."""
        path = request.path
        if path == "/":
            if request.method not in _HEALTH_METHODS:
                return _method_not_allowed(), False
            return self._with_correlation(request, self._health), False
        if path == "/swagger.json":
            if request.method not in _HEALTH_METHODS:
                return _method_not_allowed(), False
            return self._with_correlation(request, self._swagger), True
        if path == "/score":
            if request.method not in _SCORE_METHODS:
                return _method_not_allowed(), False
            ids, refusal = headers.correlate(request)
            response = refusal or await self._score(request)
            headers.decorate(response, ids, self._scoring.server_version)
            return response, True
        return responses.error_response(404, responses.NOT_FOUND), False

    def _with_correlation(self, request: Request, view: Callable[[Request], Response]) -> Response:
        ids, refusal = headers.correlate(request)
        response = refusal or view(request)
        headers.decorate(response, ids, self._scoring.server_version)
        return response

    def _health(self, request: Request) -> Response:
        if request.method == "OPTIONS":
            return _automatic_options(_HEALTH_METHODS)
        return responses.text_response("Healthy")

    def _swagger(self, request: Request) -> Response:
        if request.method == "OPTIONS":
            return _automatic_options(_HEALTH_METHODS)
        version = _first_query_value(request, "version")
        try:
            body = self._scoring.swagger.get(version)
        except SwaggerError as ex:
            return responses.error_response(404, ex.message)
        return Response(200, [("Content-Type", responses.JSON), ("x-ms-run-function-failed", "False")], body)

    async def _score(self, request: Request) -> Response:
        scoring = self._scoring
        script = scoring.script
        try:
            kwargs = inputs.arguments(script, request, scoring.raw_request)
        except inputs.InputError as ex:
            return responses.error_response(ex.status, ex.message)
        except inputs.UnsupportedMethod:
            if request.method == "OPTIONS":
                return responses.empty_ok()
            return responses.error_response(405, "Method not allowed")
        header_dict = request.wsgi_header_dict() if script.wants_headers else {}
        try:
            result, elapsed_ms = await scoring.invoker.invoke(lambda: script.call(kwargs, header_dict))
        except ScoringTimeout as ex:
            logger.error(f"Encountered Exception: {_traceback(ex)}")
            return responses.error_response(500, str(ex), run_function_failed=True)
        except RunFailed as ex:
            logger.error(f"Encountered Exception: {_traceback(ex.__cause__ or ex)}")
            return responses.error_response(500, responses.RUN_FAILED, run_function_failed=True)
        try:
            response = responses.result_response(result, request)
        except Exception as ex:
            logger.error(f"Encountered Exception: {_traceback(ex)}")
            return responses.error_response(500, responses.INTERNAL_ERROR)
        response.headers.append(("x-ms-run-fn-exec-ms", f"{elapsed_ms:.3f}"))
        return response


def _traceback(ex: BaseException) -> str:
    return "".join(traceback.format_exception(type(ex), ex, ex.__traceback__))


def _first_query_value(request: Request, name: str) -> str | None:
    for key, value in inputs.parse_query(request):
        if key == name:
            return value
    return None


async def _read_request(scope: Scope, receive: Receive) -> Request | None:
    """The whole request, or None if the connection ended before its body did: run() never sees a cut body."""
    chunks: list[bytes] = []
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    client = scope.get("client") or ("", 0)
    server = scope.get("server") or ("127.0.0.1", 0)
    return Request(
        method=scope["method"],
        raw_path=scope.get("raw_path") or scope["path"].encode("utf-8"),
        query_string=scope.get("query_string", b""),
        header_items=[(name.decode("latin-1"), value.decode("latin-1")) for name, value in scope["headers"]],
        body=chunks[0] if len(chunks) == 1 else b"".join(chunks),
        client=str(client[0]),
        server=(str(server[0]), int(server[1] or 0)),
        http_version=scope.get("http_version", "1.1"),
    )


# Headers of the host's own answers whose values repeat (a few values each): encoded once per worker.
_CONSTANT_NAMES = frozenset({"Content-Type", "x-ms-run-function-failed", "x-ms-server-version", "Allow"})
_ENCODED: dict[tuple[str, str], tuple[bytes, bytes]] = {}


def _encoded(name: str, value: str) -> tuple[bytes, bytes]:
    pair = _ENCODED.get((name, value))
    if pair is None:
        pair = (name.encode("latin-1"), value.encode("latin-1"))
        if name in _CONSTANT_NAMES:
            _ENCODED[(name, value)] = pair
    return pair


async def _send_response(send: Send, response: Response) -> None:
    if response.from_script:
        raw_headers = [
            (name.encode("latin-1"), value.encode("latin-1"))
            for name, value in response.headers
            if name.lower() not in _HOP_BY_HOP
        ]
    else:
        raw_headers = [_encoded(name, value) for name, value in response.headers]
    raw_headers.append((b"content-length", str(len(response.body)).encode("ascii")))
    await send({"type": "http.response.start", "status": response.status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": response.body})
