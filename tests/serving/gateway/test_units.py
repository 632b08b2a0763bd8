"""In-process checks of the pure parts: config validation, traffic selection, tokens, metrics."""

from __future__ import annotations

import itertools
import re
from collections import Counter

import pytest

from endpointctl.serving.gateway.auth import UNAUTHORIZED, Authenticator
from endpointctl.serving.gateway.config import (
    SECRET_FIELDS,
    ConfigError,
    DeploymentConfig,
    EndpointConfig,
    GatewayConfig,
    keys_document,
    routing_document,
)
from endpointctl.serving.gateway.files import merge_keys
from endpointctl.serving.gateway.metrics import MetricsRegistry
from endpointctl.serving.gateway.routing import MirrorSelector, WeightedRoundRobin
from endpointctl.serving.gateway.tokens import issue_token, verify_token


def _doc(**endpoint: object) -> dict[str, object]:
    base: dict[str, object] = {"keys": ["k1"], "deployments": {"blue": {"instances": ["127.0.0.1:1"]}}}
    base.update(endpoint)
    return {"endpoints": {"ep1": base}}


@pytest.mark.parametrize(
    ("endpoint", "fragment"),
    [
        ({"traffic": {"blue": 50}}, "sum to 100"),
        ({"traffic": {"green": 100}}, "'green' does not exist"),
        ({"mirror_traffic": {"blue": 60}}, "at most 50"),
        ({"traffic": {"blue": 100}, "mirror_traffic": {"blue": 10}}, "live traffic"),
        ({"keys": []}, "at least one key"),
        ({"keys": ["a", "b", "c"]}, "one or two"),
        ({"auth_mode": "aml_token", "token_secret": "abcd"}, "at least 16 bytes"),
        ({"token_secret": "zz"}, "hex"),
        ({"port": True}, "integer"),
        ({"deployments": {"blue": {"instances": ["nohost"]}}}, "host:port"),
        ({"deployments": {"blue": {"instances": ["unix:relative.sock"]}}}, "absolute path of at most 107"),
        ({"deployments": {"blue": {"instances": ["unix:/" + "d" * 107]}}}, "absolute path of at most 107"),
        ({"deployments": {"blue": {"request_timeout_ms": 999999}}}, "between 1 and 180000"),
        ({"deployments": {"b!": {}}}, "not a valid name"),
        ({"colour": "red"}, "unknown key(s) colour"),
    ],
)
def test_invalid_config_names_the_field(endpoint: dict[str, object], fragment: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(fragment)):
        GatewayConfig.from_dict(_doc(**endpoint))


def test_config_defaults_round_trip_and_redaction() -> None:
    config = GatewayConfig.from_dict(_doc(auth_mode="Key", traffic={"blue": 100}))
    ep = config.endpoints["ep1"]
    assert (ep.host, ep.port, ep.auth_mode) == ("127.0.0.1", 0, "key")
    dep = ep.deployments["blue"]
    assert (dep.request_timeout_ms, dep.max_concurrent_requests_per_instance, dep.max_queue_wait_ms) == (
        5000,
        1,
        500,
    )
    assert GatewayConfig.from_dict(config.to_dict(redact=False)) == config
    assert config.to_dict()["endpoints"]["ep1"]["keys"] == ["***"]


def test_routing_and_keys_documents_split_the_credentials_and_merge_back() -> None:
    config = GatewayConfig.from_dict(_doc(token_secret="ab" * 16, traffic={"blue": 100}))
    routing = routing_document(config)
    entry = routing["endpoints"]["ep1"]
    assert not SECRET_FIELDS & set(entry)
    assert "max_request_body_bytes" not in entry  # at the default: left to the gateway
    keys = keys_document(config)
    assert keys == {"endpoints": {"ep1": {"keys": ["k1"], "token_secret": "ab" * 16}}}
    merge_keys(routing, keys)
    assert GatewayConfig.from_dict(routing) == config
    limited = GatewayConfig.from_dict(_doc(max_request_body_bytes=2048))
    assert routing_document(limited)["endpoints"]["ep1"]["max_request_body_bytes"] == 2048


def test_built_configs_get_the_parsers_checks_and_keep_credentials_out_of_repr() -> None:
    blue = {"blue": DeploymentConfig()}
    good = GatewayConfig(
        {"ep1": EndpointConfig(keys=("secret-key",), traffic={"blue": 100}, deployments=blue)}
    )
    assert good.checked() == good
    assert "secret-key" not in repr(good)
    bad = GatewayConfig({"ep1": EndpointConfig(keys=("k1",), traffic={"blue": 50}, deployments=blue)})
    with pytest.raises(ConfigError, match="sum to 100"):
        bad.checked()


def test_duplicate_explicit_ports_are_refused() -> None:
    one = _doc(port=18080)["endpoints"]["ep1"]  # type: ignore[index]
    with pytest.raises(ConfigError, match="already used"):
        GatewayConfig.from_dict({"endpoints": {"ep1": one, "ep2": one}})


@pytest.mark.parametrize("weights", [{"a": 90, "b": 10}, {"a": 33, "b": 33, "c": 34}, {"a": 1, "b": 99}])
def test_weighted_round_robin_is_exact_over_every_hundred(weights: dict[str, int]) -> None:
    rr = WeightedRoundRobin({**weights, "zero": 0})
    picks = [rr.next() for _ in range(1000)]
    for start in range(0, 1000, 100):
        assert Counter(picks[start : start + 100]) == Counter(weights)
    # Smooth: at 90/10 the minority never comes twice in a row.
    if weights == {"a": 90, "b": 10}:
        assert all(not (x == y == "b") for x, y in itertools.pairwise(picks))


def test_no_positive_weight_and_mirror_selection() -> None:
    assert WeightedRoundRobin({"a": 0}).next() is None
    mirror = MirrorSelector({"shadow": 20})
    assert [mirror.next() for _ in range(100)].count("shadow") == 20
    assert MirrorSelector({"shadow": 0}).next() is None


def test_tokens_and_key_checks() -> None:
    secret = b"s" * 32
    token, exp = issue_token(secret, "ep1", 60, now=1000)
    assert exp == 1060
    assert verify_token(secret, token, "ep1", now=1059.9)
    assert not verify_token(secret, token, "ep1", now=1060)
    assert not verify_token(secret, token, "ep2", now=1001)
    auth = Authenticator("key", "ep1", ("primary", "secondary"))
    assert auth.check(b"Bearer secondary") is None
    assert auth.check(b"bearer   primary ") is None
    assert auth.check(b"Bearer") == UNAUTHORIZED
    assert auth.check(None) == UNAUTHORIZED
    assert "not supported" in (Authenticator("aad_token", "ep1").check(b"Bearer x") or "")


def test_metrics_quantiles_and_prometheus_buckets() -> None:
    registry = MetricsRegistry()
    series = registry.get("ep1", "blue")
    for _ in range(98):
        series.observe(200, 0.004)
    series.observe(500, 2.0)
    series.observe(424, 2.0)
    snap = registry.snapshot()["endpoints"]["ep1"]["deployments"]["blue"]
    assert snap["by_class"] == {"2xx": 98, "3xx": 0, "4xx": 1, "5xx": 1}
    assert 3.0 < snap["latency"]["p50_ms"] <= 5.0
    assert snap["latency"]["p99_ms"] > 1000
    text = registry.prometheus()
    assert (
        'endpointctl_gateway_request_duration_seconds_bucket{endpoint="ep1",deployment="blue",le="0.005"} 98'
        in text
    )
    assert 'le="+Inf"} 100' in text
