"""Bridges to Flask/werkzeug objects, used only when azureml-inference-server-http is installed."""

from __future__ import annotations

import importlib
import io
from typing import Any

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
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": True,
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


def flask_request(request: Request) -> Any:
    """A ``flask.Request`` for a ``@rawhttp`` script, as azmlinfsrv passes one."""
    flask = importlib.import_module("flask")
    return flask.Request(environ_for(request))
