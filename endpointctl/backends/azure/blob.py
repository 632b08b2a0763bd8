"""Uploads to the workspace's blob datastore with the Blob REST API (Put Blob, Put Block, Put Block List).

Authorisation is SharedKey (HMAC-SHA256 over the canonical request, from the account key ARM's
`listSecrets` returns) or a SAS token appended to the URL. Neither ever reaches a log or an exception.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import ipaddress
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlsplit

import httpx

from endpointctl.backends.azure.arm import Tuning, send_with_retries
from endpointctl.core.digest import tree_files
from endpointctl.core.errors import OperationFailed

BLOB_API_VERSION = "2023-11-03"
_SAS_SIGNATURE = re.compile(r"(?i)\b(sig=)[^&\s\"']+")


class RedactSasSignatures(logging.Filter):
    """httpx logs every request's full URL at INFO; a SAS signature in the query must not reach a log."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            record.args = tuple(
                _SAS_SIGNATURE.sub(r"\1REDACTED", str(a)) if "sig=" in str(a) else a for a in args
            )
        if isinstance(record.msg, str) and "sig=" in record.msg:
            record.msg = _SAS_SIGNATURE.sub(r"\1REDACTED", record.msg)
        return True


def redact_http_logs() -> None:
    logger = logging.getLogger("httpx")
    if not any(isinstance(f, RedactSasSignatures) for f in logger.filters):
        logger.addFilter(RedactSasSignatures())


@dataclass(frozen=True)
class BlobContainer:
    """Where the datastore's blobs live, and how to sign requests to it."""

    account: str
    container: str
    base_url: str  # …/container, without a trailing slash
    account_key: str | None = field(default=None, repr=False)
    sas_token: str | None = field(default=None, repr=False)

    @classmethod
    def of(
        cls,
        account: str,
        container: str,
        *,
        endpoint: str = "core.windows.net",
        protocol: str = "https",
        account_key: str | None = None,
        sas_token: str | None = None,
    ) -> BlobContainer:
        host = endpoint.split(":")[0]
        if _is_local(host):
            # Emulators (Azurite and test doubles) use path-style URLs: the account is the first segment.
            base = f"{protocol}://{endpoint}/{account}/{container}"
        else:
            base = f"{protocol}://{account}.blob.{endpoint}/{container}"
        return cls(account, container, base, account_key, (sas_token or "").lstrip("?") or None)

    def url(self, blob: str) -> str:
        return f"{self.base_url}/{quote(blob)}"


def _is_local(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def shared_key_signature(method: str, url: str, headers: Mapping[str, str], account: str, key: str) -> str:
    """The SharedKey `Authorization` value for a Blob request (the 2009-09-19+ string-to-sign)."""
    lower = {k.lower(): v for k, v in headers.items()}
    length = lower.get("content-length", "")
    standard = [
        method.upper(),
        lower.get("content-encoding", ""),
        lower.get("content-language", ""),
        "" if length == "0" else length,
        lower.get("content-md5", ""),
        lower.get("content-type", ""),
        "",  # Date: x-ms-date is sent instead
        lower.get("if-modified-since", ""),
        lower.get("if-match", ""),
        lower.get("if-none-match", ""),
        lower.get("if-unmodified-since", ""),
        lower.get("range", ""),
    ]
    canonical_headers = "".join(
        f"{k}:{lower[k].strip()}\n" for k in sorted(k for k in lower if k.startswith("x-ms-"))
    )
    parts = urlsplit(url)
    resource = f"/{account}{parts.path or '/'}"
    params: dict[str, list[str]] = {}
    for k, v in parse_qsl(parts.query, keep_blank_values=True):
        params.setdefault(k.lower(), []).append(v)
    for k in sorted(params):
        resource += f"\n{k}:{','.join(sorted(params[k]))}"
    to_sign = "\n".join(standard) + "\n" + canonical_headers + resource
    digest = hmac.new(base64.b64decode(key), to_sign.encode("utf-8"), hashlib.sha256).digest()
    return f"SharedKey {account}:{base64.b64encode(digest).decode()}"


class BlobUploader:
    def __init__(self, client: httpx.AsyncClient, target: BlobContainer, tuning: Tuning) -> None:
        self._http = client
        self._target = target
        if target.sas_token:
            redact_http_logs()
        self._tuning = tuning
        self.uploaded: list[str] = []

    async def _send(
        self, method: str, blob: str, content: bytes, *, query: str = "", headers: dict[str, str]
    ) -> None:
        url = self._target.url(blob) + (f"?{query}" if query else "")
        if self._target.sas_token:
            url += ("&" if query else "?") + self._target.sas_token

        async def build() -> httpx.Request:
            sent = {
                **headers,
                "x-ms-date": formatdate(usegmt=True),
                "x-ms-version": BLOB_API_VERSION,
                "Content-Length": str(len(content)),
            }
            if self._target.account_key and not self._target.sas_token:
                sent["Authorization"] = shared_key_signature(
                    method, url, sent, self._target.account, self._target.account_key
                )
            return self._http.build_request(method, url, content=content, headers=sent)

        response = await send_with_retries(self._http, build, self._tuning)
        if response.status_code >= 300:
            code = response.headers.get("x-ms-error-code", "")
            raise OperationFailed(
                f"azure: uploading {blob} to {self._target.account}/{self._target.container} failed: "
                f"HTTP {response.status_code} {code}".rstrip()
            )

    async def upload_file(self, path: Path, blob: str, size: int) -> None:
        # File reads go to a thread: the TUI shares this event loop.
        if size <= self._tuning.single_put_max:
            data = await asyncio.to_thread(path.read_bytes)
            await self._send("PUT", blob, data, headers={"x-ms-blob-type": "BlockBlob"})
        else:
            ids: list[str] = []
            for offset in range(0, size, self._tuning.block_size):
                chunk = await asyncio.to_thread(_read_at, path, offset, self._tuning.block_size)
                # Block ids must all have the same length within a blob.
                block_id = base64.b64encode(f"{len(ids):08d}".encode()).decode()
                await self._send(
                    "PUT", blob, chunk, query=f"comp=block&blockid={quote(block_id, safe='')}", headers={}
                )
                ids.append(block_id)
            xml = '<?xml version="1.0" encoding="utf-8"?><BlockList>'
            xml += "".join(f"<Latest>{i}</Latest>" for i in ids) + "</BlockList>"
            await self._send(
                "PUT", blob, xml.encode(), query="comp=blocklist", headers={"Content-Type": "application/xml"}
            )
        self.uploaded.append(blob)

    async def upload_tree(self, source: Path, prefix: str) -> str:
        """Upload a file or folder under `prefix/<its own name>`; returns that blob path."""
        root = f"{prefix}/{source.name}"
        for path, rel, size in await asyncio.to_thread(_layout, source):
            await self.upload_file(path, f"{root}/{rel}" if rel else root, size)
        return root


def _layout(source: Path) -> list[tuple[Path, str, int]]:
    """(file, path below the upload root — empty for a single file —, size) for every file to upload."""
    if source.is_file():
        return [(source, "", source.stat().st_size)]
    return [(p, p.relative_to(source).as_posix(), p.stat().st_size) for p in tree_files(source)]


def _read_at(path: Path, offset: int, size: int) -> bytes:
    with path.open("rb") as fh:
        fh.seek(offset)
        return fh.read(size)
