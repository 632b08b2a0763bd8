"""In-process tests of the host's pure parts: input rules, correlation ids, swagger, timeout, aliases."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import inspect
import io
import json
import logging
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from endpointctl.serving.scoring import compat, config, headers, inputs, logs
from endpointctl.serving.scoring import invoker as invoker_module
from endpointctl.serving.scoring.compat.aml_response import AMLResponse
from endpointctl.serving.scoring.invoker import Invoker, RunFailed, ScoringTimeout
from endpointctl.serving.scoring.messages import Request, Response
from endpointctl.serving.scoring.responses import result_response
from endpointctl.serving.scoring.script import InputMode, ScriptError, UserScript, analyse
from endpointctl.serving.scoring.swagger import Service, SwaggerDocuments, SwaggerError


def request(
    method: str = "POST", *, body: bytes = b"", query: bytes = b"", headers: dict[str, str] | None = None
) -> Request:
    items = [(name.replace("_", "-"), value) for name, value in (headers or {}).items()]
    return Request(method, b"/score", query, items, body)


def script_for(source: str) -> UserScript:
    module = ModuleType("entry_module")
    exec(compile(source, "<score>", "exec"), module.__dict__)
    return analyse(module)


def _no_raw(_: Request) -> object:
    raise AssertionError("not a @rawhttp script")


def test_string_input_gets_the_utf8_body_or_query_json() -> None:
    script = script_for("def init(): pass\ndef run(data): return data\n")
    assert script.mode is InputMode.STRING
    assert inputs.arguments(script, request(body="☃".encode()), _no_raw) == {"data": "☃"}
    got = inputs.arguments(script, request("GET", query=b"a=1&a=x&b=%7B%7D"), _no_raw)
    assert json.loads(got["data"]) == {"a": [1, "x"], "b": {}}
    with pytest.raises(inputs.InputError) as bad:
        inputs.arguments(script, request(body=b"\xff"), _no_raw)
    assert bad.value.status == 400
    with pytest.raises(inputs.UnsupportedMethod):
        inputs.arguments(script, request("OPTIONS"), _no_raw)


def test_run_signature_rules() -> None:
    with pytest.raises(ScriptError, match="positional-only"):
        script_for("def init(): pass\ndef run(*a): pass\n")
    with pytest.raises(ScriptError, match="other than"):
        script_for("def init(): pass\ndef run(request_headers): pass\n")
    with pytest.raises(ScriptError, match="init"):
        script_for("def run(x): pass\n")
    script = script_for("def init(): pass\ndef run(data, request_headers): return request_headers\n")
    assert script.wants_headers and [p.name for p in script.parameters] == ["data"]
    assert script.call({"data": "x"}, {"A": "b"}) == {"A": "b"}


def test_schema_arguments_follow_azmlinfsrv_rules() -> None:
    script = UserScript(
        ModuleType("m"),
        lambda: None,
        lambda a, b=2: (a, b),
        InputMode.SCHEMA,
        tuple(inspect.signature(lambda a, b=2: None).parameters.values()),
        False,
    )
    json_type = {"content_type": "application/json"}
    assert inputs.arguments(script, request(body=b'{"a": 1}', headers=json_type), _no_raw) == {"a": 1, "b": 2}
    cases = [
        (request(body=b'{"a": 1}', headers={"content-type": "text/plain"}), 415, "Expects Content-Type"),
        (request(body=b"", headers=json_type), 400, "POST body is empty"),
        (request(body=b"[1]", headers=json_type), 400, "should be a JSON dictionary"),
        (request(body=b"{x", headers=json_type), 400, "could not be decoded as JSON"),
        (request(body=b'{"b": 1}', headers=json_type), 400, "'a' parameter"),
    ]
    for req, status, message in cases:
        with pytest.raises(inputs.InputError) as error:
            inputs.arguments(script, req, _no_raw)
        assert (error.value.status, message in error.value.message) == (status, True)


@pytest.mark.parametrize(
    ("sent", "request_id", "legacy", "client"),
    [
        ({}, None, None, ""),
        ({"x_request_id": "r"}, "r", "r", ""),
        ({"x_ms_request_id": "l"}, None, "l", "l"),
        ({"x_ms_client_request_id": "c"}, None, "c", "c"),
        ({"x_ms_request_id": "l", "x_ms_client_request_id": "c"}, None, "l", "c"),
    ],
)
def test_correlation_rules(
    sent: dict[str, str], request_id: str | None, legacy: str | None, client: str
) -> None:
    ids, refusal = headers.correlate(request(headers=sent))
    assert refusal is None
    if request_id is not None:
        assert ids.request_id == request_id
    assert ids.legacy_client_request_id == (legacy or ids.request_id)
    assert ids.client_request_id == client


def test_correlation_refuses_long_ids_with_431() -> None:
    _, refusal = headers.correlate(request(headers={"x-request-id": "a" * 101}))
    assert refusal is not None and refusal.status == 431
    response = Response(200, [])
    ids, _ = headers.correlate(request(headers={"TraceId": "t"}))
    headers.decorate(response, ids, "azmlinfsrv/x")
    assert response.header("TraceId") == "t" and response.header("x-ms-server-version") == "azmlinfsrv/x"


def test_result_serialisation() -> None:
    post = request()
    assert result_response(None, post).body == b"{}"
    assert result_response('{"a": 1}', post).body == b'"{\\"a\\": 1}"'
    with pytest.raises(TypeError):
        result_response({1, 2}, post)
    passthrough = result_response(AMLResponse(b"\x00\x01", 503, {"X-A": "1, 2"}), post)
    assert passthrough.status == 503 and passthrough.body == b"\x00\x01"
    assert passthrough.header("x-ms-run-function-failed") == "True"
    assert [v for k, v in passthrough.headers if k == "X-A"] == ["1", "2"]


def test_responses_are_sent_as_werkzeug_sends_them() -> None:
    """get_wsgi_response: HEAD drops the body, Content-Length is werkzeug's, 204 sends nothing."""
    head = result_response(AMLResponse("hello", 200), request("HEAD"))
    # The transport drops a HEAD's body and sends the length of the body it is given (werkzeug's).
    assert head.body == b"hello" and head.header("Content-Length") == "5"
    assert head.header("Content-Type") == "text/html; charset=utf-8"
    empty = result_response(AMLResponse("ignored", 204), request())
    assert empty.body == b"" and empty.header("Content-Length") is None
    streamed = result_response(AMLResponse(iter([b"a", "b"]), 200), request())
    assert streamed.body == b"ab"


