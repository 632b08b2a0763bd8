"""Request metrics of managed endpoints from Azure Monitor (through the ARM double's metrics API).

What the double's scoring router served is what its Monitor reports, per minute, split by deployment and
status code; the backend turns that into the cumulative snapshot the TUI and `rollout status` read. The
double's answers are also read back through azure-mgmt-monitor's models, so their shape is Monitor's.
"""

from __future__ import annotations

import json

import pytest

from endpointctl.core.capabilities import Capability
from endpointctl.core.errors import EndpointctlError
from endpointctl.core.service import EndpointService
from endpointctl.core.spec import load_deployment
from tests.backends.azure.double import ArmDouble
from tests.backends.azure.test_backend import SAMPLE, azure, deploy_blue

ENDPOINT = "my-endpoint"


async def _two_deployments(service: EndpointService, double: ArmDouble) -> None:
    await deploy_blue(service)
    await service.apply_deployment(load_deployment(SAMPLE / "green-deployment.yml"), backend="azure")
    await service.set_traffic(ENDPOINT, traffic={"blue": 50, "green": 50}, backend="azure")
    double.behaviour[(ENDPOINT, "green")] = (0.25, 40.0)  # a quarter of green's answers fail, and it is slow
    double.behaviour[(ENDPOINT, "blue")] = (0.0, 4.0)


async def test_metrics_come_from_azure_monitor_split_by_deployment_and_status(
    service: EndpointService, double: ArmDouble
) -> None:
    await _two_deployments(service, double)
    caps = service.capabilities(backend="azure")
    assert Capability.METRICS in caps
    for _ in range(100):  # the double splits 50/50 over 100 slots exactly
        await service.invoke(ENDPOINT, b'{"data": [[1]]}', backend="azure")
    snap = await service.metrics(ENDPOINT, backend="azure")
    blue, green = snap.deployments["blue"], snap.deployments["green"]
    assert (blue.requests, dict(blue.by_status)) == (50, {"2xx": 50})
    assert (green.requests, dict(green.statuses)) == (50, {200: 38, 500: 12})
    assert green.errors == 12 and green.p99_ms == 40.0 and blue.p99_ms == 4.0

    calls = double.arm_calls("GET", "Microsoft.Insights/metrics")
    assert {c.query["metricnames"][0] for c in calls} == {
        "RequestsPerMinute",
        "RequestLatency_P50,RequestLatency_P99",
    }
    # The answer is reused for a few seconds: Monitor's grain is a minute, and the TUI polls often.
    await service.metrics(ENDPOINT, backend="azure")
    assert len(double.arm_calls("GET", "Microsoft.Insights/metrics")) == len(calls)


async def test_the_doubles_answers_have_monitors_shape(service: EndpointService, double: ArmDouble) -> None:
    models = pytest.importorskip("azure.mgmt.monitor.models")
    await _two_deployments(service, double)
    for _ in range(4):
        await service.invoke(ENDPOINT, b'{"data": [[1]]}', backend="azure")
    await service.metrics(ENDPOINT, backend="azure")
    backend = azure(service)
    url = double.arm_calls("GET", "Microsoft.Insights/metrics")[0]
    answer = await backend._arm.request(  # the same call the backend made, read through the SDK's models
        "GET",
        double.url + url.path + "?" + "&".join(f"{k}={v[0]}" for k, v in url.query.items()),
        what="metrics",
    )
    parsed = models.Response.deserialize(answer.body)
    metric = parsed.value[0]
    assert metric.name.value == "RequestsPerMinute" and metric.unit == "Count"
    labels = {m.name.value: m.value for m in metric.timeseries[0].metadatavalues}
    assert set(labels) == {"deployment", "statusCode"}
    assert sum(p.total or 0 for s in metric.timeseries for p in s.data) == 4
    assert json.dumps(answer.body)  # plain JSON, as ARM answers


async def test_a_metric_monitor_refuses_is_an_error_that_names_it(
    service: EndpointService, double: ArmDouble
) -> None:
    await deploy_blue(service)
    backend = azure(service)
    bad = (
        double.url
        + double.workspace_path
        + f"/onlineEndpoints/{ENDPOINT}/providers/Microsoft.Insights/metrics"
    )
    with pytest.raises(EndpointctlError, match="Failed to find metric configuration for NoSuchMetric"):
        await backend._arm.request(
            "GET", bad + "?api-version=2023-10-01&metricnames=NoSuchMetric&interval=PT1M", what="metrics"
        )
