"""Turning run() results and host errors into HTTP responses, byte for byte as azmlinfsrv does."""

from __future__ import annotations

import json
from typing import Any

from endpointctl.serving.scoring.messages import Response

JSON = "application/json"
HTML = "text/html; charset=utf-8"

INTERNAL_ERROR = "An unexpected internal error occurred. Check the logs for more info."
RUN_FAILED = "An unexpected error occurred in scoring script. Check the logs for more info."
NOT_FOUND = (
    "The requested URL was not found on the server. If you entered the URL manually please check your "
    "spelling and try again."
)
METHOD_NOT_ALLOWED = "The method is not allowed for the requested URL."


def _flag(value: bool) -> str:
    return "True" if value else "False"


def json_response(payload: Any, status: int = 200, *, run_function_failed: bool = False) -> Response:
    body = json.dumps(payload).encode("utf-8")
    return Response(
        status,
        [("Content-Type", JSON), ("x-ms-run-function-failed", _flag(run_function_failed))],
        body,
    )


def error_response(status: int, message: str, *, run_function_failed: bool = False) -> Response:
    return json_response({"message": message}, status, run_function_failed=run_function_failed)


def text_response(text: str, status: int = 200) -> Response:
    """A plain Flask view return value: no x-ms-run-function-failed header."""
    return Response(status, [("Content-Type", HTML)], text.encode("utf-8"))


def empty_ok() -> Response:
    return Response(200, [("Content-Type", HTML), ("x-ms-run-function-failed", "False")], b"")


def is_response_object(value: object) -> bool:
    """Our AMLResponse shim and any werkzeug/Flask Response (the real AMLResponse) qualify."""
    return hasattr(value, "status_code") and hasattr(value, "headers") and hasattr(value, "get_data")


def from_response_object(value: Any) -> Response:
    status = int(value.status_code)
    headers = [(str(name), str(val)) for name, val in value.headers]
    body = value.get_data()
    if isinstance(body, str):
        body = body.encode("utf-8")
    response = Response(status, headers, bytes(body))
    if status >= 500:
        response.set_header("x-ms-run-function-failed", "True")
    return response


def result_response(result: Any) -> Response:
    """A value run() returned. Raises TypeError/ValueError when it is not JSON-serialisable."""
    if is_response_object(result):
        return from_response_object(result)
    if result is None:
        return Response(200, [("Content-Type", JSON), ("x-ms-run-function-failed", "False")], b"{}")
    return json_response(result)
