"""The host's own request/response values, independent of the HTTP transport."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from urllib.parse import unquote_to_bytes


@dataclass(slots=True)
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes = b""
    # Built from a script's own response object: its headers may hold anything (a correlation id, hop-by-hop
    # headers). The host's own responses hold none of those, so decorating and sending them skips the scans.
    from_script: bool = False

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        for key, value in self.headers:
            if key.lower() == lowered:
                return value
        return None

    def set_header(self, name: str, value: str) -> None:
        lowered = name.lower()
        for index, (key, _) in enumerate(self.headers):
            if key.lower() == lowered:
                self.headers[index] = (key, value)
                return
        self.headers.append((name, value))


@dataclass(eq=False)
class Request:
    """One parsed HTTP request. Header names keep the caller's spelling; lookups are case-insensitive."""

    method: str
    raw_path: bytes
    query_string: bytes
    header_items: list[tuple[str, str]]
    body: bytes = b""
    client: str = ""
    server: tuple[str, int] = ("127.0.0.1", 0)
    http_version: str = "1.1"
    _map: dict[str, str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        merged: dict[str, str] = {}
        for name, value in self.header_items:
            key = name.lower()
            # WSGI servers fold repeated headers into one comma-joined value; scripts see that.
            merged[key] = f"{merged[key]},{value}" if key in merged else value
        self._map = merged

    def header(self, name: str, default: str | None = None) -> str | None:
        return self._map.get(name.lower(), default)

    def has_header(self, name: str) -> bool:
        return name.lower() in self._map

    @cached_property
    def path(self) -> str:
        # Like WSGI's PATH_INFO: percent-decoded bytes read as latin-1, then as UTF-8 where valid.
        decoded = unquote_to_bytes(self.raw_path)
        try:
            return decoded.decode("utf-8")
        except UnicodeDecodeError:
            return decoded.decode("latin-1")

    @cached_property
    def query(self) -> str:
        return self.query_string.decode("latin-1")

    @cached_property
    def mimetype(self) -> str:
        return (self.header("content-type") or "").split(";", 1)[0].strip().lower()

    def wsgi_header_dict(self) -> dict[str, str]:
        """Headers as a Flask script sees ``dict(request.headers)``: Title-Case names, folded duplicates."""
        result: dict[str, str] = {}
        for name, value in self.header_items:
            if "_" in name:
                # Gunicorn drops header names containing underscores (ambiguous once mapped to WSGI keys).
                continue
            key = name.title()
            result[key] = f"{result[key]},{value}" if key in result else value
        return result
