"""Desired state from mounted files: a routing document and a keys document, re-read when either changes.

On Kubernetes the routing document is a ConfigMap and the keys a Secret, both mounted as volumes. The kubelet
updates such volumes in place (an atomic swap of the ``..data`` symlink), so polling the files' contents sees
every change without a restart and never reads a half-written file. The keys live in a separate document so
that the ConfigMap, which many people may read, never holds a credential::

    routing.json: {"endpoints": {"ep": {"host": "0.0.0.0", "port": 8080, "traffic": …, "deployments": …}}}
    keys.json:    {"endpoints": {"ep": {"keys": ["<primary>", "<secondary>"], "token_secret": "<hex>"}}}

A document that does not parse or validate is reported (without its secrets) and the running configuration
stays as it was, so a bad edit cannot take an endpoint down.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from endpointctl.serving.gateway.config import SECRET_FIELDS, ConfigError, GatewayConfig
from endpointctl.serving.gateway.gateway import Gateway, GatewayBindError

logger = logging.getLogger("endpointctl.gateway.files")
DEFAULT_RELOAD_INTERVAL_S = 2.0


@dataclass(frozen=True)
class FileSource:
    config_file: Path
    keys_file: Path | None = None

    def read(self) -> tuple[bytes, bytes]:
        """The raw contents of both documents (the keys document is empty when there is none)."""
        config = self.config_file.read_bytes()
        keys = self.keys_file.read_bytes() if self.keys_file is not None else b""
        return config, keys

    @staticmethod
    def fingerprint(contents: tuple[bytes, bytes]) -> str:
        h = hashlib.sha256()
        for part in contents:
            h.update(len(part).to_bytes(8, "big") + part)
        return h.hexdigest()

    def parse(self, contents: tuple[bytes, bytes]) -> GatewayConfig:
        config_text, keys_text = contents
        doc = _json(config_text, str(self.config_file))
        if keys_text:
            merge_keys(doc, _json(keys_text, str(self.keys_file)))
        return GatewayConfig.from_dict(doc)

    def load(self) -> GatewayConfig:
        try:
            contents = self.read()
        except OSError as exc:
            raise ConfigError(f"cannot read {exc.filename}: {exc.strerror or exc}") from None
        return self.parse(contents)


def _json(text: bytes, where: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where}: not valid JSON: {exc}") from None


def merge_keys(doc: Any, keys: Any) -> None:
    """Copy each endpoint's credentials from the keys document into the routing document, in place."""
    if not isinstance(doc, dict) or not isinstance(doc.get("endpoints"), dict):
        raise ConfigError("config: expected an object with an `endpoints` object")
    if (
        not isinstance(keys, dict)
        or set(keys) - {"endpoints"}
        or not isinstance(keys.get("endpoints", {}), dict)
    ):
        raise ConfigError("keys: expected an object with an `endpoints` object")
    for name, entry in keys.get("endpoints", {}).items():
        if not isinstance(entry, dict) or set(entry) - SECRET_FIELDS:
            raise ConfigError(
                f"keys.endpoints.{name}: only {', '.join(sorted(SECRET_FIELDS))} may appear here"
            )
        target = doc["endpoints"].get(name)
        if isinstance(target, dict):
            # A key for an endpoint the routing document does not (yet) list is harmless: ignore it.
            target.update(entry)


class FileWatcher:
    """Applies the documents at start, then re-applies them whenever their contents change."""

    def __init__(
        self, gateway: Gateway, source: FileSource, *, interval_s: float = DEFAULT_RELOAD_INTERVAL_S
    ) -> None:
        self._gateway = gateway
        self._source = source
        self._interval_s = interval_s
        self._applied: str | None = None
        # The fingerprint of the documents the gateway runs (not of a rejected pair seen since).
        self.running: str | None = None
        self.reloads = 0
        self.last_error: str | None = None

    async def apply_initial(self) -> GatewayConfig:
        """Raises ConfigError or GatewayBindError: a gateway that cannot start from its files should exit."""
        contents = self._read()
        effective = await self._gateway.apply(self._source.parse(contents))
        self._applied = self.running = FileSource.fingerprint(contents)
        return effective

    async def check(self) -> bool:
        """Re-read the files once; True when a changed configuration was applied."""
        try:
            contents = await asyncio.to_thread(self._read)
        except ConfigError as exc:
            self._report(str(exc))
            return False
        fingerprint = FileSource.fingerprint(contents)
        if fingerprint == self._applied:
            return False
        self.last_error = None
        try:
            await self._gateway.apply(self._source.parse(contents))
        except (ConfigError, GatewayBindError) as exc:
            # Remember the failed contents so the same bad document is reported once, not every interval.
            self._applied = fingerprint
            self._report(str(exc))
            return False
        self._applied = self.running = fingerprint
        self.reloads += 1
        self.last_error = None
        logger.info("configuration reloaded from %s", self._source.config_file)
        return True

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), timeout=self._interval_s)
            except TimeoutError:
                await self.check()

    def _read(self) -> tuple[bytes, bytes]:
        try:
            return self._source.read()
        except OSError as exc:
            raise ConfigError(f"cannot read {exc.filename}: {exc.strerror or exc}") from None

    def _report(self, message: str) -> None:
        self.last_error = message
        logger.error("configuration not reloaded, the running one stays: %s", message)
