"""The state store: one SQLite database (WAL) under the data directory.

Every change happens inside `Store.transaction()`, so a crash mid-write leaves the previous state.
The file is created 0600 before SQLite opens it: SQLite gives its -wal and -shm files the same mode,
and the database holds endpoint keys.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from endpointctl.core.spec import (
    DeploymentSpec,
    EndpointSpec,
    EnvironmentSpec,
    ModelSpec,
    restore,
    spec_to_dict,
)
from endpointctl.core.store.migrations import migrate
from endpointctl.core.store.records import (
    AssetRecord,
    AssetSpec,
    DeploymentRecord,
    EndpointRecord,
    EventRecord,
    KeyRecord,
)

_BUSY_TIMEOUT_MS = 10_000


class StoreError(Exception):
    """The store could not be opened or a change could not be made; nothing was written."""


class Store:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        os.close(fd)
        path.chmod(0o600)
        try:
            # Autocommit mode: transactions are explicit (BEGIN IMMEDIATE) so writers never deadlock on upgrade.
            self._conn = sqlite3.connect(
                path, timeout=_BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
            )
            self._conn.row_factory = sqlite3.Row
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._conn.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
            self.schema_version = migrate(self._conn)
        except (sqlite3.DatabaseError, RuntimeError) as exc:
            raise StoreError(f"{path}: cannot open the state database: {exc}") from exc
        self._lock = threading.RLock()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        """A write transaction: all of it is committed, or none of it."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield Tx(self._conn)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                self._conn.execute("COMMIT")

    @contextmanager
    def read(self) -> Iterator[Tx]:
        """A consistent snapshot for several reads."""
        with self._lock:
            self._conn.execute("BEGIN DEFERRED")
            try:
                yield Tx(self._conn)
            finally:
                self._conn.execute("COMMIT")


def _dumps(value: Mapping[str, Any]) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


