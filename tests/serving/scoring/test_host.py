"""Our scoring host as a real subprocess (the project's own venv: no Flask, no azureml package)."""

from __future__ import annotations

import re
import sys
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from endpointctl.serving.scoring import invoker
from tests.serving.scoring.cases import CORPUS, MODEL_1
from tests.serving.scoring.servers import Server, fetch, free_port, scoring_env

SCRIPTS = Path(__file__).resolve().parent / "scripts"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
JSON = {"Content-Type": "application/json"}


def host(
    tmp_path: Path,
    script: Path | None,
    *,
    env: Mapping[str, str] | None = None,
    args: list[str] | None = None,
    model_dir: Path | None = None,
    port: int | None = None,
) -> Server:
    port = port or free_port()
    command = [sys.executable, "-m", "endpointctl.serving.scoring", "--host", "127.0.0.1"]
    if script is not None:
        command += ["--entry_script", str(script)]
    if "SERVER_PORT" not in (env or {}):
        command += ["--port", str(port)]
    app_root = script.parent if script is not None else tmp_path
    server = Server(
        command, scoring_env(app_root, model_dir, env), tmp_path, port, tmp_path / f"host-{port}.log"
    )
    return server.start()


@pytest.fixture
def running(tmp_path: Path) -> Iterator[list[Server]]:
    servers: list[Server] = []
    yield servers
    for server in servers:
        server.stop()


def serve(running: list[Server], server: Server) -> Server:
    running.append(server)
    assert server.wait_ready(), server.output()
    return server


def test_model_1_sample_scores_with_the_documented_headers(tmp_path: Path, running: list[Server]) -> None:
    server = serve(running, host(tmp_path, MODEL_1 / "onlinescoring" / "score.py", model_dir=MODEL_1))
    reply = fetch(server.port, "POST", "/score", (MODEL_1 / "sample-request.json").read_bytes(), JSON)
    assert reply.status == 200
    assert reply.header("content-type") == "application/json"
    predictions = __import__("json").loads(reply.body)
    assert len(predictions) == 2 and all(isinstance(value, float) for value in predictions)
    assert reply.header("x-ms-run-function-failed") == "False"
    assert re.fullmatch(r"\d+\.\d{3}", reply.header("x-ms-run-fn-exec-ms") or "")
    request_id = reply.header("x-request-id") or ""
    assert UUID.match(request_id)
    assert reply.header("x-ms-request-id") == request_id
    assert reply.header("x-ms-client-request-id") is None
    assert (reply.header("x-ms-server-version") or "").startswith("azmlinfsrv/1.5.1")
    assert server.wait_for_output(rf"POST /score 200 \d+\.\d{{3}}ms {len(reply.body)}\n")


def test_routes_methods_and_errors(tmp_path: Path, running: list[Server]) -> None:
    server = serve(running, host(tmp_path, CORPUS / "run_raises" / "score.py"))
    health = fetch(server.port, "GET", "/")
    assert (health.status, health.body, health.header("content-type")) == (
        200,
        b"Healthy",
        "text/html; charset=utf-8",
    )
    options = fetch(server.port, "OPTIONS", "/score")
    assert (options.status, options.body) == (200, b"")
    put = fetch(server.port, "PUT", "/score", b"{}")
    assert put.status == 405 and put.header("content-type") == "application/json"
    assert put.body == b'{"message": "The method is not allowed for the requested URL."}'
    missing = fetch(server.port, "GET", "/nowhere")
    assert missing.status == 404 and b'"message": "The requested URL was not found' in missing.body
    ok = fetch(server.port, "POST", "/score", b"ok")
    assert (ok.status, ok.body) == (200, b'"fine"')
    failed = fetch(server.port, "POST", "/score", b"boom")
    assert failed.status == 500
    assert (
        failed.body
        == b'{"message": "An unexpected error occurred in scoring script. Check the logs for more info."}'
    )
    assert failed.header("x-ms-run-function-failed") == "True"
    assert server.wait_for_output("ValueError: bad input: 'boom'")
    bad_version = fetch(server.port, "GET", "/swagger.json?version=9")
    assert bad_version.status == 404 and b"is not valid" in bad_version.body
    swagger = fetch(server.port, "GET", "/swagger.json?version=3.1")
    assert swagger.status == 200 and b'"openapi": "3.1.0"' in swagger.body


