"""Mirror traffic and the router's metrics, through the façade on the process backend."""

from __future__ import annotations

import pytest

from endpointctl.core.errors import InvalidInput
from endpointctl.core.home import Home
from endpointctl.core.service import EndpointService
from endpointctl.core.spec import load_deployment, load_endpoint
from tests.conftest import SAMPLES

SAMPLE = SAMPLES / "managed" / "sample"
REQUEST = (SAMPLE / "sample-request.json").read_bytes()


async def test_mirror_copies_a_share_and_metrics_count_it(process_home: Home) -> None:
    service = EndpointService.open(process_home)
    try:
        await service.create_endpoint(load_endpoint(SAMPLE / "endpoint.yml"), backend="process")
        for file, all_traffic in (("blue-deployment.yml", True), ("green-deployment.yml", False)):
            await service.apply_deployment(
                load_deployment(SAMPLE / file), backend="process", all_traffic=all_traffic
            )
        with pytest.raises(InvalidInput):
            await service.set_traffic(
                "my-endpoint", mirror={"blue": 10}, backend="process"
            )  # blue has live traffic
        await service.set_traffic("my-endpoint", mirror={"green": 20}, backend="process")
        shown = await service.get_endpoint("my-endpoint", backend="process")
        assert dict(shown.mirror_traffic) == {"green": 20}

        for _ in range(100):
            result = await service.invoke("my-endpoint", REQUEST, backend="process")
            assert (result.status, result.deployment) == (200, "blue")
        pinned = await service.invoke("my-endpoint", REQUEST, deployment="green", backend="process")
        assert (pinned.status, pinned.deployment) == (200, "green")

        metrics = await service.metrics("my-endpoint", backend="process")
        blue, green = metrics.deployments["blue"], metrics.deployments["green"]
        assert blue.requests == 100 and blue.by_status["2xx"] == 100 and blue.errors == 0
        assert blue.p50_ms is not None and blue.p99_ms is not None and blue.p50_ms <= blue.p99_ms
        assert green.requests == 1  # only the pinned request; mirrored copies are counted apart
        # A deterministic 20% of 100 requests, give or take the copies still in flight.
        assert 15 <= green.mirrored <= 20 and green.mirror_failures == 0
    finally:
        await service.close()
