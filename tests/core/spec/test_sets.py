"""`--set` edits the YAML data before validation: dotted paths, indexes, quoted keys, typed values."""

from __future__ import annotations

import pytest

from endpointctl.core.spec import SpecError, load_deployment, load_endpoint
from endpointctl.core.spec.sets import parse_field_path, typed_value
from tests.conftest import SAMPLES

BLUE = SAMPLES / "managed" / "sample" / "blue-deployment.yml"
K8S_BLUE = SAMPLES / "kubernetes" / "kubernetes-blue-deployment.yml"


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("instance_count", ("instance_count",)),
        ("request_settings.request_timeout_ms", ("request_settings", "request_timeout_ms")),
        ("a.b[0].c", ("a", "b", 0, "c")),
        ("a.b.0.c", ("a", "b", 0, "c")),
        ('resources.limits."nvidia.com/gpu"', ("resources", "limits", "nvidia.com/gpu")),
        ("tags.'x.y'", ("tags", "x.y")),
    ],
)
def test_field_paths(text: str, path: tuple[str | int, ...]) -> None:
    assert parse_field_path(text) == path


@pytest.mark.parametrize("text", ["", ".a", "a.", "a..b", "[0]", "a[x]", 'a."b'])
def test_malformed_field_paths(text: str) -> None:
    with pytest.raises(ValueError):
        parse_field_path(text)


def test_values_are_typed_like_yaml() -> None:
    assert typed_value("3") == 3
    assert typed_value("true") is True
    assert typed_value("fast") == "fast"
    assert typed_value("") == ""
    assert typed_value("[1, 2]") == [1, 2]


def test_several_sets_apply_in_order_before_validation() -> None:
    spec = load_deployment(
        BLUE,
        [
            "instance_count=3",
            "request_settings.request_timeout_ms=9000",
            "environment_variables.MODE=fast",
            "environment_variables.WORKERS=2",
            "tags.owner=ops",
            "instance_count=4",
        ],
    )
    assert spec.instance_count == 4
    assert spec.request_settings.request_timeout_ms == 9000
    assert spec.environment_variables == {"MODE": "fast", "WORKERS": "2"}
    assert spec.tags == {"owner": "ops"}


def test_set_a_quoted_key_with_dots() -> None:
    spec = load_deployment(K8S_BLUE, ['resources.limits."nvidia.com/gpu"=1'])
    assert spec.resources is not None and spec.resources.limits is not None
    assert spec.resources.limits.gpu == "1"


def test_an_invalid_value_from_set_points_at_the_flag() -> None:
    with pytest.raises(SpecError) as caught:
        load_deployment(BLUE, ["instance_count=0", "request_settings.request_timeout_ms=abc"])
    assert str(caught.value).splitlines() == [
        "--set instance_count=0: instance_count: must be an integer ≥ 1",
        "--set request_settings.request_timeout_ms=abc: request_settings.request_timeout_ms: must be an integer",
    ]


def test_bad_assignments_are_all_reported_and_nothing_applies() -> None:
    with pytest.raises(SpecError) as caught:
        load_endpoint(SAMPLES / "managed" / "sample" / "endpoint.yml", ["traffic", "a..b=1", "name.x=1"])
    # Malformed assignments are rejected before any is applied, so name.x=1 is not reached.
    assert str(caught.value).splitlines() == [
        "--set a..b=1: bad field path 'a..b': unexpected '.' at position 3",
        "--set traffic: expected path.to.field=value",
    ]


def test_setting_into_a_scalar_is_an_error() -> None:
    with pytest.raises(SpecError, match="name is a value, not a mapping or list"):
        load_endpoint(SAMPLES / "managed" / "sample" / "endpoint.yml", ["name.first=x"])


def test_unknown_field_through_set_is_still_unknown() -> None:
    with pytest.raises(SpecError, match="instance_cout: unknown field; did you mean instance_count"):
        load_deployment(BLUE, ["instance_cout=2"])


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("[&a [x, x, x], &b [*a, *a, *a], *b]", "YAML aliases (*name) are not accepted in a --set value"),
        ("&a [1, *a]", "YAML aliases (*name) are not accepted in a --set value"),
        ("[" * 65 + "]" * 65, "nested deeper than 64 levels"),
    ],
    ids=["alias-bomb", "alias-inside-itself", "deep"],
)
def test_set_values_are_held_to_a_spec_files_bounds(value: str, message: str) -> None:
    with pytest.raises(SpecError) as caught:
        load_endpoint(SAMPLES / "managed" / "sample" / "endpoint.yml", [f"tags.x={value}"])
    assert str(caught.value) == f"--set tags.x={value}: {message}"
