"""An ARM double for Azure ML online endpoints, served over real HTTP from a thread.

It is as strict as ARM where endpointctl could go wrong: every request body is checked against the
generated REST models (schema.py), api-version must be the pinned one, every ARM call needs a bearer
token signed by the test tenant (401 otherwise) whose object id holds a role (403 otherwise), and blob
uploads must carry a valid SharedKey signature. Long-running operations follow ARM's protocol:
PUT → 200/201 + Azure-AsyncOperation, PATCH/DELETE/regenerateKeys → 202 + Location, both with
Retry-After, ending Succeeded, Failed or Canceled. It also serves the endpoints' scoring URIs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import re
import secrets
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from endpointctl.backends.azure.blob import shared_key_signature
from tests.backends.azure import monitor_double
from tests.backends.azure.schema import validate

API_VERSION = "2024-04-01"
SUB, RG, WS = "00000000-1111-2222-3333-444444444444", "rg-endpoints", "ws-main"
LOCATION = "westeurope"
TENANT = "72f988bf-0000-0000-0000-000000000000"
TOKEN_SECRET = b"the-test-tenant-signing-key"
ACCOUNT, CONTAINER, DATASTORE = "wsstorage", "azureml-blobstore-0001", "workspaceblobstore"
PROVIDER = "Microsoft.MachineLearningServices"


def make_token(
    oid: str,
    *,
    upn: str | None = None,
    appid: str | None = None,
    secret: bytes = TOKEN_SECRET,
    ttl_s: int = 3600,
) -> str:
    """A JWT-shaped token: what the test credential hands out and the double verifies."""

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    claims: dict[str, Any] = {"oid": oid, "tid": TENANT, "exp": int(time.time()) + ttl_s}
    if upn:
        claims["upn"] = upn
    if appid:
        claims["appid"] = appid
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    sig = b64(hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest())
    return f"{head}.{body}.{sig}"


def _verify(token: str) -> dict[str, Any] | None:
    try:
        head, body, sig = token.split(".")
        expected = (
            base64.urlsafe_b64encode(
                hmac.new(TOKEN_SECRET, f"{head}.{body}".encode(), hashlib.sha256).digest()
            )
            .rstrip(b"=")
            .decode()
        )
        if not hmac.compare_digest(expected, sig):
            return None
        claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except ValueError:
        return None
    return claims if claims.get("exp", 0) > time.time() else None


@dataclass
class Op:
    polls_left: int
    outcome: str  # Succeeded | Failed | Canceled
    style: str  # async | location
    finish: Any  # callable run once when the operation ends
    error: dict[str, str] | None = None
    done: bool = False


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class ArmDouble:
    authorized_oids: set[str] = field(default_factory=set)
    lro_polls: int = 1
    retry_after: str = "1"
    page_size: int = 2
    throttle: int = 0  # the next N ARM requests answer 429
    server_errors: int = 0  # the next N ARM requests answer 503
    failing: dict[str, tuple[str, str, str]] = field(
        default_factory=dict
    )  # deployment → (outcome, code, message)
    endpoints: dict[str, dict[str, Any]] = field(default_factory=dict)
    deployments: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    keys: dict[str, list[str]] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)  # aml tokens issued → endpoint
    assets: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    blobs: dict[str, bytes] = field(default_factory=dict)
    blocks: dict[str, dict[str, bytes]] = field(default_factory=dict)
    ops: dict[str, Op] = field(default_factory=dict)
    requests: list[Seen] = field(default_factory=list)
    account_key: str = field(default_factory=lambda: base64.b64encode(secrets.token_bytes(32)).decode())
    served: list[str] = field(default_factory=list)  # deployments that answered /score
    # What Azure Monitor reports: every scoring request (time, endpoint, deployment, status, latency).
    invocations: list[monitor_double.Served] = field(default_factory=list)
    # (endpoint, deployment) → (share of requests answered 500, latency in ms reported to Monitor)
    behaviour: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)
    # When Monitor says a request was served (tests share a clock with the backend to skip whole minutes).
    clock: Callable[[], float] = time.time
    failing_deletes: dict[str, tuple[str, str]] = field(default_factory=dict)  # deployment → (code, message)
    log_growth: int = 0  # lines each getLogs call adds, as a running server would write them
    log_reads: int = 0
    # How PUTs announce their long-running operation: "async" (Azure-AsyncOperation, what Azure ML does)
    # or "location" (201 + Location only, which ARM's RPC also allows).
    put_style: str = "async"

    def __post_init__(self) -> None:
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._slots = itertools.count()
        self._answered: dict[tuple[str, str], int] = {}
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # --- lifecycle ---
    @property
    def url(self) -> str:
        port = self._server.server_address[1]
        return f"http://127.0.0.1:{port}"

    @property
    def host(self) -> str:
        return self.url.removeprefix("http://")

    def start(self) -> ArmDouble:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def workspace_path(self) -> str:
        return f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/{PROVIDER}/workspaces/{WS}"

    def arm_calls(self, method: str | None = None, contains: str = "") -> list[Seen]:
        return [
            r
            for r in self.requests
            if r.path.startswith("/subscriptions/")
            and (method is None or r.method == method)
            and contains in r.path
        ]

    # --- operations ---
    def _start_op(
        self, style: str, finish: Any, *, outcome: str = "Succeeded", error: dict[str, str] | None = None
    ) -> tuple[str, str]:
        op_id = f"op-{next(self._ids)}"
        self.ops[op_id] = Op(self.lro_polls, outcome, style, finish, error)
        kind = "operationResults" if style == "location" else "operationsStatus"
        return (
            op_id,
            f"{self.url}{self.workspace_path}/locations/{LOCATION}/{kind}/{op_id}?api-version={API_VERSION}",
        )

    def settle(self) -> None:
        """Finish every pending operation, as time passing would in Azure even when nobody polls."""
        with self._lock:
            for op_id in list(self.ops):
                while not self.ops[op_id].done:
                    self._poll(op_id)

    def _poll(self, op_id: str) -> Op | None:
        op = self.ops.get(op_id)
        if op is None:
            return None
        if not op.done:
            if op.polls_left > 0:
                op.polls_left -= 1
            else:
                op.done = True
                op.finish(op.outcome)
        return op


Response = tuple[int, dict[str, str], bytes]


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(body).encode()


def _error(status: int, code: str, message: str, details: list[str] | None = None) -> Response:
    body: dict[str, Any] = {"error": {"code": code, "message": message}}
    if details:
        body["error"]["details"] = [{"code": "InvalidRequestContent", "message": d} for d in details]
    return _json(status, body)


def _handler(double: ArmDouble) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # One write per response and no Nagle: otherwise delayed ACKs add ~40 ms to every call.
        wbufsize = 1 << 16
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            return None

        def _respond(self, response: Response) -> None:
            status, headers, body = response
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            with double._lock:
                self._respond(
                    route(
                        double,
                        self.command,
                        unquote(parts.path),
                        parse_qs(parts.query),
                        {k.lower(): v for k, v in self.headers.items()},
                        raw,
                        self.path,
                    )
                )

        do_GET = do_PUT = do_POST = do_PATCH = do_DELETE = _handle

    return Handler


def route(
    d: ArmDouble,
    method: str,
    path: str,
    query: dict[str, list[str]],
    headers: dict[str, str],
    raw: bytes,
    raw_path: str,
) -> Response:
    if path.startswith(f"/{ACCOUNT}/"):
        return blob(d, method, path, query, headers, raw, raw_path)
    if path.startswith("/endpoints/"):
        return score(d, method, path, headers, raw)
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        return _error(400, "InvalidRequestContent", "the request body is not JSON")
    d.requests.append(Seen(method, path, query, headers, body))
    metrics_of = re.fullmatch(
        re.escape(d.workspace_path) + r"/onlineEndpoints/([^/]+)/providers/Microsoft\.Insights/metrics", path
    )
    if query.get("api-version") != [API_VERSION] and metrics_of is None:
        return _error(
            400,
            "InvalidApiVersionParameter",
            f"api-version must be {API_VERSION}, got {query.get('api-version')}",
        )
    auth = headers.get("authorization", "")
    claims = _verify(auth.removeprefix("Bearer ")) if auth.startswith("Bearer ") else None
    if claims is None:
        return _error(401, "InvalidAuthenticationToken", "The access token is invalid or has expired.")
    if claims.get("oid") not in d.authorized_oids:
        verb = {"GET": "read", "PUT": "write", "PATCH": "write", "DELETE": "delete"}.get(method, "action")
        return _error(
            403,
            "AuthorizationFailed",
            f"The client '{claims.get('upn') or claims.get('appid')}' with object id '{claims.get('oid')}' does "
            f"not have authorization to perform action '{PROVIDER}/workspaces/onlineEndpoints/{verb}' over scope "
            f"'{d.workspace_path}' or the scope is invalid.",
        )
    if d.throttle > 0:
        d.throttle -= 1
        return (
            429,
            {"Retry-After": d.retry_after, "Content-Type": "application/json"},
            json.dumps({"error": {"code": "TooManyRequests", "message": "throttled"}}).encode(),
        )
    if d.server_errors > 0:
        d.server_errors -= 1
        return 503, {"Retry-After": d.retry_after}, b""
    if metrics_of is not None:
        if method != "GET":
            return _error(405, "MethodNotAllowed", "metrics are read with GET")
        if metrics_of[1] not in d.endpoints:
            return _error(404, "ResourceNotFound", f"no such endpoint: {metrics_of[1]}")
        with d._lock:
            served = list(d.invocations)
        return monitor_double.metrics(path.rsplit("/providers/", 1)[0], query, served, metrics_of[1])
    if not path.startswith(d.workspace_path):
        return _error(404, "ResourceGroupNotFound", f"no such workspace: {path}")
    rest = path[len(d.workspace_path) :]
    return arm(d, method, rest, query, body)


def arm(d: ArmDouble, method: str, rest: str, query: dict[str, list[str]], body: Any) -> Response:
    if rest == "" and method == "GET":
        return _json(200, {"id": d.workspace_path, "name": WS, "location": LOCATION, "properties": {}})
    m = re.fullmatch(r"/locations/[^/]+/(operationsStatus|operationResults)/([^/]+)", rest)
    if m and method == "GET":
        return operation(d, m[1], m[2])
    if rest == "/onlineEndpoints" and method == "GET":
        return page(d, [d.endpoints[k] for k in sorted(d.endpoints)], query, "/onlineEndpoints")
    m = re.fullmatch(r"/onlineEndpoints/([^/]+)(?:/(listKeys|regenerateKeys|token))?", rest)
    if m:
        return endpoint(d, method, m[1], m[2], body)
    m = re.fullmatch(r"/onlineEndpoints/([^/]+)/deployments(?:/([^/]+)(?:/(getLogs))?)?", rest)
    if m:
        return deployment(d, method, m[1], m[2], m[3], body, query)
    m = re.fullmatch(r"/(codes|models|environments)/([^/]+)/versions(?:/([^/]+))?", rest)
    if m:
        return asset(d, method, m[1], m[2], m[3], body, query)
    if rest == "/datastores" and method == "GET":
        store = {
            "id": f"{d.workspace_path}/datastores/{DATASTORE}",
            "name": DATASTORE,
            "properties": {
                "datastoreType": "AzureBlob",
                "accountName": ACCOUNT,
                "containerName": CONTAINER,
                "endpoint": d.host,
                "protocol": "http",
                "isDefault": True,
                "credentials": {"credentialsType": "AccountKey"},
            },
        }
        files = {
            "id": f"{d.workspace_path}/datastores/workspacefilestore",
            "name": "workspacefilestore",
            "properties": {
                "datastoreType": "AzureFile",
                "accountName": ACCOUNT,
                "fileShareName": "code",
                "isDefault": False,
                "credentials": {"credentialsType": "AccountKey"},
            },
        }
        return _json(200, {"value": [store] if query.get("isDefault") == ["true"] else [files, store]})
    if rest == f"/datastores/{DATASTORE}/listSecrets" and method == "POST":
        return _json(200, {"secretsType": "AccountKey", "key": d.account_key})
    return _error(404, "NoRegisteredProviderFound", f"{method} {rest} is not an operation of this double")


def page(d: ArmDouble, items: list[dict[str, Any]], query: dict[str, list[str]], rest: str) -> Response:
    start = int((query.get("$skipToken") or ["0"])[0])
    chunk = items[start : start + d.page_size]
    out: dict[str, Any] = {"value": chunk}
    if start + d.page_size < len(items):
        out["nextLink"] = (
            f"{d.url}{d.workspace_path}{rest}?api-version={API_VERSION}&$skipToken={start + d.page_size}"
        )
    return _json(200, out)


def operation(d: ArmDouble, kind: str, op_id: str) -> Response:
    op = d._poll(op_id)
    if op is None or (kind == "operationResults") != (op.style == "location"):
        return _error(404, "OperationNotFound", op_id)
    retry = {"Retry-After": d.retry_after}
    if kind == "operationsStatus":
        status = op.outcome if op.done else "InProgress"
        out: dict[str, Any] = {"id": op_id, "name": op_id, "status": status}
        if op.done and op.error:
            out["error"] = op.error
        return _json(200, out, retry)
    if not op.done:
        return (
            202,
            {
                **retry,
                "Location": f"{d.url}{d.workspace_path}/locations/{LOCATION}/operationResults/{op_id}?api-version={API_VERSION}",
            },
            b"",
        )
    if op.outcome != "Succeeded":
        return _error(
            500 if op.outcome == "Failed" else 409,
            (op.error or {}).get("code", op.outcome),
            (op.error or {}).get("message", ""),
        )
    return 204, {}, b""


def _put_status(d: ArmDouble, current: Any) -> int:
    # With only a Location to poll, 201 says "accepted, still running" for updates as well.
    return 201 if current is None or d.put_style == "location" else 200


def _put_headers(d: ArmDouble, url: str) -> dict[str, str]:
    if d.put_style == "location":
        return {"Location": url, "Retry-After": d.retry_after}
    return {"Azure-AsyncOperation": url, "Retry-After": d.retry_after}


def _invalid(model: str, body: Any) -> Response | None:
    problems = validate(model, body)
    if problems:
        return _error(400, "UserError", f"The request body does not match {model}.", problems)
    return None


def endpoint(d: ArmDouble, method: str, name: str, action: str | None, body: Any) -> Response:
    current = d.endpoints.get(name)
    if action is None and method == "PUT":
        if (bad := _invalid("OnlineEndpoint", body)) is not None:
            return bad
        props = body["properties"]
        known = {dep for (ep, dep) in d.deployments if ep == name}
        for key in ("traffic", "mirrorTraffic"):
            unknown = set(props.get(key) or {}) - known
            if unknown:
                return _error(
                    400, "BadArgument", f"{key} names deployments that do not exist: {sorted(unknown)}"
                )
        traffic = props.get("traffic") or {}
        if traffic and sum(traffic.values()) not in (0, 100):
            return _error(400, "BadArgument", "Traffic values must sum to 100.")
        # ARM's own limits on tags: at most 50, names up to 512 characters, values up to 256.
        tags = body.get("tags") or {}
        if len(tags) > 50 or any(len(k) > 512 or len(str(v)) > 256 for k, v in tags.items()):
            return _error(400, "InvalidTag", "at most 50 tags, names ≤ 512 and values ≤ 256 characters")
        if current is not None and current["properties"].get("provisioningState") in ("Creating", "Updating"):
            # ARM refuses a second write while the last one is still running.
            return _error(409, "Conflict", f"endpoint {name} is being updated; retry when it finished")
        stored = {
            "id": f"{d.workspace_path}/onlineEndpoints/{name}",
            "name": name,
            "type": f"{PROVIDER}/workspaces/onlineEndpoints",
            **body,
            "properties": {
                **props,
                "provisioningState": "Updating" if current else "Creating",
                "scoringUri": f"{d.url}/endpoints/{name}/score",
                "swaggerUri": f"{d.url}/endpoints/{name}/swagger.json",
            },
        }
        d.endpoints[name] = stored
        d.keys.setdefault(name, [secrets.token_urlsafe(24), secrets.token_urlsafe(24)])

        def finish(outcome: str) -> None:
            if name in d.endpoints:
                d.endpoints[name]["properties"]["provisioningState"] = outcome

        _, url = d._start_op(d.put_style, finish)
        return _json(_put_status(d, current), stored, _put_headers(d, url))
    if current is None:
        return _error(404, "ResourceNotFound", f"online endpoint {name} does not exist in workspace {WS}")
    if action is None and method == "GET":
        return _json(200, current)
    if action is None and method == "PATCH":
        if (bad := _invalid("PartialMinimalTrackedResourceWithIdentity", body)) is not None:
            return bad
        current.update({k: v for k, v in body.items()})
        _, url = d._start_op("location", lambda outcome: None)
        return 202, {"Location": url, "Retry-After": d.retry_after}, b""
    if action is None and method == "DELETE":
        current["properties"]["provisioningState"] = "Deleting"

        def gone(outcome: str) -> None:
            d.endpoints.pop(name, None)
            for key in [k for k in d.deployments if k[0] == name]:
                del d.deployments[key]

        _, url = d._start_op("location", gone)
        return 202, {"Location": url, "Retry-After": d.retry_after}, b""
    if action == "listKeys" and method == "POST":
        if current["properties"]["authMode"] != "Key":
            return _error(400, "BadArgument", "keys are only available for authMode Key")
        primary, secondary = d.keys[name]
        return _json(200, {"primaryKey": primary, "secondaryKey": secondary})
    if action == "regenerateKeys" and method == "POST":
        if (bad := _invalid("RegenerateEndpointKeysRequest", body)) is not None:
            return bad
        index = 0 if body["keyType"] == "Primary" else 1

        def rotate(outcome: str) -> None:
            d.keys[name][index] = secrets.token_urlsafe(24)

        _, url = d._start_op("location", rotate)
        return 202, {"Location": url, "Retry-After": d.retry_after}, b""
    if action == "token" and method == "POST":
        if current["properties"]["authMode"] != "AMLToken":
            return _error(400, "BadArgument", "tokens are only available for authMode AMLToken")
        token = secrets.token_urlsafe(32)
        d.tokens[token] = name
        now = int(time.time())
        return _json(
            200,
            {
                "accessToken": token,
                "tokenType": "Bearer",
                "expiryTimeUtc": now + 3600,
                "refreshAfterTimeUtc": now + 1800,
            },
        )
    return _error(405, "MethodNotAllowed", f"{method} {action or ''}")


def deployment(
    d: ArmDouble,
    method: str,
    ep: str,
    name: str | None,
    action: str | None,
    body: Any,
    query: dict[str, list[str]],
) -> Response:
    if ep not in d.endpoints:
        return _error(404, "ResourceNotFound", f"online endpoint {ep} does not exist in workspace {WS}")
    if name is None:
        if method != "GET":
            return _error(405, "MethodNotAllowed", method)
        items = [v for (e, _), v in sorted(d.deployments.items()) if e == ep]
        return page(d, items, query, f"/onlineEndpoints/{ep}/deployments")
    key = (ep, name)
    current = d.deployments.get(key)
    if method == "PUT" and action is None:
        if (bad := _invalid("OnlineDeployment", body)) is not None:
            return bad
        props = body["properties"]
        missing = [
            ref
            for ref in (
                props.get("model"),
                props.get("environmentId"),
                (props.get("codeConfiguration") or {}).get("codeId"),
            )
            if ref and ref.startswith("/subscriptions/") and _asset_key(d, ref) not in d.assets
        ]
        if missing:
            return _error(400, "UserError", f"referenced assets do not exist: {missing}")
        if current and current["properties"].get("instanceType") != props.get("instanceType"):
            return _error(400, "BadArgument", "instanceType cannot be changed on an existing deployment")
        stored = {
            "id": f"{d.workspace_path}/onlineEndpoints/{ep}/deployments/{name}",
            "name": name,
            "type": f"{PROVIDER}/workspaces/onlineEndpoints/deployments",
            **body,
            "properties": {**props, "provisioningState": "Updating" if current else "Creating"},
        }
        d.deployments[key] = stored
        outcome, code, message = d.failing.get(name, ("Succeeded", "", ""))

        def finish(result: str) -> None:
            if key in d.deployments:
                d.deployments[key]["properties"]["provisioningState"] = result

        _, url = d._start_op(
            d.put_style, finish, outcome=outcome, error={"code": code, "message": message} if code else None
        )
        return _json(_put_status(d, current), stored, _put_headers(d, url))
    if current is None:
        return _error(404, "ResourceNotFound", f"deployment {ep}/{name} does not exist")
    if method == "GET" and action is None:
        return _json(200, current)
    if method == "PATCH" and action is None:
        if (bad := _invalid("PartialMinimalTrackedResourceWithSku", body)) is not None:
            return bad
        current["properties"]["provisioningState"] = "Scaling"
        capacity = (body.get("sku") or {}).get("capacity")

        def scaled(outcome: str) -> None:
            if capacity is not None:
                current["sku"]["capacity"] = capacity
            current["properties"]["provisioningState"] = outcome

        _, url = d._start_op("location", scaled)
        return 202, {"Location": url, "Retry-After": d.retry_after}, b""
    if method == "DELETE" and action is None:
        if (d.endpoints[ep]["properties"].get("traffic") or {}).get(name, 0) > 0:
            return _error(400, "BadArgument", f"deployment {name} has traffic; set it to 0 first")
        current["properties"]["provisioningState"] = "Deleting"
        if name in d.failing_deletes:
            code, message = d.failing_deletes[name]

            def stuck(outcome: str) -> None:
                current["properties"]["provisioningState"] = "Failed"

            _, url = d._start_op(
                "location", stuck, outcome="Failed", error={"code": code, "message": message}
            )
            return 202, {"Location": url, "Retry-After": d.retry_after}, b""
        _, url = d._start_op("location", lambda outcome: d.deployments.pop(key, None))
        return 202, {"Location": url, "Retry-After": d.retry_after}, b""
    if method == "POST" and action == "getLogs":
        if (bad := _invalid("DeploymentLogsRequest", body)) is not None:
            return bad
        container = body.get("containerType", "InferenceServer")
        label = "inference-server" if container == "InferenceServer" else "storage-initializer"
        d.log_reads += 1
        count = 20 + d.log_growth * (d.log_reads - 1)
        lines = [f"{label} {ep}/{name} line {i}" for i in range(1, count + 1)]
        tail = body.get("tail")
        if tail:
            lines = lines[-tail:]
        return _json(200, {"content": "\n".join(lines) + "\n"})
    return _error(405, "MethodNotAllowed", method)


def _asset_key(d: ArmDouble, ref: str) -> tuple[str, str, str]:
    m = re.fullmatch(
        re.escape(d.workspace_path) + r"/(codes|models|environments)/([^/]+)/versions/([^/]+)", ref
    )
    return (m[1], m[2], m[3]) if m else ("", "", "")


ASSET_MODELS = {"codes": "CodeVersion", "models": "ModelVersion", "environments": "EnvironmentVersion"}


def asset(
    d: ArmDouble,
    method: str,
    kind: str,
    name: str,
    version: str | None,
    body: Any,
    query: dict[str, list[str]],
) -> Response:
    if version is None:
        items = [v for (k, n, _), v in sorted(d.assets.items()) if k == kind and n == name]
        return page(d, items, query, f"/{kind}/{name}/versions")
    key = (kind, name, version)
    if method == "GET":
        return (
            _json(200, d.assets[key])
            if key in d.assets
            else _error(404, "UserError", f"{kind} {name}:{version} not found")
        )
    if method != "PUT":
        return _error(405, "MethodNotAllowed", method)
    if (bad := _invalid(ASSET_MODELS[kind], body)) is not None:
        return bad
    if key in d.assets:
        return _error(409, "UserError", f"{kind} {name}:{version} already exists and versions are immutable")
    props = body["properties"]
    uri = props.get("codeUri") or props.get("modelUri") or (props.get("build") or {}).get("contextUri")
    if uri is not None:
        prefix = (
            uri.split(f"/{CONTAINER}/", 1)[-1] if "/datastores/" not in uri else uri.split("/paths/", 1)[-1]
        )
        if not any(p == prefix or p.startswith(prefix + "/") for p in d.blobs):
            return _error(400, "UserError", f"{uri}: nothing was uploaded there")
    stored = {"id": f"{d.workspace_path}/{kind}/{name}/versions/{version}", "name": version, **body}
    d.assets[key] = stored
    return _json(201, stored)


# --- blob storage ---------------------------------------------------------------------------------
def blob(
    d: ArmDouble,
    method: str,
    path: str,
    query: dict[str, list[str]],
    headers: dict[str, str],
    raw: bytes,
    raw_path: str,
) -> Response:
    def fail(status: int, code: str) -> Response:
        return status, {"x-ms-error-code": code}, b""

    if method != "PUT":
        return fail(405, "UnsupportedHttpVerb")
    if not headers.get("x-ms-version") or not headers.get("x-ms-date"):
        return fail(400, "MissingRequiredHeader")
    if headers.get("content-length") != str(len(raw)):
        return fail(400, "InvalidHeaderValue")
    expected = shared_key_signature(method, f"{d.url}{raw_path}", headers, ACCOUNT, d.account_key)
    if not hmac.compare_digest(headers.get("authorization", ""), expected):
        return fail(403, "AuthenticationFailed")
    prefix = f"/{ACCOUNT}/{CONTAINER}/"
    if not path.startswith(prefix):
        return fail(404, "ContainerNotFound")
    name = path[len(prefix) :]
    comp = (query.get("comp") or [""])[0]
    if comp == "block":
        block_id = (query.get("blockid") or [""])[0]
        if not block_id:
            return fail(400, "InvalidQueryParameterValue")
        d.blocks.setdefault(name, {})[block_id] = raw
        return 201, {}, b""
    if comp == "blocklist":
        ids = [e.text or "" for e in ET.fromstring(raw)]
        staged = d.blocks.get(name, {})
        if not ids or any(i not in staged for i in ids):
            return fail(400, "InvalidBlockList")
        d.blobs[name] = b"".join(staged[i] for i in ids)
        d.blocks.pop(name, None)
        return 201, {}, b""
    if headers.get("x-ms-blob-type") != "BlockBlob":
        return fail(400, "MissingRequiredHeader")
    d.blobs[name] = raw
    return 201, {}, b""


# --- the scoring router -----------------------------------------------------------------------------


def score(d: ArmDouble, method: str, path: str, headers: dict[str, str], raw: bytes) -> Response:
    m = re.fullmatch(r"/endpoints/([^/]+)/score", path)
    if not m or m[1] not in d.endpoints:
        return _json(404, {"message": "no such endpoint"})
    name = m[1]
    bearer = headers.get("authorization", "").removeprefix("Bearer ")
    mode = d.endpoints[name]["properties"]["authMode"]
    ok = bearer in d.keys.get(name, []) if mode == "Key" else d.tokens.get(bearer) == name
    if not bearer or not ok:
        return _json(401, {"message": "unauthorized"})
    pinned = headers.get("azureml-model-deployment")
    traffic = {k: v for k, v in (d.endpoints[name]["properties"].get("traffic") or {}).items() if v}
    if pinned:
        if (name, pinned) not in d.deployments:
            return _json(404, {"message": f"deployment {pinned} not found"})
        chosen = pinned
    elif traffic:
        # Deterministic weighted round robin over 100 slots, so tests see the split exactly.
        slot = next(d._slots) % 100
        chosen = next(dep for dep, upto in _cumulative(traffic) if slot < upto)
    else:
        return _json(404, {"message": "no deployment has traffic"})
    d.served.append(chosen)
    # A deployment may be told to fail a share of its requests or to be slow (what Monitor then reports).
    error_share, latency_ms = d.behaviour.get((name, chosen), (0.0, 1.0))
    with d._lock:
        count = d._answered[(name, chosen)] = d._answered.get((name, chosen), 0) + 1
        failed = int(count * error_share) > int((count - 1) * error_share)
        status = 500 if failed else 200
        d.invocations.append(monitor_double.Served(d.clock(), name, chosen, status, latency_ms))
    if failed:
        return _json(500, {"message": "run() failed"}, {"azureml-model-deployment": chosen})
    try:
        received = json.loads(raw) if raw else None
    except ValueError:
        received = raw.decode(errors="replace")
    return _json(200, {"deployment": chosen, "received": received}, {"azureml-model-deployment": chosen})


def _cumulative(traffic: dict[str, int]) -> Iterator[tuple[str, int]]:
    total = 0
    for dep in sorted(traffic):
        total += traffic[dep]
        yield dep, total
