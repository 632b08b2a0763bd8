"""azmlinfsrv's ``AMLResponse`` on werkzeug alone: its constructor, werkzeug's whole response API."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import werkzeug.wrappers


class AMLResponse(werkzeug.wrappers.Response):
    """A response returned from run(); the host sends it as werkzeug would (``get_wsgi_response``)."""

    # Flask's Response default; werkzeug's own is text/plain.
    default_mimetype = "text/html"

    @property
    def max_cookie_size(self) -> int:  # type: ignore[override]
        # Flask reads it from the app's MAX_COOKIE_SIZE (werkzeug's 4093), so a script cannot set it there.
        return werkzeug.wrappers.Response.max_cookie_size

    def __init__(
        self,
        message: Any,
        status_code: int | str | Any,
        response_headers: Mapping[str, str] | None = None,
        json_str: bool = False,
        run_function_failed: bool = False,
    ) -> None:
        # azmlinfsrv's default is a shared ``{}``; None behaves the same without the mutable default.
        headers: Mapping[str, str] = {} if response_headers is None else response_headers
        if message is not None:
            if json_str:
                super().__init__(json.dumps(message), status=status_code, mimetype="application/json")
            else:
                super().__init__(message, status=status_code)
                # Exact-case key check, as azmlinfsrv does: "content-type" adds a second header there too.
                if "Content-Type" in headers:
                    self.headers.remove("Content-Type")
        else:
            super().__init__(json.dumps({}), status=status_code, mimetype="application/json")
        self.headers["x-ms-run-function-failed"] = run_function_failed
        # azmlinfsrv splits every value on commas into repeated headers; scripts rely on that for lists.
        for header, value in headers.items():
            for part in value.split(","):
                self.headers.add_header(header, part.strip())
