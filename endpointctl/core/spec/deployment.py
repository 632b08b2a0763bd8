"""`managedOnlineDeployment` and `kubernetesOnlineDeployment` specs (one model; `type` tells them apart)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Discriminator, Field, Tag

from endpointctl.core.spec.assets import InlineEnvironment, InlineModel
from endpointctl.core.spec.common import EnvMap, Int, Lower, Name, Schema, SpecModel, Str, StrMap
from endpointctl.core.spec.refs import AssetRef

# The gateway enforces the same ceiling on what a deployment's requests may take: one definition, its own.
from endpointctl.serving.gateway.config import MAX_REQUEST_TIMEOUT_MS

MAX_INSTANCES = 50


def _ref_or_inline(value: Any) -> str | None:
    if isinstance(value, str | AssetRef):
        return "ref"
    if isinstance(value, dict | InlineModel | InlineEnvironment):
        return "inline"
    return None


_ASSET_FORM = Discriminator(
    _ref_or_inline,
    custom_error_type="asset_form",
    custom_error_message="must be an azureml: reference or a mapping",
)
ModelField = Annotated[
    Annotated[AssetRef, Tag("ref")] | Annotated[InlineModel, Tag("inline")],
    _ASSET_FORM,
]
EnvironmentField = Annotated[
    Annotated[AssetRef, Tag("ref")] | Annotated[InlineEnvironment, Tag("inline")],
    _ASSET_FORM,
]


class CodeConfiguration(SpecModel):
    code: str
    scoring_script: str


class RequestSettings(SpecModel):
    request_timeout_ms: Annotated[Int, Field(ge=1, le=MAX_REQUEST_TIMEOUT_MS)] = 5000
    max_concurrent_requests_per_instance: Annotated[Int, Field(ge=1)] = 1
    max_queue_wait_ms: Annotated[Int, Field(ge=0)] = 500


class ProbeSettings(SpecModel):
    """Seconds, as in the YAML; ARM carries them as ISO-8601 durations."""

    initial_delay: Annotated[Int, Field(ge=0)] = 10
    period: Annotated[Int, Field(ge=1)] = 10
    timeout: Annotated[Int, Field(ge=1)] = 2
    success_threshold: Annotated[Int, Field(ge=1)] = 1
    failure_threshold: Annotated[Int, Field(ge=1)] = 30


class DefaultScaleSettings(SpecModel):
    type: Annotated[Literal["default"], Lower] = "default"


class TargetUtilizationScaleSettings(SpecModel):
    type: Annotated[Literal["target_utilization"], Lower]
    min_instances: Annotated[Int, Field(ge=0)] = 1
    max_instances: Annotated[Int, Field(ge=1)] = 1
    polling_interval: Annotated[Int, Field(ge=1)] = 1
    target_utilization_percentage: Annotated[Int, Field(ge=1, le=100)] = 70


def _scale_type(value: Any) -> str | None:
    kind = value.get("type", "default") if isinstance(value, dict) else getattr(value, "type", None)
    return kind.lower() if isinstance(kind, str) else None


ScaleSettings = Annotated[
    Annotated[DefaultScaleSettings, Tag("default")]
    | Annotated[TargetUtilizationScaleSettings, Tag("target_utilization")],
    Discriminator(
        _scale_type,
        custom_error_type="scale_type",
        custom_error_message="type must be one of: default, target_utilization",
    ),
]

_QUANTITY = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+|[KMGTPE]i?|[numk])?$")


def _quantity(value: str) -> str:
    if not _QUANTITY.match(value):
        raise ValueError(f"{value!r} is not a Kubernetes quantity (e.g. 0.5, 500m, 1Gi)")
    return value


Quantity = Annotated[Str, AfterValidator(_quantity)]


class ResourceAmounts(SpecModel):
    cpu: Quantity | None = None
    memory: Quantity | None = None
    gpu: Quantity | None = Field(default=None, alias="nvidia.com/gpu")


class Resources(SpecModel):
    requests: ResourceAmounts | None = None
    limits: ResourceAmounts | None = None


class DeploymentSpec(SpecModel):
    schema_: Schema = None
    name: Name
    endpoint_name: Name
    type: Annotated[Literal["managed", "kubernetes"], Lower] = "managed"
    description: Str | None = None
    tags: StrMap = Field(default_factory=dict)
    model: ModelField | None = None
    model_mount_path: str | None = None
    code_configuration: CodeConfiguration | None = None
    environment: EnvironmentField | None = None
    environment_variables: EnvMap = Field(default_factory=dict)
    instance_type: str | None = None
    instance_count: Annotated[Int, Field(ge=1, le=MAX_INSTANCES)] = 1
    app_insights_enabled: bool = False
    request_settings: RequestSettings = Field(default_factory=RequestSettings)
    liveness_probe: ProbeSettings = Field(default_factory=ProbeSettings)
    readiness_probe: ProbeSettings = Field(default_factory=ProbeSettings)
    scale_settings: ScaleSettings | None = None
    resources: Resources | None = None
    egress_public_network_access: Annotated[Literal["enabled", "disabled"], Lower] | None = None
    data_collector: dict[str, Any] | None = None

    @property
    def kind(self) -> Literal["managed", "kubernetes"]:
        return self.type
