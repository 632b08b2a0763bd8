from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from endpointctl.core.rollout import plan_rollout


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
