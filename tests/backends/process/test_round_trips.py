"""What the TUI's refresh costs the process agent: one round trip per endpoint per tick, not one per pane."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import pytest

from endpointctl.backends.local import control
from endpointctl.backends.process.launcher import stop_agent
from endpointctl.backends.process.layout import Layout
from endpointctl.core.context import BackendContext
from endpointctl.core.home import Home
from endpointctl.core.service import EndpointService
from endpointctl.core.spec import load_deployment, load_endpoint
from endpointctl.core.store.records import DeploymentRecord
from endpointctl.tui.model.snapshot import load_snapshot
from tests.conftest import SAMPLES

SAMPLE = SAMPLES / "managed" / "sample"
ENDPOINTS, DEPLOYMENTS = 20, 3


async def test_a_tick_for_20_endpoints_and_60_deployments_is_one_agent_round_trip_per_endpoint(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = EndpointService.open(home)
    try:
        base = load_endpoint(SAMPLE / "endpoint.yml")
        for i in range(ENDPOINTS):
            await service.create_endpoint(base.model_copy(update={"name": f"ep-{i:02d}"}), backend="process")
        # Deployment records the agent leaves alone (a failed first revision has nothing to run): the count is
        # about the protocol, and 60 scoring hosts would only make the test slow.
        blue = load_deployment(SAMPLE / "blue-deployment.yml")
        context = BackendContext.open(home)
        now = time.time()
        with context.store.transaction() as tx:
            for i in range(ENDPOINTS):
                for d in range(DEPLOYMENTS):
                    spec = blue.model_copy(update={"name": f"dep-{d}", "endpoint_name": f"ep-{i:02d}"})
                    tx.put_deployment(
                        DeploymentRecord("process", f"ep-{i:02d}", f"dep-{d}", spec, "Failed", 1, now, now)
                    )
        context.store.close()

        calls: list[str] = []
        real = control.call

        async def counted(path: Any, method: str, params: Mapping[str, Any] | None = None, **kw: Any) -> Any:
            calls.append(method)
            return await real(path, method, params, **kw)

        monkeypatch.setattr(control, "call", counted)
        snapshot = await load_snapshot(service)
        process = next(b for b in snapshot.backends if b.status.name == "process")
        assert len(process.endpoints) == ENDPOINTS
        assert sum(len(e.deployments) for e in process.endpoints) == ENDPOINTS * DEPLOYMENTS
        assert len(calls) <= ENDPOINTS, f"{len(calls)} agent round trips: {calls}"
    finally:
        await service.close()
        await stop_agent(Layout(home))