class Tx:
    """Operations inside one transaction. Obtain one from `Store.transaction()` or `Store.read()`."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    # --- assets ---------------------------------------------------------------------------------
    def put_asset(self, record: AssetRecord) -> None:
        self._conn.execute(
            "INSERT INTO assets (kind, name, version, digest, spec_json, blob_path, archived, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                record.kind,
                record.name,
                record.version,
                record.digest,
                _dumps(spec_to_dict(record.spec)),
                record.blob_path,
                int(record.archived),
                record.created_at,
            ),
        )

    def get_asset(self, kind: str, name: str, version: str) -> AssetRecord | None:
        row = self._conn.execute(
            "SELECT * FROM assets WHERE kind = ? AND name = ? AND version = ?", (kind, name, version)
        ).fetchone()
        return _asset(row) if row else None

    def list_assets(
        self, kind: str, name: str | None = None, *, include_archived: bool = False
    ) -> list[AssetRecord]:
        sql = "SELECT * FROM assets WHERE kind = ?"
        args: list[Any] = [kind]
        if name is not None:
            sql += " AND name = ?"
            args.append(name)
        if not include_archived:
            sql += " AND archived = 0"
        sql += " ORDER BY name, created_at"
        return [_asset(r) for r in self._conn.execute(sql, args)]

    def set_asset_archived(self, kind: str, name: str, version: str | None, archived: bool) -> int:
        sql = "UPDATE assets SET archived = ? WHERE kind = ? AND name = ?"
        args: list[Any] = [int(archived), kind, name]
        if version is not None:
            sql += " AND version = ?"
            args.append(version)
        return self._conn.execute(sql, args).rowcount

    # --- endpoints ------------------------------------------------------------------------------
    def put_endpoint(self, record: EndpointRecord) -> None:
        self._conn.execute(
            "INSERT INTO endpoints (backend, name, spec_json, provisioning_state, scoring_port, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (backend, name) DO UPDATE SET spec_json = excluded.spec_json,"
            " provisioning_state = excluded.provisioning_state, scoring_port = excluded.scoring_port,"
            " updated_at = excluded.updated_at",
            (
                record.backend,
                record.name,
                _dumps(spec_to_dict(record.spec)),
                record.provisioning_state,
                record.scoring_port,
                record.created_at,
                record.updated_at,
            ),
        )

    def get_endpoint(self, backend: str, name: str) -> EndpointRecord | None:
        row = self._conn.execute(
            "SELECT * FROM endpoints WHERE backend = ? AND name = ?", (backend, name)
        ).fetchone()
        return _endpoint(row) if row else None

    def list_endpoints(self, backend: str) -> list[EndpointRecord]:
        rows = self._conn.execute("SELECT * FROM endpoints WHERE backend = ? ORDER BY name", (backend,))
        return [_endpoint(r) for r in rows]

    def set_endpoint_state(self, backend: str, name: str, state: str) -> None:
        self._conn.execute(
            "UPDATE endpoints SET provisioning_state = ?, updated_at = ? WHERE backend = ? AND name = ?",
            (state, time.time(), backend, name),
        )

    def delete_endpoint(self, backend: str, name: str) -> bool:
        """Deletes the endpoint with its deployments and keys (foreign-key cascade)."""
        return (
            self._conn.execute(
                "DELETE FROM endpoints WHERE backend = ? AND name = ?", (backend, name)
            ).rowcount
            > 0
        )

    def used_ports(self) -> set[int]:
        rows = self._conn.execute("SELECT scoring_port FROM endpoints WHERE scoring_port IS NOT NULL")
        return {int(r[0]) for r in rows}

    # --- deployments ----------------------------------------------------------------------------
    def put_deployment(self, record: DeploymentRecord) -> None:
        self._conn.execute(
            "INSERT INTO deployments (backend, endpoint, name, spec_json, provisioning_state, revision,"
            " live_revision, live_spec_json, reason, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (backend, endpoint, name) DO UPDATE SET spec_json = excluded.spec_json,"
            " provisioning_state = excluded.provisioning_state, revision = excluded.revision,"
            " live_revision = excluded.live_revision, live_spec_json = excluded.live_spec_json,"
            " reason = excluded.reason, updated_at = excluded.updated_at",
            (
                record.backend,
                record.endpoint,
                record.name,
                _dumps(spec_to_dict(record.spec)),
                record.provisioning_state,
                record.revision,
                record.live_revision,
                _dumps(spec_to_dict(record.live_spec)) if record.live_spec is not None else None,
                record.reason,
                record.created_at,
                record.updated_at,
            ),
        )

    def get_deployment(self, backend: str, endpoint: str, name: str) -> DeploymentRecord | None:
        row = self._conn.execute(
            "SELECT * FROM deployments WHERE backend = ? AND endpoint = ? AND name = ?",
            (backend, endpoint, name),
        ).fetchone()
        return _deployment(row) if row else None

    def list_deployments(self, backend: str, endpoint: str) -> list[DeploymentRecord]:
        rows = self._conn.execute(
            "SELECT * FROM deployments WHERE backend = ? AND endpoint = ? ORDER BY name", (backend, endpoint)
        )
        return [_deployment(r) for r in rows]

    def set_deployment_state(
        self, backend: str, endpoint: str, name: str, state: str, reason: str = ""
    ) -> None:
        self._conn.execute(
            "UPDATE deployments SET provisioning_state = ?, reason = ?, updated_at = ?"
            " WHERE backend = ? AND endpoint = ? AND name = ?",
            (state, reason, time.time(), backend, endpoint, name),
        )

    def set_deployment_live(
        self, backend: str, endpoint: str, name: str, *, revision: int, spec: DeploymentSpec
    ) -> None:
        """Record that `revision` now serves (after a successful rollout or scale)."""
        self._conn.execute(
            "UPDATE deployments SET live_revision = ?, live_spec_json = ?, updated_at = ?"
            " WHERE backend = ? AND endpoint = ? AND name = ?",
            (revision, _dumps(spec_to_dict(spec)), time.time(), backend, endpoint, name),
        )

    def delete_deployment(self, backend: str, endpoint: str, name: str) -> bool:
        return (
            self._conn.execute(
                "DELETE FROM deployments WHERE backend = ? AND endpoint = ? AND name = ?",
                (backend, endpoint, name),
            ).rowcount
            > 0
        )

    # --- keys -----------------------------------------------------------------------------------
    def put_keys(self, record: KeyRecord) -> None:
        self._conn.execute(
            "INSERT INTO endpoint_keys (backend, endpoint, primary_key, secondary_key, token_secret, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (backend, endpoint) DO UPDATE SET"
            " primary_key = excluded.primary_key, secondary_key = excluded.secondary_key,"
            " token_secret = excluded.token_secret, updated_at = excluded.updated_at",
            (
                record.backend,
                record.endpoint,
                record.primary_key,
                record.secondary_key,
                record.token_secret,
                record.updated_at,
            ),
        )

    def get_keys(self, backend: str, endpoint: str) -> KeyRecord | None:
        row = self._conn.execute(
            "SELECT * FROM endpoint_keys WHERE backend = ? AND endpoint = ?", (backend, endpoint)
        ).fetchone()
        if row is None:
            return None
        return KeyRecord(
            backend=row["backend"],
            endpoint=row["endpoint"],
            primary_key=row["primary_key"],
            secondary_key=row["secondary_key"],
            token_secret=row["token_secret"],
            updated_at=row["updated_at"],
        )

    # --- events ---------------------------------------------------------------------------------
    def add_event(
        self,
        *,
        backend: str,
        endpoint: str,
        kind: str,
        message: str,
        deployment: str | None = None,
        data: Mapping[str, Any] | None = None,
        ts: float | None = None,
    ) -> int:
        cur = self._conn.execute(
            "INSERT INTO events (ts, backend, endpoint, deployment, kind, message, data_json)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (ts or time.time(), backend, endpoint, deployment, kind, message, _dumps(data or {})),
        )
        return int(cur.lastrowid or 0)

    def events(
        self,
        backend: str,
        endpoint: str,
        *,
        deployment: str | None = None,
        after_id: int = 0,
        limit: int = 500,
    ) -> list[EventRecord]:
        sql = "SELECT * FROM events WHERE backend = ? AND endpoint = ? AND id > ?"
        args: list[Any] = [backend, endpoint, after_id]
        if deployment is not None:
            sql += " AND (deployment = ? OR deployment IS NULL)"
            args.append(deployment)
        # The newest `limit` events, returned oldest first.
        sql = f"SELECT * FROM ({sql} ORDER BY id DESC LIMIT ?) ORDER BY id"
        args.append(limit)
        return [
            EventRecord(
                id=r["id"],
                ts=r["ts"],
                backend=r["backend"],
                endpoint=r["endpoint"],
                deployment=r["deployment"],
                kind=r["kind"],
                message=r["message"],
                data=json.loads(r["data_json"]),
            )
            for r in self._conn.execute(sql, args)
        ]

    # --- progressive rollouts (core.progressive's state, as JSON) ---------------------------------
    def put_progressive(self, backend: str, endpoint: str, state: Mapping[str, Any]) -> None:
        self._conn.execute(
            "INSERT INTO progressive_rollouts (backend, endpoint, state_json, updated_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (backend, endpoint) DO UPDATE SET state_json = excluded.state_json,"
            " updated_at = excluded.updated_at",
            (backend, endpoint, _dumps(dict(state)), time.time()),
        )

    def get_progressive(self, backend: str, endpoint: str) -> dict[str, Any] | None:
        row = self._conn.execute(
            "SELECT state_json FROM progressive_rollouts WHERE backend = ? AND endpoint = ?",
            (backend, endpoint),
        ).fetchone()
        return None if row is None else dict(json.loads(row["state_json"]))

    def list_progressive(self, backend: str) -> dict[str, dict[str, Any]]:
        rows = self._conn.execute(
            "SELECT endpoint, state_json FROM progressive_rollouts WHERE backend = ? ORDER BY endpoint",
            (backend,),
        )
        return {r["endpoint"]: dict(json.loads(r["state_json"])) for r in rows}

    # --- defaults (configure --defaults) --------------------------------------------------------
    def set_default(self, key: str, value: str | None) -> None:
        if value is None or value == "":
            self._conn.execute("DELETE FROM defaults WHERE key = ?", (key,))
        else:
            self._conn.execute(
                "INSERT INTO defaults (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    def defaults(self) -> dict[str, str]:
        return {
            r["key"]: r["value"] for r in self._conn.execute("SELECT key, value FROM defaults ORDER BY key")
        }


def _asset(row: sqlite3.Row) -> AssetRecord:
    stored = json.loads(row["spec_json"])
    spec: AssetSpec = (
        restore(ModelSpec, stored) if row["kind"] == "model" else restore(EnvironmentSpec, stored)
    )
    return AssetRecord(
        kind=row["kind"],
        name=row["name"],
        version=row["version"],
        digest=row["digest"],
        spec=spec,
        blob_path=row["blob_path"],
        archived=bool(row["archived"]),
        created_at=row["created_at"],
    )


def _endpoint(row: sqlite3.Row) -> EndpointRecord:
    return EndpointRecord(
        backend=row["backend"],
        name=row["name"],
        spec=restore(EndpointSpec, json.loads(row["spec_json"])),
        provisioning_state=row["provisioning_state"],
        scoring_port=row["scoring_port"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _deployment(row: sqlite3.Row) -> DeploymentRecord:
    return DeploymentRecord(
        backend=row["backend"],
        endpoint=row["endpoint"],
        name=row["name"],
        spec=restore(DeploymentSpec, json.loads(row["spec_json"])),
        provisioning_state=row["provisioning_state"],
        revision=row["revision"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        live_revision=row["live_revision"],
        live_spec=restore(DeploymentSpec, json.loads(row["live_spec_json"]))
        if row["live_spec_json"]
        else None,
        reason=row["reason"],
    )
