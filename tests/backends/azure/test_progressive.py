"""Progressive rollouts on Azure ML managed endpoints, judged on Azure Monitor's numbers (the ARM double's).

Nothing of endpointctl runs in Azure, so whoever reads the rollout drives it, and its state lives in the
endpoint's tags: a second service (another machine) sees and steers the same rollout. A clock shared by the
backend and the double's Monitor skips whole minutes instead of waiting for them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial

import pytest

from endpointctl.backends.azure.arm import Tuning
from endpointctl.backends.azure.backend import AzureBackend
from endpointctl.backends.azure.rollout_tags import SUMMARY, is_rollout_tag
from endpointctl.core.context import BackendContext
from endpointctl.core.errors import Conflict, InvalidInput
from endpointctl.core.progressive.gates import Gates
from endpointctl.core.progressive.machine import Phase
from endpointctl.core.service import EndpointService
from endpointctl.core.spec import load_deployment, load_endpoint
from tests.backends.azure.conftest import FakeCredential
from tests.backends.azure.double import ArmDouble
from tests.backends.azure.test_backend import SAMPLE, deploy_blue

ENDPOINT = "my-endpoint"
START = 1_800_000_000.0 + 10  # ten seconds into a minute
GATES = Gates(min_requests=10, max_error_rate_pct=5.0)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(double: ArmDouble) -> Clock:
    shared = Clock()
    double.clock = shared
    return shared


def _service(
    context: BackendContext, credential: FakeCredential, tuning: Tuning, clock: Clock
) -> EndpointService:
    factory = partial(AzureBackend, credential_factory=lambda: credential, tuning=tuning, clock=clock)
    return EndpointService(context, {"azure": factory})


@pytest.fixture
async def svc(
    context: BackendContext, credential: FakeCredential, tuning: Tuning, clock: Clock
) -> AsyncIterator[EndpointService]:
    service = _service(context, credential, tuning, clock)
    yield service
    for backend in list(service._backends.values()):
        await backend.close()


async def _blue_and_green(svc: EndpointService, double: ArmDouble) -> None:
    await deploy_blue(svc)
    await svc.apply_deployment(load_deployment(SAMPLE / "green-deployment.yml"), backend="azure")
    await svc.set_traffic(ENDPOINT, traffic={"blue": 100}, backend="azure")
    double.settle()


async def _score(svc: EndpointService, n: int) -> None:
    for _ in range(n):
        await svc.invoke(ENDPOINT, b'{"data": [[1]]}', backend="azure")


def _traffic(double: ArmDouble) -> dict[str, int]:
    return {k: v for k, v in double.endpoints[ENDPOINT]["properties"]["traffic"].items() if v}


async def test_a_healthy_candidate_is_promoted_step_by_step_from_any_machine(
    svc: EndpointService,
    double: ArmDouble,
    clock: Clock,
    context: BackendContext,
    credential: FakeCredential,
    tuning: Tuning,
) -> None:
    await _blue_and_green(svc, double)
    state = await svc.start_progressive(
        ENDPOINT, to="green", steps=(50, 100), step_seconds=60, gates=GATES, backend="azure"
    )
    assert (state.phase, state.step) == (Phase.STEPPING, 0)
    assert _traffic(double) == {"blue": 50, "green": 50}
    tags = double.endpoints[ENDPOINT]["tags"]
    assert "green" in tags[SUMMARY] and all(len(str(v)) <= 256 for v in tags.values())

    clock.now += 51  # into the next whole minute: the step's window starts there
    await _score(svc, 100)  # the double splits 50/50 over 100 slots exactly
    waiting = await svc.progressive_status(ENDPOINT, backend="azure")
    assert waiting.step == 0 and waiting.verdict is not None and waiting.verdict.outcome == "pass"
    clock.now += 20  # the step's 60 s are over
    stepped = await svc.progressive_status(ENDPOINT, backend="azure")
    assert stepped.step == 1 and _traffic(double) == {"green": 100}

    # Another machine: a fresh service over the same workspace sees the rollout where it is, and finishes it.
    other = _service(context, credential, tuning, clock)
    try:
        assert (await other.progressive_status(ENDPOINT, backend="azure")).step == 1
        clock.now += 60
        await _score(other, 20)
        clock.now += 10
        done = await other.progressive_status(ENDPOINT, backend="azure")
        assert done.phase is Phase.PROMOTED and _traffic(double) == {"green": 100}
    finally:
        for backend in list(other._backends.values()):
            await backend.close()
    # The state is bookkeeping in tags, not part of the endpoint's spec as `show` prints it.
    view = await svc.get_endpoint(ENDPOINT, backend="azure")
    assert not any(is_rollout_tag(k) for k in view.spec.tags)


@pytest.mark.parametrize(
    ("behaviour", "gate"), [((0.3, 4.0), "error rate"), ((0.0, 60.0), "p99")], ids=["errors", "slow"]
)
async def test_a_bad_candidate_is_rolled_back_by_the_gate_it_fails(
    svc: EndpointService, double: ArmDouble, clock: Clock, behaviour: tuple[float, float], gate: str
) -> None:
    await _blue_and_green(svc, double)
    double.behaviour[(ENDPOINT, "blue")] = (0.0, 4.0)
    double.behaviour[(ENDPOINT, "green")] = behaviour
    await svc.start_progressive(
        ENDPOINT, to="green", steps=(50, 100), step_seconds=600, gates=GATES, backend="azure"
    )
    clock.now += 51
    await _score(svc, 60)
    state = await svc.progressive_status(ENDPOINT, backend="azure")
    assert state.phase is Phase.ROLLED_BACK, state.describe(clock.now)
    assert gate in state.reason
    assert _traffic(double) == {"blue": 100}


async def test_traffic_is_the_rollouts_while_it_runs_and_no_shadow_diff_on_azure(
    svc: EndpointService, double: ArmDouble, clock: Clock
) -> None:
    await _blue_and_green(svc, double)
    with pytest.raises(InvalidInput, match="discards the mirrored deployment's answers"):
        await svc.start_progressive(ENDPOINT, to="green", mirror_first=10, gates=GATES, backend="azure")
    await svc.start_progressive(ENDPOINT, to="green", steps=(50, 100), gates=GATES, backend="azure")
    double.settle()
    with pytest.raises(Conflict, match="a progressive rollout steers the traffic"):
        await svc.set_traffic(ENDPOINT, traffic={"blue": 100, "green": 0}, backend="azure")
    changed = load_endpoint(SAMPLE / "endpoint.yml").model_copy(update={"traffic": {"blue": 100, "green": 0}})
    with pytest.raises(Conflict, match="a progressive rollout steers the traffic"):
        await svc.update_endpoint(changed, backend="azure")
    with pytest.raises(Conflict, match="runs on my-endpoint already"):
        await svc.start_progressive(ENDPOINT, to="green", gates=GATES, backend="azure")
    aborted = await svc.steer_progressive(ENDPOINT, "abort", backend="azure")
    assert aborted.phase is Phase.ABORTED and _traffic(double) == {"blue": 100}
    await svc.set_traffic(ENDPOINT, traffic={"blue": 50, "green": 50}, backend="azure")
