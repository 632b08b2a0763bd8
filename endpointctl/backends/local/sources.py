"""What a deployment spec points at, resolved to local files: the model, the code and the environment."""

from __future__ import annotations

from pathlib import Path

from endpointctl.backends.common.environments.conda import PythonRequirements, parse_conda_file
from endpointctl.core.assets import AssetRegistry
from endpointctl.core.assets.sources import CodeSource, ModelSource
from endpointctl.core.errors import InvalidInput
from endpointctl.core.spec import AssetRef, DeploymentSpec, InlineEnvironment, InlineModel
from endpointctl.core.spec.paths import remote_scheme

ENVIRONMENT = "environment"
MODEL = "model"


def model_source(spec: DeploymentSpec, registry: AssetRegistry) -> ModelSource | None:
    model = spec.model
    if model is None:
        return None
    if isinstance(model, AssetRef):
        asset = registry.resolve(MODEL, model)
        if asset.blob_path is None:
            raise InvalidInput(f"model {asset.reference} has no stored files")
        return ModelSource(asset.blob_path, asset.name, asset.version, asset.digest)
    assert isinstance(model, InlineModel)
    _local_only("model.path", model.path)
    return ModelSource(Path(model.path), model.name, model.version, None)


def code_source(spec: DeploymentSpec) -> CodeSource | None:
    if spec.code_configuration is None:
        return None
    _local_only("code_configuration.code", spec.code_configuration.code)
    return CodeSource(Path(spec.code_configuration.code), spec.code_configuration.scoring_script)


def requirements(spec: DeploymentSpec, registry: AssetRegistry) -> tuple[PythonRequirements, str | None]:
    """The environment's Python requirements, and its base image."""
    environment = spec.environment
    conda: str | None = None
    image: str | None = None
    if isinstance(environment, AssetRef):
        asset = registry.resolve(ENVIRONMENT, environment)
        conda, image = asset.environment.conda_file, asset.environment.image
    elif isinstance(environment, InlineEnvironment):
        conda, image = environment.conda_file, environment.image
    if conda is None:
        return PythonRequirements(source="(no conda_file)", python=None, packages=()), image
    return parse_conda_file(Path(conda)), image


def check_resolvable(spec: DeploymentSpec, registry: AssetRegistry) -> None:
    """Fail before anything is written when a referenced asset, a source or the conda file is unusable."""
    model_source(spec, registry)
    code_source(spec)
    requirements(spec, registry)


def _local_only(field: str, value: str) -> None:
    # Kubernetes-type specs may name pvc:// or https:// sources; a local backend copies from this machine.
    scheme = remote_scheme(value)
    if scheme is not None:
        raise InvalidInput(
            f"{field}: {value} is a {scheme}:// source, which only the kubernetes backend can fetch; "
            "a local backend needs a local file or folder"
        )
