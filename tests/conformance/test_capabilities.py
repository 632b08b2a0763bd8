"""Every capability, on every backend: the façade call it gates either refuses with the backend's own reason
(NotSupported, whose message carries `capabilities().why_not(…)`) or gets through to the backend.

Nothing is deployed here: a call that gets through meets an endpoint that does not exist and must say so
(NotFound), the same way on every backend; the agent is started and stopped; dry runs return their plan.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from endpointctl.core.capabilities import Capability
from endpointctl.core.errors import NotFound, NotSupported
from endpointctl.core.views import DryRunPlan
from tests.conformance.harness import Harness

pytestmark = pytest.mark.asyncio(loop_scope="module")

MISSING = "no-such-endpoint"
Call = Callable[[], Awaitable[object]]

# What each backend lacks, stated here so that gaining or losing a capability is a visible change.
LACKS: dict[str, set[Capability]] = {
    "process": {Capability.DRY_RUN},
    "docker": {Capability.DRY_RUN},
    "kubernetes": {Capability.AGENT, Capability.DISK_CLEANUP},
    "azure": {
        Capability.AGENT,
        Capability.EVENTS,
        Capability.DISK_CLEANUP,
    },
}
# Capabilities no single façade call stands for (they shape how other calls behave); a backend without one
# would have nothing to refuse it with, so every backend must have them.
UNGATED = {Capability.ENDPOINTS, Capability.TOKENS, Capability.ROLLING_UPDATE, Capability.REGISTERED_ASSETS}
FOLLOW_WAIT_S = 2.0


async def _first_line(harness: Harness) -> object:
    stream = harness.service.follow_logs(MISSING, "blue", backend=harness.name)
    try:
        # A stream that finds nothing to follow may wait for the deployment to appear: give it a moment.
        return await asyncio.wait_for(anext(stream), timeout=FOLLOW_WAIT_S)
    finally:
        await stream.aclose()  # type: ignore[attr-defined]


def gated_calls(harness: Harness) -> dict[Capability, list[tuple[str, Call]]]:
    """For each capability the façade gates, the calls it gates, aimed at an endpoint that does not exist."""
    svc, name = harness.service, harness.name
    blue = harness.deployment_spec("blue", f"endpoint_name={MISSING}")
    return {
        Capability.DEPLOYMENTS: [("apply_deployment", lambda: svc.apply_deployment(blue, backend=name))],
        Capability.TRAFFIC: [
            ("set_traffic", lambda: svc.set_traffic(MISSING, traffic={"blue": 100}, backend=name))
        ],
        Capability.MIRROR_TRAFFIC: [
            ("set_traffic(mirror=…)", lambda: svc.set_traffic(MISSING, mirror={"blue": 10}, backend=name))
        ],
        Capability.INVOKE: [("invoke", lambda: svc.invoke(MISSING, b"{}", backend=name))],
        Capability.KEYS: [
            ("get_credentials", lambda: svc.get_credentials(MISSING, backend=name)),
            ("regenerate_keys", lambda: svc.regenerate_keys(MISSING, "primary", backend=name)),
        ],
        Capability.LOGS: [("get_logs", lambda: svc.get_logs(MISSING, "blue", backend=name))],
        Capability.LOG_FOLLOW: [("follow_logs", lambda: _first_line(harness))],
        Capability.METRICS: [("metrics", lambda: svc.metrics(MISSING, backend=name))],
        Capability.EVENTS: [("events", lambda: svc.events(MISSING, backend=name))],
        Capability.AGENT: [
            ("start_agent", lambda: svc.start_agent(backend=name)),
            ("stop_agent", lambda: svc.stop_agent(backend=name)),
        ],
        Capability.PROGRESSIVE_ROLLOUT: [
            ("start_progressive", lambda: svc.start_progressive(MISSING, to="green", backend=name)),
            ("progressive_status", lambda: svc.progressive_status(MISSING, backend=name)),
            ("steer_progressive", lambda: svc.steer_progressive(MISSING, "pause", backend=name)),
        ],
        Capability.DISK_CLEANUP: [
            ("collect_garbage", lambda: svc.collect_garbage(dry_run=True, backend=name))
        ],
        Capability.DRY_RUN: [
            ("plan_endpoint", lambda: svc.plan_endpoint(harness.endpoint_spec(), backend=name)),
            ("plan_deployment", lambda: svc.plan_deployment(harness.deployment_spec("blue"), backend=name)),
        ],
    }


async def test_what_the_backend_lacks(harness: Harness) -> None:
    gated = set(gated_calls(harness))
    assert gated | UNGATED == set(Capability) and not gated & UNGATED, "a capability without a façade call"
    caps = harness.service.capabilities(harness.name)
    assert set(Capability) - caps.supported == LACKS[harness.name]
    for capability in LACKS[harness.name]:
        reason = caps.why_not(capability)
        assert reason, f"{harness.name} gives no reason for lacking {capability}"


@pytest.mark.parametrize("capability", list(Capability), ids=lambda c: c.value)
async def test_the_facade_call_refuses_or_lets_through(harness: Harness, capability: Capability) -> None:
    svc, name = harness.service, harness.name
    caps = svc.capabilities(name)
    if capability in UNGATED:
        assert capability in caps, f"{name} lacks {capability}, which no façade call refuses"
        return
    calls = gated_calls(harness)[capability]
    reason = caps.why_not(capability)
    if reason is not None:
        for what, call in calls:
            with pytest.raises(NotSupported) as refused:
                await call()
            assert reason in str(refused.value), f"{name}.{what}: {refused.value}"
        return
    if capability is Capability.AGENT:
        status = await svc.start_agent(backend=name)
        assert status.available and status.name == name, status
        assert await svc.stop_agent(backend=name) is True
        assert await svc.stop_agent(backend=name) is False
        return
    if capability is Capability.DISK_CLEANUP:
        # A dry run on a fresh data directory: it reports (nothing of this test to free), it removes nothing.
        report = await svc.collect_garbage(dry_run=True, backend=name)
        assert report.backend == name and report.dry_run
        assert all(item.why for item in (*report.freed, *report.kept)), report
        return
    if capability is Capability.DRY_RUN:
        for what, call in calls:
            plan = await call()
            assert isinstance(plan, DryRunPlan) and plan.backend == name and plan.documents, what
        return
    for what, call in calls:
        with pytest.raises(NotFound):
            await call()
            pytest.fail(f"{name}.{what} on an endpoint that does not exist did not raise NotFound")