def test_swagger_versions_and_user_files(tmp_path: Path) -> None:
    def run(data: str) -> str:
        return data

    service = Service("svc", "2.0", "/prefix/")
    generated = SwaggerDocuments(tmp_path, run, service)
    document = json.loads(generated.get(None))
    assert document["swagger"] == "2.0" and "/prefix/score" in document["paths"]
    assert json.loads(generated.get("3.1"))["openapi"] == "3.1.0"
    with pytest.raises(SwaggerError, match=r"\[5\] is not valid"):
        generated.get("5")
    (tmp_path / "swagger3.json").write_text('{"mine": true}')
    shipped = SwaggerDocuments(tmp_path, run, service)
    assert json.loads(shipped.get("3.0")) == {"mine": True}


def test_invoker_times_out_without_blocking_the_loop() -> None:
    release = threading.Event()

    async def scenario() -> None:
        invoker = Invoker(concurrency=1, timeout_ms=50)
        try:
            with pytest.raises(ScoringTimeout, match="after 50 ms"):
                await invoker.invoke(lambda: release.wait(10))
            release.set()
            result, elapsed = await invoker.invoke(lambda: 42)
            assert result == 42 and elapsed >= 0
            with pytest.raises(RunFailed) as failed:
                await invoker.invoke(lambda: 1 / 0)
            assert isinstance(failed.value.__cause__, ZeroDivisionError)
        finally:
            invoker.shutdown()

    asyncio.run(scenario())