def test_query_parameters_reach_run_as_a_json_string(tmp_path: Path, running: list[Server]) -> None:
    server = serve(running, host(tmp_path, CORPUS / "get_query" / "score.py"))
    reply = fetch(server.port, "GET", "/score?a=1&a=2&b=%5B1%5D&c=text")
    assert reply.body == b'{"raw": "{\\"a\\": [1, 2], \\"b\\": [1], \\"c\\": \\"text\\"}"}'


def test_non_serialisable_result_is_an_internal_error(tmp_path: Path, running: list[Server]) -> None:
    server = serve(running, host(tmp_path, CORPUS / "set_output" / "score.py"))
    reply = fetch(server.port, "POST", "/score", b"x")
    assert reply.status == 500
    assert (
        reply.body == b'{"message": "An unexpected internal error occurred. Check the logs for more info."}'
    )
    assert reply.header("x-ms-run-function-failed") == "False"


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        (
            {"x-request-id": "r1"},
            {"x-request-id": "r1", "x-ms-request-id": "r1", "x-ms-client-request-id": None},
        ),
        ({"x-ms-request-id": "l1"}, {"x-ms-request-id": "l1", "x-ms-client-request-id": "l1"}),
        ({"x-ms-client-request-id": "c1"}, {"x-ms-request-id": "c1", "x-ms-client-request-id": "c1"}),
        (
            {"x-ms-request-id": "l2", "x-ms-client-request-id": "c2"},
            {"x-ms-request-id": "l2", "x-ms-client-request-id": "c2"},
        ),
        ({"TraceId": "t-77"}, {"TraceId": "t-77"}),
    ],
)
def test_correlation_headers(
    tmp_path: Path, running: list[Server], sent: dict[str, str], expected: dict[str, str | None]
) -> None:
    server = serve(running, host(tmp_path, CORPUS / "echo_str" / "score.py"))
    reply = fetch(server.port, "POST", "/score", b"{}", {**JSON, **sent})
    assert reply.status == 200
    for name, value in expected.items():
        assert reply.header(name) == value, name


def test_over_long_request_ids_are_refused(tmp_path: Path, running: list[Server]) -> None:
    server = serve(running, host(tmp_path, CORPUS / "echo_str" / "score.py"))
    reply = fetch(server.port, "POST", "/score", b"{}", {"x-request-id": "a" * 101})
    assert reply.status == 431
    assert reply.body == b'{"message": "x-request-id must not exceed 100 characters"}'
    assert reply.header("x-request-id") is None
    client = fetch(server.port, "POST", "/score", b"{}", {"x-ms-client-request-id": "a" * 101})
    assert client.status == 431
    assert fetch(server.port, "POST", "/score", b"{}", {"x-request-id": "a" * 100}).status == 200


def test_scoring_timeout_answers_500_and_the_host_keeps_serving(
    tmp_path: Path, running: list[Server]
) -> None:
    server = serve(
        running, host(tmp_path, CORPUS / "slow_run" / "score.py", env={"SCORING_TIMEOUT_MS": "200"})
    )
    slow = fetch(server.port, "POST", "/score", b"slow")
    assert slow.status == 500
    assert slow.body == b'{"message": "Scoring timeout after 200 ms"}'
    assert slow.header("x-ms-run-function-failed") == "True"
    assert fetch(server.port, "POST", "/score", b"fast").body == b'{"done": "fast"}'


def test_a_fast_run_on_the_loop_thread_is_interrupted_in_a_blocking_call(
    tmp_path: Path, running: list[Server]
) -> None:
    server = serve(running, host(tmp_path, SCRIPTS / "sleepy.py", env={"SCORING_TIMEOUT_MS": "300"}))
    # Enough fast calls that run() moves onto the event-loop thread, where SIGALRM bounds it.
    for index in range(invoker.INLINE_AFTER_FAST_CALLS + 5):
        assert fetch(server.port, "POST", "/score", str(index).encode()).status == 200
    # time.sleep(600) on the loop thread: only the alarm can end it before this fetch gives up.
    slow = fetch(server.port, "POST", "/score", b"sleep", timeout=120)
    assert slow.status == 500
    assert slow.body == b'{"message": "Scoring timeout after 300 ms"}'
    assert fetch(server.port, "POST", "/score", b"after").body == b'{"done": "after"}'


