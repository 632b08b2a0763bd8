"""How many requests an endpoint takes at once: what Send N in the invoke panel sends in parallel."""

from __future__ import annotations

from endpointctl.core.capacity import concurrent_capacity
from endpointctl.core.spec import DeploymentSpec
from endpointctl.core.views import DeploymentView, InstanceState, InstanceView, ProvisioningState


def deployment(name: str, *, count: int, ready: int, per_instance: int = 1) -> DeploymentView:
    spec = DeploymentSpec.model_validate(
        {
            "name": name,
            "endpoint_name": "my-endpoint",
            "model": "azureml:m:1",
            "environment": "azureml:e:1",
            "code_configuration": {"code": ".", "scoring_script": "score.py"},
            "instance_count": count,
            "request_settings": {"max_concurrent_requests_per_instance": per_instance},
        }
    )
    instances = tuple(
        InstanceView(f"{name}-{i}", InstanceState.READY if i < ready else InstanceState.STARTING, 1)
        for i in range(count)
    )
    return DeploymentView("process", spec, ProvisioningState.SUCCEEDED, instances=instances)


def test_only_deployments_with_live_traffic_count() -> None:
    deployments = [
        deployment("blue", count=3, ready=3),
        deployment("green", count=2, ready=2, per_instance=4),
    ]
    assert concurrent_capacity(deployments, {"blue": 90, "green": 10}) == 3 + 8
    assert concurrent_capacity(deployments, {"blue": 100, "green": 0}) == 3


def test_a_pinned_deployment_counts_alone_whatever_its_traffic() -> None:
    deployments = [
        deployment("blue", count=3, ready=3),
        deployment("green", count=2, ready=2, per_instance=4),
    ]
    assert concurrent_capacity(deployments, {"blue": 100}, pinned="green") == 8


def test_ready_instances_count_and_a_deployment_still_starting_counts_its_desired_number() -> None:
    assert concurrent_capacity([deployment("blue", count=4, ready=2)], {"blue": 100}) == 2
    assert concurrent_capacity([deployment("blue", count=4, ready=0)], {"blue": 100}) == 4


def test_nothing_serves_when_all_weights_are_zero() -> None:
    assert concurrent_capacity([deployment("blue", count=3, ready=3)], {"blue": 0}) == 0
