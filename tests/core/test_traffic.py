from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from endpointctl.core.traffic import TrafficError, TrafficSplit, parse_assignments, rebalance


def test_parse_assignments_accepts_az_syntax() -> None:
    assert parse_assignments("blue=90 green=10") == {"blue": 90, "green": 10}
    assert parse_assignments(["blue=90", "green=10"]) == {"blue": 90, "green": 10}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("blue", "not of the form"),
        ("blue=ninety", "not an integer"),
        ("blue=50 blue=50", "given twice"),
        ("=5", "not of the form"),
    ],
)
def test_parse_assignments_rejects(text: str, message: str) -> None:
    with pytest.raises(TrafficError, match=message):
        parse_assignments(text)


@pytest.mark.parametrize(
    ("weights", "mirror", "message"),
    [
        ({"blue": 90, "green": 20}, {}, "sum to 110"),
        ({"blue": 90}, {}, "sum to 90"),
        ({"blue": 100, "red": 0}, {}, "traffic.red: no such deployment"),
        ({"blue": 101, "green": -1}, {}, "outside 0–100"),
        ({"blue": 100}, {"green": 51}, "outside 0–50"),
        ({"blue": 100}, {"blue": 10}, "live traffic"),
        ({"blue": 100}, {"green": 10, "blue": 5}, "at most one deployment"),
        ({"blue": 100}, {"nope": 5}, "mirror_traffic.nope: no such deployment"),
    ],
)
def test_split_rules(weights: dict[str, int], mirror: dict[str, int], message: str) -> None:
    with pytest.raises(TrafficError, match=message):
        TrafficSplit(weights, mirror).validate(["blue", "green"])


@pytest.mark.parametrize(
    ("weights", "mirror"),
    [
        ({"blue": 90, "green": 10}, {}),
        ({}, {}),
        ({"blue": 0, "green": 0}, {}),
        ({"blue": 100}, {"green": 50}),
    ],
)
def test_split_rules_accept(weights: dict[str, int], mirror: dict[str, int]) -> None:
    TrafficSplit(weights, mirror).validate(["blue", "green"])


def test_all_to_moves_everything_and_drops_a_mirror_onto_the_target() -> None:
    split = TrafficSplit({"blue": 100, "green": 0}, {"green": 10}).all_to("green")
    assert split.weights == {"blue": 0, "green": 100}
    assert split.mirror == {}


@given(
    st.dictionaries(st.sampled_from(list("abcdef")), st.integers(0, 100), min_size=1, max_size=6),
    st.integers(-20, 120),
)
def test_rebalance_always_sums_to_100_and_keeps_the_set_value(weights: dict[str, int], value: int) -> None:
    target = next(iter(weights))
    result = rebalance(weights, target, value)
    assert list(result) == list(weights)
    assert all(v >= 0 for v in result.values())
    clamped = max(0, min(100, value))
    if len(weights) == 1:
        assert result[target] in (0, 100)
    else:
        assert result[target] == clamped
        assert sum(result.values()) == 100


def test_rebalance_keeps_proportions_of_the_others() -> None:
    assert rebalance({"a": 50, "b": 30, "c": 20}, "a", 0) == {"a": 0, "b": 60, "c": 40}
    assert rebalance({"blue": 90, "green": 10}, "green", 25) == {"blue": 75, "green": 25}
