"""The endpoint gateway as a process of its own, so serving survives the control plane.

The agent writes the routing (`routing.json`) and the credentials (`keys.json`, 0600) into the data directory
and runs `python -m endpointctl.serving.gateway` following those files, in its own session: killing the agent
(SIGKILL, `agent stop`) leaves the gateway serving the last routing it was given, and a gateway that dies is
started again from the same files, on the same ports, by the agent's supervision (or by the next agent).

Like an instance, the gateway is recorded (pid, start time, admin port) and a restarted agent adopts it: same
process, same ports, no duplicate. Changes are confirmed, not hoped for: after writing the files the agent asks
the gateway to reload them now and compares the fingerprint it runs with the one written. The admin port is on
loopback behind a token in a 0600 file, so another local user can neither read metrics nor reroute traffic.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from endpointctl.backends.local import procs
from endpointctl.backends.local.layout import SPAWNED_AT_VARIABLE, Layout
from endpointctl.backends.local.ports import free_port
from endpointctl.core.errors import BackendUnavailable
from endpointctl.serving.gateway.config import EndpointConfig, GatewayConfig, keys_document, routing_document
from endpointctl.serving.gateway.files import FileSource

if TYPE_CHECKING:
    import httpx  # imported where used: `agent status` reads the record without it

log = logging.getLogger("endpointctl.agent.gateway")

START_TIMEOUT_S = 30.0
ADMIN_TIMEOUT_S = 10.0
# Files are also re-read on this interval, so a reload request lost with a dying agent is applied anyway.
RELOAD_INTERVAL_S = 1.0
STOP_GRACE_S = 10.0


@dataclass(frozen=True)
class GatewayRecord:
    pid: int
    started: int
    admin_port: int

    def alive(self) -> bool:
        return procs.is_running(self.pid, self.started)


class GatewayProcess:
    def __init__(self, layout: Layout) -> None:
        self._layout = layout
        self._dir = layout.root / "gateway"
        self._log = layout.logs / "gateway.log"
        self.routing_file = self._dir / "routing.json"
        self.keys_file = self._dir / "keys.json"
        self._token_file = self._dir / "admin-token"
        self._revive_file = self._dir / "agent.json"
        self._record_file = self._dir / "gateway.json"
        self.record: GatewayRecord | None = None
        self._client: httpx.AsyncClient | None = None
        self._lock = asyncio.Lock()
        self.restarts = 0

    # --- lifecycle ------------------------------------------------------------------------------------
    async def ensure(self) -> GatewayRecord:
        """Adopt the recorded gateway if it still runs, else start one from the files as they are."""
        async with self._lock:
            record = self.record or self._load_record()
            if record is not None and record.alive():
                if self.record is None:
                    log.info("adopted the gateway (pid %d, admin port %d)", record.pid, record.admin_port)
                self.record = record
                return record
            if record is not None:
                self.restarts += 1
                log.warning("the gateway (pid %d) is gone; starting it again from %s", record.pid, self._dir)
            self.record = await self._spawn()
            return self.record

    async def stop(self) -> None:
        """Stop the gateway (`agent stop --all`): in-flight requests get their answers first."""
        record = self.record or self._load_record()
        if record is not None:
            await asyncio.to_thread(procs.terminate, record.pid, record.started, grace_s=STOP_GRACE_S)
        self._record_file.unlink(missing_ok=True)
        # Nothing serves after this: a gateway started later must not route to the instances stopped with it.
        await asyncio.to_thread(self._write, b'{"endpoints": {}}', b'{"endpoints": {}}')
        self.record = None

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # --- routing ----------------------------------------------------------------------------------------
    async def apply(self, routing: Mapping[str, EndpointConfig]) -> str | None:
        """Write the routing and make the gateway run it; None when it does, else the gateway's error (the
        running routing then stays as it was: a port taken by someone else, say)."""
        config = GatewayConfig(dict(routing)).checked()
        routing_bytes = _json_bytes(routing_document(config))
        keys_bytes = _json_bytes(keys_document(config))
        await asyncio.to_thread(self._write, routing_bytes, keys_bytes)
        wanted = FileSource.fingerprint((routing_bytes, keys_bytes))
        record = await self.ensure()
        status = await self._admin(record, "POST", "/v1/reload")
        if status.get("running") == wanted:
            return None
        return str(status.get("error") or "the gateway did not take the new routing")

    def routed_addresses(self) -> set[str]:
        """The instance addresses the gateway routes to, as the last agent wrote them (empty if none)."""
        try:
            doc = json.loads(self.routing_file.read_text())
            return {
                str(address)
                for endpoint in doc.get("endpoints", {}).values()
                for deployment in endpoint.get("deployments", {}).values()
                for address in deployment.get("instances", [])
            }
        except (OSError, ValueError, AttributeError):
            return set()

    async def metrics_snapshot(self) -> dict[str, Any]:
        record = await self.ensure()
        return await self._admin(record, "GET", "/v1/metrics")

    # --- internals --------------------------------------------------------------------------------------
    def _write(self, routing: bytes, keys: bytes) -> None:
        self._dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Keys first: a gateway reading between the two writes sees new keys with the old routing at worst.
        _atomic_write(self.keys_file, keys)
        _atomic_write(self.routing_file, routing)

    async def _spawn(self) -> GatewayRecord:
        await asyncio.to_thread(self._prepare_files)
        port = free_port()
        child = _start(self._gateway_args(port), self._log)
        record = GatewayRecord(child.pid, procs.start_time(child.pid) or 0, port)
        await self._wait_ready(record, child)
        await asyncio.to_thread(self._save_record, record)
        log.info("gateway started (pid %d, admin port %d)", record.pid, record.admin_port)
        return record

    def _gateway_args(self, admin_port: int) -> list[str]:
        return [
            sys.executable, "-m", "endpointctl.serving.gateway",
            "--admin-host", "127.0.0.1", "--admin-port", str(admin_port),
            "--config-file", str(self.routing_file), "--keys-file", str(self.keys_file),
            "--admin-token-file", str(self._token_file),
            "--reload-interval", str(RELOAD_INTERVAL_S),
            "--revive-agent", str(self._revive_file),
        ]  # fmt: skip

    def _prepare_files(self) -> None:
        self._dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not self._token_file.exists():
            _atomic_write(self._token_file, secrets.token_hex(32).encode())
        # How the gateway starts this agent again if it dies unasked (serving.gateway.revive): the command
        # the launcher runs, and the lock and stop marker that tell a kill from a stop.
        layout = self._layout
        revive = {
            "argv": layout.agent_argv(),
            "lock": str(layout.lock),
            "stopped_marker": str(layout.stopped_marker),
            "log": str(layout.agent_log),
            "spawned_at_variable": SPAWNED_AT_VARIABLE,
        }
        _atomic_write(self._revive_file, json.dumps(revive, indent=2).encode())
        if not self.routing_file.exists():  # the first start: no endpoint yet
            self._write(b'{"endpoints": {}}', b'{"endpoints": {}}')

    async def _wait_ready(self, record: GatewayRecord, child: subprocess.Popen[bytes]) -> None:
        import httpx

        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if child.poll() is not None:
                raise BackendUnavailable(
                    f"the gateway exited with code {child.returncode} at start; see {self._log}"
                )
            with contextlib.suppress(httpx.TransportError):
                response = await self._http().get(f"http://127.0.0.1:{record.admin_port}/healthz")
                if response.status_code == 200:
                    return
            await asyncio.sleep(0.05)
        child.kill()
        raise BackendUnavailable(f"the gateway did not start within {START_TIMEOUT_S:.0f} s; see {self._log}")

    async def _admin(self, record: GatewayRecord, method: str, path: str) -> dict[str, Any]:
        import httpx

        token = (await asyncio.to_thread(self._token_file.read_text)).strip()
        try:
            response = await self._http().request(
                method,
                f"http://127.0.0.1:{record.admin_port}{path}",
                headers={"authorization": f"Bearer {token}"},
            )
        except httpx.TransportError as exc:
            raise BackendUnavailable(f"the gateway's admin API did not answer: {exc}") from None
        if response.status_code != 200:
            raise BackendUnavailable(
                f"the gateway's admin API answered {response.status_code}: {response.text}"
            )
        data: dict[str, Any] = response.json()
        return data

    def _http(self) -> httpx.AsyncClient:
        import httpx

        if self._client is None:
            self._client = httpx.AsyncClient(timeout=ADMIN_TIMEOUT_S, trust_env=False)
        return self._client

    def _load_record(self) -> GatewayRecord | None:
        try:
            data = json.loads(self._record_file.read_text())
            return GatewayRecord(int(data["pid"]), int(data["started"]), int(data["admin_port"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _save_record(self, record: GatewayRecord) -> None:
        payload = {"pid": record.pid, "started": record.started, "admin_port": record.admin_port}
        _atomic_write(self._record_file, json.dumps(payload).encode())


def gateway_state(layout: Layout) -> str:
    """For `agent status` and the TUI: whether the endpoints' gateway serves, whatever the agent does."""
    try:
        data = json.loads((layout.root / "gateway" / "gateway.json").read_text())
        record = GatewayRecord(int(data["pid"]), int(data["started"]), int(data["admin_port"]))
    except (OSError, ValueError, KeyError, TypeError):
        return "gateway not started"
    if record.alive():
        return f"gateway pid {record.pid} serving"
    return "gateway down (the agent starts it again)"


def _start(args: list[str], log_file: Path) -> subprocess.Popen[bytes]:
    # fork+exec returns at once; nothing here waits on the child.
    log_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        return subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=fd,
            stderr=fd,
            start_new_session=True,  # it outlives the agent: serving must not depend on the control plane
            close_fds=True,
        )
    finally:
        os.close(fd)


def _json_bytes(doc: Mapping[str, Any]) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def _atomic_write(path: Path, data: bytes) -> None:
    """0600, renamed into place: the gateway never reads half a file, and other users never read one at all."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    tmp.replace(path)
