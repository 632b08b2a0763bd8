from __future__ import annotations

import os
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from endpointctl.core.spec import EndpointSpec, load_deployment
from endpointctl.core.store import EndpointRecord, KeyRecord, Store, StoreError
from endpointctl.core.store.migrations import MIGRATIONS
from tests.conftest import SAMPLES

BLUE = load_deployment(SAMPLES / "managed" / "sample" / "blue-deployment.yml")


def _endpoint(name: str, state: str = "Succeeded") -> EndpointRecord:
    # The record's name is the row's key; the spec's name is validated separately (3–32 characters).
    spec = EndpointSpec(name=name if len(name) >= 3 else f"{name}-endpoint")
    return EndpointRecord("process", name, spec, state, None, time.time(), time.time())


def test_creates_database_and_side_files_readable_only_by_the_user(tmp_path: Path) -> None:
    store = Store(tmp_path / "state" / "state.db")
    with store.transaction() as tx:
        tx.put_endpoint(_endpoint("ep1"))
    for name in ("state.db", "state.db-wal", "state.db-shm"):
        mode = stat.S_IMODE((tmp_path / "state" / name).stat().st_mode)
        assert mode == 0o600, (name, oct(mode))
    assert stat.S_IMODE((tmp_path / "state").stat().st_mode) == 0o700
    assert store.schema_version == len(MIGRATIONS)


def test_wal_mode_and_migrations_are_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    Store(path).close()
    store = Store(path)
    with store.read() as tx:
        assert tx.list_endpoints("process") == []
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)


def test_newer_schema_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    Store(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 5}")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="newer than this endpointctl"):
        Store(path)


def test_garbage_file_is_a_store_error_not_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="cannot open the state database"):
        Store(path)


def test_failed_transaction_changes_nothing(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    with store.transaction() as tx:
        tx.put_endpoint(_endpoint("keep"))
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.put_endpoint(_endpoint("lost"))
        tx.set_endpoint_state("process", "keep", "Failed")
        raise RuntimeError("boom")
    with store.read() as tx:
        assert [e.name for e in tx.list_endpoints("process")] == ["keep"]
        keep = tx.get_endpoint("process", "keep")
        assert keep is not None and keep.provisioning_state == "Succeeded"


def test_deleting_an_endpoint_cascades_to_deployments_and_keys(tmp_path: Path) -> None:
    from endpointctl.core.store import DeploymentRecord

    store = Store(tmp_path / "state.db")
    now = time.time()
    with store.transaction() as tx:
        tx.put_endpoint(_endpoint("ep"))
        tx.put_deployment(DeploymentRecord("process", "ep", "blue", BLUE, "Succeeded", 1, now, now))
        tx.put_keys(KeyRecord("process", "ep", "p", "s", "00", now))
    with store.transaction() as tx:
        assert tx.delete_endpoint("process", "ep")
    with store.read() as tx:
        assert tx.list_deployments("process", "ep") == []
        assert tx.get_keys("process", "ep") is None


def test_key_record_repr_never_shows_keys() -> None:
    record = KeyRecord("process", "ep", "PRIMARY-SECRET", "SECONDARY-SECRET", "abcd", 0.0)
    assert "SECRET" not in repr(record) and "abcd" not in repr(record)


def test_events_are_returned_oldest_first_and_limited(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    with store.transaction() as tx:
        for i in range(10):
            tx.add_event(backend="process", endpoint="ep", kind="test", message=f"event {i}", data={"i": i})
    with store.read() as tx:
        newest = tx.events("process", "ep", limit=3)
        assert [e.message for e in newest] == ["event 7", "event 8", "event 9"]
        after = tx.events("process", "ep", after_id=newest[0].id)
        assert [e.data["i"] for e in after] == [8, 9]


_WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from endpointctl.core.spec import EndpointSpec
    from endpointctl.core.store import EndpointRecord, Store

    store = Store(Path(sys.argv[1]))
    with store.transaction() as tx:
        for i in range(2000):
            tx.put_endpoint(EndpointRecord("process", f"new-{i}", EndpointSpec(name=f"new-{i}", description="x" * 2000), "Creating", None, 0.0, 0.0))
        tx.set_endpoint_state("process", "old", "Failed")
        print("written", flush=True)
        time.sleep(60)
    """
)


def test_sigkill_mid_transaction_leaves_the_previous_state(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = Store(path)
    with store.transaction() as tx:
        tx.put_endpoint(_endpoint("old"))
    store.close()

    writer = subprocess.Popen([sys.executable, "-c", _WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    assert writer.stdout is not None
    assert writer.stdout.readline().strip() == "written"
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait(timeout=10)

    reopened = Store(path)
    with reopened.read() as tx:
        endpoints = tx.list_endpoints("process")
    assert [e.name for e in endpoints] == ["old"]
    assert endpoints[0].provisioning_state == "Succeeded"
    # The store is still writable after the crash (no stale lock).
    with reopened.transaction() as tx:
        tx.put_endpoint(_endpoint("after"))


_COMMITTER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from endpointctl.core.spec import EndpointSpec
    from endpointctl.core.store import EndpointRecord, Store

    store = Store(Path(sys.argv[1]))
    print("open", flush=True)
    n = 0
    while True:
        with store.transaction() as tx:
            # Each transaction writes a pair; a torn commit would leave an odd count.
            tx.put_endpoint(EndpointRecord("process", f"a-{n}", EndpointSpec(name=f"a-{n}", description="y" * 4000), "Creating", None, 0.0, 0.0))
            tx.put_endpoint(EndpointRecord("process", f"b-{n}", EndpointSpec(name=f"b-{n}", description="y" * 4000), "Creating", None, 0.0, 0.0))
        n += 1
    """
)


@pytest.mark.parametrize("delay", [0.05, 0.2, 0.5])
def test_sigkill_during_a_stream_of_commits_never_tears_a_transaction(tmp_path: Path, delay: float) -> None:
    path = tmp_path / "state.db"
    Store(path).close()
    writer = subprocess.Popen(
        [sys.executable, "-c", _COMMITTER, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert writer.stdout is not None
    assert writer.stdout.readline().strip() == "open"
    time.sleep(delay)
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait(timeout=10)
    with Store(path).read() as tx:
        names = {e.name for e in tx.list_endpoints("process")}
    a = {n[2:] for n in names if n.startswith("a-")}
    b = {n[2:] for n in names if n.startswith("b-")}
    assert a == b
