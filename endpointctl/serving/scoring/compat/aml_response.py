"""Flask-free ``AMLResponse`` with azmlinfsrv's constructor and the werkzeug attributes scripts use."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any

from endpointctl.serving.scoring.compat.datastructures import Headers

_DEFAULT_CONTENT_TYPE = "text/html; charset=utf-8"


def _encode(message: Any) -> bytes:
    if isinstance(message, str):
        return message.encode("utf-8")
    if isinstance(message, bytes | bytearray | memoryview):
        return bytes(message)
    if isinstance(message, Iterable):
        # werkzeug treats any other iterable as the body's chunks.
        return b"".join(_encode(chunk) for chunk in message)
    raise TypeError(
        f"AMLResponse body must be str, bytes or an iterable of them, not {type(message).__name__}"
    )


def _status_code(status: int | str | HTTPStatus) -> int:
    if isinstance(status, int):
        return int(status)
    return int(str(status).split(" ", 1)[0])


class AMLResponse:
    """A response returned from run(); passes through the host unchanged."""

    def __init__(
        self,
        message: Any,
        status_code: int | str | HTTPStatus,
        response_headers: Mapping[str, str] | None = None,
        json_str: bool = False,
        run_function_failed: bool = False,
    ) -> None:
        self.status_code = _status_code(status_code)
        self.headers = Headers()
        extra = dict(response_headers or {})
        if message is None:
            self._body = b"{}"
            self.headers.set("Content-Type", "application/json")
        elif json_str:
            self._body = json.dumps(message).encode("utf-8")
            self.headers.set("Content-Type", "application/json")
        else:
            self._body = _encode(message)
            # Exact-case key check, as azmlinfsrv does: "content-type" adds a second header there too.
            if "Content-Type" not in extra:
                self.headers.set("Content-Type", _DEFAULT_CONTENT_TYPE)
        self.headers.set("x-ms-run-function-failed", run_function_failed)
        # azmlinfsrv splits every value on commas into repeated headers; scripts rely on that for lists.
        for name, value in extra.items():
            for part in str(value).split(","):
                self.headers.add(name, part.strip())

    @property
    def status(self) -> str:
        try:
            phrase = HTTPStatus(self.status_code).phrase.upper()
        except ValueError:
            phrase = "UNKNOWN"
        return f"{self.status_code} {phrase}"

    @property
    def data(self) -> bytes:
        return self._body

    @data.setter
    def data(self, value: str | bytes) -> None:
        self.set_data(value)

    def get_data(self, as_text: bool = False) -> Any:
        return self._body.decode("utf-8") if as_text else self._body

    def set_data(self, value: str | bytes) -> None:
        self._body = _encode(value)

    @property
    def content_type(self) -> str | None:
        value: str | None = self.headers.get("Content-Type")
        return value

    @property
    def mimetype(self) -> str | None:
        value = self.content_type
        return value.split(";", 1)[0].strip() if value else None

    @property
    def content_length(self) -> int:
        return len(self._body)

    @property
    def is_json(self) -> bool:
        mimetype = self.mimetype or ""
        return mimetype == "application/json" or (
            mimetype.startswith("application/") and mimetype.endswith("+json")
        )

    def get_json(self) -> Any:
        return json.loads(self._body)

    @property
    def json(self) -> Any:
        return self.get_json()

    def __repr__(self) -> str:
        return f"<AMLResponse {len(self._body)} bytes [{self.status_code}]>"
