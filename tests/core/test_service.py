from __future__ import annotations

from pathlib import Path

import pytest

from endpointctl.core.capabilities import Capability
from endpointctl.core.errors import Conflict, InvalidInput, NotFound, NotSupported, OperationFailed
from endpointctl.core.service import EndpointService
from endpointctl.core.spec import load_deployment, load_endpoint
from tests.conftest import SAMPLES
from tests.fakes.backend import FakeBackend

SAMPLE = SAMPLES / "managed" / "sample"


async def _with_blue_and_green(service: EndpointService) -> None:
    await service.create_endpoint(load_endpoint(SAMPLE / "endpoint.yml"), backend="fake")
    await service.apply_deployment(
        load_deployment(SAMPLE / "blue-deployment.yml"), backend="fake", all_traffic=True
    )
    await service.apply_deployment(load_deployment(SAMPLE / "green-deployment.yml"), backend="fake")


async def test_create_deploy_all_traffic(service: EndpointService) -> None:
    await _with_blue_and_green(service)
    ep = await service.get_endpoint("my-endpoint", backend="fake")
    assert dict(ep.traffic) == {"blue": 100, "green": 0}
    names = [d.name for d in await service.list_deployments("my-endpoint", backend="fake")]
    assert names == ["blue", "green"]


async def test_creating_an_existing_endpoint_is_a_conflict(service: EndpointService) -> None:
    await service.create_endpoint(load_endpoint(SAMPLE / "endpoint.yml"), backend="fake")
    with pytest.raises(Conflict, match="already exists"):
        await service.create_endpoint(load_endpoint(SAMPLE / "endpoint.yml"), backend="fake")


@pytest.mark.parametrize(
    ("traffic", "mirror", "message"),
    [
        ({"blue": 90, "green": 20}, None, "sum to 110"),
        ({"blue": 50}, None, "sum to 50"),
        ({"red": 100, "blue": 0}, None, "traffic.red: no such deployment"),
        (None, {"green": 60}, "outside 0–50"),
        (None, {"blue": 10}, "live traffic"),
    ],
)
async def test_bad_traffic_is_rejected_before_the_backend_is_called(
    service: EndpointService, traffic: dict[str, int] | None, mirror: dict[str, int] | None, message: str
) -> None:
    await _with_blue_and_green(service)
    before = FakeBackend.mutations()
    with pytest.raises(InvalidInput, match=message):
        await service.set_traffic("my-endpoint", traffic=traffic, mirror=mirror, backend="fake")
    assert FakeBackend.mutations() == before


async def test_endpoint_file_with_traffic_to_unknown_deployment_is_rejected(
    service: EndpointService, tmp_path: Path
) -> None:
    bad = tmp_path / "endpoint.yml"
    bad.write_text("name: my-endpoint\ntraffic:\n  blue: 100\n")
    with pytest.raises(InvalidInput, match=r"traffic\.blue: no such deployment"):
        await service.create_endpoint(load_endpoint(bad), backend="fake")
    assert FakeBackend.mutations() == []


async def test_traffic_shift_and_mirror(service: EndpointService) -> None:
    await _with_blue_and_green(service)
    ep = await service.set_traffic("my-endpoint", traffic={"blue": 90, "green": 10}, backend="fake")
    assert dict(ep.traffic) == {"blue": 90, "green": 10}
    ep = await service.set_traffic(
        "my-endpoint", traffic={"blue": 100, "green": 0}, mirror={"green": 20}, backend="fake"
    )
    assert dict(ep.mirror_traffic) == {"green": 20}


async def test_deleting_a_deployment_with_live_traffic_is_refused(service: EndpointService) -> None:
    await _with_blue_and_green(service)
    before = FakeBackend.mutations()
    with pytest.raises(Conflict, match="receives 100%"):
        await service.delete_deployment("my-endpoint", "blue", backend="fake")
    assert FakeBackend.mutations() == before
    await service.delete_deployment("my-endpoint", "green", backend="fake")
    with pytest.raises(NotFound):
        await service.get_deployment("my-endpoint", "green", backend="fake")


async def test_a_deployment_that_fails_raises_with_the_reason(service: EndpointService) -> None:
    await service.create_endpoint(load_endpoint(SAMPLE / "endpoint.yml"), backend="fake")
    spec = load_deployment(SAMPLE / "blue-deployment.yml", ["tags.fake=fail"])
    seen: list[str] = []
    with pytest.raises(OperationFailed, match="Failed: init\\(\\) raised"):
        await service.apply_deployment(
            spec, backend="fake", all_traffic=True, progress=lambda v: seen.append(str(v.provisioning_state))
        )
    assert seen[0] == "Creating" and seen[-1] == "Failed"
    # --all-traffic is applied only after success: the failed deployment got none.
    ep = await service.get_endpoint("my-endpoint", backend="fake")
    assert ep.traffic.get("blue", 0) == 0


async def test_deployment_for_a_missing_endpoint_names_it(service: EndpointService) -> None:
    with pytest.raises(NotFound, match="my-endpoint"):
        await service.apply_deployment(load_deployment(SAMPLE / "blue-deployment.yml"), backend="fake")
    assert FakeBackend.mutations() == []


async def test_unsupported_capability_is_refused_with_the_backends_reason(service: EndpointService) -> None:
    await _with_blue_and_green(service)
    FakeBackend.supported = frozenset(Capability) - {Capability.MIRROR_TRAFFIC}
    with pytest.raises(NotSupported, match="the fake cannot mirror"):
        await service.set_traffic("my-endpoint", mirror={"green": 10}, backend="fake")


async def test_unknown_backend(service: EndpointService) -> None:
    with pytest.raises(InvalidInput, match="unknown backend 'nope' \\(available: fake\\)"):
        await service.list_endpoints("nope")


async def test_keys_rotate_one_at_a_time(service: EndpointService) -> None:
    await _with_blue_and_green(service)
    before = await service.get_credentials("my-endpoint", backend="fake")
    await service.regenerate_keys("my-endpoint", "secondary", backend="fake")
    after = await service.get_credentials("my-endpoint", backend="fake")
    assert after.primary_key == before.primary_key
    assert after.secondary_key != before.secondary_key
    assert before.primary_key and len(before.primary_key) >= 32
