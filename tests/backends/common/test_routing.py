"""The control plane's side of the gateway's routing: specs and store traffic to the gateway's types."""

from __future__ import annotations

from endpointctl.backends.common.routing import (
    deployment_config,
    endpoint_config,
    routed_mirror,
    routed_traffic,
)
from endpointctl.core.spec import EndpointSpec, load_deployment
from endpointctl.serving.gateway.config import Address, GatewayConfig
from tests.conftest import SAMPLES

BLUE = load_deployment(SAMPLES / "kubernetes" / "kubernetes-blue-deployment.yml")


def test_traffic_names_every_deployment_and_drops_the_ones_that_are_gone() -> None:
    assert routed_traffic({"blue": 100, "gone": 0}, ["blue", "green"]) == {"blue": 100, "green": 0}
    assert routed_traffic({}, ["blue"]) == {"blue": 0}


def test_a_split_that_no_longer_sums_to_100_is_all_zeros() -> None:
    assert routed_traffic({"blue": 90, "gone": 10}, ["blue", "green"]) == {"blue": 0, "green": 0}


def test_mirror_keeps_only_a_positive_percent_to_an_existing_deployment() -> None:
    assert routed_mirror({"green": 10}, ["blue", "green"]) == {"green": 10}
    assert routed_mirror({"green": 0}, ["blue", "green"]) == {}
    assert routed_mirror({"gone": 10}, ["blue"]) == {}


def test_deployment_settings_come_from_the_spec_and_scale_with_the_instances_behind_an_address() -> None:
    local = deployment_config(BLUE, ["127.0.0.1:5001", "[::1]:5002"])
    assert local.instances == (Address("127.0.0.1", 5001), Address("::1", 5002))
    assert (
        local.request_timeout_ms,
        local.max_concurrent_requests_per_instance,
        local.max_queue_wait_ms,
    ) == (
        3000,
        1,
        3000,
    )
    service = deployment_config(BLUE, ["blue.ns.svc:5001"], instances_per_address=3)
    assert service.max_concurrent_requests_per_instance == 3


def test_an_endpoint_with_credentials_is_a_valid_gateway_config() -> None:
    spec = EndpointSpec.model_validate(
        {"name": "my-endpoint", "auth_mode": "AML_Token", "traffic": {"blue": 100}, "mirror_traffic": {}}
    )
    endpoint = endpoint_config(
        spec,
        {"blue": deployment_config(BLUE, [])},
        host="127.0.0.1",
        port=18080,
        mirror={"blue": 0},
        keys=("k1", "k2"),
        token_secret="ab" * 16,
    )
    assert endpoint.auth_mode == "aml_token"
    assert endpoint.traffic == {"blue": 100}
    assert endpoint.mirror_traffic == {}
    assert endpoint.token_secret == b"\xab" * 16
    assert GatewayConfig({"my-endpoint": endpoint}).checked().endpoints["my-endpoint"] == endpoint