def test_init_failure_exits_with_3_and_logs_the_traceback(tmp_path: Path, running: list[Server]) -> None:
    server = host(tmp_path, CORPUS / "init_raises" / "score.py")
    running.append(server)
    assert server.wait_exit() == 3
    assert "Traceback" in server.output()
    assert "RuntimeError: model file is missing" in server.output()


def test_init_failure_in_any_worker_stops_the_server(tmp_path: Path, running: list[Server]) -> None:
    server = host(tmp_path, CORPUS / "init_raises" / "score.py", args=None, env={"WORKER_COUNT": "2"})
    running.append(server)
    assert server.wait_exit() == 3


def test_environment_variables_configure_the_host(tmp_path: Path, running: list[Server]) -> None:
    port = free_port()
    script = CORPUS / "echo_str" / "score.py"
    env = {"AZUREML_ENTRY_SCRIPT": "score.py", "AML_APP_ROOT": str(script.parent), "SERVER_PORT": str(port)}
    server = serve(running, host(tmp_path, None, env=env, port=port))
    assert fetch(server.port, "POST", "/score", b"hi").body == b'"hi"'


def test_each_worker_runs_init_once(tmp_path: Path, running: list[Server]) -> None:
    gate = tmp_path / "gate"
    gate.mkdir()
    (gate / "open").write_text("")
    env = {"GATE_DIR": str(gate), "WORKER_COUNT": "2"}
    server = serve(running, host(tmp_path, SCRIPTS / "gated.py", env=env))
    for _ in range(10):
        assert fetch(server.port, "POST", "/score", b"x").status == 200
    # The first ready worker answers GET /; wait for the second's start-up line before counting.
    assert server.wait_for_output(
        r"Worker with pid (\d+) ready[^\n]*\n(?:.*\n)*.*Worker with pid (?!\1)\d+ ready"
    )
    assert len(list(gate.glob("init-*"))) == 2


def test_run_never_blocks_the_event_loop(tmp_path: Path, running: list[Server]) -> None:
    gate = tmp_path / "gate"
    gate.mkdir()
    server = serve(running, host(tmp_path, SCRIPTS / "gated.py", env={"GATE_DIR": str(gate)}))
    answers: list[int] = []
    in_flight = threading.Thread(
        target=lambda: answers.append(fetch(server.port, "POST", "/score", b"x").status)
    )
    in_flight.start()
    try:
        # run() is parked on the gate; the health route and a swagger request still answer.
        assert fetch(server.port, "GET", "/").status == 200
        assert fetch(server.port, "GET", "/swagger.json").status == 200
        assert answers == []
    finally:
        (gate / "open").write_text("")
        in_flight.join(timeout=30)
    assert answers == [200]


def test_aml_request_and_response_on_werkzeug_without_azureml(tmp_path: Path, running: list[Server]) -> None:
    server = serve(running, host(tmp_path, CORPUS / "rawhttp_echo" / "score.py"))
    reply = fetch(server.port, "POST", "/score", b'{"a": 1}', {**JSON, "X-Status": "201"})
    assert reply.status == 201
    assert reply.body == b'{"echo": "{\\"a\\": 1}", "json": true}'
    assert reply.headers_named("X-List") == ["a", "b", "c"]
    assert reply.header("x-seen-length") == "8"
    get = fetch(server.port, "GET", "/score?x=1&x=2")
    assert get.body == b'{"method": "GET", "args": {"x": ["1", "2"]}, "path": "/score"}'
    binary_server = serve(running, host(tmp_path, CORPUS / "rawhttp_binary" / "score.py"))
    binary = fetch(binary_server.port, "POST", "/score", b"abc")
    assert binary.header("content-type") == "image/png"
    assert binary.body.startswith(b"\x89PNG\r\n\x1a\n") and len(binary.body) == 8 + 32 + 256


def test_a_json_script_never_loads_werkzeug(tmp_path: Path, running: list[Server]) -> None:
    """werkzeug is imported only for scripts that use AMLRequest/AMLResponse: the JSON path pays nothing."""
    server = serve(running, host(tmp_path, SCRIPTS / "loaded_modules.py"))
    reply = fetch(server.port, "POST", "/score", b"{}", JSON)
    assert (reply.status, reply.body) == (200, b"[]")