def test_invoker_interrupts_a_python_loop_past_the_timeout() -> None:
    finished: list[str] = []

    def spin() -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            pass
        finished.append("ran to the end")

    async def scenario() -> None:
        invoker = Invoker(concurrency=1, timeout_ms=50)
        try:
            with pytest.raises(ScoringTimeout):
                await invoker.invoke(spin)
            # The slot comes back once the interrupted run() unwinds, long before its 10 s.
            result, _elapsed = await invoker.invoke(lambda: "next")
            assert result == "next"
        finally:
            invoker.shutdown()

    asyncio.run(scenario())
    assert finished == []


@pytest.fixture
def clean_aliases() -> Iterator[None]:
    saved_path = list(sys.meta_path)
    names = [name for name in sys.modules if name == "azureml" or name.startswith("azureml.")]
    saved = {name: sys.modules.pop(name) for name in names}
    yield
    sys.meta_path[:] = saved_path
    for name in [n for n in sys.modules if n == "azureml" or n.startswith("azureml.")]:
        del sys.modules[name]
    sys.modules.update(saved)


@pytest.mark.usefixtures("clean_aliases")
def test_alias_modules_resolve_to_the_werkzeug_classes() -> None:
    compat.install("shim")
    request_module = importlib.import_module("azureml.contrib.services.aml_request")
    response_module = importlib.import_module("azureml.contrib.services.aml_response")
    from endpointctl.serving.scoring.compat import aml_request, aml_response

    assert request_module is aml_request and response_module is aml_response
    assert hasattr(request_module, "rawhttp") and hasattr(response_module, "AMLResponse")
    werkzeug = importlib.import_module("werkzeug.wrappers")
    assert issubclass(request_module.AMLRequest, werkzeug.Request)
    assert issubclass(response_module.AMLResponse, werkzeug.Response)


def test_flags_win_over_environment() -> None:
    env = {
        "SERVER_PORT": "6000",
        "WORKER_COUNT": "3",
        "SCORING_TIMEOUT_MS": "250",
        "AZUREML_LOG_LEVEL": "debug",
    }
    settings = config.load(["--port", "7000"], env)
    assert (settings.port, settings.worker_count, settings.scoring_timeout_ms) == (7000, 3, 250)
    assert settings.log_level == "DEBUG"
    assert config.load([], {"SERVER_PORT": "6000"}).port == 6000
    assert config.load([], {}).port == 5001 and config.load([], {}).worker_count == 1
    with pytest.raises(config.ConfigError):
        config.load([], {"WORKER_COUNT": "many"})


def _inline(invoker: Invoker) -> bool:
    # A call, so the type checker does not carry a narrowed property across awaits.
    return invoker.inline


async def _warm_up(invoker: Invoker) -> None:
    for _ in range(invoker_module.INLINE_AFTER_FAST_CALLS):
        await invoker.invoke(lambda: None)


def test_invoker_moves_a_fast_run_onto_the_loop_thread_and_a_slow_one_back() -> None:
    async def scenario() -> None:
        invoker = Invoker(concurrency=1, timeout_ms=5_000)
        try:
            first, _ = await invoker.invoke(threading.get_ident)
            assert first != threading.get_ident()  # starts in the pool
            await _warm_up(invoker)
            assert _inline(invoker)
            same, _ = await invoker.invoke(threading.get_ident)
            assert same == threading.get_ident()
            with pytest.raises(RunFailed) as failed:
                await invoker.invoke(lambda: 1 / 0)
            assert isinstance(failed.value.__cause__, ZeroDivisionError)
            # Over the budget once: later run() calls go to the pool so the loop keeps answering...
            await invoker.invoke(lambda: time.sleep(invoker_module.INLINE_BUDGET_MS * 2 / 1000))
            assert not _inline(invoker)
            await _warm_up(invoker)
            elsewhere, _ = await invoker.invoke(threading.get_ident)
            assert elsewhere != threading.get_ident()
            # ...until a streak four times as long as the first.
            for _ in range(3):
                await _warm_up(invoker)
            assert _inline(invoker)
        finally:
            invoker.shutdown()

    asyncio.run(scenario())


