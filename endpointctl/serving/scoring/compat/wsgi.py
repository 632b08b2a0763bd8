"""The WSGI side of ``@rawhttp``: the environ gunicorn would build, and the request object run() gets."""

from __future__ import annotations

import importlib
import io
from collections.abc import Callable
from typing import Any

from endpointctl.serving.scoring.compat import Mode
from endpointctl.serving.scoring.messages import Request


def environ_for(request: Request) -> dict[str, Any]:
    """A WSGI environ equivalent to the one gunicorn builds for this request."""
    host, port = request.server
    environ: dict[str, Any] = {
        "REQUEST_METHOD": request.method,
        "SCRIPT_NAME": "",
        "PATH_INFO": request.path.encode("utf-8").decode("latin-1"),
        "QUERY_STRING": request.query,
        "RAW_URI": (request.raw_path + (b"?" + request.query_string if request.query_string else b"")).decode(
            "latin-1"
        ),
        "SERVER_NAME": host,
        "SERVER_PORT": str(port),
        "SERVER_PROTOCOL": f"HTTP/{request.http_version}",
        "REMOTE_ADDR": request.client,
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(request.body),
        "wsgi.input_terminated": True,
        "wsgi.errors": io.StringIO(),
        # What gunicorn's sync worker says; our run() calls are one at a time unless --max-concurrent.
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for name, value in request.header_items:
        if "_" in name:
            continue
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            environ[key] = value
            continue
        key = f"HTTP_{key}"
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ


def request_factory(mode: Mode) -> Callable[[Request], Any]:
    """Builds run()'s request object: Flask's when azmlinfsrv's classes are aliased, else werkzeug's.

    Called only for ``@rawhttp`` scripts, which have imported werkzeug (and Flask) already.
    """
    ours = importlib.import_module("endpointctl.serving.scoring.compat.aml_request")
    request_class = importlib.import_module("flask").Request if mode == "real" else ours.Request
    rule = ours.score_rule()

    def build(request: Request) -> Any:
        built = request_class(environ_for(request))
        # What Flask's dispatch to azmlinfsrv's /score view records on the request.
        built.url_rule = rule
        built.view_args = {}
        return built

    return build
