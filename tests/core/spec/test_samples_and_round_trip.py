"""The samples users already have load unchanged, and every loaded spec survives a YAML round trip."""

from __future__ import annotations

from pathlib import Path

import pytest

from endpointctl.core.spec import (
    AssetRef,
    DeploymentSpec,
    EndpointSpec,
    InlineModel,
    TargetUtilizationScaleSettings,
    dump_yaml,
    load_deployment,
    load_endpoint,
    load_environment,
    load_model,
    parse_deployment,
    parse_endpoint,
    parse_environment,
    parse_model,
    parse_reference,
    restore,
    spec_to_dict,
)
from tests.conftest import SAMPLES

SAMPLE = SAMPLES / "managed" / "sample"
ALL = sorted(SAMPLES.rglob("*.yml"))


def _kind(path: Path) -> str:
    name = path.name
    if "endpoint" in name:
        return "endpoint"
    if name == "model.yml":
        return "model"
    if name == "environment.yml":
        return "environment"
    return "deployment"


LOAD = {
    "endpoint": load_endpoint,
    "deployment": load_deployment,
    "model": load_model,
    "environment": load_environment,
}
PARSE = {
    "endpoint": parse_endpoint,
    "deployment": parse_deployment,
    "model": parse_model,
    "environment": parse_environment,
}


@pytest.mark.parametrize("path", ALL, ids=[p.name for p in ALL])
def test_sample_loads_and_round_trips(path: Path) -> None:
    kind = _kind(path)
    spec = LOAD[kind](path)
    text = dump_yaml(spec)
    again = PARSE[kind](text, source="<dump>", base_dir=Path("/nowhere"))
    assert again == spec
    assert type(spec).model_validate(spec_to_dict(spec)) == spec


def test_blue_sample_fields_and_defaults() -> None:
    spec = load_deployment(SAMPLE / "blue-deployment.yml")
    assert (spec.name, spec.endpoint_name, spec.kind, spec.instance_count) == (
        "blue",
        "my-endpoint",
        "managed",
        1,
    )
    assert isinstance(spec.model, InlineModel)
    assert Path(spec.model.path) == (SAMPLES / "model-1" / "model").resolve()
    assert spec.code_configuration is not None
    assert Path(spec.code_configuration.code) == (SAMPLES / "model-1" / "onlinescoring").resolve()
    assert spec.request_settings.request_timeout_ms == 5000
    assert spec.request_settings.max_concurrent_requests_per_instance == 1
    assert spec.request_settings.max_queue_wait_ms == 500
    probe = spec.liveness_probe
    assert (
        probe.initial_delay,
        probe.period,
        probe.timeout,
        probe.success_threshold,
        probe.failure_threshold,
    ) == (
        10,
        10,
        2,
        1,
        30,
    )


def test_kubernetes_samples_are_kubernetes() -> None:
    endpoint = load_endpoint(SAMPLES / "kubernetes" / "kubernetes-endpoint.yml")
    assert (endpoint.kind, endpoint.auth_mode, endpoint.compute) == (
        "kubernetes",
        "key",
        "azureml:inferencecompute",
    )
    deployment = load_deployment(SAMPLES / "kubernetes" / "kubernetes-blue-deployment.yml")
    assert deployment.kind == "kubernetes"
    assert deployment.resources is not None and deployment.resources.limits is not None
    assert deployment.resources.limits.memory == "200Mi"


def test_registered_asset_references() -> None:
    spec = load_deployment(SAMPLE / "blue-deployment-with-registered-assets.yml")
    assert spec.model == AssetRef(name="my-model", version="1")
    assert spec.environment == AssetRef(name="my-env", version="1")
    assert spec_to_dict(spec)["model"] == "azureml:my-model:1"


@pytest.mark.parametrize(
    ("text", "fields"),
    [
        ("azureml:my-model:1", {"name": "my-model", "version": "1", "label": None}),
        ("azureml:my-model@latest", {"name": "my-model", "version": None, "label": "latest"}),
        (
            "azureml://registries/azureml/environments/sklearn-1.5/labels/latest",
            {
                "name": "sklearn-1.5",
                "label": "latest",
                "registry": "azureml",
                "registry_kind": "environments",
            },
        ),
        (
            "azureml://registries/shared/models/ridge/versions/3",
            {"name": "ridge", "version": "3", "registry": "shared", "registry_kind": "models"},
        ),
    ],
)
def test_reference_forms_parse_and_print_back(text: str, fields: dict[str, str | None]) -> None:
    parsed = parse_reference(text)
    for key, value in fields.items():
        assert parsed.get(key) == value
    assert str(AssetRef.model_validate(text)) == text


def test_auth_mode_is_case_insensitive_and_kind_follows_compute() -> None:
    spec = parse_endpoint("name: my-endpoint\nauth_mode: AML_Token\n", source="<t>", base_dir=Path())
    assert spec.auth_mode == "aml_token" and spec.kind == "managed"


def test_target_utilization_scale_settings_defaults() -> None:
    text = (SAMPLES / "kubernetes" / "kubernetes-blue-deployment.yml").read_text()
    spec = parse_deployment(
        text.replace("  type: default", "  type: target_utilization\n  max_instances: 4"),
        source="<t>",
        base_dir=SAMPLES / "kubernetes",
    )
    assert isinstance(spec.scale_settings, TargetUtilizationScaleSettings)
    assert (spec.scale_settings.min_instances, spec.scale_settings.max_instances) == (1, 4)
    assert spec.scale_settings.target_utilization_percentage == 70


def test_restore_does_not_touch_the_filesystem() -> None:
    spec = load_deployment(SAMPLE / "blue-deployment.yml")
    stored = spec_to_dict(spec)
    stored["code_configuration"]["code"] = "/gone/since/then"
    assert restore(DeploymentSpec, stored).code_configuration is not None
    assert restore(EndpointSpec, {"name": "my-endpoint"}).auth_mode == "key"
