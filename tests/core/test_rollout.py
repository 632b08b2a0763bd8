from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from endpointctl.core.rollout import describe_update, only_scale_changed, plan_rollout
from endpointctl.core.spec import DeploymentSpec


@pytest.mark.parametrize(
    ("count", "batches"),
    [
        (1, (1,)),
        (2, (1, 1)),
        (5, (1, 1, 1, 1, 1)),
        (10, (2, 2, 2, 2, 2)),
        (12, (2, 2, 2, 2, 2, 2)),
        (11, (2, 2, 2, 2, 2, 1)),
    ],
)
def test_batches(count: int, batches: tuple[int, ...]) -> None:
    assert plan_rollout(count).batches == batches


@given(st.integers(1, 50))
def test_never_more_than_20_percent_and_covers_every_instance(count: int) -> None:
    plan = plan_rollout(count)
    assert sum(plan.batches) == count
    assert all(b <= max(1, count * 0.2) for b in plan.batches)


def test_zero_instances_is_an_error() -> None:
    with pytest.raises(ValueError):
        plan_rollout(0)


def _spec(**changes: object) -> DeploymentSpec:
    base: dict[str, object] = {
        "name": "blue",
        "endpoint_name": "my-endpoint",
        "model": "azureml:m:1",
        "environment": "azureml:e:1",
        "code_configuration": {"code": ".", "scoring_script": "score.py"},
        "instance_count": 5,
    }
    return DeploymentSpec.model_validate({**base, **changes})


def test_describe_update_names_what_happens_to_the_instances() -> None:
    live = _spec()
    assert describe_update(None, live) == "creates 5 instance(s)"
    assert describe_update(live, _spec()) == "no change"
    assert describe_update(live, _spec(instance_count=7)) == "scales 5 → 7 instance(s): no restarts"
    assert describe_update(live, _spec(tags={"a": "b"})) == "tags or description only: no instance restarts"
    rolling = describe_update(live, _spec(environment_variables={"MODE": "fast"}))
    assert rolling.startswith("rolling update: 5 instance(s) replaced in 5 batch(es) of ≤ 1")


def test_a_scale_with_another_change_is_a_rolling_update() -> None:
    assert not only_scale_changed(_spec(), _spec(instance_count=3, environment_variables={"A": "b"}))
    assert only_scale_changed(_spec(), _spec(instance_count=3, description="bigger"))
