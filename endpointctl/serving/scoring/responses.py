"""Turning run() results and host errors into HTTP responses, byte for byte as azmlinfsrv does."""

from __future__ import annotations

import json
from typing import Any

from endpointctl.serving.scoring.compat.wsgi import environ_for
from endpointctl.serving.scoring.messages import Request, Response

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
    """AMLResponse and any werkzeug/Flask Response: what werkzeug can turn into a WSGI response."""
    return hasattr(value, "get_wsgi_response") and hasattr(value, "status_code")


def from_response_object(value: Any, environ: dict[str, Any]) -> Response:
    """The response as werkzeug hands it to the WSGI server (Content-Length, 204/304 bodies, cookies...)."""
    if environ["REQUEST_METHOD"] == "HEAD":
        # werkzeug sends HEAD no body but keeps the GET Content-Length; our transport drops a HEAD's body
        # and sends the length of the one it is given, so give it the GET body.
        environ = {**environ, "REQUEST_METHOD": "GET"}
    app_iter, status, headers = value.get_wsgi_response(environ)
    try:
        body = b"".join(app_iter)
    finally:
        close = getattr(app_iter, "close", None)
        if close is not None:
            close()
    code = int(str(status).split(" ", 1)[0])
    response = Response(code, [(str(name), str(val)) for name, val in headers], body, from_script=True)
    if code >= 500:
        response.set_header("x-ms-run-function-failed", "True")
    return response


def result_response(result: Any, request: Request) -> Response:
    """A value run() returned. Raises TypeError/ValueError when it is not JSON-serialisable."""
    if is_response_object(result):
        return from_response_object(result, environ_for(request))
    if result is None:
        return Response(200, [("Content-Type", JSON), ("x-ms-run-function-failed", "False")], b"{}")
    return json_response(result)
