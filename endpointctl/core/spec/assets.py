"""Model and environment specs: the registered (`model.yml`, `environment.yml`) and the inline forms."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from endpointctl.core.spec.common import Int, Lower, Schema, SpecModel, Str, StrMap, Version

ModelType = Annotated[Literal["custom_model", "mlflow_model", "triton_model"], Lower]


class InlineModel(SpecModel):
    """`model: {path: ...}` inside a deployment; name and version are optional there."""

    name: str | None = None
    version: Version | None = None
    path: str
    type: ModelType = "custom_model"
    description: Str | None = None


class ModelSpec(SpecModel):
    """`model.yml` for `endpointctl model create`."""

    schema_: Schema = None
    name: str
    version: Version | None = None
    path: str
    type: ModelType = "custom_model"
    description: Str | None = None
    tags: StrMap = Field(default_factory=dict)
    properties: StrMap = Field(default_factory=dict)
    stage: str | None = None


class Route(SpecModel):
    port: Annotated[Int, Field(ge=1, le=65535)]
    path: str


class InferenceConfig(SpecModel):
    """Routes of a custom container; only meaningful for images that bring their own server."""

    liveness_route: Route
    readiness_route: Route
    scoring_route: Route


class BuildContext(SpecModel):
    path: str
    dockerfile_path: str = "Dockerfile"


class _EnvironmentFields(SpecModel):
    version: Version | None = None
    description: Str | None = None
    image: str | None = None
    conda_file: str | None = None
    build: BuildContext | None = None
    inference_config: InferenceConfig | None = None
    os_type: Annotated[Literal["linux", "windows"], Lower] = "linux"

    @model_validator(mode="after")
    def _image_or_build(self) -> _EnvironmentFields:
        if self.image is None and self.build is None:
            raise ValueError("needs `image` (with an optional `conda_file`) or `build`")
        if self.image is not None and self.build is not None:
            raise ValueError("takes `image` or `build`, not both")
        return self


class InlineEnvironment(_EnvironmentFields):
    """`environment: {image, conda_file}` inside a deployment."""

    name: str | None = None


class EnvironmentSpec(_EnvironmentFields):
    """`environment.yml` for `endpointctl environment create`."""

    schema_: Schema = None
    name: str
    tags: StrMap = Field(default_factory=dict)
    properties: StrMap = Field(default_factory=dict)
