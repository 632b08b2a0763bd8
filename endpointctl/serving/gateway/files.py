"""Desired state from mounted files: a routing document and a keys document, re-read when either changes.

On Kubernetes the routing document is a ConfigMap and the keys a Secret, both mounted as volumes. The kubelet
updates such volumes in place (an atomic swap of the ``..data`` symlink), so polling the files' contents sees
every change without a restart and never reads a half-written file. The keys live in a separate document so
that the ConfigMap, which many people may read, never holds a credential::

    routing.json: {"endpoints": {"ep": {"host": "0.0.0.0", "port": 8080, "traffic": …, "deployments": …}}}
    keys.json:    {"endpoints": {"ep": {"keys": ["<primary>", "<secondary>"], "token_secret": "<hex>"}}}

A document that does not parse or validate is reported (without its secrets) and the running configuration
stays as it was, so a bad edit cannot take an endpoint down.

A pushed routing document (``PUT /v1/routing``, see :mod:`.admin`) runs ahead of the files: the kubelet syncs
a ConfigMap volume only every 60-90 s, too slow for a rollout controller that must restore traffic within a
second. The push remembers the routing file's bytes on disk at that moment; while the file still holds them
(the kubelet has not synced yet), the pushed routing stands in for them — also when the keys file changes
meanwhile, so new keys are applied with the pushed routing, not with the stale file. Once the routing file
differs (the kubelet synced, or someone wrote anything newer), the push is forgotten and the files rule again.
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
PUSHED = "pushed routing"  # names a pushed routing document in errors, where a file's path would be


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

    def parse(self, contents: tuple[bytes, bytes], *, routing_from: str | None = None) -> GatewayConfig:
        """`routing_from`: where the routing document came from, for errors (the config file by default)."""
        config_text, keys_text = contents
        doc = _json(config_text, routing_from or str(self.config_file))
        if keys_text:
            merge_keys(doc, _json(keys_text, str(self.keys_file)))
        return GatewayConfig.from_dict(doc)

    def load(self) -> GatewayConfig:
        try:
            contents = self.read()
        except OSError as exc:
            raise ConfigError(f"cannot read {exc.filename}: {exc.strerror or exc}") from None
        return self.parse(contents)


class SourceUnreadable(ConfigError):
    """A mounted file could not be read (not a bad document: nothing the caller sent is at fault)."""


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


@dataclass(frozen=True)
class _Push:
    stale: bytes  # the routing file's bytes on disk when the push was taken
    routing: bytes  # the pushed routing document, run in their place while the file still holds them


class FileWatcher:
    """Applies the documents at start, then re-applies them whenever their contents change."""

    def __init__(
        self, gateway: Gateway, source: FileSource, *, interval_s: float = DEFAULT_RELOAD_INTERVAL_S
    ) -> None:
        self._gateway = gateway
        self._source = source
        self._interval_s = interval_s
        # The fingerprint of the documents last tried (the pushed routing in place of a stale file's).
        self._applied: str | None = None
        self._push: _Push | None = None
        # A check and a push each read, then apply: one at a time, so a check that read the stale file before a
        # push cannot apply it after the push.
        self._lock = asyncio.Lock()
        # The fingerprint of the documents the gateway runs (not of a rejected pair seen since).
        self.running: str | None = None
        # The sha256 of the routing document the gateway runs (the pushed one or the file's).
        self.routing: str | None = None
        self.reloads = 0
        self.last_error: str | None = None

    async def apply_initial(self) -> GatewayConfig:
        """Raises ConfigError or GatewayBindError: a gateway that cannot start from its files should exit."""
        contents = self._read()
        effective = await self._gateway.apply(self._source.parse(contents))
        self._ran(contents)
        return effective

    async def check(self) -> bool:
        """Re-read the files once; True when a changed configuration was applied."""
        async with self._lock:
            try:
                on_disk = await asyncio.to_thread(self._read)
            except ConfigError as exc:
                self._report(str(exc))
                return False
            contents, routing_from = self._in_effect(on_disk)
            fingerprint = FileSource.fingerprint(contents)
            if fingerprint == self._applied:
                return False
            self.last_error = None
            try:
                await self._gateway.apply(self._source.parse(contents, routing_from=routing_from))
            except (ConfigError, GatewayBindError) as exc:
                # Remember the failed contents so the same bad document is reported once, not every interval.
                self._applied = fingerprint
                self._report(str(exc))
                return False
            self._ran(contents)
            self.reloads += 1
            logger.info("configuration reloaded from %s", self._source.config_file)
            return True

    async def push(self, routing: bytes) -> None:
        """Run `routing` (a routing document, without keys) with the keys file's current contents, ahead of the
        routing file. Raises ConfigError (nothing changed), SourceUnreadable or GatewayBindError (nothing
        changed either)."""
        async with self._lock:
            stale, keys = await asyncio.to_thread(self._read)
            contents = (routing, keys)
            await self._gateway.apply(self._source.parse(contents, routing_from=PUSHED))
            self._push = _Push(stale, routing) if routing != stale else None
            self._ran(contents)
            logger.info("pushed routing applied ahead of %s", self._source.config_file)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), timeout=self._interval_s)
            except TimeoutError:
                await self.check()

    def _in_effect(self, on_disk: tuple[bytes, bytes]) -> tuple[tuple[bytes, bytes], str | None]:
        """The documents to run, and where their routing comes from (None: the routing file): the pushed
        routing while the routing file still holds what it held at the push."""
        if self._push is None:
            return on_disk, None
        routing, keys = on_disk
        if routing == self._push.stale:
            return (self._push.routing, keys), PUSHED
        self._push = None  # the file moved on (the kubelet synced, or something newer): follow it again
        return on_disk, None

    def _ran(self, contents: tuple[bytes, bytes]) -> None:
        self._applied = self.running = FileSource.fingerprint(contents)
        self.routing = hashlib.sha256(contents[0]).hexdigest()
        self.last_error = None

    def _read(self) -> tuple[bytes, bytes]:
        try:
            return self._source.read()
        except OSError as exc:
            raise SourceUnreadable(f"cannot read {exc.filename}: {exc.strerror or exc}") from None

    def _report(self, message: str) -> None:
        self.last_error = message
        logger.error("configuration not reloaded, the running one stays: %s", message)
