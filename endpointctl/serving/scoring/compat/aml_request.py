"""Flask-free ``AMLRequest`` and ``rawhttp`` with the werkzeug request surface scripts use."""

from __future__ import annotations

import email.parser
import email.policy
import io
import json
import shutil
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import IO, Any, TypeVar
from urllib.parse import parse_qsl, quote

from endpointctl.serving.scoring.compat.datastructures import Headers, MultiDict
from endpointctl.serving.scoring.messages import Request

F = TypeVar("F", bound=Callable[..., Any])

# azmlinfsrv keeps this module-level flag; scripts and the host both read it under this name.
_rawHttpRequested = False

_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def rawhttp(func: F) -> F:
    """Ask the host to call run() with the request object instead of the decoded body."""
    global _rawHttpRequested
    _rawHttpRequested = True
    return func


class RequestError(ValueError):
    """A body the script asked to decode is unusable (werkzeug raises 400/415 here)."""

    def __init__(self, code: int, description: str) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description


class FileStorage:
    """An uploaded file from a multipart body."""

    def __init__(self, name: str, filename: str | None, content_type: str, data: bytes) -> None:
        self.name = name
        self.filename = filename
        self.content_type = content_type
        self.mimetype = content_type.split(";", 1)[0].strip()
        self.stream: IO[bytes] = io.BytesIO(data)

    def read(self, size: int = -1) -> bytes:
        return self.stream.read(size)

    def save(self, dst: str | Path | IO[bytes]) -> None:
        if isinstance(dst, str | Path):
            with Path(dst).open("wb") as handle:
                shutil.copyfileobj(self.stream, handle)
        else:
            shutil.copyfileobj(self.stream, dst)

    def __repr__(self) -> str:
        return f"<FileStorage: {self.filename!r} ({self.content_type!r})>"


def _parse_multipart(content_type: str, body: bytes) -> tuple[MultiDict, MultiDict]:
    head = f"Content-Type: {content_type}\r\n\r\n".encode("latin-1")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    fields: list[tuple[str, Any]] = []
    files: list[tuple[str, Any]] = []
    if not message.is_multipart():
        return MultiDict(), MultiDict()
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if filename is None:
            charset = part.get_content_charset() or "utf-8"
            fields.append((name, data.decode(charset, "replace")))
        else:
            files.append((name, FileStorage(name, filename, part.get_content_type(), data)))
    return MultiDict(fields), MultiDict(files)


class AMLRequest:
    """The request a ``@rawhttp`` run() receives when Flask is not installed."""

    def __init__(self, request: Request) -> None:
        self._request = request
        self.method = request.method
        self.headers = Headers(request.wsgi_header_dict().items())

    @property
    def path(self) -> str:
        return self._request.path

    @property
    def query_string(self) -> bytes:
        return self._request.query_string

    @property
    def full_path(self) -> str:
        return f"{quote(self.path, safe='/:@&+$,;=')}?{self._request.query}"

    @property
    def host(self) -> str:
        return self._request.header("host") or f"{self._request.server[0]}:{self._request.server[1]}"

    @property
    def host_url(self) -> str:
        return f"http://{self.host}/"

    @property
    def base_url(self) -> str:
        return f"http://{self.host}{quote(self.path, safe='/:@&+$,;=')}"

    @property
    def url(self) -> str:
        query = self._request.query
        return f"{self.base_url}?{query}" if query else self.base_url

    @property
    def scheme(self) -> str:
        return "http"

    @property
    def remote_addr(self) -> str:
        return self._request.client

    @property
    def content_type(self) -> str | None:
        return self._request.header("content-type")

    @property
    def mimetype(self) -> str:
        return self._request.mimetype

    @property
    def content_length(self) -> int | None:
        raw = self._request.header("content-length")
        return int(raw) if raw and raw.isdigit() else None

    @property
    def is_json(self) -> bool:
        mimetype = self.mimetype
        return mimetype == "application/json" or (
            mimetype.startswith("application/") and mimetype.endswith("+json")
        )

    @cached_property
    def args(self) -> MultiDict:
        return MultiDict(parse_qsl(self._request.query, keep_blank_values=True, errors="replace"))

    @cached_property
    def _form_and_files(self) -> tuple[MultiDict, MultiDict]:
        mimetype = self.mimetype
        if mimetype == "application/x-www-form-urlencoded":
            text = self._request.body.decode("latin-1")
            return MultiDict(parse_qsl(text, keep_blank_values=True, errors="replace")), MultiDict()
        if mimetype == "multipart/form-data":
            return _parse_multipart(self.content_type or "", self._request.body)
        return MultiDict(), MultiDict()

    @property
    def form(self) -> MultiDict:
        return self._form_and_files[0]

    @property
    def files(self) -> MultiDict:
        return self._form_and_files[1]

    @property
    def values(self) -> MultiDict:
        return MultiDict([*self.args.items(multi=True), *self.form.items(multi=True)])

    @property
    def stream(self) -> IO[bytes]:
        return io.BytesIO(self._request.body)

    def get_data(self, cache: bool = True, as_text: bool = False, parse_form_data: bool = False) -> Any:
        # werkzeug hands a form body to the form parser, leaving the raw data empty.
        body = b"" if parse_form_data and self.mimetype in _FORM_TYPES else self._request.body
        return body.decode("utf-8", "replace") if as_text else body

    @property
    def data(self) -> bytes:
        data: bytes = self.get_data(parse_form_data=True)
        return data

    def get_json(self, force: bool = False, silent: bool = False, cache: bool = True) -> Any:
        if not (force or self.is_json):
            if silent:
                return None
            raise RequestError(
                415,
                "Did not attempt to load JSON data because the request Content-Type was not 'application/json'.",
            )
        try:
            return json.loads(self._request.body)
        except ValueError:
            if silent:
                return None
            raise RequestError(400, "Failed to decode JSON object") from None

    @property
    def json(self) -> Any:
        return self.get_json()

    @property
    def environ(self) -> dict[str, Any]:
        from endpointctl.serving.scoring.compat.wsgi import environ_for

        return environ_for(self._request)

    def __repr__(self) -> str:
        return f"<AMLRequest '{self.url}' [{self.method}]>"