def test_inline_timeout_interrupts_a_blocking_c_call_like_azmlinfsrv() -> None:
    before = signal.getsignal(signal.SIGALRM)

    async def scenario() -> None:
        invoker = Invoker(concurrency=1, timeout_ms=100)
        try:
            await _warm_up(invoker)
            assert _inline(invoker)
            started = time.monotonic()
            with pytest.raises(ScoringTimeout, match="after 100 ms"):
                await invoker.invoke(lambda: time.sleep(30))
            # time.sleep(30) was interrupted, not waited out (a pool thread could not have been).
            assert time.monotonic() - started < 25
            assert not _inline(invoker)  # a call that ran into the timeout was slow: back to the pool
            result, _ = await invoker.invoke(lambda: "next")
            assert result == "next"
        finally:
            invoker.shutdown()
        assert signal.getsignal(signal.SIGALRM) is before

    asyncio.run(scenario())


def test_inline_timeout_swallowed_by_run_still_answers_timeout() -> None:
    def stubborn() -> str:
        with contextlib.suppress(TimeoutError):
            time.sleep(30)
        return "late"

    async def scenario() -> None:
        invoker = Invoker(concurrency=1, timeout_ms=100)
        try:
            await _warm_up(invoker)
            with pytest.raises(ScoringTimeout):
                await invoker.invoke(stubborn)
        finally:
            invoker.shutdown()

    asyncio.run(scenario())


def test_invoker_with_more_than_one_slot_never_runs_inline() -> None:
    async def scenario() -> None:
        invoker = Invoker(concurrency=2, timeout_ms=5_000)
        try:
            await _warm_up(invoker)
            assert not _inline(invoker)
            elsewhere, _ = await invoker.invoke(threading.get_ident)
            assert elsewhere != threading.get_ident()
        finally:
            invoker.shutdown()

    asyncio.run(scenario())


def test_access_log_line_is_the_one_logging_would_write(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    server_logger = logging.getLogger("azmlinfsrv")
    monkeypatch.setattr(server_logger, "handlers", list(server_logger.handlers))
    monkeypatch.setattr(server_logger, "level", server_logger.level)
    monkeypatch.setattr(logs, "_stdout_handler", logs._stdout_handler)
    logs.setup("INFO")
    access = logs.AccessLog(server_logger)
    server_logger.info("POST /score 200 0.797ms 14")
    access.info("POST /score 200 0.797ms 14")
    through_logging, direct = out.getvalue().splitlines()
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}"
    assert re.fullmatch(stamp + r" I \[\d+\] azmlinfsrv - POST /score 200 0\.797ms 14", direct)
    assert direct[23:] == through_logging[23:]
    # Another handler, or a level above INFO, goes through logging itself.
    extra = io.StringIO()
    server_logger.addHandler(logging.StreamHandler(extra))
    access.info("GET /swagger.json 200 1.000ms 2")
    assert extra.getvalue() == "GET /swagger.json 200 1.000ms 2\n"
    server_logger.setLevel(logging.WARNING)
    access.info("not shown")
    assert "not shown" not in out.getvalue()


def test_request_ids_are_uuid4_and_differ_in_a_forked_worker() -> None:
    first = headers._uuid4()
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", first)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the worker: must not replay the parent's batch of random bytes
        try:
            os.write(write, headers._uuid4().encode("ascii"))
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    in_child = os.read(read, 64).decode("ascii")
    os.close(read)
    assert in_child != headers._uuid4()


def test_a_run_using_asyncio_itself_works_on_the_loop_thread() -> None:
    async def answer() -> str:
        await asyncio.sleep(0)
        return "from its own loop"

    def run_with_asyncio() -> str:
        return asyncio.run(answer())

    async def scenario() -> None:
        invoker = Invoker(concurrency=1, timeout_ms=5_000)
        try:
            await _warm_up(invoker)
            assert _inline(invoker)
            result, _ = await invoker.invoke(run_with_asyncio)
            assert result == "from its own loop"
            assert asyncio.get_running_loop() is not None
        finally:
            invoker.shutdown()

    asyncio.run(scenario())
