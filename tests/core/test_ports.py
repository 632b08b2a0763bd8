"""The backend port: capabilities come from the roles a backend implements, a missing role is refused with the
backend's reason before anything is called, and every operation is followed the same way."""

from __future__ import annotations

import ast
from collections.abc import Mapping
from pathlib import Path

import pytest

import endpointctl.backends
from endpointctl.core.capabilities import Capability
from endpointctl.core.errors import NotSupported, OperationFailed
from endpointctl.core.operations import OperationState, OperationStatus
from endpointctl.core.ports import CORE, FEATURES, capabilities_of
from endpointctl.core.service import EndpointService
from endpointctl.core.views import Container
from tests.fakes.backend import FakeBackend


class CoreOnly(FakeBackend):
    """The fake with its roles taken away: only what the core port asks for."""

    get_logs = follow_logs = events = metrics = plan_endpoint = plan_deployment = None  # type: ignore[assignment]

    def limits(self) -> Mapping[Capability, str]:
        return {Capability.METRICS: "this double keeps no metrics"}


def test_capabilities_are_the_core_the_features_and_the_roles_implemented(service: EndpointService) -> None:
    full = capabilities_of(FakeBackend(service.context))
    assert {Capability.LOGS, Capability.LOG_FOLLOW, Capability.EVENTS, Capability.METRICS} <= full.supported
    assert Capability.AGENT not in full.supported  # the fake has no start_agent/stop_agent

    bare = capabilities_of(CoreOnly(service.context))
    assert bare.supported == CORE | (FakeBackend.supported & FEATURES)
    assert bare.why_not(Capability.METRICS) == "this double keeps no metrics"
    assert bare.why_not(Capability.EVENTS) == "this backend does not support events"


async def test_a_missing_role_is_refused_with_the_reason_before_anything_is_called(
    service: EndpointService,
) -> None:
    service._backends["fake"] = CoreOnly(service.context)
    with pytest.raises(NotSupported, match="fake: this double keeps no metrics"):
        await service.metrics("my-endpoint", backend="fake")
    with pytest.raises(NotSupported, match="fake: this backend does not support events"):
        await service.events("my-endpoint", backend="fake")
    with pytest.raises(NotSupported, match="does not support logs"):
        await service.get_logs("my-endpoint", "blue", container=Container.INFERENCE_SERVER, backend="fake")
    with pytest.raises(NotSupported, match="does not support agent"):
        await service.start_agent(backend="fake")
    assert FakeBackend.calls == [], "a refused role must not reach the backend"


class Scripted:
    def __init__(self, *states: OperationStatus) -> None:
        self.states = list(states)
        self.description = "deployment e/blue"

    async def poll(self) -> OperationStatus:
        return self.states.pop(0) if len(self.states) > 1 else self.states[0]


async def test_an_operation_is_followed_to_its_end_and_a_failure_names_it(service: EndpointService) -> None:
    running = OperationStatus(OperationState.RUNNING, "batch 1 of 2")
    seen: list[str] = []
    done = await service.follow(
        Scripted(running, running, OperationStatus(OperationState.SUCCEEDED)),
        on_status=lambda s: seen.append(s.message or str(s.state)),
        poll_s=0,
    )
    assert done.state is OperationState.SUCCEEDED and seen == ["batch 1 of 2", "batch 1 of 2", "Succeeded"]
    failed = OperationStatus(OperationState.FAILED, error="init() raised")
    with pytest.raises(OperationFailed, match=r"deployment e/blue ended Failed: init\(\) raised"):
        await service.follow(Scripted(running, failed), poll_s=0)
    with pytest.raises(OperationFailed, match="deployment e/blue is still batch 1 of 2 after 0 s"):
        await service.follow(Scripted(running), timeout_s=0, poll_s=0)


def _stubs(path: Path) -> list[str]:
    """Functions whose whole body (after a docstring) is `raise NotSupported(...)`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            body = [
                s for s in node.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))
            ]
            if len(body) == 1 and isinstance(body[0], ast.Raise) and "NotSupported" in ast.unparse(body[0]):
                found.append(f"{path.name}:{node.lineno} {node.name}")
    return found


def test_no_backend_has_a_not_supported_stub() -> None:
    root = Path(endpointctl.backends.__file__).parent
    stubs = [s for path in sorted(root.rglob("*.py")) for s in _stubs(path)]
    assert stubs == [], "a role a backend lacks is a role it does not implement, not a stub"
