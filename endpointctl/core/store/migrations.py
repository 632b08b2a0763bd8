"""Versioned schema migrations. Append only: a released migration is never edited."""

from __future__ import annotations

import sqlite3

MIGRATIONS: tuple[str, ...] = (
    # 1: assets, endpoints, deployments, keys, events, defaults.
    """
    CREATE TABLE assets (
        kind        TEXT NOT NULL CHECK (kind IN ('model', 'environment')),
        name        TEXT NOT NULL,
        version     TEXT NOT NULL,
        digest      TEXT NOT NULL,
        spec_json   TEXT NOT NULL,
        blob_path   TEXT,
        archived    INTEGER NOT NULL DEFAULT 0,
        created_at  REAL NOT NULL,
        PRIMARY KEY (kind, name, version)
    );
    CREATE TABLE endpoints (
        backend             TEXT NOT NULL,
        name                TEXT NOT NULL,
        spec_json           TEXT NOT NULL,
        provisioning_state  TEXT NOT NULL,
        scoring_port        INTEGER,
        created_at          REAL NOT NULL,
        updated_at          REAL NOT NULL,
        PRIMARY KEY (backend, name)
    );
    CREATE TABLE deployments (
        backend             TEXT NOT NULL,
        endpoint            TEXT NOT NULL,
        name                TEXT NOT NULL,
        spec_json           TEXT NOT NULL,
        provisioning_state  TEXT NOT NULL,
        revision            INTEGER NOT NULL DEFAULT 1,
        -- The revision instances currently serve; a failed rollout leaves it on the previous one.
        live_revision       INTEGER,
        live_spec_json      TEXT,
        reason              TEXT NOT NULL DEFAULT '',
        created_at          REAL NOT NULL,
        updated_at          REAL NOT NULL,
        PRIMARY KEY (backend, endpoint, name),
        FOREIGN KEY (backend, endpoint) REFERENCES endpoints (backend, name) ON DELETE CASCADE
    );
    CREATE TABLE endpoint_keys (
        backend        TEXT NOT NULL,
        endpoint       TEXT NOT NULL,
        primary_key    TEXT NOT NULL,
        secondary_key  TEXT NOT NULL,
        token_secret   TEXT NOT NULL,
        updated_at     REAL NOT NULL,
        PRIMARY KEY (backend, endpoint),
        FOREIGN KEY (backend, endpoint) REFERENCES endpoints (backend, name) ON DELETE CASCADE
    );
    CREATE TABLE events (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        ts          REAL NOT NULL,
        backend     TEXT NOT NULL,
        endpoint    TEXT NOT NULL,
        deployment  TEXT,
        kind        TEXT NOT NULL,
        message     TEXT NOT NULL,
        data_json   TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX events_by_endpoint ON events (backend, endpoint, id);
    CREATE TABLE defaults (
        key    TEXT PRIMARY KEY,
        value  TEXT NOT NULL
    );
    """,
    # 2: progressive rollouts (one per endpoint): the state machine's JSON, so a restarted agent resumes it.
    """
    CREATE TABLE progressive_rollouts (
        backend     TEXT NOT NULL,
        endpoint    TEXT NOT NULL,
        state_json  TEXT NOT NULL,
        updated_at  REAL NOT NULL,
        PRIMARY KEY (backend, endpoint),
        FOREIGN KEY (backend, endpoint) REFERENCES endpoints (backend, name) ON DELETE CASCADE
    );
    """,
)


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema to the newest version, one transaction per migration; returns that version."""
    current = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if current > len(MIGRATIONS):
        raise RuntimeError(
            f"state database schema version {current} is newer than this endpointctl knows ({len(MIGRATIONS)}); "
            "upgrade endpointctl"
        )
    for version in range(current + 1, len(MIGRATIONS) + 1):
        script = MIGRATIONS[version - 1]
        # executescript() commits implicitly, so the script and the version bump go in one explicit transaction.
        conn.executescript(f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {version};\nCOMMIT;")
    return len(MIGRATIONS)
