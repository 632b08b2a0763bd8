"""Turn a deployment spec into what an instance runs: a built environment and a staged app folder."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from endpointctl.backends.process.environments import BuiltEnvironment, EnvironmentBuilder
from endpointctl.backends.process.layout import Layout
from endpointctl.backends.process.storage import stage_app
from endpointctl.core.assets import AssetRegistry
from endpointctl.core.assets.sources import CodeSource, ModelSource
from endpointctl.core.environments.conda import PythonRequirements, parse_conda_file
from endpointctl.core.errors import InvalidInput
from endpointctl.core.spec import AssetRef, DeploymentSpec, InlineEnvironment, InlineModel

ENVIRONMENT = "environment"
MODEL = "model"


@dataclass(frozen=True)
class Prepared:
    """Everything instances of one revision share."""

    python: Path
    app_dir: Path
    env: dict[str, str]
    warnings: tuple[str, ...]
    notes: tuple[str, ...]


def _model_source(spec: DeploymentSpec, registry: AssetRegistry) -> ModelSource | None:
    model = spec.model
    if model is None:
        return None
    if isinstance(model, AssetRef):
        asset = registry.resolve(MODEL, model)
        if asset.blob_path is None:
            raise InvalidInput(f"model {asset.reference} has no stored files")
        return ModelSource(asset.blob_path, asset.name, asset.version, asset.digest)
    assert isinstance(model, InlineModel)
    return ModelSource(Path(model.path), model.name, model.version, None)


def _requirements(spec: DeploymentSpec, registry: AssetRegistry) -> tuple[PythonRequirements, str | None]:
    """The environment's Python requirements, and its image (recorded, not used by this backend)."""
    environment = spec.environment
    conda: str | None = None
    image: str | None = None
    if isinstance(environment, AssetRef):
        asset = registry.resolve(ENVIRONMENT, environment)
        conda = asset.spec.get("conda_file")
        image = asset.spec.get("image")
    elif isinstance(environment, InlineEnvironment):
        conda, image = environment.conda_file, environment.image
    if conda is None:
        return PythonRequirements(source="(no conda_file)", python=None, packages=()), image
    return parse_conda_file(Path(conda)), image


async def prepare(
    spec: DeploymentSpec,
    revision: int,
    *,
    layout: Layout,
    registry: AssetRegistry,
    builder: EnvironmentBuilder,
) -> Prepared:
    endpoint, name = spec.endpoint_name, spec.name
    requirements, image = _requirements(spec, registry)
    built: BuiltEnvironment = await builder.ensure(requirements, log=layout.build_log(endpoint, name))
    model = _model_source(spec, registry)
    code = None
    if spec.code_configuration is not None:
        code = CodeSource(Path(spec.code_configuration.code), spec.code_configuration.scoring_script)
    app_dir = layout.app_dir(endpoint, name, revision)
    staged = await asyncio.to_thread(
        stage_app, app_dir, model=model, code=code, log=layout.storage_log(endpoint, name)
    )
    env = {**staged.env, **spec.environment_variables}
    notes = list(built.notes)
    if image:
        notes.append(f"environment image {image} is recorded but not used by the process backend")
    return Prepared(built.python, app_dir, env, built.warnings, tuple(notes))


def check_resolvable(spec: DeploymentSpec, registry: AssetRegistry) -> None:
    """Fail before anything is written when a referenced asset or the conda file is unusable."""
    _model_source(spec, registry)
    _requirements(spec, registry)
