"""The differential corpus: each scoring script and the requests both servers must answer alike."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from tests.serving.scoring.oracle_env import REPO

CORPUS = Path(__file__).resolve().parent / "corpus"
MODEL_1 = REPO / "assets" / "samples" / "endpoints" / "online" / "model-1"

JSON_HEADERS = {"Content-Type": "application/json"}
LONG_ID = "x" * 101


@dataclass(frozen=True)
class Req:
    label: str
    method: str
    path: str
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Case:
    name: str
    script: Path
    requests: tuple[Req, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    model_dir: Path | None = None
    # The script cannot be served: both servers must exit with this status instead.
    exit_code: int | None = None

    @property
    def app_root(self) -> Path:
        return self.script.parent


def _json(label: str, payload: object, path: str = "/score", **headers: str) -> Req:
    return Req(label, "POST", path, json.dumps(payload).encode(), {**JSON_HEADERS, **headers})


# Asked of every script that serves: routing, methods, correlation headers, swagger, odd bodies.
COMMON: tuple[Req, ...] = (
    Req("health", "GET", "/"),
    Req("health-post", "POST", "/"),
    Req("health-head", "HEAD", "/"),
    Req("score-head", "HEAD", "/score"),
    Req("health-options", "OPTIONS", "/"),
    Req("unknown-path", "GET", "/nope"),
    Req("score-trailing-slash", "GET", "/score/"),
    Req("score-put", "PUT", "/score", b"{}"),
    Req("score-delete", "DELETE", "/score"),
    Req("score-options", "OPTIONS", "/score"),
    _json("json-object", {"data": [[1, 2, 3]]}),
    _json("json-list", [1, 2, 3]),
    Req("empty-body", "POST", "/score", b"", dict(JSON_HEADERS)),
    Req("text-body", "POST", "/score", b"just text", {"Content-Type": "text/plain"}),
    Req("non-utf8-body", "POST", "/score", b"\xff\xfe\xfa", {"Content-Type": "application/octet-stream"}),
    Req("form-body", "POST", "/score", b"a=1&b=2", {"Content-Type": "application/x-www-form-urlencoded"}),
    Req("get-query", "GET", "/score?a=1&b=%5B1%2C2%5D&c=text&c=more&d=null"),
    Req("get-no-query", "GET", "/score"),
    _json("ids-given", {"x": 1}, **{"x-request-id": "req-1", "TraceId": "trace-9"}),
    _json("legacy-id", {"x": 1}, **{"x-ms-request-id": "legacy-2"}),
    _json("client-id", {"x": 1}, **{"x-ms-client-request-id": "client-3"}),
    _json("both-ids", {"x": 1}, **{"x-ms-request-id": "legacy-4", "x-ms-client-request-id": "client-4"}),
    _json("long-request-id", {"x": 1}, **{"x-request-id": LONG_ID}),
    _json("long-client-id", {"x": 1}, **{"x-ms-client-request-id": LONG_ID}),
    Req("swagger-default", "GET", "/swagger.json"),
    Req("swagger-2", "GET", "/swagger.json?version=2"),
    Req("swagger-3", "GET", "/swagger.json?version=3"),
    Req("swagger-3.1", "GET", "/swagger.json?version=3.1"),
    Req("swagger-bad", "GET", "/swagger.json?version=4"),
    Req("swagger-post", "POST", "/swagger.json"),
)


def _case(name: str, *extra: Req, env: dict[str, str] | None = None, common: bool = True) -> Case:
    requests = (COMMON if common else ()) + extra
    return Case(name, CORPUS / name / "score.py", requests, env or {})


def _failing(name: str) -> Case:
    return Case(name, CORPUS / name / "score.py", exit_code=3)


CASES: tuple[Case, ...] = (
    _case("echo_str", Req("json-string-body", "POST", "/score", b'"quoted"', JSON_HEADERS)),
    _case("json_dict"),
    _case("list_output"),
    _case("none_output"),
    _case("numpy_array"),
    _case(
        "numpy_values",
        _json("float64", {"kind": "float64"}),
        _json("int64", {"kind": "int64"}),
        _json("nan", {"kind": "nan"}),
    ),
    _case("set_output"),
    _case("bytes_output", Req("string-result", "POST", "/score", b"string")),
    _case("run_raises", Req("ok", "POST", "/score", b"ok")),
    _failing("init_raises"),
    _failing("missing_run"),
    _failing("import_error"),
    _failing("rawhttp_and_schema"),
    _failing("varargs_run"),
    _case(
        "schema_numpy",
        _json("numpy-ok", {"data": [[1, 2, 3], [4, 5, 6]]}),
        _json("numpy-missing", {"other": 1}),
        Req("wrong-type", "POST", "/score", b'{"data": [[1]]}', {"Content-Type": "text/plain"}),
        Req(
            "json-suffix-type",
            "POST",
            "/score",
            b'{"data": [[1, 1]]}',
            {"Content-Type": "application/vnd+json"},
        ),
        Req("bad-json", "POST", "/score", b"{nope", JSON_HEADERS),
        Req("get-args", "GET", "/score?data=%5B%5B1%2C2%2C3%5D%5D"),
    ),
    _case(
        "schema_standard",
        _json("all-params", {"name": "you", "times": 2, "punctuation": "?"}),
        _json("default-param", {"name": "you", "times": 1}),
        _json("missing-param", {"name": "you"}),
        _json("extra-param", {"name": "x", "times": 1, "unused": True}),
        Req("get-params", "GET", "/score?name=q&times=3"),
    ),
    _case(
        "schema_headers",
        _json("headers", {"value": 4}, **{"X-Custom": "yes", "TraceId": "t-1"}),
    ),
    _case("swagger_files"),
    _case(
        "request_headers",
        _json(
            "headers", {"a": 1}, **{"X-Custom": "c1", "x-request-id": "rid", "x-ms-client-request-id": "cid"}
        ),
    ),
    _case(
        "rawhttp_echo",
        _json("status-201", {"a": 1}, **{"X-Status": "201"}),
        _json("status-502", {"a": 1}, **{"X-Status": "502"}),
        Req("get-args", "GET", "/score?x=1&x=2&y=%C3%A9"),
        Req("options", "OPTIONS", "/score"),
    ),
    _case(
        "rawhttp_binary",
        Req(
            "binary-in", "POST", "/score", bytes(range(256)) * 4, {"Content-Type": "application/octet-stream"}
        ),
    ),
    _case(
        "rawhttp_failures",
        Req("503", "GET", "/score?kind=503"),
        Req("500-flagged", "GET", "/score?kind=500-flagged"),
        Req("404-json", "GET", "/score?kind=404"),
        Req("none", "GET", "/score?kind=none"),
        Req("raise", "GET", "/score?kind=raise"),
        Req("plain", "GET", "/score?kind=plain"),
    ),
    _case(
        "slow_run",
        Req("slow", "POST", "/score", b"slow"),
        Req("fast-after-slow", "POST", "/score", b"fast"),
        env={"SCORING_TIMEOUT_MS": "300"},
        common=False,
    ),
    _case(
        "large_body",
        Req("10mb", "POST", "/score", b"a" * (10 * 1024 * 1024), {"Content-Type": "text/plain"}),
        _json("10mb-json", {"data": ["x" * 1000] * 10_000}),
        common=False,
    ),
    _case(
        "unicode_io",
        Req(
            "utf8-json",
            "POST",
            "/score",
            json.dumps({"t": "ünïcødé ☃"}, ensure_ascii=False).encode(),
            JSON_HEADERS,
        ),
        Req(
            "utf8-text",
            "POST",
            "/score",
            "plain ☃ text".encode(),
            {"Content-Type": "text/plain; charset=utf-8"},
        ),
        Req("utf8-query", "GET", "/score?name=%E2%98%83"),
    ),
    _case("print_and_log"),
    _case("get_query", Req("repeated", "GET", "/score?a=1&a=2&a=%7B%22k%22%3A1%7D&empty=")),
    Case(
        "model_1_sample",
        MODEL_1 / "onlinescoring" / "score.py",
        (
            *COMMON,
            Req("sample", "POST", "/score", (MODEL_1 / "sample-request.json").read_bytes(), JSON_HEADERS),
        ),
        model_dir=MODEL_1,
    ),
)
